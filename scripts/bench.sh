#!/usr/bin/env bash
# `npm run bench`: benchmarks the Rust service against a JavaScript Durable Object baseline and a
# native Rust server (the machine's ceiling), in one run, and writes BENCHMARKS.md.
#
#   bash scripts/bench.sh [--quick] [--reps N] [--scenarios cold,fanout,throughput,storm,resume,open,open_batch,size,audience]
#                         [--sizes 1000,1000000,16000000,64000000] [--targets rust,rust_off,floor,js,native,rust_single]
#                         [--audience-viewers 255,500,2000] [--audience-reps N]
#
# 1. scripts/setup.sh; builds the worker only if build/ is missing (BENCH_SKIP_BUILD=1: never);
# 2. builds the load generator (bench/loadgen, native Rust, tokio + tokio-tungstenite);
# 3. starts ONE `wrangler dev` (workerd) with bench/wrangler.bench.toml on a free port: the Rust
#    worker at / and the JS baseline (bench/js-baseline) at /js/, storage on tmpfs; and the native
#    server (`loadgen serve`) on another free port; and (issue 12) a second `wrangler dev` of the
#    same build with `--var BATCH_TICK_MS:0` (coalescing off: target "rust_off"; BENCH_OFF=0
#    skips it); the runtime floor (bench/floor/, target "floor") is served by the first one at
#    /floor/; and (issue 13, for the audience scenario) a third `wrangler dev` of the same build
#    with `--var RELAY_THRESHOLD:1000000` (relays off: target "rust_single"; BENCH_SINGLE=0 skips
#    it); each only when a scenario of the run needs it; all pinned to core 0 with taskset;
# 4. runs every scenario against the three targets, interleaved, pinned to core 1, recording the
#    load generator's and the servers' CPU time on every measurement;
#    with the `size` scenario (issue 11: sessions grown to 1 KB .. 64 MB), then also CPU profiles
#    of the largest Rust session's writes, welcome and GET (bench/profile.mjs, BENCH_SIZE_PROFILE=0
#    skips them), and the wake check: `wrangler dev` is stopped and started again on the same
#    storage and bench/wake.mjs times the first GET of every grown session and compares hashes;
# 5. stops both servers and writes bench/results/<run>/ (raw JSON lines, meta, chart),
#    BENCHMARKS.md and docs/bench-chart.svg.
# All traffic goes to 127.0.0.1; every load is bounded in count and time.
set -euo pipefail
# bash reads a script while it runs it: an edit of this file during a run (someone's commit)
# would go on from the middle of the new text. So the run is made from a private copy.
if [ -z "${BENCH_SCRIPT_COPY:-}" ]; then
  BENCH_SCRIPT_COPY=$(mktemp /tmp/session-sync-bench-script.XXXXXX)
  cp "$0" "$BENCH_SCRIPT_COPY"
  export BENCH_SCRIPT_COPY BENCH_ROOT
  BENCH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
  exec bash "$BENCH_SCRIPT_COPY" "$@"
fi
rm -f "$BENCH_SCRIPT_COPY" # bash keeps it open; nothing else needs it
cd "$BENCH_ROOT"
ROOT=$PWD
QUICK=0
LOADGEN_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; LOADGEN_ARGS+=(--quick) ;;
    --reps) LOADGEN_ARGS+=(--reps "$2"); shift ;;
    --scenarios) LOADGEN_ARGS+=(--scenarios "$2"); SCENARIOS=$2; shift ;;
    --sizes) LOADGEN_ARGS+=(--sizes "$2"); shift ;;
    --targets) LOADGEN_ARGS+=(--targets "$2"); TARGETS=$2; shift ;;
    --audience-viewers) LOADGEN_ARGS+=(--audience-viewers "$2"); shift ;;
    --audience-reps) LOADGEN_ARGS+=(--audience-reps "$2"); shift ;;
    --no-report) NO_REPORT=1 ;;
    *) echo "usage: scripts/bench.sh [--quick] [--reps N] [--scenarios a,b,...] [--sizes b1,b2,...] [--targets t1,t2,...] [--audience-viewers v1,v2,...] [--audience-reps N] [--no-report]" >&2; exit 2 ;;
  esac
  shift
