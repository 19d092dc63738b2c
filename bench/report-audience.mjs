// The issue 13 section of BENCHMARKS.md: an audience of V read-key viewers and one writer at a
// fixed rate, through relay Durable Objects (target rust) and through the single session object
// (target rust_single: the same build in another `wrangler dev` with RELAY_THRESHOLD=1000000).
// Used by bench/report.mjs: audienceLines(ctx, outMd) for a whole report, writeAudienceOnly()
// for a run of the audience scenario alone (its section replaces the one in BENCHMARKS.md).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { mdWriter } from './markdown.mjs';

export const HEADING = '## Audience (issue 13)';
/** The target of the issue: V viewers over at least `relays` relays, every update delivered
 *  once and in order, at `rate` updates/s; p99 reported against the single object at `single` viewers. */
export const GOAL = { viewers: 2000, relays: 8, rate: 10, single: 255 };
const LABELS = { rust: 'relays (`rust`)', rust_single: 'single object (`rust_single`)' };

/** Replaces the section that starts with `heading` in `md`, or inserts it before the first of
 *  `before` headings found (at the end otherwise). */
export function spliceSection(md, heading, section, before = ['\n## State size', '\n## Cold start', '\n## Notes']) {
  const body = `${section.trimEnd()}\n\n`;
  const at = md.indexOf(`\n${heading}`);
  if (at >= 0) {
    const next = md.indexOf('\n## ', at + 1);
    return md.slice(0, at + 1) + body + (next >= 0 ? md.slice(next + 1) : '');
  }
  const b = before.map((h) => md.indexOf(h)).filter((i) => i >= 0).sort((x, y) => x - y)[0];
  return b !== undefined ? md.slice(0, b + 1) + body + md.slice(b + 1) : `${md.trimEnd()}\n\n${body}`;
}

/** The section that starts with `heading` in `md` (without the next heading), or ''. */
export function oldSection(md, heading) {
  const at = md.indexOf(`\n${heading}`);
  if (at < 0) return '';
  const next = md.indexOf('\n## ', at + 1);
  return md.slice(at + 1, next >= 0 ? next : undefined).trimEnd();
}

const KEPT = '(This section comes from its own run, named above. The run of the other sections did not include the `audience` scenario.)';

/** The section's lines for a whole report: from this run when it has audience records, else
 *  the section of the existing BENCHMARKS.md (from its own run), if any. */
export function audienceLines(ctx, outMd) {
  if (ctx.recs.some((r) => r.scenario === 'audience')) return audienceSection({ ...ctx, standalone: false });
  const kept = oldSection(existsSync(outMd) ? readFileSync(outMd, 'utf8') : '', HEADING);
  if (!kept) return [];
  const text = kept.replace(/; the other sections of this file are from the earlier run `[^`]+`[^.]*/, '')
    .split('\n').filter((l) => l !== KEPT).join('\n').trimEnd();
  return [...text.split('\n'), '', KEPT, ''];
}

/** A run of the audience scenario alone: writes its section into `outMd`, the rest unchanged. */
export function writeAudienceOnly(ctx, outMd, runDir) {
  const old = existsSync(outMd) ? readFileSync(outMd, 'utf8') : '# Benchmarks\n';
  const earlier = (old.match(/from run `([^`]+)`/) ?? [])[1];
  const section = audienceSection({ ...ctx, standalone: true, earlierRun: earlier }).join('\n');
  writeFileSync(outMd, spliceSection(old, HEADING, section));
  console.log(`[bench] wrote the ${HEADING.slice(3)} section of ${relative(ctx.root, outMd)} (from ${relative(ctx.root, runDir)}; other sections unchanged)`);
}

