// CPU profile of the worker under one load-generator scenario, through the inspector of
// `wrangler dev` (Chrome DevTools protocol, V8 sampling profiler), to find where the server's
// time goes. Prints the top functions by self time and writes the .cpuprofile.
//   node bench/profile.mjs --inspector 9229 --out prof.cpuprofile -- <loadgen run args...>
// (the loadgen command after `--` is run as given, e.g. taskset -c 1 bench/loadgen/... run ...)
import { spawn } from 'node:child_process';
import { writeFileSync, readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const opt = (k, d) => { const i = argv.indexOf(k); return i >= 0 && i < sep ? argv[i + 1] : d; };
const port = opt('--inspector', '9229');
const out = opt('--out', 'profile.cpuprofile');
const focus = opt('--focus', null); // only samples whose stack has a frame whose name contains this
const cmd = argv.slice(sep + 1);

const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
const ws = new WebSocket(targets[0].webSocketDebuggerUrl, { headers: { Origin: 'http://localhost' } });
await new Promise((r, j) => { ws.onopen = r; ws.onerror = j; });
let id = 0;
const pending = new Map();
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.id && pending.has(m.id)) { pending.get(m.id)(m); pending.delete(m.id); }
};
const call = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });

await call('Profiler.enable');
await call('Profiler.setSamplingInterval', { interval: 200 });
await call('Profiler.start');
const t0 = Date.now();
await new Promise((resolve) => {
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', resolve);
});
const res = await call('Profiler.stop');
ws.close();
const profile = res.result.profile;
writeFileSync(out, JSON.stringify(profile));

// self time per function, and inclusive time for every function (walking the call tree)
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const dt = new Map();
profile.samples.forEach((s, i) => dt.set(s, (dt.get(s) ?? 0) + (profile.timeDeltas[i] ?? 0)));
// wrangler's bundle of bench/entry.js, to name the anonymous wasm-bindgen glue (`__wbg_send_...`)
const bundleDir = process.env.BENCH_WRANGLER_TMP || join(dirname(fileURLToPath(import.meta.url)), '.wrangler', 'tmp');
let bundle = [];
if (existsSync(bundleDir)) {
  const devs = readdirSync(bundleDir).filter((d) => d.startsWith('dev-')).map((d) => join(bundleDir, d, 'entry.js')).filter(existsSync)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (devs[0]) bundle = readFileSync(devs[0], 'utf8').split('\n');
}
const glue = (line, col) => {
  const head = (bundle[line] ?? '').slice(0, col);
  const all = [...head.matchAll(/(__wbg_[A-Za-z0-9_]+?|__wbindgen_[A-Za-z0-9_]+?)(?:_[0-9a-f]{16})?:/g)];
  return all.length ? all[all.length - 1][1] : '';
};
const key = (n) => {
  const f = n.callFrame;
  const file = f.url ? f.url.split('/').pop() : '';
  let name = f.functionName;
  if ((!name || name.length <= 2) && file === 'entry.js') name = `${name ? name + ' ' : ''}${glue(f.lineNumber, f.columnNumber) || '(anonymous)'}`;
  return `${name || '(anonymous)'} ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`;
};
const self = new Map();
const incl = new Map();
let total = 0;
const stackHas = (nid, text) => { for (let cur = nid; cur !== undefined; cur = parent.get(cur)) if (key(nodes.get(cur)).includes(text)) return true; return false; };
if (focus) for (const nid of [...dt.keys()]) if (!stackHas(nid, focus) && !key(nodes.get(nid)).startsWith('(idle)')) dt.delete(nid);
for (const [nid, us] of dt) {
  total += us;
  const n = nodes.get(nid);
  self.set(key(n), (self.get(key(n)) ?? 0) + us);
  const seen = new Set();
  for (let cur = nid; cur !== undefined; cur = parent.get(cur)) {
    const k = key(nodes.get(cur));
    if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + us); }
  }
}
const idle = self.get('(idle) ') ?? 0;
// callers of the top self-time natives
const callers = new Map();
for (const [nid, us] of dt) {
  const n = nodes.get(nid);
  const p = parent.get(nid);
  if (p === undefined) continue;
  const k = key(n) + '  <-  ' + key(nodes.get(p));
  callers.set(k, (callers.get(k) ?? 0) + us);
}
const busy = total - idle;
if (focus) console.log(`[profile] only samples under a frame matching "${focus}"`);
console.log(`[profile] ${((Date.now() - t0) / 1000).toFixed(1)} s, sampled ${(total / 1e3).toFixed(0)} ms, busy ${(busy / 1e3).toFixed(0)} ms (${(100 * busy / total).toFixed(0)}%)`);
const top = (m, n) => [...m].filter(([k]) => !k.startsWith('(idle)') && !k.startsWith('(root)') && !k.startsWith('(program)')).sort((a, b) => b[1] - a[1]).slice(0, n);
console.log('[profile] top self time (share of busy time):');
for (const [k, us] of top(self, 25)) console.log(`  ${(100 * us / busy).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(6)} ms  ${k}`);
console.log(`  (program) ${(100 * (self.get('(program) ') ?? 0) / busy).toFixed(1)}%, (garbage collector) ${(100 * (self.get('(garbage collector) ') ?? 0) / busy).toFixed(1)}%`);
console.log('[profile] top self time by caller:');
for (const [k, us] of top(callers, 20)) console.log(`  ${(100 * us / (total - idle)).toFixed(1).padStart(5)}%  ${k}`);
console.log('[profile] top inclusive time:');
for (const [k, us] of top(incl, 25)) console.log(`  ${(100 * us / busy).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(6)} ms  ${k}`);
process.exit(0); // the inspector socket may not finish its close handshake
