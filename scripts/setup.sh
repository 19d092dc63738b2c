#!/usr/bin/env bash
# Installs everything `npm run dev` and `npm test` need, idempotently, one line per step.
# Usage: scripts/setup.sh [--browser]   (--browser also installs Chromium for the browser tests)
# Follows ../shared/TOOLCHAIN.md: on a normal machine `rustup target add` provides the wasm32 std;
# where it cannot be downloaded, Debian's rustc-web builds std from source instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
WORKER_BUILD_VERSION=0.8.7
want_browser=0
[ "${1:-}" = "--browser" ] && want_browser=1

step() { printf '[setup] %s\n' "$*"; }
fail() { printf '[setup] FAILED: %s\n' "$*" >&2; exit 1; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || fail "apt-get not found; install these packages by hand: $*"
  if [ $apt_updated -eq 0 ]; then sudo_ apt-get update -qq >/dev/null || fail "apt-get update"; apt_updated=1; fi
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || fail "apt-get install $*"
}

# 1. Node packages (wrangler, workerd, esbuild, binaryen, Node 24, playwright-core), pinned by package-lock.json.
if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci (wrangler, esbuild, binaryen, node 24, playwright-core)"
  # `npm ci` refuses a lock file without workerd's other-platform packages, which some
  # registry mirrors do not serve; `npm install` then installs the same pinned versions.
  npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 \
    || npm install --no-audit --no-fund --loglevel=error >/dev/null || fail "npm install"
else
  step "node packages: present"
fi

# 2. The wasm32 standard library.
command -v cargo >/dev/null || fail "cargo not found: install Rust with rustup first"
sysroot_has_wasm_std() { ls "$(rustc --print sysroot)"/lib/rustlib/wasm32-unknown-unknown/lib/libstd-* >/dev/null 2>&1; }
if sysroot_has_wasm_std; then
  step "wasm32 std: present in $(rustc --version | cut -d' ' -f1-2)"
elif rustup target add wasm32-unknown-unknown >/dev/null 2>&1 && sysroot_has_wasm_std; then
  step "wasm32 std: installed with rustup target add"
else
  step "wasm32 std: rustup cannot download it; using Debian's rustc-web with std built from source"
  if ! dpkg -s rustc-web cargo-web rust-web-src lld-22 >/dev/null 2>&1; then
    apt_install rustc-web cargo-web rust-web-src lld-22
  fi
  rustup toolchain list | grep -q '^wasm-host' || rustup toolchain link wasm-host /usr >/dev/null || fail "rustup toolchain link wasm-host /usr"
  # worker-build checks that this folder exists even when std is built from source.
  [ -d /usr/lib/rustlib/wasm32-unknown-unknown/lib ] || sudo_ mkdir -p /usr/lib/rustlib/wasm32-unknown-unknown/lib
  echo build-std > .wasm-toolchain
fi
sysroot_has_wasm_std && rm -f .wasm-toolchain

# 3. worker-build.
if worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  step "worker-build $WORKER_BUILD_VERSION: present"
else
  step "worker-build $WORKER_BUILD_VERSION: cargo install (5 to 10 minutes, once)"
  cargo install -q worker-build --version "$WORKER_BUILD_VERSION" || fail "cargo install worker-build"
fi

# 4. wasm-bindgen-cli, exactly the version in Cargo.lock (worker-build cannot download it here).
bindgen_version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)
[ -n "$bindgen_version" ] || fail "no wasm-bindgen in Cargo.lock"
if wasm-bindgen --version 2>/dev/null | grep -q " $bindgen_version\$"; then
  step "wasm-bindgen-cli $bindgen_version: present"
else
  step "wasm-bindgen-cli $bindgen_version: cargo install (3 to 6 minutes, once)"
  cargo install -q wasm-bindgen-cli --version "$bindgen_version" --force || fail "cargo install wasm-bindgen-cli"
fi

# 5. Chromium for the browser tests.
if [ $want_browser -eq 1 ]; then
  if command -v chromium >/dev/null; then
    step "chromium: present ($(chromium --version 2>/dev/null | head -n1))"
  else
    step "chromium: apt-get install chromium"
    apt_install chromium
  fi
fi
step "done"
