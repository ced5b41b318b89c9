#!/usr/bin/env bash
# Runs `molecule test` for every scenario under molecule/ (each scenario creates and destroys its own lab hosts).
#   MOLECULE_SCENARIOS="a b"   run only these
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# molecule looks up ansible-config on PATH: the venv must come first.
export PATH="$repo/.lab/bin:$repo/.venv/bin:$PATH" ANSIBLE_CONFIG="$repo/ansible.cfg" VIRTUAL_ENV="$repo/.venv"
scenarios=${MOLECULE_SCENARIOS:-$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' 2>/dev/null | xargs -rn1 basename | sort)}
if [ -z "$scenarios" ]; then
  echo "molecule: no scenarios under molecule/ yet"
  exit 0
fi
# The host roles install from the site's mirror, as on an air-gapped site: the lab mirror runs while the
# scenarios do (started here when it was not running, and stopped again at the end).
mirror_started=0
if ! bin/lab mirror status >/dev/null 2>&1; then
  bin/lab mirror up || { echo "molecule: the lab mirror did not start" >&2; exit 1; }
  mirror_started=1
fi
trap '[ "$mirror_started" = 1 ] && bin/lab mirror down >/dev/null 2>&1' EXIT
failed=()
for s in $scenarios; do
  echo "--- molecule test -s $s"
  molecule test -s "$s" || failed+=("$s")
done
# What molecule expresses badly, on lab hosts of their own: lab-host lifecycle, --check on fresh hosts changing
# nothing, the timed rollback of a change that cuts the management path (tests/hosts, marked `hosts`).
if [ -z "${MOLECULE_SCENARIOS:-}" ] || [ "${RUN_HOST_TESTS:-}" = 1 ]; then
  echo "--- pytest -m hosts tests/hosts"
  python -m pytest -m hosts -q -s --durations=25 ${KMETAL_TEST_REPORTS:+--junitxml="$KMETAL_TEST_REPORTS/hosts.xml"} tests/hosts \
    || failed+=("tests/hosts")
fi
if [ ${#failed[@]} -gt 0 ]; then
  # also for scripts/test.sh's summary
  echo "molecule: failed scenarios: ${failed[*]}" | tee ${KMETAL_TEST_REPORTS:+"$KMETAL_TEST_REPORTS/molecule.txt"} >&2
  exit 1
fi
