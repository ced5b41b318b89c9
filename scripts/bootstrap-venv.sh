#!/usr/bin/env bash
# Creates .venv with the dependencies pyproject.toml lists (runtime and dev), once per change of pyproject.toml.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$repo/.venv
stamp=$venv/.kmetal-installed
constraints=$repo/constraints.txt
refresh=${KMETAL_REFRESH_CONSTRAINTS:-0}
want=$(cat "$repo/pyproject.toml" "$constraints" | sha256sum | cut -c1-16)
if [ "$refresh" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
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
# The pins hold for the Python they were made with (ansible-core 2.20+ needs 3.12, for one).
minor=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
pinned=$(sed -n 's/^# python: //p' "$constraints")
if [ "$refresh" = 1 ]; then
  # the newest releases pyproject.toml allows, then the pins rewritten from them (run the tests before committing)
  "$venv/bin/python" -m pip install --quiet --upgrade "${reqs[@]}"
  { sed -n '/^# python: /!{/^#/p}' "$constraints"; echo "# python: $minor"; "$venv/bin/python" -m pip freeze --exclude pip; } >"$constraints.new"
  mv "$constraints.new" "$constraints"
  want=$(cat "$repo/pyproject.toml" "$constraints" | sha256sum | cut -c1-16)
elif [ "$minor" = "$pinned" ]; then
  # the tested versions (constraints.txt), so that a fresh venv is the one the tests passed with
  "$venv/bin/python" -m pip install --quiet -c "$constraints" "${reqs[@]}"
else
  echo "bootstrap-venv: constraints.txt pins the packages tested on Python $pinned; this is Python $minor, so the newest releases pyproject.toml allows are installed (untested set)" >&2
  "$venv/bin/python" -m pip install --quiet "${reqs[@]}"
fi
echo "$want" >"$stamp"
echo "bootstrap-venv: .venv ready ($("$venv/bin/python" --version), $("$venv/bin/ansible" --version | sed -n 1p))"