export function audienceSection({ recs, meta, root, fmt, ratio, median, standalone, earlierRun }) {
  const { L, p, table } = mdWriter();
  const all = recs.filter((r) => r.scenario === 'audience');
  const ok = all.filter((r) => !r.metrics.error);
  const sel = (t, v) => ok.filter((r) => r.target === t && r.params.viewers === v);
  const med = (t, v, f) => median(sel(t, v).map((r) => f(r.metrics)));
  const sum = (t, v, f) => sel(t, v).reduce((a, r) => a + (f(r.metrics) ?? 0), 0);
  const pct = (v) => (Number.isFinite(v) ? `${Math.round(v)}%` : 'n/a');
  const x = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
  const nReps = Math.max(0, ...all.map((r) => r.rep ?? 0));
  const rate = all[0]?.params.rate ?? GOAL.rate;
  const dur = all[0]?.params.dur_ms;
  const cases = [...new Set(ok.map((r) => `${r.target}|${r.params.viewers}`))]
    .map((k) => k.split('|')).map(([t, v]) => [t, Number(v)])
    .sort((a, b) => a[1] - b[1] || (a[0] === 'rust_single' ? -1 : 1));
  const relays = (m) => (m.info?.present ? m.info.relays_used : NaN);

  p(HEADING);
  p();
  if (standalone) {
    p(`From run \`${meta.run}\` (\`${meta.command}\`, ${meta.worker_build ? `worker: ${meta.worker_build.replace(/;\s*"git" above[^)]*/, '')}` : `commit \`${meta.git}\``})${earlierRun ? `; the other sections of this file are from the earlier run \`${earlierRun}\` (not re-run with this one)` : ''}. Machine: ${meta.cores} cores, shared (load average before/after: ${meta.loadavg_before} / ${meta.loadavg_after}); servers pinned to cpu ${meta.server_cpus}, the load generator to cpu ${meta.loadgen_cpus}.`);
    p();
  }
  p(`One writer and V read-key viewers of one new session. The viewers connect to \`/api/v1/sessions/<readKey>/ws\`, at most 50 connecting at once. Join time runs from the first connect attempt to the last \`welcome\`. Join CPU is the server's CPU from the first attempt until it is idle again, per viewer. Then the writer connects with the write key and sends small merge patches (about 100 B) open loop at ${fmt(rate)} writes/s for ${Number.isFinite(dur) ? fmt(dur / 1000) : 'n/a'} s. Latency runs from each write's scheduled send time to its receipt at each viewer (no coordinated omission). A measurement is **complete** when every viewer joined and got every update exactly once, in order, with no version gap. Each update inside an \`updates\` frame counts once; \`presence\` and \`audience\` frames are ignored. Server CPU per delivery is the server's CPU during the writes (its whole \`wrangler dev\` process tree) divided by the updates delivered. The relay spread comes from \`/info\` \`audience\`, read after the joins. "relays" counts the relays that carry viewers.`);
  p();
  p(`**Relays** (\`rust\`) is the service as configured (${meta.relay_vars ? `\`${meta.relay_vars}\`; unset means the server's default` : 'relay settings not recorded'}${meta.synced_bindings ? `; Durable Object bindings added to the bench config from wrangler.toml: ${meta.synced_bindings}` : ''}). **Single object** (\`rust_single\`) is the same build in another \`wrangler dev\`, started with \`--var RELAY_THRESHOLD:1000000\`, so every viewer is served by the session object itself. It has its own port, storage and process tree, pinned to the same core. It is measured at ${GOAL.single} viewers, because the default \`MAX_CLIENTS\` of 256 leaves room for 255 viewers and the writer. The bench config raises \`MAX_CLIENTS\` to 1000 for both servers. Medians over ${nReps} repetition(s).`);
  p();

  // ---- the targets ----
  const G = GOAL;
  const big = sel('rust', G.viewers);
  const bigOk = big.length > 0 && big.every((r) => r.metrics.complete && relays(r.metrics) >= G.relays) && rate === G.rate
    && all.filter((r) => r.target === 'rust' && r.params.viewers === G.viewers).every((r) => !r.metrics.error);
  const p99 = (t, v) => med(t, v, (m) => m.lat?.p99_ms);
  const cpu = (t, v) => med(t, v, (m) => m.server_cpu_us_per_delivery);
  const rows = [];
  const bigDesc = big.map((r) => `rep ${r.rep}: ${r.metrics.complete ? 'complete' : `**incomplete** (${r.metrics.joined}/${r.metrics.viewers} joined, ${r.metrics.missing} missing, ${r.metrics.duplicates} dup, ${r.metrics.out_of_order} out of order, ${r.metrics.version_gaps} gaps)`}, ${Number.isFinite(relays(r.metrics)) ? `${relays(r.metrics)} relays` : 'no `audience` in /info'}`).join('; ');
  const bigErr = all.filter((r) => r.target === 'rust' && r.params.viewers === G.viewers && r.metrics.error).length;
  rows.push([`${fmt(G.viewers)} viewers over >= ${G.relays} relays, all complete at ${G.rate} updates/s`, `${bigDesc || 'not measured'}${bigErr ? `; ${bigErr} failed with an error` : ''}`,
    big.length ? (bigOk ? '**met**' : '**missed**') : 'not measured']);
  const ratioRow = (label, a, b) => rows.push([label, `${fmt(a)} / ${fmt(b)} = ${ratio(a, b)}`, '']);
  ratioRow(`delivery p99 (ms), relays at ${fmt(G.viewers)} / single object at ${G.single}`, p99('rust', G.viewers), p99('rust_single', G.single));
  ratioRow(`delivery p99 (ms), relays at ${G.single} / single object at ${G.single}`, p99('rust', G.single), p99('rust_single', G.single));
  ratioRow(`server CPU per delivery (µs), relays at ${fmt(G.viewers)} / single object at ${G.single}`, cpu('rust', G.viewers), cpu('rust_single', G.single));
  ratioRow(`server CPU per delivery (µs), relays at ${G.single} / single object at ${G.single}`, cpu('rust', G.single), cpu('rust_single', G.single));
  ratioRow(`join time (ms), relays at ${fmt(G.viewers)} / single object at ${G.single}`, med('rust', G.viewers, (m) => m.join_ms), med('rust_single', G.single, (m) => m.join_ms));
  p('The target of the issue, and the ratios it asks for (latency and CPU: above 1 means the relays cost more):');
  p();
  table(['measure', 'this run', 'result'], rows);

  // ---- every case ----
  p('Every case. Latencies are in ms. "lost / dup / order / gaps" sum the problems over the repetitions and should all be 0. The relay column gives the relays carrying viewers, with the fewest and most viewers on one relay, and the viewers served directly by the session object.');
  p();
  table(['target, viewers', 'joined', 'join time ms (connect p99)', 'join cpu per viewer ms', 'delivery p50 / p99 / max', 'deliveries/s', 'lost / dup / order / gaps', 'complete', 'server cpu µs per delivery (cpu %)', 'relays (viewers each); direct', 'lg cpu'],
    cases.map(([t, v]) => {
      const rs = sel(t, v);
      const spread = (() => {
        const r = rs.find((q) => q.metrics.info?.present);
        if (!r) return `no \`audience\` in /info (${fmt(med(t, v, (m) => m.info?.direct_listed), 0)} read clients listed)`;
        const n = med(t, v, relays);
        const direct = `direct ${fmt(med(t, v, (m) => m.info?.direct), 0)} of ${fmt(v)}`;
        return n > 0 ? `${fmt(n, 0)} (${fmt(med(t, v, (m) => m.info?.relay_min), 0)}..${fmt(med(t, v, (m) => m.info?.relay_max), 0)}); ${direct}` : `none; ${direct}`;
      })();
      return [`${LABELS[t] ?? t}, ${fmt(v)}`,
        `${fmt(Math.min(...rs.map((r) => r.metrics.joined)), 0)}/${fmt(v)}`,
        `${fmt(med(t, v, (m) => m.join_ms))} (${fmt(med(t, v, (m) => m.connect?.p99_ms))})`,
        fmt(med(t, v, (m) => m.join_cpu_ms_per_viewer), 2),
        `${fmt(med(t, v, (m) => m.lat?.p50_ms))} / ${fmt(med(t, v, (m) => m.lat?.p99_ms))} / ${fmt(med(t, v, (m) => m.lat?.max_ms))}`,
        fmt(med(t, v, (m) => m.deliveries_per_s), 0),
        [sum(t, v, (m) => m.missing), sum(t, v, (m) => m.duplicates), sum(t, v, (m) => m.out_of_order), sum(t, v, (m) => m.version_gaps)].join(' / '),
        `${rs.filter((r) => r.metrics.complete).length}/${rs.length}`,
        `${fmt(med(t, v, (m) => m.server_cpu_us_per_delivery), 0)} (${pct(med(t, v, (m) => m.server_cpu_pct))})`,
        spread,
        pct(med(t, v, (m) => m.loadgen_cpu_pct))];
    }));
  const errs = all.filter((r) => r.metrics.error);
  if (errs.length) {
    p(`Measurements that failed: ${errs.map((r) => `${r.target} V=${r.params.viewers} rep ${r.rep}: ${String(r.metrics.error).slice(0, 200)}`).join('; ')}.`);
    p();
  }
  const firstErr = ok.filter((r) => r.metrics.first_error);
  if (firstErr.length) {
    p(`Viewers that did not join: ${firstErr.map((r) => `${r.target} V=${r.params.viewers} rep ${r.rep}: ${r.metrics.failed} (first error: ${String(r.metrics.first_error).slice(0, 160)})`).join('; ')}.`);
    p();
  }
  const notes = join(root, 'bench', 'audience-notes.md');
  if (existsSync(notes)) {
    p(readFileSync(notes, 'utf8').trim());
    p();
  }
  return L;
}
