// The issue 12 section of BENCHMARKS.md: adaptive coalescing (P15) against the same build with
// coalescing off (BATCH_TICK_MS=0, target rust_off), the runtime floor (bench/floor/, target
// floor) and the JS baseline; the four targets of the issue as ratios from one run, and the
// CPU profiles of the open loop at the lowest failing rate (bench/results/<run>/profile-open-*).
// Used by bench/report.mjs: coalesceSection(ctx) returns the section's lines.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { profileCategories } from './profile-categories.mjs';
import { mdWriter } from './markdown.mjs';

/** What BENCHMARKS.md reported for the connect storm before issue 12 (run 20261123T184208Z,
 *  commit 89c5f9d): server CPU per connect, measured from the first connect to the last welcome. */
export const PREVIOUS_STORM = { run: '20261123T184208Z', commit: '89c5f9d', msPerJoin: { 100: 3.1, 500: 6.26 } };

export const LABELS = {
  rust: 'Rust, `BATCH_TICK_MS=20` (default)',
  rust_off: 'Rust, `BATCH_TICK_MS=0` (coalescing off)',
  floor: 'runtime floor',
  js: 'JS baseline',
  native: 'native ceiling',
};

const CATS = ['SQLite exec', 'wasm (Rust)', 'wasm/JS crossings', 'JS (glue or baseline)', 'WebSocket send', 'other runtime calls', 'GC', '(program)'];

