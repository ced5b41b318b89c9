#!/usr/bin/env bash
# Fills $KMETAL_CACHE (default ~/.cache/kmetal) with everything the lab mirror serves, built from source once:
# binaries, release files laid out as upstream publishes them, container images (no container engine), and the
# index $KMETAL_CACHE/artifacts.json. What is already in the cache is never rebuilt. See lab/kmetal_lab/build.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v go >/dev/null 2>&1; then
  echo "build-artifacts: no Go toolchain on PATH. Install Go 1.25 or newer (https://go.dev/doc/install) and re-run." >&2
  exit 1
fi
for tool in gcc readelf dpkg-deb apt-get; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-artifacts: $tool is missing: run make apt" >&2; exit 1; }
done
[ -f /usr/lib/x86_64-linux-gnu/libseccomp.a ] || { echo "build-artifacts: libseccomp-dev is missing (runc links it): run make apt" >&2; exit 1; }
python=python3
[ -x "$here/../.venv/bin/python" ] && python=$here/../.venv/bin/python
PYTHONPATH=$here exec "$python" -m kmetal_lab.build "$@"
