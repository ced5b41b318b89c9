#!/usr/bin/env bash
# Every test of the project, in order from fast to slow; each step runs even when an earlier one failed, and
# the summary names the failures. What `make test` and CI (.ci/run) run.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="$repo/.lab/bin:$repo/.venv/bin:$PATH" ANSIBLE_CONFIG="$repo/ansible.cfg"

names=() results=()
# pytest writes a JUnit report per step (and molecule.sh its failed scenarios), so that the summary, the end of the
# log and what a CI page shows, can name the failed tests. (No tee: a process a step leaves behind would hold its
# pipe open and hang the run.)
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
export KMETAL_TEST_REPORTS=$reports
run() {
  local name=$1; shift
  local start=$SECONDS
  echo "=== test: $name"
  if "$@"; then results+=("ok"); else results+=("FAILED"); fi
  names+=("$name ($((SECONDS - start))s)")
}

run "unit tests (pure logic)" python -m pytest -m "not lab and not hosts" -q --junitxml="$reports/unit.xml"
run "ansible-lint (production profile)" ansible-lint --profile production
run "ansible-test sanity" scripts/sanity.sh
run "collection docs (antsibull-docs lint-collection-docs)" \
  bash -c 'cd collections/ansible_collections/kmetal/platform && antsibull-docs lint-collection-docs --plugin-docs .'
run "collection build" ansible-galaxy collection build --force --output-path build collections/ansible_collections/kmetal/platform
run "lab API and module integration tests" python -m pytest -m "lab and not hosts" -q --junitxml="$reports/lab.xml"
run "molecule scenarios" scripts/molecule.sh

passed=0 failed=0
echo "=== summary"
for i in "${!names[@]}"; do
  printf '  %-8s %s\n' "${results[$i]}" "${names[$i]}"
  if [ "${results[$i]}" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "test steps: $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
  echo "=== failed tests"
  python - "$reports" <<'PY' || true
import pathlib, sys
import xml.etree.ElementTree as ET

for report in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    for case in ET.parse(report).iter("testcase"):
        for bad in list(case.findall("failure")) + list(case.findall("error")):
            where = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
            print("%s %s - %s" % ("FAILED" if bad.tag == "failure" else "ERROR", where, " ".join((bad.get("message") or "").split())[:300]))
PY
  cat "$reports"/*.txt 2>/dev/null || true
fi
[ "$failed" -eq 0 ]
