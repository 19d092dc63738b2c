// Turns one benchmark run (bench/results/<run>/results.jsonl + meta.json) into BENCHMARKS.md
// and an SVG chart (bench/results/<run>/chart.svg, copied to docs/bench-chart.svg).
// Every number is the median over the run's repetitions; ratios are taken from the same run.
//   node bench/report.mjs bench/results/<run> [--out BENCHMARKS.md]
import { readFileSync, writeFileSync, copyFileSync, mkdirSync, existsSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coalesceSection } from './report-coalesce.mjs';
import { audienceLines, writeAudienceOnly } from './report-audience.mjs';
import { profileCategories } from './profile-categories.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const runDir = process.argv[2];
if (!runDir) throw new Error('usage: node bench/report.mjs bench/results/<run>');
const outIdx = process.argv.indexOf('--out');
const outMd = outIdx > 0 ? process.argv[outIdx + 1] : join(ROOT, 'BENCHMARKS.md');
const meta = JSON.parse(readFileSync(join(runDir, 'meta.json'), 'utf8'));
const recs = readFileSync(join(runDir, 'results.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const TARGETS = ['rust', 'js', 'native'];
const LABEL = { rust: 'Rust service', js: 'JS baseline', native: 'native ceiling', rust_off: 'Rust service, coalescing off (`BATCH_TICK_MS=0`)' };

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const get = (o, path) => path.split('.').reduce((a, k) => (a == null ? undefined : a[k]), o);
/** Records of a scenario whose params match, for one target, excluding errors. */
const sel = (scenario, params, target) => recs.filter((r) => r.scenario === scenario && r.target === target && !r.metrics.error
  && !r.params.first_after_start && Object.entries(params).every(([k, v]) => r.params[k] === v));
const med = (scenario, params, target, path) => median(sel(scenario, params, target).map((r) => get(r.metrics, path)));
const reps = (scenario, params, target) => sel(scenario, params, target).length;
const SIZE_SCENARIOS = ['size', 'size_wake', 'size_wake_writes'];
/** Kinds of server work in the state-size CPU profiles. */
const CATS = ['SQLite exec', 'wasm (Rust)', 'wasm/JS crossings', 'JS (glue or baseline)', 'runtime calls', 'GC', '(program)'];
const errors = recs.filter((r) => r.metrics.error && !SIZE_SCENARIOS.includes(r.scenario));
const sizeOnly = recs.length > 0 && recs.every((r) => SIZE_SCENARIOS.includes(r.scenario));
const audienceOnly = recs.length > 0 && recs.every((r) => r.scenario === 'audience');

const fmt = (x, d = 1) => {
  if (!Number.isFinite(x)) return 'n/a';
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(Math.min(d, 1));
  return x.toFixed(Math.max(d, 2));
};
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(a / b >= 10 ? 0 : 2)}x` : 'n/a');
const uniq = (xs) => [...new Set(xs)];
const paramsOf = (scenario, key) => uniq(recs.filter((r) => r.scenario === scenario).map((r) => r.params[key])).filter((x) => x !== undefined).sort((a, b) => a - b);

const lines = [];
const p = (s = '') => lines.push(s);
if (sizeOnly) {
  // Only the state-size scenario ran: its section replaces (or joins) the one in BENCHMARKS.md;
  // the other sections stay as they are (from their own, earlier run).
  const old = existsSync(outMd) ? readFileSync(outMd, 'utf8') : '# Benchmarks\n';
  const earlier = (old.match(/from run `([^`]+)`/) ?? [])[1];
  const section = `${sizeSection(true, earlier).join('\n')}\n`;
  const at = old.indexOf('\n## State size');
  let md;
  if (at >= 0) {
    const next = old.indexOf('\n## ', at + 1);
    md = old.slice(0, at + 1) + section + (next >= 0 ? old.slice(next + 1) : '');
  } else {
    const before = ['\n## Cold start', '\n## Where the Rust service', '\n## Notes'].map((h) => old.indexOf(h)).find((i) => i >= 0);
    md = before !== undefined ? old.slice(0, before + 1) + section + old.slice(before + 1) : `${old.trimEnd()}\n\n${section}`;
  }
  writeFileSync(outMd, md);
  console.log(`[bench] wrote the State size section of ${relative(ROOT, outMd)} (from ${relative(ROOT, runDir)}; other sections unchanged)`);
} else if (audienceOnly) {
  // Only the audience scenario ran (issue 13): its section replaces (or joins) the one in
  // BENCHMARKS.md; the other sections stay as they are.
  writeAudienceOnly({ recs, meta, root: ROOT, fmt, ratio, median }, outMd, runDir);
} else {
const table = (head, rows) => {
  p(`| ${head.join(' | ')} |`);
  p(`| ${head.map((h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
  for (const r of rows) p(`| ${r.join(' | ')} |`);
  p();
};
const nReps = Math.max(0, ...recs.map((r) => r.rep ?? 0));

p('# Benchmarks');
p();
p(`Generated by \`${meta.command}\` (\`scripts/bench.sh\`) from run \`${meta.run}\` at commit \`${meta.git}\`:`);
if (meta.worker_build) p(`Worker measured: ${meta.worker_build}.`);
p(`${meta.quick ? '**quick run** (fewer sizes and repetitions; a full run is `npm run bench`), ' : ''}${nReps} repetition(s), every number below is the **median over the repetitions**, and every ratio is taken between targets measured in the same run.`);
p();
p('Reproduce: `npm run bench` (full, about 20-25 minutes) or `bash scripts/bench.sh --quick` (a few minutes). Raw records: `bench/results/<run>/results.jsonl`.');
p();
p('## Setup');
p();
p(`- Machine: ${meta.cores} cores (${meta.cpu}), ${meta.mem_gib} GiB. Servers pinned to cpu ${meta.server_cpus}, the load generator to cpu ${meta.loadgen_cpus} (\`taskset\`). Load average before/after: ${meta.loadavg_before} / ${meta.loadavg_after} (other work on the machine shows up here).`);
p(`- Request path: ${meta.via === 'direct' ? "straight to the workerd process that runs the worker (its own entry socket), not through the proxy worker that `wrangler dev` puts in front of it in a second workerd process (that proxy costs about a third of the server CPU per frame, for both targets alike; `BENCH_VIA=proxy npm run bench` measures through it)" : "through the port of `wrangler dev` (its proxy worker, in a second workerd process, is on the path of every frame for both targets)"}. Servers and load generator run at nice ${meta.nice ?? 0}.`);
p(`- **Rust service**: the built worker (\`build/index.js\` + \`build/index_bg.wasm\`), unchanged, under \`wrangler dev\` (${meta.wrangler}, workerd), with \`bench/wrangler.bench.toml\`.`);
p('- **JS baseline**: `bench/js-baseline/session.js`, a minimal JavaScript Durable Object with the same frames and the same write path (SQLite state + op log, opId de-duplication, baseVersion check, merge patch, ack + one `update` broadcast, hibernation API, presence join/leave), served by the **same** `wrangler dev` process at `/js/` (`bench/entry.js` re-exports the worker-build output and routes `/js/*` to the baseline).');
p('- **native ceiling**: `loadgen serve`, a tokio + tokio-tungstenite server in `bench/loadgen/` with the same frames, state in memory (still parsed, merged, re-serialized per write): what this machine does without workerd, wasm or storage.');
p(`- Load generator: \`bench/loadgen\` (Rust, tokio current-thread runtime + tokio-tungstenite), one process on one core; its CPU use is recorded on every measurement (column "lg cpu": share of one core during the measurement; near 100% means the load generator, not the server, was the limit).`);
p(`- Durable Object storage of \`wrangler dev\`: ${meta.storage === 'tmpfs' ? 'on tmpfs (`/dev/shm`), so the numbers measure compute, not this VM\'s disk flushes (with storage on the VM\'s disk, the JS baseline\'s single writer got about 7x fewer acked writes/s: 131 instead of 971, in a separate check)' : 'on disk'}.`);
p('- Limits raised for the bench only (`bench/wrangler.bench.toml`): `MAX_MESSAGES_PER_SECOND` 1,000,000 (default 100 per connection) and `MAX_CLIENTS` 1000 (default 256), and the per-address Rate Limiting bindings at limits the load generator never reaches; everything else as in `wrangler.toml`.');
p();

// headline
const f100 = (t) => med('fanout', { subscribers: 100, bytes: 100 }, t, 'lat.p99_ms');
const openMed = (t, batch, path) => median(sel('open', {}, t).filter((r) => !!r.params.batch === batch).map((r) => get(r.metrics, path)));
const open = (t) => openMed(t, false, 'max_deliveries_per_s');
const openB = openMed('rust', true, 'max_deliveries_per_s');
p('## Headline');
p();
table(['metric', 'Rust service', 'JS baseline', 'native ceiling', 'Rust / JS', 'Rust / native'], [
  ['fan-out p99, 100 subscribers, 100 B patch (ms)', ...TARGETS.map((t) => fmt(f100(t))), ratio(f100('rust'), f100('js')), ratio(f100('rust'), f100('native'))],
  ['max sustained deliveries/s (open loop, 100 subscribers, p99 < 50 ms, all in order)', ...TARGETS.map((t) => fmt(open(t))), ratio(open('rust'), open('js')), ratio(open('rust'), open('native'))],
  ...(Number.isFinite(openB) ? [['same, Rust with `batch=1` (P15 coalesced `updates` frames)', fmt(openB), '', '', ratio(openB, open('js')), ratio(openB, open('native'))]] : []),
  ['acked writes/s, 1 writer, no baseVersion', ...TARGETS.map((t) => fmt(med('throughput', { writers: 1, base_version: false }, t, 'acked_per_s'))),
    ratio(med('throughput', { writers: 1, base_version: false }, 'rust', 'acked_per_s'), med('throughput', { writers: 1, base_version: false }, 'js', 'acked_per_s')),
    ratio(med('throughput', { writers: 1, base_version: false }, 'rust', 'acked_per_s'), med('throughput', { writers: 1, base_version: false }, 'native', 'acked_per_s'))],
  ['cold Durable Object: first request to a new session (ms)', ...TARGETS.map((t) => fmt(med('cold', {}, t, 'create_ms'))),
    ratio(med('cold', {}, 'rust', 'create_ms'), med('cold', {}, 'js', 'create_ms')), ratio(med('cold', {}, 'rust', 'create_ms'), med('cold', {}, 'native', 'create_ms'))],
]);
p(`Wasm size: \`build/index_bg.wasm\` is ${meta.wasm_bytes.toLocaleString('en-US')} bytes, **${meta.wasm_gzip9_bytes.toLocaleString('en-US')} bytes gzipped** (\`gzip -9\`). Whole run: ${meta.seconds} s.`);
p();
p('Ratios are Rust / other: for latencies and times above 1 means the Rust service is slower; for rates below 1 means it does less.');
p();
p('![fan-out p99 latency and write throughput, Rust service vs JS baseline vs native ceiling](docs/bench-chart.svg)');
p();
p('In the sections below, "Rust service" is the service as it ships, with adaptive coalescing on (P15). The next section compares it with the same build with coalescing off, and with the runtime floor.');
p();
// issue 12: coalescing on / off, the runtime floor, the four targets (bench/report-coalesce.mjs)
if (recs.some((r) => ['rust_off', 'floor'].includes(r.target))) for (const l of coalesceSection({ recs, meta, runDir, root: ROOT, fmt, ratio, median, get })) p(l);

// 1. fan-out
p('## 1. Fan-out latency');
p();
p('One writer sends merge patches to a session with N subscribers; the next write goes out when every subscriber has the previous update (closed loop, so this is latency without queueing). Per-delivery latency from the send to the receipt at each subscriber. Patch frames of about 100 B and 10 KB. "lg cpu" is the load generator\'s share of its core.');
p();
const fanRows = [];
for (const bytes of paramsOf('fanout', 'bytes')) {
  for (const n of paramsOf('fanout', 'subscribers')) {
    const q = { subscribers: n, bytes };
    const row = [`${n} subs, ${bytes >= 1000 ? `${bytes / 1000} KB` : `${bytes} B`}`];
    for (const t of TARGETS) row.push(`${fmt(med('fanout', q, t, 'lat.p50_ms'))} / ${fmt(med('fanout', q, t, 'lat.p95_ms'))} / ${fmt(med('fanout', q, t, 'lat.p99_ms'))} / ${fmt(med('fanout', q, t, 'lat.max_ms'))}`);
    row.push(ratio(med('fanout', q, 'rust', 'lat.p99_ms'), med('fanout', q, 'js', 'lat.p99_ms')));
    row.push(ratio(med('fanout', q, 'rust', 'lat.p99_ms'), med('fanout', q, 'native', 'lat.p99_ms')));
    row.push(TARGETS.map((t) => fmt(median(sel('fanout', q, t).map((r) => 1000 * r.metrics.server_cpu_ms / r.metrics.expected)), 0)).join(' / '));
    row.push(TARGETS.map((t) => fmt(med('fanout', q, t, 'loadgen_cpu_pct'), 0) + '%').join(' / '));
    fanRows.push(row);
  }
}
table(['case', 'Rust p50/p95/p99/max ms', 'JS p50/p95/p99/max ms', 'native p50/p95/p99/max ms', 'p99 Rust/JS', 'p99 Rust/native', 'server cpu µs per delivery R/J/N', 'lg cpu R/J/N'], fanRows);
const lostFan = recs.filter((r) => r.scenario === 'fanout' && !r.metrics.error && (r.metrics.delivered !== r.metrics.expected || r.metrics.bad_order > 0));
p(lostFan.length ? `Incomplete or out-of-order fan-out runs: ${lostFan.map((r) => `${r.target} N=${r.params.subscribers} ${r.params.bytes} B rep ${r.rep} (${r.metrics.delivered}/${r.metrics.expected}, ${r.metrics.bad_order} out of order)`).join('; ')}.` : 'Every update reached every subscriber exactly once and in version order in every fan-out run.');
p();

// 2. throughput
p('## 2. Write throughput');
p();
p('K writers on one session, each closed loop (its next write after its ack or reject), 100 B merge patches. Without baseVersion every write applies (last writer wins); with baseVersion each writer sends the version it last saw, so concurrent writers conflict and get `reject` `version_conflict`. Acked writes per second and the p99 time from send to ack.');
p();
const tpRows = [];
for (const base of [false, true]) {
  for (const k of paramsOf('throughput', 'writers')) {
    const q = { writers: k, base_version: base };
    if (!TARGETS.some((t) => reps('throughput', q, t))) continue;
    const row = [`${k} writer${k > 1 ? 's' : ''}, ${base ? 'with' : 'no'} baseVersion`];
    for (const t of TARGETS) row.push(`${fmt(med('throughput', q, t, 'acked_per_s'))} (${fmt(med('throughput', q, t, 'ack_lat.p99_ms'))} ms${base ? `, ${fmt(med('throughput', q, t, 'rejects'), 0)} rej` : ''})`);
    row.push(ratio(med('throughput', q, 'rust', 'acked_per_s'), med('throughput', q, 'js', 'acked_per_s')));
    row.push(ratio(med('throughput', q, 'rust', 'acked_per_s'), med('throughput', q, 'native', 'acked_per_s')));
    row.push(TARGETS.map((t) => fmt(median(sel('throughput', q, t).map((r) => 1000 * r.metrics.server_cpu_ms / Math.max(1, r.metrics.acks + r.metrics.rejects))), 0)).join(' / '));
    row.push(TARGETS.map((t) => fmt(med('throughput', q, t, 'server_cpu_pct'), 0) + '%').join(' / '));
    row.push(TARGETS.map((t) => fmt(med('throughput', q, t, 'loadgen_cpu_pct'), 0) + '%').join(' / '));
    tpRows.push(row);
  }
}
table(['case', 'Rust acked/s (ack p99)', 'JS acked/s (ack p99)', 'native acked/s (ack p99)', 'Rust/JS', 'Rust/native', 'server cpu µs per answered write R/J/N', 'server cpu R/J/N', 'lg cpu R/J/N'], tpRows);
p('The resume scenario below also measures pipelined writes (one connection, 32 writes in flight): "fill writes/s".');
p();

// 3. storm
p('## 3. Connect storm');
p();
p('M clients open a WebSocket to one session at the same moment; time until the last one has its `welcome` (each join is also announced to every client already connected, as the protocol requires).');
p();
const stRows = [];
for (const m of paramsOf('storm', 'clients')) {
  const q = { clients: m };
  const row = [`${m} clients`];
  for (const t of TARGETS) row.push(`${fmt(med('storm', q, t, 'all_connected_ms'))} (p50 ${fmt(med('storm', q, t, 'connect.p50_ms'))})`);
  row.push(ratio(med('storm', q, 'rust', 'all_connected_ms'), med('storm', q, 'js', 'all_connected_ms')));
  row.push(ratio(med('storm', q, 'rust', 'all_connected_ms'), med('storm', q, 'native', 'all_connected_ms')));
  row.push(TARGETS.map((t) => fmt(median(sel('storm', q, t).map((r) => r.metrics.server_cpu_ms / m)), 2)).join(' / '));
  row.push(TARGETS.map((t) => fmt(med('storm', q, t, 'loadgen_cpu_pct'), 0) + '%').join(' / '));
  stRows.push(row);
}
table(['case', 'Rust ms to all connected', 'JS ms', 'native ms', 'Rust/JS', 'Rust/native', 'server cpu ms per connect R/J/N', 'lg cpu R/J/N'], stRows);

// 4. resume
p('## 4. Resume');
p();
p('A session gets 1,000 writes (100 B merge patches, pipelined 32 in flight: "fill"); then a client that had seen only the version before them reconnects with `?since=`; time from connecting until its `welcome` with exactly the 1,000 missed updates (`resume: "ops"`) is received and parsed. A fresh connection without `since` (full snapshot) for comparison.');
p();
const rq = { ops: 1000 };
table(['metric', 'Rust', 'JS', 'native', 'Rust/JS', 'Rust/native'], [
  ['resume 1,000 ops behind: ms to caught up', ...TARGETS.map((t) => fmt(med('resume', rq, t, 'resume_ms'))), ratio(med('resume', rq, 'rust', 'resume_ms'), med('resume', rq, 'js', 'resume_ms')), ratio(med('resume', rq, 'rust', 'resume_ms'), med('resume', rq, 'native', 'resume_ms'))],
  ['welcome size (bytes)', ...TARGETS.map((t) => fmt(med('resume', rq, t, 'welcome_bytes'), 0)), '', ''],
  ['snapshot connect (ms)', ...TARGETS.map((t) => fmt(med('resume', rq, t, 'snapshot_ms'))), ratio(med('resume', rq, 'rust', 'snapshot_ms'), med('resume', rq, 'js', 'snapshot_ms')), ratio(med('resume', rq, 'rust', 'snapshot_ms'), med('resume', rq, 'native', 'snapshot_ms'))],
  ['fill: pipelined writes/s (1 connection)', ...TARGETS.map((t) => fmt(med('resume', rq, t, 'fill_writes_per_s'))), ratio(med('resume', rq, 'rust', 'fill_writes_per_s'), med('resume', rq, 'js', 'fill_writes_per_s')), ratio(med('resume', rq, 'rust', 'fill_writes_per_s'), med('resume', rq, 'native', 'fill_writes_per_s'))],
]);
const badResume = recs.filter((r) => r.scenario === 'resume' && !r.metrics.error && (r.metrics.ops_received !== 1000 || !r.metrics.ops_in_order || r.metrics.resume !== 'ops'));
p(badResume.length ? `Resume runs that did not get exactly the 1,000 ops in order: ${badResume.map((r) => `${r.target} rep ${r.rep} (${r.metrics.ops_received} ops, resume ${r.metrics.resume})`).join('; ')}.` : 'Every resume got `resume: "ops"` with exactly the 1,000 missed updates in version order.');
p();

// 5. open loop
p('## 5. Open loop: highest sustained rate');
p();
p('A writer sends 100 B merge patches at a fixed rate (scheduled, not waiting for answers) to a session with 100 subscribers; latency is measured from each write\'s scheduled time, so queueing delay is not hidden (no coordinated omission). A rate passes when every update reached all 100 subscribers exactly once and in order and p99 < 50 ms (a step that failed on p99 alone, with every update delivered once, in order and without backlog, is run once more, and the rate passes if that attempt passes: at low rates the p99 of 100 subscribers is set by one or two writes, so a single hiccup of the shared machine would otherwise end the ladder). Rates double from 10 writes/s until one fails, then are bisected. The table gives the highest passing rate (median over repetitions) and the steps of the first repetition. The Rust service coalesces by default (P15: a frame goes out at once to a connection that got none in the last `BATCH_TICK_MS` tick, otherwise it waits for the tick, merged into one `updates` frame). Each update inside an `updates` frame counts once. The same build with coalescing off (`BATCH_TICK_MS=0`, a second `wrangler dev`) has its own row; the baselines do not batch.');
p();
const opRows = [];
for (const [t, batch] of [['rust', false], ['rust_off', false], ...TARGETS.filter((t) => t !== 'rust').map((t) => [t, false]), ['rust', true]]) {
  const best = openMed(t, batch, 'max_rate');
  if ((batch || t === 'rust_off') && !Number.isFinite(best)) continue;
  const steps = recs.filter((r) => r.scenario === 'open_step' && r.target === t && r.rep === 1 && !!r.params.batch === batch)
    .map((r) => r.metrics.error ? `${r.params.rate}: error` : `${r.metrics.rate}/s ${r.metrics.pass ? 'ok' : 'FAIL'} p99 ${fmt(r.metrics.lat?.p99_ms)} ms${r.metrics.aborted ? ' (backlog, stopped)' : ''}`).join('; ');
  opRows.push([LABEL[t] + (batch ? ', `batch=1` (P15)' : ''), fmt(best), fmt(best * 100), steps]);
}
table(['target', 'writes/s', 'deliveries/s', 'steps (rep 1): rate, result, p99'], opRows);
p(`Rust / JS: ${ratio(open('rust'), open('js'))}; Rust / native: ${ratio(open('rust'), open('native'))} (the native number is a floor: ${openMed('native', false, 'max_rate') >= 10240 ? 'it passed the top of the ladder (10,240 writes/s), and ' : ''}at these rates the single-core load generator receiving ${fmt(open('native'))} frames/s is the limit; see its CPU in the raw records).`);
p();

// issue 13 (bench/report-audience.mjs); a run without it keeps the section from its own run
for (const l of audienceLines({ recs, meta, root: ROOT, fmt, ratio, median }, outMd)) p(l);
if (recs.some((r) => r.scenario === 'size')) for (const l of sizeSection(false)) p(l);
else {
  // This run has no state-size records: keep the State size section of BENCHMARKS.md (from its
  // own run, named in it), without its sentence about the other sections' run.
  const old = existsSync(outMd) ? readFileSync(outMd, 'utf8') : '';
  const at = old.indexOf('\n## State size');
  if (at >= 0) {
    const next = old.indexOf('\n## ', at + 1);
    const section = old.slice(at + 1, next >= 0 ? next : undefined).trimEnd()
      .replace(/; the other sections of this file are from the earlier run `[^`]+`[^.]*/, '')
      .split('\n').filter((l) => !l.startsWith('(This section comes from its own run')).join('\n').trimEnd();
    for (const l of section.split('\n')) p(l);
    p();
    p('(This section comes from its own run, named above. The run of the other sections did not include the `size` scenario.)');
    p();
  }
}

// cold
p('## Cold start');
p();
const first = (t) => recs.find((r) => r.scenario === 'cold' && r.target === t && r.params.first_after_start);
table(['metric', 'Rust', 'JS', 'native'], [
  ['first request to a new session after server start (POST create: new Durable Object), ms', ...TARGETS.map((t) => fmt(first(t)?.metrics?.create_ms))],
  ['then its first WebSocket connect until welcome, ms', ...TARGETS.map((t) => fmt(first(t)?.metrics?.first_ws_ms))],
  ['new session (new Durable Object) in a warm process, median, ms', ...TARGETS.map((t) => fmt(med('cold', {}, t, 'create_ms')))],
  ['its first WebSocket connect until welcome, median, ms', ...TARGETS.map((t) => fmt(med('cold', {}, t, 'first_ws_ms')))],
]);
p('`wrangler dev` loads the worker (and compiles the wasm) before it answers the readiness probe (`GET /api/v1/health`, which touches no Durable Object), so the first row is a cold Durable Object in a warm isolate, not a cold isolate.');
p();
if (errors.length) {
  p('## Errors during the run');
  p();
  for (const e of errors) p(`- ${e.target} ${e.scenario} ${JSON.stringify(e.params)} rep ${e.rep}: ${String(e.metrics.error).slice(0, 300)}`);
  p();
}
const notes = join(ROOT, 'bench', 'profile-notes.md');
if (existsSync(notes)) {
  p(readFileSync(notes, 'utf8').trim());
  p();
}
p('## Notes');
p();
p('- Server CPU columns are the CPU time of the `wrangler dev` process tree (Node proxy + workerd) or of the native server during the measurement, as a share of one core; the server side is pinned to one core, so 100% is its ceiling.');
p('- The JS baseline implements only what the benchmarked paths need (no JSON Patch, read keys, rotation, TTL alarms, SSE); it also does less key checking. It is a floor for "a straightforward JS Durable Object", not a port of the service.');
p('- All three targets run on the same 2-core machine as the load generator; absolute numbers are for comparison within this run, not a prediction of Cloudflare\'s edge.');
p();

writeFileSync(outMd, lines.join('\n'));

writeChart();
function writeChart() {
// ---------- SVG chart: two panels, log scale ----------
const colors = { rust: '#d9480f', js: '#1971c2', native: '#5c940d' };
function panel(x0, y0, w, h, title, unit, groups) {
  // groups: [{label, values:{rust,js,native}}]
  const vals = groups.flatMap((g) => TARGETS.map((t) => g.values[t])).filter((v) => Number.isFinite(v) && v > 0);
  if (!vals.length) return '';
  const lo = 10 ** Math.floor(Math.log10(Math.min(...vals))), hi = 10 ** Math.ceil(Math.log10(Math.max(...vals)));
  const left = x0 + 60, right = x0 + w - 10, top = y0 + 30, bottom = y0 + h - 40;
  const y = (v) => bottom - (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * (bottom - top);
  let s = `<text x="${x0 + w / 2}" y="${y0 + 16}" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`;
  for (let d = lo; d <= hi * 1.001; d *= 10) {
    s += `<line x1="${left}" x2="${right}" y1="${y(d)}" y2="${y(d)}" stroke="#ddd"/>`;
    s += `<text x="${left - 6}" y="${y(d) + 4}" text-anchor="end" font-size="11">${d >= 1000 ? `${d / 1000}k` : d}</text>`;
  }
  s += `<text x="${x0 + 14}" y="${(top + bottom) / 2}" font-size="11" transform="rotate(-90 ${x0 + 14} ${(top + bottom) / 2})" text-anchor="middle">${unit} (log)</text>`;
  const gw = (right - left) / groups.length, bw = Math.min(28, (gw - 16) / 3);
  groups.forEach((g, i) => {
    const gx = left + i * gw + (gw - 3 * bw) / 2;
    TARGETS.forEach((t, j) => {
      const v = g.values[t];
      if (!Number.isFinite(v) || v <= 0) return;
      const yy = y(Math.max(v, lo));
      s += `<rect x="${gx + j * bw}" y="${yy}" width="${bw - 2}" height="${bottom - yy}" fill="${colors[t]}"><title>${LABEL[t]}: ${fmt(v)} ${unit}</title></rect>`;
      s += `<text x="${gx + j * bw + (bw - 2) / 2}" y="${yy - 3}" text-anchor="middle" font-size="9">${fmt(v)}</text>`;
    });
    s += `<text x="${left + i * gw + gw / 2}" y="${bottom + 16}" text-anchor="middle" font-size="11">${g.label}</text>`;
  });
  s += `<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`;
  return s;
}
const W = 900, H = 330;
const fanGroups = paramsOf('fanout', 'subscribers').map((n) => ({ label: `${n} sub${n > 1 ? 's' : ''}`, values: Object.fromEntries(TARGETS.map((t) => [t, med('fanout', { subscribers: n, bytes: 100 }, t, 'lat.p99_ms')])) }));
const tpGroups = [];
for (const k of paramsOf('throughput', 'writers')) tpGroups.push({ label: `${k} writer${k > 1 ? 's' : ''}`, values: Object.fromEntries(TARGETS.map((t) => [t, med('throughput', { writers: k, base_version: false }, t, 'acked_per_s')])) });
tpGroups.push({ label: 'open loop max', values: Object.fromEntries(TARGETS.map((t) => [t, openMed(t, false, 'max_rate')])) });
let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`;
svg += `<rect width="${W}" height="${H}" fill="white"/>`;
svg += panel(0, 0, W / 2, H - 30, 'Fan-out p99 latency, 100 B patch (lower is better)', 'ms', fanGroups);
svg += panel(W / 2, 0, W / 2, H - 30, 'Acked writes/s, no baseVersion (higher is better)', 'writes/s', tpGroups);
TARGETS.forEach((t, i) => {
  const x = W / 2 - 220 + i * 160;
  svg += `<rect x="${x}" y="${H - 22}" width="12" height="12" fill="${colors[t]}"/><text x="${x + 16}" y="${H - 12}" font-size="12">${LABEL[t]}</text>`;
});
svg += `<text x="${W - 6}" y="${H - 4}" text-anchor="end" font-size="9" fill="#666">run ${meta.run}, median of ${nReps}</text>`;
svg += '</svg>\n';
writeFileSync(join(runDir, 'chart.svg'), svg);
mkdirSync(join(ROOT, 'docs'), { recursive: true });
copyFileSync(join(runDir, 'chart.svg'), join(ROOT, 'docs', 'bench-chart.svg'));
console.log(`[bench] wrote ${relative(ROOT, outMd)} and docs/bench-chart.svg (from ${relative(ROOT, runDir)})`);
}
}

// ---------- State size (issue 11) ----------
function sizeSection(standalone, earlierRun) {
  const L = [];
  const q = (x = '') => L.push(x);
  const sizeRecs = recs.filter((r) => r.scenario === 'size');
  const sizes = uniq(sizeRecs.map((r) => r.params.bytes)).sort((a, b) => a - b);
  const label = (b) => (b >= 1e6 ? `${b / 1e6} MB` : b >= 1e3 ? `${b / 1e3} KB` : `${b} B`);
  const rec = (scenario, t, b) => recs.find((r) => r.scenario === scenario && r.target === t && r.params.bytes === b);
  const mib = (kb) => (Number.isFinite(kb) ? fmt(kb / 1024, 0) : 'n/a');
  const memCell = (m) => [m.mem_before, m.mem_loaded, m.mem_after_writes, m.mem_after_reads].map((x) => mib(x?.rss_kb)).join(' / ');
  const w = (m, k, f) => get(m, `writes.${k}.${f}`);
  const range = (m, k) => { const r = w(m, k, 'windows_acked_per_s'); return Array.isArray(r) && r.length > 1 ? ` [${fmt(Math.min(...r), 0)}–${fmt(Math.max(...r), 0)}]` : ''; };
  const big = sizes[sizes.length - 1];
  const small = sizes[0];
  q('## State size');
  q();
  if (standalone) {
    q(`From run \`${meta.run}\` (${meta.run.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d).*/, '$1-$2-$3 $4:$5 UTC')}, \`${meta.command}\`, ${meta.worker_build ? `worker: ${meta.worker_build.replace(/;\s*"git" above[^)]*/, '')}` : `commit \`${meta.git}\``})${earlierRun ? `; the other sections of this file are from the earlier run \`${earlierRun}\` (not re-run with this one)` : ''}. Machine: ${meta.cores} cores (${meta.cpu}), **shared with other developers running tests** during the run (load average before/after: ${meta.loadavg_before} / ${meta.loadavg_after}); workerd pinned to cpu ${meta.server_cpus}, the load generator to cpu ${meta.loadgen_cpus}; storage ${meta.storage === 'tmpfs' ? 'on tmpfs' : 'on disk'}; requests ${meta.via === 'direct' ? "straight to workerd's entry socket" : "through wrangler's proxy"}. One run: each number is one measurement (welcome and GET: the median of ${uniq(sizeRecs.map((r) => r.metrics.welcome?.all_ms?.length).filter(Boolean)).join('/') || 'n/a'}), not a median over repetitions.`);
    q();
  }
  q('Each size is a new session grown by HTTP `PATCH` merge patches (`application/merge-patch+json`, about 1 MB of new items per patch) to a map of ~1 KB items, `{"items":{"k000000":{"label":"item 0 ....","x":0,"y":0},...}}`. Then: one WebSocket writer, and then 8, send small merge patches (`{"items":{"k…":{"x":n}}}`) closed loop, ' + `${(w(sizeRecs[0]?.metrics ?? {}, '1', 'windows_acked_per_s') ?? [1]).length} times ${fmt((w(sizeRecs[0]?.metrics ?? {}, '1', 'wall_ms') ?? NaN) / 1000, 1)} s` + ' (the window with the median rate is shown, with the range of the windows; they connect with `?since=` the current version, so they skip the snapshot); a new client opens a WebSocket and reads the whole `welcome` (P16 `part` frames joined; "welcome" is open to the last part); `GET /api/v1/sessions/<key>` is read to the end of its body. workerd RSS is `VmRSS` of the runtime workerd process (it also holds every earlier session of the run and the JS baseline, so it grows down the table). Wake: `wrangler dev` is stopped and started again on the same storage (`bench/wake.mjs`) and the first `GET` of each session is timed; "identical" compares the SHA-256 of the state (parsed and re-stringified) and the version with those read before the restart. The JS baseline (`bench/js-baseline/`, one SQLite row holds the whole state) was given `PATCH`/`GET` routes for this scenario.');
  q();
  const rows = [];
  for (const b of sizes) {
    for (const t of ['rust', 'js']) {
      const r = rec('size', t, b);
      if (!r) continue;
      const m = r.metrics;
      const wk = rec('size_wake', t, b)?.metrics;
      const name = `${label(b)}, ${t === 'rust' ? 'Rust' : 'JS'}`;
      if (m.error) { rows.push([name, `**${String(m.error).slice(0, 200)}**`, '', '', '', '', '', '']); continue; }
      if (m.failed) {
        const f = m.grow_failure;
        const body = String(f.body ?? '').replace(/\|/g, '\\|').replace(/\s+/g, ' ').slice(0, 240);
        rows.push([name, `**failed while growing**: stored ${fmt(f.state_bytes, 0)} B; a PATCH to ${fmt(f.would_be_bytes, 0)} B got HTTP ${f.status}: \`${body}\``, '', '', '', '', '', '']);
        continue;
      }
      rows.push([
        name,
        `${fmt(m.server_state_bytes ?? m.state_bytes, 0)} (${m.grow_patches} patch${m.grow_patches === 1 ? '' : 'es'}, ${fmt(m.grow_ms / 1000, 1)} s)`,
        `${fmt(w(m, '1', 'acked_per_s'))}${range(m, '1')} (${fmt(w(m, '1', 'ack_lat.p50_ms'))} / ${fmt(w(m, '1', 'ack_lat.p99_ms'))}; ${fmt(1000 * w(m, '1', 'server_cpu_ms') / Math.max(1, w(m, '1', 'acks')), 0)} µs cpu)`,
        `${fmt(w(m, '8', 'acked_per_s'))}${range(m, '8')} (${fmt(w(m, '8', 'ack_lat.p50_ms'))} / ${fmt(w(m, '8', 'ack_lat.p99_ms'))})`,
        `${fmt(m.welcome?.ms)} (${m.welcome?.parts ?? 0} parts${m.welcome?.parts ? `, first ${fmt(m.welcome.first_frame_ms)}` : ''})`,
        `${fmt(m.get?.ms)} (first byte ${fmt(m.get?.ttfb_ms)})${m.welcome_equals_get ? '' : ' **welcome ≠ GET**'}`,
        memCell(m),
        wk ? `${fmt(wk.first_get_ms)}${wk.identical ? ', identical' : ' **DIFFERENT**'}` : 'n/a',
      ]);
    }
  }
  table2(L, ['state, target', 'state bytes (growth)', '1 writer: acked/s (ack p50 / p99 ms; server cpu per write)', '8 writers: acked/s (ack p50 / p99 ms)', 'welcome ms', 'GET ms', 'workerd RSS MiB: before / grown / after writes / after reads', 'wake: first GET ms'], rows);
  const skipped = recs.filter((r) => r.scenario === 'size' && r.metrics.error && /not attempted/.test(r.metrics.error));
  if (skipped.length) q(`Not attempted (the target had already failed at a smaller size): ${skipped.map((r) => `${r.target === 'js' ? 'JS' : 'Rust'} at ${label(r.params.bytes)}`).join(', ')}.`), q();
  const jsFail = sizeRecs.find((r) => r.target === 'js' && r.metrics.failed);
  if (jsFail) {
    const f = jsFail.metrics.grow_failure;
    const mib8 = 8 * 1024 * 1024;
    const at8 = f.state_bytes <= mib8 && f.would_be_bytes > mib8;
    q(`**Where the JS baseline fails**: it keeps its whole state in one SQLite value. Cloudflare documents a limit of 2 MB per string, BLOB or row in Durable Object SQLite storage, so deployed it would fail at its first write past 2 MB (SQLITE_TOOBIG, like cloudflare/agents #397); workerd under \`wrangler dev\` lets values grow further. Growing its ${label(jsFail.params.bytes)} session (the patch halved after each failure, down to 16 items), it stored a state of ${fmt(f.state_bytes, 0)} bytes; the next patch, to ${fmt(f.would_be_bytes, 0)} bytes${at8 ? ' (just past 8 MiB = 8,388,608 bytes, the local limit)' : ''}, failed: HTTP ${f.status} \`${String(f.body).replace(/\s+/g, ' ').slice(0, 300)}\`. Between 2 MB and that point the local numbers show what its whole-value rewrite per write costs, but such a session would not exist on Cloudflare.`);
    q();
  }
  // targets
  const r1 = (t, b, k) => w(rec('size', t, b)?.metrics ?? {}, k, 'acked_per_s');
  const bigM = rec('size', 'rust', big)?.metrics ?? {};
  const verdict = (x, goal, higher) => {
    if (!Number.isFinite(x)) return 'not measured';
    const ok = higher ? x >= goal : x < goal;
    const by = higher ? (goal - x) / goal : (x - goal) / goal;
    return ok ? '**met**' : `**missed** by ${(100 * by).toFixed(0)}%`;
  };
  const tg = [];
  const rBig = r1('rust', big, '1') / r1('rust', small, '1');
  tg.push([`acked writes/s at ${label(big)} / at ${label(small)}, Rust, 1 writer`, `${fmt(r1('rust', big, '1'))} / ${fmt(r1('rust', small, '1'))} = ${fmt(rBig, 2)}x`, '>= 0.8x', verdict(rBig, 0.8, true)]);
  const rBig8 = r1('rust', big, '8') / r1('rust', small, '8');
  tg.push([`same, 8 writers (no target)`, `${fmt(r1('rust', big, '8'))} / ${fmt(r1('rust', small, '8'))} = ${fmt(rBig8, 2)}x`, '', '']);
  for (const k of ['1', '8']) {
    const x = r1('rust', small, k) / r1('js', small, k);
    tg.push([`Rust / JS acked writes/s at ${label(small)}, ${k} writer${k === '1' ? '' : 's'}`, `${fmt(r1('rust', small, k))} / ${fmt(r1('js', small, k))} = ${fmt(x, 2)}x`, '>= 1.5x', verdict(x, 1.5, true)]);
  }
  tg.push([`${label(big)} to a new WebSocket client (welcome), s`, fmt(bigM.welcome?.ms / 1000, 2), '< 5 s', verdict(bigM.welcome?.ms / 1000, 5, false)]);
  tg.push([`${label(big)} by GET, s`, fmt(bigM.get?.ms / 1000, 2), '< 5 s', verdict(bigM.get?.ms / 1000, 5, false)]);
  const wkBig = rec('size_wake', 'rust', big)?.metrics;
  if (wkBig) tg.push([`wake: first GET of the ${label(big)} session after restarting wrangler dev, s`, `${fmt(wkBig.first_get_ms / 1000, 2)} (first byte ${fmt(wkBig.ttfb_ms / 1000, 2)}); ${wkBig.identical ? 'state and version identical (SHA-256)' : '**state differs**'}`, '', '']);
  const ww = rec('size_wake_writes', 'rust', big)?.metrics;
  if (ww) {
    const idle = wkBig?.mem_idle?.rss_kb;
    const plus = (kb) => (Number.isFinite(idle) && Number.isFinite(kb) ? ` (+${mib(kb - idle)})` : '');
    tg.push([`memory: runtime workerd (VmRSS) idle after the restart, then with only the ${label(big)} session loaded (its first GET), then after ${ww.writes} small writes to it`, `${mib(idle)} MiB idle; ${mib(ww.mem_after_get?.rss_kb)} MiB loaded${plus(ww.mem_after_get?.rss_kb)}; ${mib(ww.mem_after_writes?.rss_kb)} MiB after the writes${plus(ww.mem_after_writes?.rss_kb)}; peak VmHWM ${mib(ww.mem_after_writes?.hwm_kb)} MiB. Those writes (Node client): ${ww.error ? ww.error : `${fmt(ww.acked_per_s)} acked/s, p99 ${fmt(ww.ack_p99_ms)} ms`}`, '128 MB isolate limit', '']);
  }
  q('Targets of issue 11, as ratios from this run:');
  q();
  table2(L, ['measure', 'this run', 'target', 'result'], tg);
  // profiles of the largest session, if taken
  const catRows = [];
  const prof = ['writes', 'welcome', 'get', 'writes-small', 'writes-js-small'].map((what) => [what, join(runDir, `profile-size-${what}.txt`)]).filter(([, f]) => existsSync(f));
  if (prof.length) {
    q('Where the time goes: CPU profiles of the runtime (V8 sampling profiler through the inspector, `bench/profile.mjs`, taken after the measurements above, so they do not slow them) while one phase ran against a Rust session of this run (`bench/results/<run>/profile-size-*.txt` and `.cpuprofile`); the top self-time entries as shares of the server\'s busy time. wasm functions are unnamed in the release build (`wasm-function[N]`); the runtime\'s own calls are named: `exec` is SQLite, `queueMicrotask` is wasm-bindgen-futures waking a task, `send` is WebSocket send, `deserializeAttachment` a socket\'s attachment.');
    q();
    for (const [what, f] of prof) {
      const text = readFileSync(f, 'utf8');
      if (!/busy [1-9]/.test(text)) { q(`- **${what}**: no profile (${(text.match(/\[size-probe\][^\n]*/) ?? ['no samples'])[0]})`); continue; }
      const pb = Number((text.match(/^bytes (\d+)/m) ?? [])[1]);
      const probe = (() => { try { return JSON.parse(text.split('\n')[0]); } catch { return null; } })();
      const probeTxt = probe && !Array.isArray(probe) && probe.acked_per_s ? `; under the profiler ${fmt(probe.acked_per_s)} acked/s` : Array.isArray(probe) ? `; under the profiler ${probe.map((x) => `${fmt(x.ms)} ms`).join(', ')}` : '';
      const head = (text.match(/\[profile\] [\d.]+ s, sampled .*/) ?? [''])[0].replace('[profile] ', '');
      const block = text.split('[profile] top self time (share of busy time):')[1]?.split('[profile]')[0] ?? '';
      const top = block.split('\n').map((l) => l.trim()).filter((l) => /^[\d.]+%/.test(l)).slice(0, 8)
        .map((l) => { const m = l.match(/^([\d.]+%)\s+(\d+) ms\s+(.*)$/); return m ? `${m[1]} ${m[3].replace(/\s+\S*:\d+$/, '')}` : l; });
      const cats = profileCategories(f.replace(/\.txt$/, '.cpuprofile'), { other: 'runtime calls' });
      const ops = probe && !Array.isArray(probe) ? probe.acks : Array.isArray(probe) ? probe.length : NaN;
      const per = Array.isArray(probe) ? 1 : 1000; // reads in ms, writes in µs
      if (cats && ops > 0) catRows.push([`${what.replace(/-js-small|-small/, '')}, ${Number.isFinite(pb) ? label(pb) : '?'} ${what.includes('-js') ? 'JS baseline' : 'Rust'}`, `${fmt(ops, 0)} ${Array.isArray(probe) ? 'reads (**ms** each)' : 'writes (µs each)'}`,
        ...CATS.map((c) => fmt((per * (cats[c] ?? 0)) / ops, 0)), fmt((per * Object.values(cats).reduce((a, b) => a + b, 0)) / ops, 0)]);
      q(`- **${what.replace(/-js-small|-small/, '')}, ${Number.isFinite(pb) ? label(pb) : '?'} ${what.includes('-js') ? 'JS baseline' : 'Rust'} session** (${head}${probeTxt}): ${top.map((x) => `\`${x.replace(/`/g, '')}\``).join(', ') || 'no samples'}`);
    }
    q();
    if (catRows.length) {
      q('The same profiles by kind of work: server CPU per operation (µs per write, ms per read: busy samples divided by the writes acknowledged or the reads done under the profiler, which itself adds some cost). "wasm (Rust)" is the service\'s own code; "JS" is wasm-bindgen glue for the Rust service and the whole write path for the JS baseline; "runtime calls" are workerd APIs other than SQLite (WebSocket send, getWebSockets, attachments, queueMicrotask, ...):');
      q();
      table2(L, ['profile', 'operations', ...CATS, 'total'], catRows);
    }
  }
  const notes = join(ROOT, 'bench', 'size-notes.md');
  if (existsSync(notes)) {
    q(readFileSync(notes, 'utf8').trim());
    q();
  }
  return L;
}


function table2(L, head, rows) {
  L.push(`| ${head.join(' | ')} |`);
  L.push(`| ${head.map((h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
  for (const r of rows) L.push(`| ${r.join(' | ')} |`);
  L.push('');
}