done
step() { printf '[bench] %s\n' "$*"; }
# whether the run includes one of the given scenarios (every one when --scenarios is not given)
wants() { [ -z "${SCENARIOS:-}" ] && return 0; local s; for s in "$@"; do [[ ",$SCENARIOS," == *",$s,"* ]] && return 0; done; return 1; }
# whether the run measures the given target (every one when --targets is not given)
targets() { [ -z "${TARGETS:-}" ] || [[ ",$TARGETS," == *",$1,"* ]]; }
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/setup.sh
if [ ! -f build/index.js ] || [ ! -f build/index_bg.wasm ]; then
  [ "${BENCH_SKIP_BUILD:-0}" = 1 ] && { echo "[bench] build/index.js missing (BENCH_SKIP_BUILD=1)" >&2; exit 1; }
  bash scripts/build.sh
fi
# Snapshot build/ into bench/build/ (what bench/entry.js imports): a rebuild of build/ while
# `wrangler dev` watches it would reload a half-written wasm and end the run.
snapshot_build() {
  local i
  for i in $(seq 1 60); do
    if [ -f build/index.js ] && [ -f build/index_bg.wasm ] \
       && [ $(( $(date +%s) - $(stat -c %Y build/index_bg.wasm) )) -ge 3 ]; then
      rm -rf bench/build && mkdir -p bench/build
      cp -p build/index.js build/index_bg.wasm bench/build/
      if cmp -s build/index.js bench/build/index.js && cmp -s build/index_bg.wasm bench/build/index_bg.wasm \
         && [ "$(head -c4 bench/build/index_bg.wasm | od -An -tx1 | tr -d ' ')" = 0061736d ]; then
        return 0
      fi
    fi
    sleep 2
  done
  echo "[bench] build/ kept changing for 2 minutes; no consistent snapshot" >&2
  return 1
}
snapshot_build
GIT_AT_START=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
WORKER_BUILT=$(date -u -r bench/build/index_bg.wasm +%Y-%m-%dT%H:%M:%SZ)
step "worker snapshot: bench/build/ ($(wc -c <bench/build/index_bg.wasm) bytes wasm, built $(date -u -r bench/build/index_bg.wasm +%H:%M:%SZ))"
# wrangler dev runs the bench worker from a copy outside the repository (config, entry, baselines,
# worker snapshot): its bundler watches every file it read, package.json files of the directories
# above included, and an edit there by someone else (a commit to ../package.json) reloads the
# runtime on a new port in the middle of a run.
WORKER_DIR=$(mktemp -d /tmp/session-sync-bench-worker.XXXXXX)
cp bench/wrangler.bench.toml bench/entry.js "$WORKER_DIR/"
cp -r bench/js-baseline bench/floor bench/build "$WORKER_DIR/"
# Durable Object bindings of wrangler.toml that the bench config lacks (issue 13: the relays)
SYNCED=$(bash scripts/with-node.sh node bench/sync-config.mjs "$ROOT/wrangler.toml" "$WORKER_DIR/wrangler.bench.toml")
[ -z "$SYNCED" ] || echo "$SYNCED"
SYNCED_BINDINGS=$(echo "$SYNCED" | sed -n 's/^\[bench\] binding \([A-Za-z0-9_]*\).*/\1/p' | paste -sd, -)
# the coalescing-off server (issue 12) and the single-object server (issue 13) run from their
# own copies (wrangler writes its bundle there)
WORKER_DIR_OFF=$(mktemp -d /tmp/session-sync-bench-worker-off.XXXXXX)
cp -r "$WORKER_DIR/." "$WORKER_DIR_OFF/"
WORKER_DIR_SINGLE=$(mktemp -d /tmp/session-sync-bench-worker-single.XXXXXX)
cp -r "$WORKER_DIR/." "$WORKER_DIR_SINGLE/"
export BENCH_WRANGLER_TMP=$WORKER_DIR/.wrangler/tmp

step "cargo build --release (bench/loadgen)"
cargo build --release --quiet --manifest-path bench/loadgen/Cargo.toml
LOADGEN=$ROOT/bench/loadgen/target/release/loadgen

