#!/usr/bin/env bash
# Every test of the project, in order from fast to slow; each step runs even when an earlier one failed, and
# the summary names the failures. What `make test` and CI (.ci/run) run.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="$repo/.lab/bin:$repo/.venv/bin:$PATH" ANSIBLE_CONFIG="$repo/ansible.cfg"

names=() results=()
# Each step's output is kept, so that the summary (the end of the log, what a CI page shows) can name the failed tests.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
run() {
  local name=$1; shift
  local start=$SECONDS log="$logs/${#names[@]}.log"
  echo "=== test: $name"
  "$@" 2>&1 | tee "$log"
  if [ "${PIPESTATUS[0]}" -eq 0 ]; then results+=("ok"); else results+=("FAILED"); fi
  names+=("$name ($((SECONDS - start))s)")
}

run "unit tests (pure logic)" python -m pytest -m "not lab and not hosts" -q
run "ansible-lint (production profile)" ansible-lint --profile production
run "ansible-test sanity" scripts/sanity.sh
run "collection docs (antsibull-docs lint-collection-docs)" \
  bash -c 'cd collections/ansible_collections/kmetal/platform && antsibull-docs lint-collection-docs --plugin-docs .'
run "collection build" ansible-galaxy collection build --force --output-path build collections/ansible_collections/kmetal/platform
run "lab API and module integration tests" python -m pytest -m "lab and not hosts" -q
run "molecule scenarios" scripts/molecule.sh

passed=0 failed=0
echo "=== summary"
for i in "${!names[@]}"; do
  printf '  %-8s %s\n' "${results[$i]}" "${names[$i]}"
  if [ "${results[$i]}" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "test steps: $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
  echo "=== failed tests (pytest's short summary and molecule's failed scenarios)"
  grep -hE '^(FAILED|ERROR) |^molecule: failed scenarios' "$logs"/*.log | cut -c1-400 || true
fi
[ "$failed" -eq 0 ]
