// Browser tests of the SDK through the pages, in real Chromium against a real `wrangler dev`:
// start + join by link, offline writes on both sides converging, update() counters, and the
// SSE / long-poll fallbacks (forced, and automatic when WebSockets are blocked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, withPages, screenshot, waitStatus, startOnPage } from '../helpers/browser.mjs';

const suite = browserSuite();

const editorJson = (page) => page.inputValue('#state-editor').then((v) => JSON.parse(v));

test('one context starts a session, another joins by link, changes flow both ways; read-only link cannot write', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 3, async (a, b, c) => {
    await a.page.goto(`${suite.server.url}/`);
    await screenshot(a.page, 'index-landing');
    const links = await startOnPage(a.page, `${suite.server.url}/index.html`);
    assert.match(links.write, /\/(index\.html)?#key=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+&read=/);
    assert.match(links.read, /\/(index\.html)?#key=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.ok(!links.write.split('#')[0].includes('key'), 'key only in the fragment');

    await b.page.goto(links.write);
    await waitStatus(b.page, 'open');
    assert.deepEqual(await editorJson(b.page), { hello: 'world', count: 0 });

    // A edits and saves (PUT with If-Match): B sees it live.
    await a.page.fill('#state-editor', JSON.stringify({ hello: 'from A', count: 1 }));
    await a.page.click('#save');
    await a.page.waitForSelector('text=Saved as version 2');
    await b.page.waitForFunction(() => document.querySelector('#version').textContent === '2');
    assert.deepEqual(await editorJson(b.page), { hello: 'from A', count: 1 });

    // B edits through the SDK: A sees it.
    await b.page.evaluate(() => window.session.patch({ fromB: true }));
    await a.page.waitForFunction(() => JSON.parse(document.querySelector('#state-editor').value).fromB === true);

    // A stale save is refused with 412, not silently overwriting.
    await a.page.fill('#state-editor', JSON.stringify({ stale: true }));
    await b.page.evaluate(() => window.session.patch({ again: 1 }));
    await a.page.waitForFunction(() => document.querySelector('#version').textContent === '4');
    await a.page.click('#save');
    await a.page.waitForSelector('text=/Not saved: version 4 is newer/');

    // Read-only link: editor is read-only and SDK writes are refused.
    await c.page.goto(links.read);
    await waitStatus(c.page, 'open');
    assert.equal(await c.page.evaluate(() => window.session.role), 'read');
    assert.equal(await c.page.$eval('#state-editor', (t) => t.readOnly), true);
    assert.equal(await c.page.$eval('#save', (t) => t.disabled), true);
    const code = await c.page.evaluate(() => window.session.set({ hacked: true }).then(() => 'applied', (e) => e.code));
    assert.equal(code, 'read_only');
    await screenshot(b.page, 'index-session');
    assert.deepEqual([...a.errors, ...b.errors, ...c.errors], []);
  });
});

