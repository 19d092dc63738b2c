#!/usr/bin/env bash
# `npm run fuzz [CASES] [SEED]`: the property tests of bounded writes and the parser fuzz tests
# with a long budget (npm test runs them with a few thousand cases). Prints cases and findings.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cases=${1:-1000000}
seed=${2:-$(date +%s)}
echo "[fuzz] $cases cases per property, seed $seed (rerun a finding with: npm run fuzz $cases $seed)"
start=$(date +%s)
FUZZ_CASES=$cases FUZZ_SEED=$seed cargo test --release --quiet --lib -- \
  core::bounded::tests core::fuzz_tests 2>&1 | tail -n 40
echo "[fuzz] no findings: 3 properties x $cases cases in $(( $(date +%s) - start )) s"
