#!/usr/bin/env bash
# Randomized property runs. CI runs the property tests derandomized (HYPOTHESIS_PROFILE=ci: a
# verdict depends on the code alone), so fresh random draws — which is how the federation's
# lost-acknowledgement bug was found — happen here: ROUNDS rounds (default 5) of every test file
# that uses Hypothesis, each round with new random examples, stopping at the first failure.
# Hypothesis prints the failing example and a @reproduce_failure blob to pin it in a test.
# Meant for a nightly job or before a release; it installs nothing (run scripts/test.sh once).
#
#   bash scripts/property-soak.sh [ROUNDS] [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
shift || true
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
  echo "error: ROUNDS must be a positive integer, got '$rounds'" >&2; exit 2
fi
[ -x .venv/bin/python ] || { echo "error: no .venv here; run bash scripts/test.sh first" >&2; exit 2; }
mapfile -t files < <(grep -rlE "^from hypothesis|^import hypothesis" tests | sort)
echo "property soak: ${#files[@]} test files, $rounds rounds of fresh random examples"
export HYPOTHESIS_PROFILE=soak
for ((i = 1; i <= rounds; i++)); do
  echo "round $i/$rounds"
  .venv/bin/python -m pytest -q -x -p no:cacheprovider "${files[@]}" "$@"
done
echo "property soak: $rounds rounds passed"