test('chat: offline writes on both sides converge, each message exactly once', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 2, async (a, b) => {
    await a.page.goto(`${suite.server.url}/chat.html`);
    await screenshot(a.page, 'chat-start');
    const links = await startOnPage(a.page, `${suite.server.url}/chat.html`);
    await b.page.goto(links.write);
    await waitStatus(b.page, 'open');
    for (const [p, n] of [[a.page, 'Alice'], [b.page, 'Bob']]) {
      await p.fill('#name', n);
      await p.press('#name', 'Enter');
    }
    // presence names
    await a.page.waitForSelector('#people li:has-text("Bob")');
    await b.page.waitForSelector('#people li:has-text("Alice")');

    const send = async (p, text) => { await p.fill('#text', text); await p.press('#text', 'Enter'); };
    const texts = (p) => p.$$eval('#messages li .text', (els) => els.map((e) => e.textContent));
    await send(a.page, 'hello');
    await b.page.waitForSelector('#messages li:has-text("hello")');

    await a.page.evaluate(() => { window.__resumes = []; window.session.on('welcome', (f) => window.__resumes.push(f.resume)); });
    await a.context.setOffline(true);
    await waitStatus(a.page, 'offline');
    for (const t of ['a1', 'a2', 'a3']) await send(a.page, t);
    for (const t of ['b1', 'b2']) await send(b.page, t);
    await b.page.waitForFunction(() => document.querySelectorAll('#messages li:not(.pending)').length === 3);
    assert.deepEqual(await texts(a.page), ['hello', 'a1', 'a2', 'a3'], 'offline writes show locally');
    assert.equal(await a.page.locator('#messages li.pending').count(), 3, 'marked pending while offline');
    assert.equal(await a.page.evaluate(() => window.session.pendingCount), 3);
    await screenshot(a.page, 'chat-offline');

    await a.context.setOffline(false);
    await waitStatus(a.page, 'open', 20000);
    const settled = (p) => p.waitForFunction(() => window.session.pendingCount === 0
      && document.querySelectorAll('#messages li').length === 6
      && document.querySelectorAll('#messages li.pending').length === 0, null, { timeout: 20000 });
    await Promise.all([settled(a.page), settled(b.page)]);
    const ta = await texts(a.page);
    const tb = await texts(b.page);
    assert.deepEqual(ta, tb, 'both pages show the same list');
    assert.deepEqual([...ta].sort(), ['a1', 'a2', 'a3', 'b1', 'b2', 'hello']);
    assert.deepEqual(ta.filter((t) => t.startsWith('a')), ['a1', 'a2', 'a3'], 'own order kept');
    assert.deepEqual(await a.page.evaluate(() => window.__resumes), ['ops'], 'resumed from its version (?since=), no snapshot');

    // the server agrees: six distinct entries
    const key = new URL(links.write).hash.match(/key=([^&]+)/)[1];
    const st = await (await fetch(`${suite.server.url}/api/v1/sessions/${key}`)).json();
    assert.equal(st.state.messages.length, 6);
    assert.equal(new Set(st.state.messages.map((m) => m.id)).size, 6);
    await screenshot(b.page, 'chat');
    await b.page.setViewportSize({ width: 390, height: 844 });
    await screenshot(b.page, 'chat-mobile');
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});

test('update() counters: increments made offline and concurrently are never lost or doubled', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 2, async (a, b) => {
    const links = await startOnPage(a.page, `${suite.server.url}/index.html`);
    await b.page.goto(links.write);
    await waitStatus(b.page, 'open');
    const inc = (p, n) => p.evaluate((n) => Promise.all(Array.from({ length: n },
      () => window.session.update((s) => ({ ...s, count: s.count + 1 })))).then(() => true), n);
    // concurrent, both online: conflicts are rebased and retried
    await Promise.all([inc(a.page, 5), inc(b.page, 5)]);
    // Each page's own writes are acked; wait until each has also seen the other's.
    const seen10 = (p) => p.waitForFunction(() => window.session.state.count === 10 && window.session.pendingCount === 0, null, { timeout: 20000 });
    await Promise.all([seen10(a.page), seen10(b.page)]);
    await a.context.setOffline(true);
    await waitStatus(a.page, 'offline');
    const offline = a.page.evaluate(() => { for (let i = 0; i < 3; i++) window.session.update((s) => ({ ...s, count: s.count + 1 })); return window.session.state.count; });
    await inc(b.page, 2);
    assert.equal(await offline, 13, 'offline view: 10 confirmed + 3 pending (B\'s 2 not seen yet)');
    await a.context.setOffline(false);
    const done = (p) => p.waitForFunction(() => window.session.pendingCount === 0 && window.session.state.count === 15, null, { timeout: 20000 });
    await Promise.all([done(a.page), done(b.page)]);
    const key = new URL(links.write).hash.match(/key=([^&]+)/)[1];
    const st = await (await fetch(`${suite.server.url}/api/v1/sessions/${key}`)).json();
    assert.equal(st.state.count, 15);
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});

