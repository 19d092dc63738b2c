// The durable outbox in Chromium (issue 15 item 3): a page goes offline, writes, is reloaded
// while still offline (the page itself is served from memory, so it loads), writes again, and
// comes back online: every write reaches the server and every page exactly once (the writes
// are JSON Patch appends, so a write applied twice would show twice).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, screenshot } from '../helpers/browser.mjs';
import { serveFiles, html, js, sdkBundle, routedPagesSuite } from './sdk-pages.mjs';

const suite = routedPagesSuite();

const PAGE = `
import { joinSession } from '/outbox-test/session-sync.js';
const key = new URLSearchParams(location.hash.slice(1)).get('key');
window.session = await joinSession(key, { wait: false });
window.append = (v) => { window.session.patch([{ op: 'add', path: '/log/-', value: v }]); return window.session.saved(); };
const show = () => { document.querySelector('#log').textContent = JSON.stringify(window.session.state); };
window.session.on('change', show);
window.session.on('status', (s) => { document.querySelector('#status').textContent = s; });
`;

const sorted = (log) => [...log].sort();

test('offline writes survive a reload while offline and apply exactly once on every page when back online', { timeout: 120_000 }, async () => {
  const { url } = suite.server;
  const created = await (await fetch(`${url}/api/v1/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ state: { log: [] } }) })).json();
  const a = await openPage(suite.browser);
  const b = await openPage(suite.browser);
  try {
    for (const p of [a, b]) {
      await serveFiles(p.context, url, {
        '/outbox-test/page.html': html('/outbox-test/page.js', '<p id="status"></p><pre id="log"></pre>'),
        '/outbox-test/page.js': js(PAGE),
        '/outbox-test/session-sync.js': js(sdkBundle()),
      });
      await p.page.goto(`${url}/outbox-test/page.html#key=${created.keys.write}`);
      await p.page.waitForFunction(() => window.session && window.session.status === 'open');
    }
    await a.page.evaluate(() => window.append('a0 online'));
    await b.page.waitForFunction(() => window.session.state.log.length === 1);

    await a.context.setOffline(true);
    await a.page.waitForFunction(() => window.session.status === 'offline');
    await a.page.evaluate(async () => { await window.append('a1 offline'); await window.append('a2 offline'); });
    await b.page.evaluate(() => window.append('b1 meanwhile'));
    assert.equal(await a.page.evaluate(() => window.session.pendingCount), 2);

    await a.page.reload(); // still offline: the writes live in IndexedDB only now
    await a.page.waitForFunction(() => window.session && window.session.pendingCount === 2 && window.session.status === 'offline');
    await a.page.evaluate(() => window.append('a3 after reload'));
    assert.equal(await a.page.evaluate(() => window.session.pendingCount), 3);

    await a.context.setOffline(false);
    const expected = sorted(['a0 online', 'a1 offline', 'a2 offline', 'a3 after reload', 'b1 meanwhile']);
    for (const p of [a, b]) {
      await p.page.waitForFunction((n) => window.session.status === 'open' && window.session.pendingCount === 0
        && Array.isArray(window.session.state.log) && window.session.state.log.length >= n, expected.length, { timeout: 30_000 });
    }
    const server = await (await fetch(`${url}/api/v1/sessions/${created.keys.read}`)).json();
    assert.deepEqual(sorted(server.state.log), expected, 'the server has each write once');
    assert.deepEqual(sorted(await a.page.evaluate(() => window.session.state.log)), expected);
    assert.deepEqual(sorted(await b.page.evaluate(() => window.session.state.log)), expected);
    assert.deepEqual(await Promise.all([a, b].map((p) => p.page.evaluate(() => window.session.transport))), ['websocket', 'websocket']);
    const order = server.state.log.filter((v) => v.startsWith('a'));
    assert.deepEqual(order, ['a0 online', 'a1 offline', 'a2 offline', 'a3 after reload'], 'one page\u2019s writes keep their order');
    assert.equal(await a.page.evaluate(() => new Promise((resolve) => {
      const req = indexedDB.open('session-sync', 1);
      req.onsuccess = () => { const g = req.result.transaction('outbox').objectStore('outbox').count(); g.onsuccess = () => resolve(g.result); };
    })), 0, 'nothing left in IndexedDB once confirmed');
    await screenshot(a.page, 'outbox-durable');
    assert.deepEqual([...a.errors, ...b.errors], []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
