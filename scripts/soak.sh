#!/usr/bin/env bash
# `npm run soak -- N`: proof that the suite does not depend on timing. Builds the worker once,
# then runs the node test suite (the files `npm test` runs) N times in a row while a second
# process keeps one core busy, and prints passes and failures per run and a summary line.
#
#   scripts/soak.sh [N]           N runs (default 5)
#   SOAK_FILES="tests/a.test.mjs tests/b.test.mjs" scripts/soak.sh 1   only these files
#   SOAK_SKIP_BUILD=1 scripts/soak.sh 1                                 use build/ as it is
#
# Logs of every run: test-artifacts/soak/run-<i>.log. Exit status 1 when any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/soak.sh [N>=1]" >&2; exit 2; }

if [ -z "${SOAK_SKIP_BUILD:-}" ]; then
  bash scripts/setup.sh --browser
  bash scripts/build.sh
fi
# The same file list as scripts/test.sh, unless narrowed.
files="${SOAK_FILES:-$(find tests -name '*.test.mjs' | sort)}"
logs=test-artifacts/soak
mkdir -p "$logs"

# One core kept busy for the whole soak, as another build or test would. Only this process
# is stopped at the end, by its pid.
yes >/dev/null &
busy=$!
trap 'kill "$busy" 2>/dev/null; wait "$busy" 2>/dev/null || true' EXIT
echo "[soak] $runs run(s) of $(echo $files | wc -w) file(s); one core kept busy by pid $busy"

clean=0
total_pass=0
total_fail=0
for i in $(seq 1 "$runs"); do
  log="$logs/run-$i.log"
  start=$(date +%s)
  status=0
  # shellcheck disable=SC2086 # the file list is split on purpose
  bash scripts/with-node.sh node --test --test-concurrency=1 --test-timeout=600000 \
    --test-reporter=spec $files >"$log" 2>&1 || status=$?
  pass=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log" | tail -n 1)
  fail=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log" | tail -n 1)
  pass=${pass:-0}
  fail=${fail:-0}
  # a run that exits non-zero without a failing test (a crashed file, say) counts as one failure
  if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
  echo "[soak] run $i/$runs: $pass passed, $fail failed ($(( $(date +%s) - start )) s, log $log)"
  if [ "$fail" -eq 0 ]; then
    clean=$((clean + 1))
  else
    # the names under "failing tests", without their stack traces
    sed -n '/^✖ failing tests:/,$p' "$log" | grep '^✖' | grep -v 'failing tests:' | sed 's/^/[soak]   /' || true
  fi
done
echo "[soak] summary: $clean of $runs run(s) clean; $total_pass passed, $total_fail failed in total"
[ "$clean" -eq "$runs" ]
