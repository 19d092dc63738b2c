#!/usr/bin/env bash
# `npm test`: every test. Native unit tests of the state logic (cargo test), then the worker is
# built and the black-box suites run against real `wrangler dev` (workerd) and real Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser
echo "[test] cargo test (native unit tests)"
cargo test --quiet 2>&1 | tail -n 40   # pipefail: a failing cargo test stops here
bash scripts/build.sh
echo "[test] node --test (integration against wrangler dev, SDK units, browser tests in Chromium)"
files=$(find tests -name '*.test.mjs' | sort)
exec bash scripts/with-node.sh node --test --test-concurrency=1 --test-timeout=600000 $files
