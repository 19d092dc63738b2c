// Wake after a restart, for the state-size scenario (issue 11): scripts/bench.sh runs
//   node bench/wake.mjs before --run bench/results/<run> --url http://127.0.0.1:P
// while the first `wrangler dev` still runs (reads every session the size scenario grew and
// keeps the SHA-256 of its state, parsed and re-stringified, and its version), stops wrangler dev,
// starts it again on the same persisted storage, then runs
//   node bench/wake.mjs after --run ... --url http://127.0.0.1:Q --workerd-pid N [--restart-ms T]
// which times the first GET of each session after the restart (largest first, so the runtime's
// memory right after it is that of one large session loaded), checks that it returns the same
// state (hash) and version, then sends closed-loop writes over a WebSocket to the largest Rust
// session and reads workerd's VmRSS / VmHWM again. Records are appended to results.jsonl as
// scenarios `size_wake` and `size_wake_writes`.
import { readFileSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

const [mode, ...rest] = process.argv.slice(2);
const opt = (k, d) => { const i = rest.indexOf(k); return i >= 0 ? rest[i + 1] : d; };
const run = opt('--run');
const url = opt('--url');
const workerdPid = Number(opt('--workerd-pid', 0)) || null;
if (!['before', 'after'].includes(mode) || !run || !url) {
  console.error('usage: node bench/wake.mjs before|after --run DIR --url http://127.0.0.1:P [--workerd-pid N] [--restart-ms T]');
  process.exit(2);
}
const results = join(run, 'results.jsonl');
const saved = join(run, 'wake-before.json');
const PREFIX = { rust: '', js: '/js' };
const sha = (s) => createHash('sha256').update(s).digest('hex');
const log = (s) => console.error(`[bench] wake: ${s}`);

function mem() {
  if (!workerdPid) return null;
  try {
    const s = readFileSync(`/proc/${workerdPid}/status`, 'utf8');
    const f = (n) => Number((s.match(new RegExp(`^${n}:\\s+(\\d+)`, 'm')) ?? [])[1]);
    return { rss_kb: f('VmRSS'), hwm_kb: f('VmHWM') };
  } catch {
    return null;
  }
}

/** GET the state: time to the answer's headers and to the end of its body; hash of the state. */
async function getState(target, key) {
  const t0 = performance.now();
  const r = await fetch(`${url}${PREFIX[target]}/api/v1/sessions/${key}`);
  const ttfb = performance.now() - t0;
  const text = await r.text();
  const ms = performance.now() - t0;
  let body = null;
  try { body = JSON.parse(text); } catch {}
  return { status: r.status, ttfb_ms: ttfb, ms, bytes: text.length, version: body?.version, sha: body ? sha(JSON.stringify(body.state)) : null };
}

/** `n` closed-loop small merge patches over one WebSocket that resumes at `version`. */
async function writes(key, version, items, n) {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/sessions/${key}/ws?since=${version}`);
  const waiting = new Map();
  let welcome;
  const welcomed = new Promise((resolve, reject) => { welcome = resolve; ws.onerror = () => reject(new Error('websocket error')); });
  ws.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    if (f.type === 'welcome') welcome(f);
    else if ((f.type === 'ack' || f.type === 'reject') && waiting.has(f.opId)) { waiting.get(f.opId)(f); waiting.delete(f.opId); }
  };
  const w = await welcomed;
  if (w.resume !== 'ops') throw new Error(`welcome with since=${version} is a ${w.resume}, not a resume`);
  const lats = [];
  let acks = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const opId = `wake-${i}`;
    const k = `k${String((i * 7919) % items).padStart(6, '0')}`;
    const s = performance.now();
    const answer = new Promise((resolve) => waiting.set(opId, resolve));
    ws.send(JSON.stringify({ type: 'patch', opId, merge: { items: { [k]: { x: -i } } } }));
    const f = await answer;
    if (f.type === 'ack') { acks++; lats.push(performance.now() - s); }
  }
  const secs = (performance.now() - t0) / 1000;
  ws.close();
  lats.sort((a, b) => a - b);
  const pct = (p) => lats[Math.min(lats.length - 1, Math.ceil((p / 100) * lats.length) - 1)];
  return { writes: n, acks, acked_per_s: acks / secs, ack_p50_ms: pct(50), ack_p99_ms: pct(99) };
}

const sizeRecs = () => readFileSync(results, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
  .filter((r) => r.scenario === 'size' && r.metrics && r.metrics.key && !r.metrics.failed && !r.metrics.error);

if (mode === 'before') {
  const out = [];
  for (const r of sizeRecs()) {
    const g = await getState(r.target, r.metrics.key);
    out.push({ target: r.target, bytes: r.params.bytes, key: r.metrics.key, items: r.metrics.items, status: g.status, version: g.version, sha: g.sha, body_bytes: g.bytes });
    log(`${r.target} ${r.params.bytes} B: version ${g.version}, sha256 ${g.sha?.slice(0, 16)}..., ${g.bytes} bytes`);
  }
  writeFileSync(saved, JSON.stringify(out, null, 1));
} else {
  if (!existsSync(saved)) throw new Error(`${saved} missing: run "before" first`);
  const before = JSON.parse(readFileSync(saved, 'utf8'));
  // largest Rust session first: the runtime then holds only it when its memory is read
  before.sort((a, b) => (a.target === b.target ? b.bytes - a.bytes : a.target === 'rust' ? -1 : 1));
  const memIdle = mem();
  const restartMs = Number(opt('--restart-ms', NaN));
  for (const [i, s] of before.entries()) {
    const memBefore = mem();
    const g = await getState(s.target, s.key);
    const m = {
      first_get_ms: g.ms, ttfb_ms: g.ttfb_ms, status: g.status, body_bytes: g.bytes,
      version_before: s.version, version_after: g.version, sha_before: s.sha, sha_after: g.sha,
      identical: g.status === 200 && g.sha === s.sha && g.version === s.version,
      mem_idle: memIdle, mem_before_get: memBefore, mem_after_get: mem(), order: i, restart_ms: restartMs,
    };
    appendFileSync(results, JSON.stringify({ scenario: 'size_wake', params: { bytes: s.bytes }, metrics: m, target: s.target, rep: 1 }) + '\n');
    log(`${s.target} ${s.bytes} B: first GET after restart ${g.ms.toFixed(0)} ms (headers ${g.ttfb_ms.toFixed(0)} ms), ${m.identical ? 'identical state' : `DIFFERENT (status ${g.status}, version ${s.version} -> ${g.version}, sha ${s.sha?.slice(0, 12)} -> ${g.sha?.slice(0, 12)})`}; rss ${memBefore?.rss_kb} -> ${m.mem_after_get?.rss_kb} KiB`);
    if (i === 0 && s.target === 'rust') {
      // the largest session, woken and alone in the runtime: written to, memory read again
      const w = await writes(s.key, g.version, s.items, 300).catch((e) => ({ error: String(e) }));
      const mw = { ...w, mem_after_get: m.mem_after_get, mem_after_writes: mem() };
      appendFileSync(results, JSON.stringify({ scenario: 'size_wake_writes', params: { bytes: s.bytes }, metrics: mw, target: s.target, rep: 1 }) + '\n');
      log(`${s.target} ${s.bytes} B after wake: ${w.error ?? `${w.acked_per_s.toFixed(0)} acked writes/s (p99 ${w.ack_p99_ms.toFixed(1)} ms)`}; rss ${mw.mem_after_writes?.rss_kb} KiB, hwm ${mw.mem_after_writes?.hwm_kb} KiB`);
    }
  }
}
