#!/usr/bin/env bash
# Builds the worker to build/index.js + build/index_bg.wasm with worker-build, using the local
# wasm-bindgen, esbuild and wasm-opt (worker-build would download them, which fails offline).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
if [ -f .wasm-toolchain ]; then
  # No prebuilt wasm32 std: build it from Debian's rust-web-src (see scripts/setup.sh).
  export RUSTUP_TOOLCHAIN=wasm-host RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort
  export CARGO_TARGET_DIR="$PWD/target/wasm-host"
fi
# chess.js (npm devDependency) for www/chess.html: its ESM build and licence are copied into
# www/vendor/ (served as static assets; a build product, not committed, see .gitignore).
[ -f node_modules/chess.js/dist/esm/chess.js ] || { echo "[build] node_modules/chess.js missing: run npm install (or scripts/setup.sh)" >&2; exit 1; }
mkdir -p www/vendor
cp node_modules/chess.js/dist/esm/chess.js www/vendor/chess.js
cp node_modules/chess.js/LICENSE www/vendor/chess.js.LICENSE
echo "[build] www/vendor/chess.js (chess.js $(node -p "require('./node_modules/chess.js/package.json').version" 2>/dev/null || echo '?'))"
# The client SDK (packages/client, source in src/): dist/ and the browser bundle www/sdk/session-sync.js
# (both build products, gitignored). Declarations too when TypeScript is installed.
bash scripts/with-node.sh node packages/client/build.mjs
echo "[build] worker-build --release"
worker-build --release . >target-build.log 2>&1 || { tail -n 60 target-build.log >&2; echo "[build] FAILED (full log: target-build.log)" >&2; exit 1; }
# worker-build keeps the name section (~165 KB); strip it and the producers section.
"$WASM_OPT_BIN" build/index_bg.wasm --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue --strip-debug --strip-producers -o build/index_bg.wasm.tmp && mv build/index_bg.wasm.tmp build/index_bg.wasm
gz=$(gzip -9 -c build/index_bg.wasm | wc -c)
echo "[build] build/index_bg.wasm: $(wc -c < build/index_bg.wasm) bytes, $gz gzipped"
