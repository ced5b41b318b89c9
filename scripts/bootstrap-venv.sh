#!/usr/bin/env bash
# Creates .venv with the dependencies pyproject.toml lists (runtime and dev), once per change of pyproject.toml.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$repo/.venv
stamp=$venv/.kmetal-installed
want=$(sha256sum "$repo/pyproject.toml" | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python=${PYTHON:-$("$repo/scripts/find-python")}
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap-venv: creating .venv with $python"
  "$python" -m venv "$venv"
fi
deps=$("$venv/bin/python" - "$repo/pyproject.toml" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["dev"]))
PY
)
mapfile -t reqs <<<"$deps"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "${reqs[@]}"
echo "$want" >"$stamp"
echo "bootstrap-venv: .venv ready ($("$venv/bin/python" --version), $("$venv/bin/ansible" --version | sed -n 1p))"