CORES=$(nproc)
if [ "$CORES" -ge 2 ]; then SERVER_CPUS=0; LOADGEN_CPUS=1; else SERVER_CPUS=0; LOADGEN_CPUS=0; fi
PIN_SERVER=(taskset -c "$SERVER_CPUS"); PIN_LOADGEN=(taskset -c "$LOADGEN_CPUS")
command -v taskset >/dev/null || { PIN_SERVER=(); PIN_LOADGEN=(); step "taskset not found: not pinning"; }
# As root, run servers and load generator at a higher priority (nice -10) so that unrelated work on
# the machine (builds) disturbs the measurements less. BENCH_NICE=0 turns this off.
NICE=${BENCH_NICE:-$([ "$(id -u)" = 0 ] && echo -10 || echo 0)}
if [ "$NICE" != 0 ]; then PIN_SERVER=(nice -n "$NICE" "${PIN_SERVER[@]}"); PIN_LOADGEN=(nice -n "$NICE" "${PIN_LOADGEN[@]}"); fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}
descendants() { local p; for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$p"; descendants "$p"; done; }

RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
RUN=$ROOT/bench/results/$RUN_ID
mkdir -p "$RUN"
ln -sfn "$RUN_ID" bench/results/latest
if [ -d /dev/shm ] && [ -w /dev/shm ]; then PERSIST=$(mktemp -d /dev/shm/session-sync-bench.XXXXXX); STORAGE=tmpfs
else PERSIST=$(mktemp -d /tmp/session-sync-bench.XXXXXX); STORAGE=disk; fi
PERSIST_OFF=$(mktemp -d "$(dirname "$PERSIST")/session-sync-bench-off.XXXXXX")
PERSIST_SINGLE=$(mktemp -d "$(dirname "$PERSIST")/session-sync-bench-single.XXXXXX")
PORT=$(free_port); INSPECT=$(free_port); NPORT=$(free_port); PORT_OFF=$(free_port); INSPECT_OFF=$(free_port)
PORT_SINGLE=$(free_port); INSPECT_SINGLE=$(free_port)
WPID=""; NPID=""; OFF_WPID=""; OFF_PORT=""; OFF_PIDS=""; SINGLE_WPID=""; SINGLE_PORT=""; SINGLE_PIDS=""
cleanup() {
  [ -n "$NPID" ] && kill "$NPID" 2>/dev/null || true
  stop_off_server
  stop_single_server
  stop_wrangler
  rm -rf "$PERSIST" "$PERSIST_OFF" "$PERSIST_SINGLE" "$WORKER_DIR" "$WORKER_DIR_OFF" "$WORKER_DIR_SINGLE"
}
trap cleanup EXIT

# Any [vars] entry of wrangler.toml that bench/wrangler.bench.toml lacks is passed as it is.
EXTRA_VARS=()
while IFS= read -r line; do
  name=${line%% =*}; value=$(echo "${line#*= }" | sed 's/^"//; s/"$//')
  if ! grep -q "^$name = " bench/wrangler.bench.toml; then EXTRA_VARS+=(--var "$name:$value"); step "var $name=$value from wrangler.toml"; fi
done < <(sed -n '/^\[vars\]/,/^\[/p' wrangler.toml | grep -E '^[A-Z_]+ = ')
# issue 13: the relay settings of the main server (bench config first, then wrangler.toml)
RELAY_VARS=""
for name in RELAY_THRESHOLD RELAY_VIEWERS RELAY_MIN MAX_VIEWERS; do
  value=$(sed -n "s/^$name = \"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" bench/wrangler.bench.toml wrangler.toml | head -n1)
  RELAY_VARS+="${RELAY_VARS:+ }$name=${value:-unset}"
done
# Starts `wrangler dev` on $PORT with storage in $PERSIST (log: $1), waits for it to answer and
# sets WPID, SERVER_PIDS, TARGET_PORT, VIA and WORKERD_PID (the runtime workerd: the one that
# runs the worker, not wrangler's proxy). Used again on the same storage for the wake check.
start_wrangler() {
  local log=$1; shift # further arguments go to wrangler dev (e.g. --var BATCH_TICK_MS:0)
  step "wrangler dev -c bench/wrangler.bench.toml on 127.0.0.1:$PORT (cpu $SERVER_CPUS, storage $STORAGE) $*"
  # a --var given here replaces the one EXTRA_VARS has for the same name (RELAY_THRESHOLD)
  local vars=() i
  for ((i = 0; i < ${#EXTRA_VARS[@]}; i += 2)); do
    [[ " $* " == *" --var ${EXTRA_VARS[i+1]%%:*}:"* ]] || vars+=("${EXTRA_VARS[i]}" "${EXTRA_VARS[i+1]}")
  done
  setsid "${PIN_SERVER[@]}" bash scripts/with-node.sh wrangler dev -c "$WORKER_DIR/wrangler.bench.toml" --ip 127.0.0.1 \
    --port "$PORT" --inspector-port "$INSPECT" --persist-to "$PERSIST" \
    --show-interactive-dev-session=false --log-level warn "${vars[@]}" "$@" >"$log" 2>&1 </dev/null &
  WPID=$!
  local deadline=$((SECONDS + 120))
  until curl -sf -o /dev/null "http://127.0.0.1:$PORT/api/v1/health"; do
    kill -0 "$WPID" 2>/dev/null || { cat "$log" >&2; echo "[bench] wrangler dev exited" >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { cat "$log" >&2; echo "[bench] wrangler dev did not answer in 120 s" >&2; exit 1; }
    sleep 0.25
  done
  SERVER_PIDS=$(echo "$WPID" $(descendants "$WPID") | tr ' ' ',')
  step "server pids (wrangler + workerd): $SERVER_PIDS"
  # `wrangler dev` answers on --port through a proxy worker in a second workerd process, which costs
  # about a third of the server CPU on every frame, for both targets alike. By default the load goes
  # straight to the workerd that runs the worker (its own entry socket; same process, same
  # config); BENCH_VIA=proxy measures through wrangler's proxy instead.
  VIA=${BENCH_VIA:-direct}
  TARGET_PORT=$PORT
  WORKERD_PID=""
  local pid port direct=""
  for pid in $(descendants "$WPID"); do
    [ "$(cat /proc/$pid/comm 2>/dev/null)" = workerd ] || continue
    tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null | grep -q "entry=127.0.0.1:$PORT\b" && continue
    WORKERD_PID=$pid
    [ "$VIA" = direct ] || continue
    for port in $(ss -ltnpH 2>/dev/null | grep "pid=$pid," | awk '{print $4}' | sed 's/.*://'); do
      [ "$port" = "$PORT" ] && continue
      if curl -sf -m 2 "http://127.0.0.1:$port/api/v1/health" 2>/dev/null | grep -q '"ok"' \
         && curl -sf -m 2 "http://127.0.0.1:$port/js/api/v1/health" 2>/dev/null | grep -q '"ok"'; then
        direct=$port; break 2
      fi
    done
  done
  if [ "$VIA" = direct ]; then
    if [ -n "$direct" ]; then TARGET_PORT=$direct; step "load goes straight to workerd's entry socket 127.0.0.1:$direct (BENCH_VIA=proxy for wrangler's port)"
    else VIA=proxy; step "workerd's own entry socket not found: load goes through wrangler's port $PORT"; fi
  fi
  step "runtime workerd pid: ${WORKERD_PID:-not found}"
}
# Stops `wrangler dev` (its whole process group) and waits until it is gone; keeps the storage.
stop_wrangler() {
  [ -n "$WPID" ] || return 0
  kill -TERM -- "-$WPID" 2>/dev/null || true
  local i
  for i in $(seq 1 40); do kill -0 "$WPID" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$WPID" 2>/dev/null || true
  # every process of the group gone (the runtime workerd holds the storage open)
  for i in $(seq 1 40); do pgrep -g "$WPID" >/dev/null 2>&1 || break; sleep 0.25; done
  WPID=""
}
# A second `wrangler dev` of the same build on its own port, storage and copy of the worker:
#   start_variant PORT INSPECT WORKER_DIR PERSIST LOG [wrangler dev arguments...]
# sets V_WPID, V_PORT (its direct entry socket) and V_PIDS; start_wrangler's globals are those
# of the main server again afterwards.
start_variant() {
  local keep_wpid=$WPID keep_pids=$SERVER_PIDS keep_tport=$TARGET_PORT keep_workerd=$WORKERD_PID keep_via=$VIA
  local keep_port=$PORT keep_inspect=$INSPECT keep_dir=$WORKER_DIR keep_persist=$PERSIST keep_tmp=$BENCH_WRANGLER_TMP
  PORT=$1; INSPECT=$2; WORKER_DIR=$3; PERSIST=$4; local log=$5; shift 5
  start_wrangler "$log" "$@"
  V_WPID=$WPID; V_PIDS=$SERVER_PIDS; V_PORT=$TARGET_PORT
  WPID=$keep_wpid; SERVER_PIDS=$keep_pids; TARGET_PORT=$keep_tport; WORKERD_PID=$keep_workerd; VIA=$keep_via
  PORT=$keep_port; INSPECT=$keep_inspect; WORKER_DIR=$keep_dir; PERSIST=$keep_persist; BENCH_WRANGLER_TMP=$keep_tmp
}
stop_variant() { local keep=$WPID; WPID=$1; stop_wrangler; WPID=$keep; }
# Issue 12: the same build with coalescing off (BATCH_TICK_MS=0); sets OFF_WPID, OFF_PORT, OFF_PIDS.
start_off_server() {
  start_variant "$PORT_OFF" "$INSPECT_OFF" "$WORKER_DIR_OFF" "$PERSIST_OFF" "$RUN/wrangler-off.log" --var BATCH_TICK_MS:0
  OFF_WPID=$V_WPID; OFF_PIDS=$V_PIDS; OFF_PORT=$V_PORT
  step "coalescing-off server (BATCH_TICK_MS=0): 127.0.0.1:$OFF_PORT, pids $OFF_PIDS"
}
stop_off_server() { [ -n "$OFF_WPID" ] || return 0; stop_variant "$OFF_WPID"; OFF_WPID=""; }
# Issue 13: the same build with relays off (every viewer on the session object itself); sets
# SINGLE_WPID, SINGLE_PORT, SINGLE_PIDS.
start_single_server() {
  start_variant "$PORT_SINGLE" "$INSPECT_SINGLE" "$WORKER_DIR_SINGLE" "$PERSIST_SINGLE" "$RUN/wrangler-single.log" --var RELAY_THRESHOLD:1000000
  SINGLE_WPID=$V_WPID; SINGLE_PIDS=$V_PIDS; SINGLE_PORT=$V_PORT
  step "single-object server (RELAY_THRESHOLD=1000000): 127.0.0.1:$SINGLE_PORT, pids $SINGLE_PIDS"
}
stop_single_server() { [ -n "$SINGLE_WPID" ] || return 0; stop_variant "$SINGLE_WPID"; SINGLE_WPID=""; }
start_wrangler "$RUN/wrangler.log"
# only for the scenarios it takes part in (fanout, storm, open): not for a size-only run
if [ "${BENCH_OFF:-1}" != 0 ] && wants fanout storm open && targets rust_off; then start_off_server; fi
# only for the audience scenario
if [ "${BENCH_SINGLE:-1}" != 0 ] && wants audience && targets rust_single; then start_single_server; fi

# the native server takes part in the scenarios of sections 1-5 only (not size, audience)
if wants cold fanout throughput storm resume open && targets native; then
  step "native ceiling server on 127.0.0.1:$NPORT (cpu $SERVER_CPUS)"
  "${PIN_SERVER[@]}" "$LOADGEN" serve --port "$NPORT" 2>>"$RUN/native.log" &
  NPID=$!
  sleep 0.3
fi

WASM_BYTES=$(wc -c <bench/build/index_bg.wasm)
WASM_GZ=$(gzip -9 -c bench/build/index_bg.wasm | wc -c)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$SECONDS
step "load generator on cpu $LOADGEN_CPUS: ${LOADGEN_ARGS[*]:-(full run)}"
"${PIN_LOADGEN[@]}" timeout 3600 "$LOADGEN" run --server "127.0.0.1:$TARGET_PORT" --server-pids "$SERVER_PIDS" \
  ${OFF_PORT:+--server-off "127.0.0.1:$OFF_PORT" --server-off-pids "$OFF_PIDS"} \
  ${SINGLE_PORT:+--server-single "127.0.0.1:$SINGLE_PORT" --server-single-pids "$SINGLE_PIDS"} \
  ${NPID:+--native "127.0.0.1:$NPORT" --native-pid "$NPID"} ${WORKERD_PID:+--workerd-pid "$WORKERD_PID"} "${LOADGEN_ARGS[@]}" --out "$RUN/results.jsonl"
ELAPSED=$((SECONDS - START))
stop_off_server
stop_single_server
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Issue 12: what limits the sustained rate. A CPU profile of the runtime (bench/profile.mjs)
# while the Rust service gets open-loop writes to 100 subscribers at its median sustained rate
# (where the server is busy but keeps up), and the JS baseline at the same rate; after the
# measurements so that the profiler does not slow them.
# BENCH_OPEN_PROFILE=0 skips it.
if { [ -z "${SCENARIOS:-}" ] || [[ ",$SCENARIOS," == *,open,* ]]; } && [ "${BENCH_OPEN_PROFILE:-1}" != 0 ]; then
  prate=$(bash scripts/with-node.sh node -e '
    const recs = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse)
      .filter((r) => r.scenario === "open" && r.target === "rust" && !r.params.batch && r.metrics.max_rate > 0);
    const v = recs.map((r) => r.metrics.max_rate).sort((a, b) => a - b);
    console.log(v.length ? v[(v.length - 1) >> 1] : 10);' "$RUN/results.jsonl" 2>/dev/null || true)
  if [ -n "$prate" ]; then
    for ptarget in rust js; do
      prefix=""; [ "$ptarget" = js ] && prefix=/js
      step "CPU profile of the ${ptarget} target, open loop at $prate writes/s to 100 subscribers (bench/profile.mjs)"
      bash scripts/with-node.sh node bench/profile.mjs --inspector "$INSPECT" --out "$RUN/profile-open-$ptarget.cpuprofile" -- \
        "${PIN_LOADGEN[@]}" "$LOADGEN" open-probe --server "127.0.0.1:$TARGET_PORT" --prefix "$prefix" --server-pids "$SERVER_PIDS" \
        --rate "$prate" --dur-ms 3000 --subs 100 >"$RUN/profile-open-$ptarget.txt" 2>&1 \
        || step "open-loop profile of $ptarget failed (see $RUN/profile-open-$ptarget.txt)"
    done
  fi
fi

# State size (issue 11): profiles of the largest Rust session, then wake after a restart.
if [ -z "${SCENARIOS:-}" ] || [[ ",$SCENARIOS," == *,size,* ]]; then
  # "key version items bytes" of the largest and of the smallest grown Rust session
  sessions=$(bash scripts/with-node.sh node -e '
    const recs = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse)
      .filter((r) => r.scenario === "size" && r.target === "rust" && r.metrics.key && !r.metrics.failed);
    const all = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse)
      .filter((r) => r.scenario === "size" && r.target === "js" && r.metrics.key && !r.metrics.failed);
    recs.sort((a, b) => b.params.bytes - a.params.bytes);
    all.sort((a, b) => a.params.bytes - b.params.bytes);
    for (const r of [recs[0], recs[recs.length - 1], all[0]]) console.log(r ? [r.metrics.key, r.metrics.version, r.metrics.items, r.params.bytes].join(" ") : "");' "$RUN/results.jsonl" 2>/dev/null || true)
  largest=$(echo "$sessions" | sed -n 1p)
  smallest=$(echo "$sessions" | sed -n 2p)
  smallest_js=$(echo "$sessions" | sed -n 3p)
  if [ -n "$largest" ] && [ "${BENCH_SIZE_PROFILE:-1}" != 0 ]; then
    # CPU profiles: writes, welcome and GET of the largest session; writes of the smallest, and
    # of the JS baseline's smallest
    for job in "writes:$largest" "welcome:$largest" "get:$largest" "writes-small:$smallest" "writes-js-small:$smallest_js"; do
      what=${job%%:*}
      read -r pkey pversion pitems pbytes <<<"${job#*:}"
      [ -n "$pkey" ] || continue
      prefix=""; [[ $what == *-js-* ]] && prefix=/js
      # the version now (earlier phases wrote); the JS baseline has no /info: its GET has it
      pversion=$(curl -sf "http://127.0.0.1:$TARGET_PORT$prefix/api/v1/sessions/$pkey$([ -z "$prefix" ] && echo /info)" | bash scripts/with-node.sh node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>console.log(JSON.parse(s).version))' || echo "$pversion")
      step "CPU profile of the ${prefix:+JS baseline}${prefix:-Rust service}, $pbytes-byte session, ${what%%-*} (bench/profile.mjs)"
      bash scripts/with-node.sh node bench/profile.mjs --inspector "$INSPECT" --out "$RUN/profile-size-$what.cpuprofile" -- \
        "${PIN_LOADGEN[@]}" "$LOADGEN" size-probe --server "127.0.0.1:$TARGET_PORT" --prefix "$prefix" --key "$pkey" --what "${what%%-*}" \
        --version "$pversion" --items "$pitems" --writers 1 --dur-ms 3000 --reps 2 >"$RUN/profile-size-$what.txt" 2>&1 \
        || step "profile of $what failed (see $RUN/profile-size-$what.txt)"
      echo "bytes $pbytes" >>"$RUN/profile-size-$what.txt"
    done
  fi
  if [ -n "$largest" ]; then
    step "wake: hashes of every grown session, then wrangler dev restarted on the same storage"
    bash scripts/with-node.sh node bench/wake.mjs before --run "$RUN" --url "http://127.0.0.1:$TARGET_PORT"
    stop_wrangler
    T0=$(date +%s%N)
    start_wrangler "$RUN/wrangler-restart.log"
    RESTART_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
    bash scripts/with-node.sh node bench/wake.mjs after --run "$RUN" --url "http://127.0.0.1:$TARGET_PORT" \
      ${WORKERD_PID:+--workerd-pid "$WORKERD_PID"} --restart-ms "$RESTART_MS" || step "wake check failed"
  fi
fi

CMD="npm run bench"
[ ${#LOADGEN_ARGS[@]} -gt 0 ] && CMD="bash scripts/bench.sh ${LOADGEN_ARGS[*]}"
cat >"$RUN/meta.json" <<EOF
{
  "run": "$RUN_ID",
  "command": "$CMD",
  "quick": $([ $QUICK = 1 ] && echo true || echo false),
  "git": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "worker_build": "bench/build/ snapshot of build/ built at $WORKER_BUILT (HEAD when the run started: $GIT_AT_START; \"git\" above is HEAD when the run ended)",
  "cores": $CORES,
  "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//;s/"//g')",
  "mem_gib": $(awk '/MemTotal/{printf "%.0f", $2/1048576}' /proc/meminfo),
  "server_cpus": "$SERVER_CPUS",
  "loadgen_cpus": "$LOADGEN_CPUS",
  "storage": "$STORAGE",
  "nice": "$NICE",
  "via": "$VIA",
  "batch_tick_ms": "$(sed -n 's/^BATCH_TICK_MS = "\([0-9]*\)"/\1/p' bench/wrangler.bench.toml)",
  "off_server": $([ -n "$OFF_PORT" ] && echo true || echo false),
  "single_server": $([ -n "$SINGLE_PORT" ] && echo true || echo false),
  "relay_vars": "$RELAY_VARS",
  "synced_bindings": "$SYNCED_BINDINGS",
  "wasm_bytes": $WASM_BYTES,
  "wasm_gzip9_bytes": $WASM_GZ,
  "loadavg_before": "$LOAD_BEFORE",
  "loadavg_after": "$LOAD_AFTER",
  "seconds": $ELAPSED,
  "rustc": "$(rustc --version)",
  "wrangler": "$(bash scripts/with-node.sh wrangler --version 2>/dev/null | tail -n1)",
  "node": "$(bash scripts/with-node.sh node --version)"
}
EOF
cleanup; trap - EXIT; WPID=""; NPID=""
step "raw results: bench/results/$RUN_ID/ (${ELAPSED}s)"
if [ "${NO_REPORT:-0}" != 1 ]; then
  bash scripts/with-node.sh node bench/report.mjs "$RUN"
fi