export function coalesceSection({ recs, meta, runDir, root, fmt, ratio, median, get }) {
  const { L, p, table } = mdWriter();
  const sel = (scenario, params, target) => recs.filter((r) => r.scenario === scenario && r.target === target && !r.metrics.error
    && !r.params.first_after_start && Object.entries(params).every(([k, v]) => r.params[k] === v));
  const med = (scenario, params, target, path) => median(sel(scenario, params, target).map((r) => get(r.metrics, path)));
  const medF = (scenario, params, target, f) => median(sel(scenario, params, target).map((r) => f(r.metrics)));
  const has = (t) => recs.some((r) => r.target === t && !r.metrics.error);
  const verdict = (x, goal, higher) => {
    if (!Number.isFinite(x)) return 'not measured';
    const ok = higher ? x >= goal : x <= goal;
    if (ok) return '**met**';
    return higher ? `**missed**: ${fmt(x, 2)}x is ${(100 * (goal - x) / goal).toFixed(0)}% short of ${goal}x`
      : `**missed**: ${fmt(x, 2)}x is ${(100 * (x - goal) / goal).toFixed(0)}% over ${goal}x`;
  };
  const x = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
  const nReps = (scenario, params, t) => sel(scenario, params, t).length;

  p('## Coalescing and the runtime floor (issue 12)');
  p();
  p(`Four targets are measured in the same run. **Rust, \`BATCH_TICK_MS=20\`** is the service in its default configuration: rule P15, adaptive coalescing with a tick of ${meta.batch_tick_ms || 20} ms. Which frames P15 coalesces by default depends on the build measured; see the notes at the end of this section. **Rust, \`BATCH_TICK_MS=0\`** is the same build (\`bench/build/\`) in a second \`wrangler dev\` started by \`scripts/bench.sh\` with \`--var BATCH_TICK_MS:0\`, so every frame goes out at once. It has its own port, storage and process tree, and its server CPU is that tree's. It is pinned to the same core as the first \`wrangler dev\`. **Runtime floor** is \`bench/floor/\`: a JavaScript Durable Object that sends every message it receives, unchanged, to every socket it holds. It does no parsing and no storage, so it is the fastest fan-out this runtime allows; it is served at \`/floor/\` by the first \`wrangler dev\`. It sends no acks and keeps no version, so it appears only in closed-loop fan-out. Its writer sends frames already shaped like updates (\`version = seq + 1\`). The **JS baseline** is as in the sections above. Every delivery count below counts each update inside an \`updates\` frame once, and checks that every subscriber got every version exactly once, with no gap, in order.`);
  p();

  // ---- targets ----
  const q100 = { subscribers: 100, bytes: 100 };
  const f99 = (t) => med('fanout', q100, t, 'lat.p99_ms');
  const openRate = (t) => median(sel('open', {}, t).filter((r) => !r.params.batch).map((r) => r.metrics.max_deliveries_per_s));
  const stormM = Math.max(0, ...recs.filter((r) => r.scenario === 'storm').map((r) => r.params.clients));
  const joinCpu = (t, m, settled) => medF('storm', { clients: m }, t, (mm) => (settled ? mm.server_cpu_settled_ms : mm.server_cpu_ms) / m);
  const rows = [];
  const fOn = f99('rust'), fOff = f99('rust_off'), fJs = f99('js'), fFloor = f99('floor');
  rows.push(['fan-out p99, 100 subscribers, 100 B, closed loop: default / coalescing off', `${fmt(fOn)} / ${fmt(fOff)} ms = ${ratio(fOn, fOff)}`, '<= 1.05x', verdict(x(fOn, fOff), 1.05, false)]);
  rows.push(['same, default / JS baseline', `${fmt(fOn)} / ${fmt(fJs)} ms = ${ratio(fOn, fJs)}`, '<= 0.8x', verdict(x(fOn, fJs), 0.8, false)]);
  rows.push(['same, Rust (default) / runtime floor', `${fmt(fOn)} / ${fmt(fFloor)} ms = ${ratio(fOn, fFloor)} (coalescing off / floor: ${ratio(fOff, fFloor)})`, '<= 1.3x', verdict(x(fOn, fFloor), 1.3, false)]);
  const oOn = openRate('rust'), oOff = openRate('rust_off'), oJs = openRate('js');
  rows.push(['open loop, 100 subscribers, p99 < 50 ms, every update once and in order: sustained deliveries/s, default / JS baseline', `${fmt(oOn)} / ${fmt(oJs)} = ${ratio(oOn, oJs)} (coalescing off: ${fmt(oOff)}, ${ratio(oOff, oJs)} of JS)`, '>= 2x', verdict(x(oOn, oJs), 2, true)]);
  const oBatch = median(sel('open', {}, 'rust').filter((r) => r.params.batch).map((r) => r.metrics.max_deliveries_per_s));
  if (Number.isFinite(oBatch)) rows.push(['same, Rust with subscribers that ask for coalesced updates (`?batch=1`) / JS baseline', `${fmt(oBatch)} / ${fmt(oJs)} = ${ratio(oBatch, oJs)}`, '>= 2x', verdict(x(oBatch, oJs), 2, true)]);
  if (stormM) {
    const sOn = joinCpu('rust', stormM, true), sOff = joinCpu('rust_off', stormM, true);
    rows.push([`${stormM} clients joining at once: server CPU per join, until idle, default / coalescing off`, `${fmt(sOn, 2)} / ${fmt(sOff, 2)} ms = ${ratio(sOn, sOff)}`, '<= 0.5x', verdict(x(sOn, sOff), 0.5, false)]);
    const prev = PREVIOUS_STORM.msPerJoin[stormM];
    if (prev) {
      const wOn = joinCpu('rust', stormM, false);
      rows.push([`same, default / before issue 12 (BENCHMARKS.md run \`${PREVIOUS_STORM.run}\`, commit \`${PREVIOUS_STORM.commit}\`: ${prev} ms, counted to the last welcome)`, `${fmt(wOn, 2)} / ${prev} ms = ${ratio(wOn, prev)} counted the same way (to the last welcome); ${fmt(sOn, 2)} ms until idle = ${ratio(sOn, prev)}`, '<= 0.5x', verdict(x(sOn, prev), 0.5, false)]);
    }
  }
  p(`The targets as ratios from this run (medians over ${Math.max(0, ...recs.map((r) => r.rep ?? 0))} repetitions):`);
  p();
  table(['measure', 'this run', 'target', 'result'], rows);

  // ---- fan-out detail ----
  const FT = ['rust', 'rust_off', 'floor', 'js'].filter(has);
  const fanCases = [...new Set(recs.filter((r) => r.scenario === 'fanout').map((r) => `${r.params.subscribers}|${r.params.bytes}`))]
    .map((k) => k.split('|').map(Number)).sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  p('**Closed-loop fan-out** (section 1\'s scenario). Each cell gives p50 / p99 in ms, and server CPU in µs per delivery. The last column gives the frames per delivered update that the subscribers of the default configuration received (1.00 means every update came in its own frame).');
  p();
  table(['case', ...FT.map((t) => LABELS[t]), 'default / off p99', 'default / floor p99', 'frames per update (default)'], fanCases.map(([n, b]) => {
    const q = { subscribers: n, bytes: b };
    return [`${n} subs, ${b >= 1000 ? `${b / 1000} KB` : `${b} B`}`,
      ...FT.map((t) => `${fmt(med('fanout', q, t, 'lat.p50_ms'))} / ${fmt(med('fanout', q, t, 'lat.p99_ms'))}; ${fmt(medF('fanout', q, t, (m) => 1000 * m.server_cpu_ms / m.expected), 0)} µs`),
      ratio(med('fanout', q, 'rust', 'lat.p99_ms'), med('fanout', q, 'rust_off', 'lat.p99_ms')),
      ratio(med('fanout', q, 'rust', 'lat.p99_ms'), med('fanout', q, 'floor', 'lat.p99_ms')),
      fmt(medF('fanout', q, 'rust', (m) => m.frames_all_sizes / m.updates_all_sizes), 2)];
  }));
  const badFan = recs.filter((r) => r.scenario === 'fanout' && FT.includes(r.target) && !r.metrics.error && (r.metrics.delivered !== r.metrics.expected || r.metrics.bad_order > 0));
  p(badFan.length ? `Incomplete or out-of-order: ${badFan.map((r) => `${r.target} N=${r.params.subscribers} ${r.params.bytes} B rep ${r.rep} (${r.metrics.delivered}/${r.metrics.expected}, ${r.metrics.bad_order} out of order)`).join('; ')}.` : 'Every update reached every subscriber exactly once and in version order, for all four targets.');
  p();

  // ---- open loop detail ----
  const OT = ['rust', 'rust_off', 'js', 'native'].filter((t) => sel('open', {}, t).length);
  if (OT.length) {
    p('**Open loop** (section 5\'s scenario, 100 subscribers, p99 < 50 ms, every update once and in order). A step that fails on p99 alone is run once more, and its rate passes if the second attempt passes. Every update must still arrive once and in order, with no backlog. The table gives the highest passing rate of each repetition. For the highest passing step of repetition 1 it also gives p50 / p99, the server\'s CPU share, and the frames per delivered update (below 1 means coalesced).');
    p();
    table(['target', 'deliveries/s (median)', 'writes/s per repetition', 'at the best step of rep 1: p50 / p99 ms, server cpu, frames per update', 'first failing step of rep 1'], OT.map((t) => {
      const per = sel('open', {}, t).filter((r) => !r.params.batch).sort((a, b) => a.rep - b.rep).map((r) => fmt(r.metrics.max_rate));
      const steps = recs.filter((r) => r.scenario === 'open_step' && r.target === t && r.rep === 1 && !r.params.batch && !r.metrics.error);
      const best = steps.filter((r) => r.metrics.pass).sort((a, b) => b.metrics.rate - a.metrics.rate)[0];
      const passed = new Set(steps.filter((r) => r.metrics.pass).map((r) => r.metrics.rate));
      const fail = steps.filter((r) => !r.metrics.pass && !passed.has(r.metrics.rate)).sort((a, b) => a.metrics.rate - b.metrics.rate || (b.params.attempt ?? 1) - (a.params.attempt ?? 1))[0];
      const desc = (r) => (r ? `${fmt(r.metrics.rate)}/s: ${fmt(r.metrics.lat?.p50_ms)} / ${fmt(r.metrics.lat?.p99_ms)} ms, ${fmt(r.metrics.server_cpu_pct, 0)}%, ${Number.isFinite(r.metrics.frames) && r.metrics.delivered ? fmt(r.metrics.frames / r.metrics.delivered, 2) : 'n/a'}` : 'none');
      const why = (r) => (r ? `${desc(r)}${r.metrics.aborted ? ' (backlog, stopped)' : ''}${r.metrics.bad_order ? `, ${r.metrics.bad_order} out of order` : ''}${r.metrics.complete === false && !r.metrics.aborted ? ', incomplete' : ''}` : 'none (top of the ladder)');
      return [LABELS[t], fmt(openRate(t)), per.join(', '), desc(best), why(fail)];
    }));
    const badOpen = recs.filter((r) => r.scenario === 'open_step' && r.metrics.pass && (r.metrics.bad_order > 0 || r.metrics.complete === false));
    p(badOpen.length ? `Passing steps with a delivery problem (should be none): ${badOpen.length}.` : 'In every step of every target, no update arrived twice or out of order (a step with a lost update would have failed). Steps fail on p99 or on backlog.');
    p();
  }

  // ---- storm detail ----
  const ST = ['rust', 'rust_off', 'js', 'native'].filter((t) => sel('storm', {}, t).length);
  const stormCases = [...new Set(recs.filter((r) => r.scenario === 'storm').map((r) => r.params.clients))].sort((a, b) => a - b);
  if (ST.length && stormCases.length) {
    p('**Connect storm** (section 3\'s scenario). Each cell gives the ms until every client has its welcome, then server CPU per join in ms, counted two ways: to the last welcome (as in section 3), and until the server is idle again with every client still connected. The second count includes join announcements that wait for a tick.');
    p();
    table(['clients', ...ST.map((t) => LABELS[t]), 'cpu per join default / off (until idle)'], stormCases.map((m) => [String(m),
      ...ST.map((t) => `${fmt(med('storm', { clients: m }, t, 'all_connected_ms'))} ms; ${fmt(joinCpu(t, m, false), 2)} / ${fmt(joinCpu(t, m, true), 2)} ms`),
      ratio(joinCpu('rust', m, true), joinCpu('rust_off', m, true))]));
  }

  // ---- profiles ----
  const profs = ['rust', 'js'].map((t) => [t, join(runDir, `profile-open-${t}.txt`)]).filter(([, f]) => existsSync(f));
  if (profs.length) {
    p('**What limits the sustained rate: CPU profiles.** These are V8 sampling profiles of the runtime workerd (`bench/profile.mjs`, through the inspector, sampling every 200 µs), taken after the measurements. Each covers one open-loop step, 3 s long, with 100 subscribers, at the Rust service\'s median sustained rate (given in each line). There its server is busy but keeps up. The JS baseline gets the same rate. The top self-time entries are shares of the server\'s busy time (raw: `bench/results/<run>/profile-open-*.txt` and `.cpuprofile`):');
    p();
    const catRows = [];
    for (const [t, f] of profs) {
      const text = readFileSync(f, 'utf8');
      const probe = (() => { try { return JSON.parse(text.split('\n').find((l) => l.startsWith('{'))); } catch { return null; } })();
      const head = (text.match(/\[profile\] [\d.]+ s, sampled .*/) ?? [''])[0].replace('[profile] ', '');
      const block = text.split('[profile] top self time (share of busy time):')[1]?.split('[profile]')[0] ?? '';
      const top = block.split('\n').map((l) => l.trim()).filter((l) => /^[\d.]+%/.test(l)).slice(0, 10)
        .map((l) => { const m = l.match(/^([\d.]+%)\s+(\d+) ms\s+(.*)$/); return m ? `${m[1]} ${m[3].replace(/\s+\S*:\d+$/, '')}` : l; });
      const probeTxt = probe ? `; under the profiler: ${fmt(probe.rate)} writes/s, ${probe.pass ? 'passed' : 'failed'}, p50 / p99 ${fmt(probe.p50_ms)} / ${fmt(probe.p99_ms)} ms, ${fmt(probe.delivered, 0)} of ${fmt(probe.expected, 0)} deliveries${probe.aborted ? ' (stopped on backlog)' : ''}, ${Number.isFinite(probe.frames) && probe.delivered ? `${fmt(probe.frames / probe.delivered, 2)} frames per update, ` : ''}server cpu ${fmt(probe.server_cpu_pct, 0)}%` : '';
      p(`- **${LABELS[t]}** (${head}${probeTxt}): ${top.map((s) => `\`${s.replace(/`/g, '')}\``).join(', ') || 'no samples'}`);
      const cats = profileCategories(f.replace(/\.txt$/, '.cpuprofile'), { send: 'WebSocket send', other: 'other runtime calls' });
      if (cats && probe?.delivered > 0) {
        const total = Object.values(cats).reduce((a, b) => a + b, 0);
        catRows.push([LABELS[t], fmt(probe.delivered, 0), ...CATS.map((c) => fmt((1000 * (cats[c] ?? 0)) / probe.delivered, 1)), fmt((1000 * total) / probe.delivered, 1)]);
      }
    }
    p();
    if (catRows.length) {
      p('The same profiles grouped by kind of work, as µs of busy time per delivered update. The profiler adds some cost of its own. "WebSocket send" is the runtime\'s `send`; "other runtime calls" are the other workerd APIs (`getWebSockets`, `getTags`, attachments, `queueMicrotask`, timers, ...):');
      p();
      table(['profile', 'deliveries', ...CATS, 'total'], catRows);
    }
  }
  const notes = join(root, 'bench', 'coalesce-notes.md');
  if (existsSync(notes)) {
    p(readFileSync(notes, 'utf8').trim());
    p();
  }
  return L;
}

