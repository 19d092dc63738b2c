// A 16 MB state kept in sync between two pages (issue 11 item 5, protocol P16): page A grows
// the state to 16 MB with writes at the WebSocket frame limit, then makes small patches; page B
// follows live, then reloads and gets the 16 MB state as one welcome in part frames. Both
// compare a digest of the canonical JSON (length and FNV-1a) with the server's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage } from '../helpers/browser.mjs';
import { serveFiles, html, js, sdkBundle, routedPagesSuite } from './sdk-pages.mjs';

const suite = routedPagesSuite({ abuseLimits: 'large' });
const TARGET = 16 * 1024 * 1024;

const PAGE = `
import { joinSession } from '/large-test/session-sync.js';
const key = new URLSearchParams(location.hash.slice(1)).get('key');
/** Counts the part frames (P16) that reach the page: the SDK takes an injected WebSocket. */
window.parts = 0;
class CountingWebSocket extends WebSocket {
  constructor(url) {
    super(url);
    this.addEventListener('message', (e) => { if (typeof e.data === 'string' && e.data.startsWith('{"type":"part"')) window.parts++; });
  }
}
const t0 = performance.now();
window.session = await joinSession(key, { wait: false, WebSocket: CountingWebSocket });
window.session.ready.then(() => { window.welcomeMs = performance.now() - t0; });
/** JSON with sorted keys: the same state has the same text on every page and on the server. */
const canonical = (v) => v === null || typeof v !== 'object' ? JSON.stringify(v)
  : Array.isArray(v) ? '[' + v.map(canonical).join(',') + ']'
  : '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
window.digestOf = (state) => {
  const t = canonical(state);
  let h = 0x811c9dc5;
  for (let i = 0; i < t.length; i++) { h ^= t.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return t.length + ':' + h.toString(16);
};
window.digest = () => window.digestOf(window.session.state);
/** Grows the state to 'target' bytes with merge patches just under the frame limit. */
window.grow = async (target) => {
  const s = window.session;
  const size = s.limits.maxMessageBytes - 4096;
  const writes = [];
  for (let i = 0, total = 0; total < target; i++, total += size) {
    const seed = (i * 2654435761 >>> 0).toString(36);
    writes.push(s.patch({ chunks: { ['c' + String(i).padStart(3, '0')]: seed.repeat(Math.ceil(size / seed.length)).slice(0, size) } }));
  }
  await Promise.all(writes);
  return writes.length;
};
`;

test('a 16 MB state stays in sync between two pages: growing writes, small patches, and a reload (welcome in parts)', { timeout: 300_000 }, async () => {
  const { url } = suite.server;
  const created = await (await fetch(`${url}/api/v1/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ state: { chunks: {}, small: { n: 0 } } }) })).json();
  const a = await openPage(suite.browser);
  const b = await openPage(suite.browser);
  try {
    for (const p of [a, b]) {
      await serveFiles(p.context, url, {
        '/large-test/page.html': html('/large-test/page.js'),
        '/large-test/page.js': js(PAGE),
        '/large-test/session-sync.js': js(sdkBundle()),
      });
      await p.page.goto(`${url}/large-test/page.html#key=${created.keys.write}`);
      await p.page.waitForFunction(() => window.session && window.session.status === 'open');
    }
    const t0 = Date.now();
    const writes = await a.page.evaluate((target) => window.grow(target), TARGET);
    const growMs = Date.now() - t0;
    const bytes = await a.page.evaluate(() => JSON.stringify(window.session.state).length);
    assert.ok(bytes >= TARGET, `state is ${bytes} bytes`);
    await b.page.waitForFunction(() => JSON.stringify(window.session.state.chunks).length > 16 * 1024 * 1024, null, { timeout: 120_000 });

    // small patches on the large state, both kinds
    const t1 = Date.now();
    await a.page.evaluate(async () => {
      const s = window.session;
      const done = [];
      for (let i = 1; i <= 20; i++) {
        done.push(s.patch({ small: { n: i } }));
        done.push(s.patch([{ op: 'add', path: '/small/log', value: i }]));
      }
      await Promise.all(done);
    });
    const smallMs = Date.now() - t1;
    const digestA = await a.page.evaluate(() => window.digest());
    await b.page.waitForFunction((d) => window.session.pendingCount === 0 && window.digest() === d, digestA, { timeout: 60_000, polling: 500 });

    // a reload: the 16 MB welcome arrives in part frames (P16) and is reported whole
    await b.page.reload();
    await b.page.waitForFunction(() => window.session && window.session.status === 'open', null, { timeout: 120_000 });
    const welcomeMs = await b.page.evaluate(() => window.welcomeMs);
    const parts = await b.page.evaluate(() => window.parts);
    assert.equal(await b.page.evaluate(() => window.session.transport), 'websocket');
    assert.ok(parts >= 16, `the 16 MB welcome came in part frames of at most 1 MiB (${parts} parts)`);
    assert.equal(await b.page.evaluate(() => window.digest()), digestA);
    const server = await (await fetch(`${url}/api/v1/sessions/${created.keys.read}`)).json();
    assert.equal(await a.page.evaluate((st) => window.digestOf(st), server.state), digestA, 'the server holds the same state');
    assert.equal(server.version, 1 + writes + 40);
    console.log(`[large-state] ${(bytes / 1048576).toFixed(1)} MB in ${writes} writes: ${growMs} ms; 40 small patches: ${smallMs} ms (${(smallMs / 40).toFixed(1)} ms each, pipelined); welcome of the whole state after a reload: ${welcomeMs.toFixed(0)} ms in ${parts} part frames`);
    assert.deepEqual([...a.errors, ...b.errors], []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
