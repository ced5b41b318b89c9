#!/usr/bin/env bash
# ansible-test sanity for the collection, in ansible-test's own venvs.
#   SANITY_PYTHONS="3.12 3.13"   the Python versions to test the modules with (default: every 3.11+ found here)
# ansible-test bootstraps pip in its venvs with a script it downloads from a host this network cannot reach; a
# stand-in at the cache path it reads installs pip with ensurepip and the machine's own pip configuration.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$repo/.venv/bin:$PATH"
# The pip version ansible-test bootstraps its venvs with (its get_venv_packages table).
pip_version=$(python -c 'from ansible_test._internal.python_requirements import get_venv_packages; import inspect, re; print(re.search(r"pip=.([0-9.]+)", inspect.getsource(get_venv_packages)).group(1))')
cache=$HOME/.ansible/test/cache
mkdir -p "$cache"
cat >"$cache/get_pip_${pip_version//./_}.py" <<'PY'
"""Stand-in for get-pip.py: pip from ensurepip, then `pip install` with the arguments ansible-test gave."""
import os
import subprocess
import sys

subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=True, stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
env = {k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}  # keep the machine's pip.conf (CA, mirrors)
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args], env=env))
PY

pythons=${SANITY_PYTHONS:-}
if [ -z "$pythons" ]; then
  for v in 3.11 3.12 3.13 3.14; do
    if command -v "python$v" >/dev/null 2>&1 || ls "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/"$v".*/bin/python"$v" >/dev/null 2>&1; then
      pythons+="$v "
    fi
  done
fi
# ansible-test finds interpreters as pythonX.Y on PATH: put pyenv's versions there.
if command -v pyenv >/dev/null 2>&1; then
  for d in "$(pyenv root)"/versions/3.*/bin; do PATH="$PATH:$d"; done
fi
cd "$repo/collections/ansible_collections/kmetal/platform"
controller=$("$repo/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# The whole sanity suite on the controller's Python; the per-interpreter tests on each other version found.
ansible-test sanity --venv --python "$controller" --color no
for v in $pythons; do
  [ "$v" = "$controller" ] && continue
  ansible-test sanity --venv --python "$v" --color no --test compile --test import
done
