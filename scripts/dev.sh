#!/usr/bin/env bash
# `npm run dev`: sets up what is missing, builds the worker and serves it with wrangler dev
# (workerd) on http://localhost:8787, with the pages in www/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec bash scripts/with-node.sh wrangler dev --port "${PORT:-8787}" "$@"