for (const transport of ['sse', 'longpoll']) {
  test(`forced ${transport} transport: receives live changes and writes over HTTP`, { timeout: 90_000 }, async () => {
    await withPages(suite.browser, 2, async (a, b) => {
      const links = await startOnPage(a.page, `${suite.server.url}/index.html`);
      const u = new URL(links.write);
      u.search = `?transport=${transport}`;
      await b.page.goto(u.href);
      await waitStatus(b.page, 'open');
      assert.equal(await b.page.evaluate(() => window.session.transport), transport);
      await a.page.evaluate(() => window.session.patch({ viaWs: 1 }));
      await b.page.waitForFunction(() => window.session.state.viaWs === 1);
      const res = await b.page.evaluate(async () => {
        await window.session.patch({ viaHttp: 'merge' });
        await window.session.patch([{ op: 'add', path: '/list', value: [1] }]);
        await window.session.update((s) => ({ ...s, count: s.count + 1 }));
        return window.session.pendingCount;
      });
      assert.ok(res <= 3);
      await a.page.waitForFunction(() => window.session.state.viaHttp === 'merge' && window.session.state.count === 1 && window.session.state.list?.[0] === 1);
      await b.page.waitForFunction(() => window.session.pendingCount === 0 && window.session.state.count === 1);
      assert.deepEqual(await b.page.evaluate(() => window.session.state), await a.page.evaluate(() => window.session.state));
      assert.deepEqual([...a.errors, ...b.errors], []);
    });
  });
}

test('batch=1: a page on coalesced updates stays in step with a live one', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 2, async (a, b) => {
    const links = await startOnPage(a.page, `${suite.server.url}/index.html`);
    const u = new URL(links.write);
    u.search = '?batch=1';
    await b.page.goto(u.href);
    await waitStatus(b.page, 'open');
    assert.equal(await b.page.evaluate(() => window.session.options.batch), true);
    const inc = (p, n) => p.evaluate((n) => Promise.all(Array.from({ length: n },
      () => window.session.update((s) => ({ ...s, count: (s.count ?? 0) + 1 })))).then(() => true), n);
    await Promise.all([inc(a.page, 10), inc(b.page, 10)]);
    const done = (p) => p.waitForFunction(() => window.session.pendingCount === 0 && window.session.state.count === 20, null, { timeout: 20000 });
    await Promise.all([done(a.page), done(b.page)]);
    assert.equal(await a.page.evaluate(() => window.session.version), await b.page.evaluate(() => window.session.version));
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});

test('auto transport falls back to SSE when WebSockets are blocked', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 2, async (a, b) => {
    const links = await startOnPage(a.page, `${suite.server.url}/index.html`);
    await b.page.routeWebSocket(/\/ws/, (ws) => ws.close({ code: 1011, reason: 'blocked by test' }));
    await b.page.goto(links.write);
    await waitStatus(b.page, 'open', 20000);
    assert.equal(await b.page.evaluate(() => window.session.transport), 'sse');
    await a.page.evaluate(() => window.session.patch({ hello: 'sse' }));
    await b.page.waitForFunction(() => window.session.state.hello === 'sse');
    await b.page.evaluate(() => window.session.patch({ back: true }));
    await a.page.waitForFunction(() => window.session.state.back === true);
  });
});

test('unknown key shows an error; deleting the session closes connected pages', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 1, async (a) => {
    await a.page.goto(`${suite.server.url}/chat.html#key=AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB`);
    await a.page.waitForSelector('[role=alert]:has-text("does not exist")');
    await screenshot(a.page, 'chat-unknown-key');

    const links = await startOnPage(a.page, `${suite.server.url}/chat.html`);
    const id = new URL(links.write).hash.match(/key=([^.]+)\./)[1];
    const admin = await a.page.evaluate((id) => localStorage.getItem(`session-sync:admin:${id}`), id);
    assert.ok(admin, 'creator keeps the admin key locally');
    const del = await fetch(`${suite.server.url}/api/v1/sessions/${admin}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    await waitStatus(a.page, 'closed');
    assert.equal(await a.page.evaluate(() => window.session.error && window.session.error.code), 'session_not_found');
    await a.page.waitForSelector('[role=alert]:has-text("Session closed: it was deleted")');
  });
});
