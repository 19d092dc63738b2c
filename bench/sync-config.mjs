// Adds to the bench's copy of bench/wrangler.bench.toml every Durable Object binding of
// wrangler.toml that it lacks (issue 13: the relay objects), with a migration that creates
// its class, so the benchmarked worker has every object the service binds. [vars] missing from
// the bench config are passed by scripts/bench.sh as --var; nothing else is copied.
//   node bench/sync-config.mjs <wrangler.toml> <copy of wrangler.bench.toml>   (edits the copy)
import { readFileSync, appendFileSync } from 'node:fs';

const [src, dst] = process.argv.slice(2);
if (!src || !dst) throw new Error('usage: node bench/sync-config.mjs wrangler.toml bench-copy.toml');

/** The `[[header]]` blocks of a TOML file: { header, text, fields } (top-level keys only). */
function blocks(text) {
  const out = [];
  let cur = null;
  for (const line of text.split('\n')) {
    const h = line.match(/^\s*\[\[?([^\]]+)\]\]?\s*$/);
    if (h) {
      cur = { header: h[1].trim(), lines: [line], fields: {} };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    cur.lines.push(line);
    const kv = line.match(/^\s*([A-Za-z_]+)\s*=\s*(.+?)\s*$/);
    if (kv) cur.fields[kv[1]] = kv[2];
  }
  return out.map((b) => ({ ...b, text: b.lines.join('\n').trimEnd() }));
}
const str = (v) => (v ?? '').replace(/^"|"$/g, '');
const list = (v) => (v ?? '').replace(/^\[|\]$/g, '').split(',').map((s) => str(s.trim())).filter(Boolean);

const from = blocks(readFileSync(src, 'utf8'));
const into = blocks(readFileSync(dst, 'utf8'));
const have = new Set(into.filter((b) => b.header === 'durable_objects.bindings').map((b) => str(b.fields.name)));
let add = '';
for (const b of from.filter((b) => b.header === 'durable_objects.bindings')) {
  const name = str(b.fields.name);
  const cls = str(b.fields.class_name);
  if (have.has(name)) continue;
  // a second binding of a class the bench config already creates needs no migration
  const created = into.some((m) => m.header === 'migrations' && [...list(m.fields.new_sqlite_classes), ...list(m.fields.new_classes)].includes(cls));
  const mig = from.find((m) => m.header === 'migrations' && (list(m.fields.new_sqlite_classes).includes(cls) || list(m.fields.new_classes).includes(cls)));
  const kind = mig && list(mig.fields.new_classes).includes(cls) ? 'new_classes' : 'new_sqlite_classes';
  add += `\n# from wrangler.toml (bench/sync-config.mjs)\n${b.text}\n`;
  if (!created) add += `\n[[migrations]]\ntag = "bench-${cls}"\n${kind} = ["${cls}"]\n`;
  console.log(`[bench] binding ${name} (class ${cls}${created ? '' : `, ${kind}`}) from wrangler.toml`);
}
// TOML: an array-of-tables block may follow [vars]; appended blocks go after everything
if (add) appendFileSync(dst, add);
