// Issue 10, "The client never loops, never loses a write, and tells people what happened": one
// test per finding, in real Chromium against a real `wrangler dev`, plus screenshots of every
// page at phone and desktop sizes (test-artifacts/screenshots/mobile-*.png, desktop-*.png).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { browserSuite, withPages, openPage, screenshot, waitStatus, startOnPage } from '../helpers/browser.mjs';

const suite = browserSuite();

const keyOf = (link) => new URL(link).hash.match(/key=([^&]+)/)[1];
const api = (path, init) => fetch(`${suite.server.url}/api/v1${path}`, init);
const serverState = async (key) => (await (await api(`/sessions/${key}`)).json()).state;
const put = (key, state) => api(`/sessions/${key}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(state) });
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

test('finding 1: an oversized write settles within a second, leaves the outbox, and the connection stays up (no reconnect loop)', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 1, async (a) => {
    await startOnPage(a.page, `${suite.server.url}/chat.html`);
    const r = await a.page.evaluate(async () => {
      const s = window.session;
      const statuses = [];
      s.on('status', (st) => statuses.push(st));
      const t0 = performance.now();
      const code = await s.patch([{ op: 'add', path: '/messages/-', value: { text: 'X'.repeat(300000) } }]).then(() => 'applied', (e) => e.code);
      const ms = performance.now() - t0;
      const pending = s.pendingCount;
      const next = await s.patch({ after: true }).then((res) => res.version, (e) => e.code);
      return { code, ms, pending, next, statuses, status: s.status, limit: s.limits.maxMessageBytes };
    });
    assert.equal(r.code, 'message_too_large');
    assert.ok(r.ms < 1000, `settled in ${r.ms} ms`);
    assert.equal(r.pending, 0, 'the write left the outbox');
    assert.equal(typeof r.next, 'number', 'the next write applies');
    assert.deepEqual(r.statuses, [], 'no status change: the connection never dropped');
    assert.equal(r.status, 'open');
    assert.equal(r.limit, 262144, 'checked against the welcome\u2019s limit');
    assert.deepEqual(a.errors, []);
  });
});

test('finding 1 over SSE: the server\u2019s 413 settles the write at once, nothing is resent', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 1, async (a) => {
    const links = await startOnPage(a.page, `${suite.server.url}/index.html`);
    const u = new URL(links.write);
    u.search = '?transport=sse';
    await a.page.goto(u.href);
    await waitStatus(a.page, 'open');
    const r = await a.page.evaluate(async () => {
      const s = window.session;
      const statuses = [];
      s.on('status', (st) => statuses.push(st));
      const t0 = performance.now();
      const code = await s.patch({ big: 'X'.repeat(300000) }).then(() => 'applied', (e) => e.code);
      return { code, ms: performance.now() - t0, pending: s.pendingCount, statuses };
    });
    assert.match(r.code, /^(state_too_large|body_too_large)$/);
    assert.ok(r.ms < 1000, `settled in ${r.ms} ms`);
    assert.equal(r.pending, 0);
    assert.deepEqual(r.statuses, []);
  });
});

for (const transport of ['websocket', 'sse', 'longpoll']) {
  test(`finding 2: 2 x 30 concurrent update() increments over ${transport} give exactly 60`, { timeout: 120_000 }, async () => {
    await withPages(suite.browser, 2, async (a, b) => {
      const links = await startOnPage(a.page, `${suite.server.url}/index.html`);
      const u = new URL(links.write);
      u.search = `?transport=${transport}`;
      for (const p of [a, b]) {
        await p.page.goto(u.href);
        await waitStatus(p.page, 'open');
        assert.equal(await p.page.evaluate(() => window.session.transport), transport);
      }
      const inc = (p) => p.evaluate(() => Promise.allSettled(Array.from({ length: 30 },
        () => window.session.update((s) => ({ ...s, count: s.count + 1 }))))
        .then((rs) => rs.filter((r) => r.status === 'rejected').map((r) => r.reason.code)));
      const [ra, rb] = await Promise.all([inc(a.page), inc(b.page)]);
      assert.deepEqual([...ra, ...rb], [], 'no update() rejected');
      const done = (p) => p.waitForFunction(() => window.session.pendingCount === 0 && window.session.state.count === 60, null, { timeout: 60000 });
      await Promise.all([done(a.page), done(b.page)]);
      assert.equal((await serverState(keyOf(links.write))).count, 60);
      assert.deepEqual([...a.errors, ...b.errors], []);
    });
  });
}

test('finding 3: chat at the state limit shows why a message was not sent, in place, and keeps the text', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 1, async (a) => {
    const links = await startOnPage(a.page, `${suite.server.url}/chat.html`);
    // 60 bytes below the server's 256 KiB state limit: no message fits any more.
    assert.equal((await put(keyOf(links.write), { messages: [], blob: 'x'.repeat(262144 - 60) })).status, 200);
    await a.page.waitForFunction(() => typeof window.session.state.blob === 'string');
    await a.page.fill('#text', 'this will not fit');
    await a.page.press('#text', 'Enter');
    await a.page.waitForSelector('#send-error:not([hidden])');
    assert.match(await a.page.textContent('#send-error'), /size limit.*still in the box/);
    assert.equal(await a.page.inputValue('#text'), 'this will not fit', 'the text is kept');
    const failed = a.page.locator('#messages li.failed');
    assert.equal(await failed.count(), 1);
    assert.match(await failed.textContent(), /this will not fit.*Not sent: the shared state would be over/);
    await screenshot(a.page, 'chat-rejected');
  });
});

test('finding 3: chat keeps a bounded history, so a full chat trims old messages instead of failing', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 1, async (a) => {
    const links = await startOnPage(a.page, `${suite.server.url}/chat.html`);
    const key = keyOf(links.write);
    const messages = Array.from({ length: 120 }, (_, i) => ({ id: `old-${i}`, name: 'Old', text: `${i} ${'o'.repeat(2000)}`, ts: i }));
    assert.equal((await put(key, { messages })).status, 200);
    await a.page.waitForFunction(() => window.session.state.messages.length === 120);
    await a.page.fill('#text', 'newest');
    await a.page.press('#text', 'Enter');
    await a.page.waitForFunction(() => window.session.pendingCount === 0 && window.session.state.messages.at(-1).text === 'newest');
    const st = await serverState(key);
    const bytes = Buffer.byteLength(JSON.stringify(st));
    assert.ok(bytes <= 100 * 1024, `state trimmed to ${bytes} bytes`);
    assert.equal(st.messages.at(-1).text, 'newest');
    assert.ok(st.messages.length < 121 && st.messages.length > 10, `${st.messages.length} messages kept, the newest ones`);
    assert.equal(st.messages[0].id, `old-${121 - st.messages.length}`, 'the oldest ones went');
    assert.equal(await a.page.isVisible('#send-error'), false);
  });
});

test('finding 3: typing into a deleted chat keeps the text and offers a new chat that takes it along', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 1, async (a) => {
    const links = await startOnPage(a.page, `${suite.server.url}/chat.html`);
    const id = keyOf(links.write).split('.')[0];
    const admin = await a.page.evaluate((id) => localStorage.getItem(`session-sync:admin:${id}`), id);
    assert.equal((await api(`/sessions/${admin}`, { method: 'DELETE' })).status, 204);
    await waitStatus(a.page, 'closed');
    await a.page.waitForSelector('#session-problem:has-text("deleted or has expired")');
    await a.page.fill('#text', 'do not lose me');
    await a.page.press('#text', 'Enter');
    await a.page.waitForSelector('#send-error:not([hidden])');
    assert.match(await a.page.textContent('#send-error'), /deleted or has expired.*still in the box/);
    assert.equal(await a.page.inputValue('#text'), 'do not lose me');
    await screenshot(a.page, 'chat-deleted');
    await a.page.click('#start-new');
    await a.page.waitForFunction((old) => location.hash.includes('key=') && !location.hash.includes(old), id);
    await waitStatus(a.page, 'open');
    await a.page.waitForFunction(() => document.querySelector('#text').value === 'do not lose me');
    assert.equal(await a.page.textContent('#text-count'), '14 / 500');
  });
});

test('finding 3: an unknown session says so and offers a new one; a mangled #key= is an error, never a new session', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 1, async (a) => {
    const posts = [];
    a.page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/api/v1/sessions')) posts.push(r.url()); });
    await a.page.goto(`${suite.server.url}/chat.html#key=AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB`);
    await a.page.waitForSelector('#session-problem:has-text("does not exist")');
    assert.equal(await a.page.isVisible('#start-new'), true, 'offers a new chat');
    await a.page.goto(`${suite.server.url}/tictactoe.html#key=AAAAAAAAAAAA`);
    await a.page.reload();
    await a.page.waitForSelector('#link-error:has-text("This link is broken")');
    assert.equal(await a.page.evaluate(() => location.hash), '#key=AAAAAAAAAAAA', 'the link is left as it was');
    assert.equal(await a.page.evaluate(() => window.session), undefined);
    assert.deepEqual(posts, [], 'no session was created behind the person\u2019s back');
    await screenshot(a.page, 'tictactoe-broken-link');
  });
});

test('finding 8: character counters, tic-tac-toe says what enforces the rules, the inspector drops stale data on error', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 2, async (a, i) => {
    const links = await startOnPage(a.page, `${suite.server.url}/chat.html`);
    assert.equal(await a.page.textContent('#text-count'), '0 / 500');
    await a.page.fill('#text', 'y'.repeat(600));
    assert.equal((await a.page.inputValue('#text')).length, 500, 'the browser stops at maxlength');
    assert.equal(await a.page.textContent('#text-count'), '500 / 500', 'and the counter says so');
    assert.equal(await a.page.$eval('#text-count', (e) => e.classList.contains('warn')), true);

    await i.page.goto(`${suite.server.url}/tictactoe.html`);
    const rules = await i.page.evaluate(async () => {
      const html = await (await fetch('tictactoe.html')).text();
      return new DOMParser().parseFromString(html, 'text/html').querySelector('#rules-note').textContent.replace(/\s+/g, ' ');
    });
    assert.match(rules, /This page enforces the rules/);
    assert.match(rules, /the server does not know tic-tac-toe/);
    assert.doesNotMatch(rules, /out-of-turn move is rejected by the server/);

    await i.page.goto(`${suite.server.url}/inspector.html`);
    await i.page.fill('#key', links.read);
    await i.page.click('button[type=submit]');
    await i.page.waitForSelector('#report:not([hidden])');
    await i.page.waitForSelector('#clients td');
    await i.page.fill('#key', 'AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB');
    await i.page.click('button[type=submit]');
    await i.page.waitForSelector('#error:has-text("No such session")');
    assert.equal(await i.page.isVisible('#report'), false, 'the previous session\u2019s report is gone');
    assert.equal(await i.page.locator('#clients tr, #ops tr').count(), 0);
    assert.equal(await i.page.textContent('#i-version'), '–');
  });
});

test('finding 5: the whiteboard streams strokes, undoes my changes, asks before clearing (undoably), boxes hold text', { timeout: 120_000 }, async () => {
  await withPages(suite.browser, 2, async (a, b) => {
    await a.page.goto(`${suite.server.url}/whiteboard.html`);
    await a.page.evaluate(() => localStorage.setItem('session-sync:name', 'Ada'));
    await b.page.goto(`${suite.server.url}/whiteboard.html`);
    await b.page.evaluate(() => localStorage.setItem('session-sync:name', 'Bo'));
    const links = await startOnPage(a.page, `${suite.server.url}/whiteboard.html`);
    await b.page.goto(links.write);
    await waitStatus(b.page, 'open');
    const strokes = (p) => p.evaluate(() => Object.keys(window.session.state.strokes || {}).length);
    const inkCount = (p, n) => p.waitForFunction((n) => document.querySelectorAll('#ink path[data-stroke]').length === n, n);

    // While A's pen is down, B sees the stroke grow; nothing is stored yet.
    const box = await a.page.locator('#board').boundingBox();
    await a.page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
    await a.page.mouse.down();
    await a.page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.4, { steps: 10 });
    await b.page.waitForFunction(() => (document.querySelector('#live path[data-live]')?.getAttribute('d') || '').split('L').length > 3);
    assert.equal(await strokes(b.page), 0, 'streamed as broadcasts, not written yet');
    await a.page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.6, { steps: 5 });
    await a.page.mouse.up();
    await inkCount(b.page, 1);
    await b.page.waitForFunction(() => document.querySelectorAll('#live path').length === 0);

    // Undo / redo of my own stroke, seen by the other person.
    await a.page.click('#undo');
    await inkCount(b.page, 0);
    await a.page.click('#redo');
    await inkCount(b.page, 1);

    // A box with text (not its creator's name).
    await b.page.click('#add-box');
    await a.page.waitForSelector('.wb-box');
    await b.page.dblclick('.wb-box');
    await b.page.keyboard.type('Plan');
    await b.page.keyboard.press('Enter');
    await a.page.waitForSelector('.wb-box:has-text("Plan")');
    assert.doesNotMatch(await a.page.textContent('.wb-box'), /Bo|Ada/);

    // Clear asks first; Cancel changes nothing; confirming clears for everyone; undo restores.
    await a.page.click('#clear');
    await a.page.waitForSelector('#confirm-clear:not([hidden])');
    assert.match(await a.page.textContent('#confirm-text'), /1 stroke and 1 box for everyone\? You can undo it/);
    assert.equal(await strokes(b.page), 1, 'nothing cleared before the answer');
    await a.page.click('#confirm-no');
    assert.equal(await a.page.isVisible('#confirm-clear'), false);
    await a.page.click('#clear');
    await a.page.click('#confirm-yes');
    await inkCount(b.page, 0);
    await b.page.waitForFunction(() => document.querySelectorAll('.wb-box').length === 0);
    await a.page.click('#undo');
    await inkCount(b.page, 1);
    await b.page.waitForSelector('.wb-box:has-text("Plan")');
    await screenshot(b.page, 'whiteboard-after-undo');
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});

test('finding 5: on a 390x844 phone the board fills the screen and cursor labels stay inside it', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 1, async (a) => {
    const phone = await openPage(suite.browser, { viewport: PHONE, hasTouch: true });
    try {
      await a.page.goto(`${suite.server.url}/whiteboard.html`);
      await a.page.evaluate(() => localStorage.setItem('session-sync:name', 'A rather long name'));
      const links = await startOnPage(a.page, `${suite.server.url}/whiteboard.html`);
      await phone.page.goto(links.write);
      await waitStatus(phone.page, 'open');
      const bb = await phone.page.locator('#board').boundingBox();
      assert.ok(bb.width >= 350, `board ${bb.width} px wide`);
      assert.ok(bb.height >= 0.6 * PHONE.height, `board ${bb.height} px tall`);
      assert.ok(bb.y + bb.height <= PHONE.height, 'and all of it on the first screen');
      // A points at the far right and bottom of the page: the label must not be clipped on the phone.
      const ab = await a.page.locator('#board').boundingBox();
      for (const [fx, fy] of [[0.99, 0.5], [0.5, 0.99], [0.99, 0.99]]) {
        await a.page.mouse.move(ab.x + ab.width * fx, ab.y + ab.height * fy, { steps: 3 });
        const cursor = phone.page.locator('#cursors .cursor span');
        await cursor.waitFor();
        // Cursors travel as volatile broadcasts (P17); the drawn cursor carries its position.
        await phone.page.waitForFunction(([fx, fy]) => {
          const c = document.querySelector('#cursors .cursor')?.dataset.at?.split(',').map(Number);
          return c && Math.abs(c[0] - fx * 1000) < 40 && Math.abs(c[1] - fy * 625) < 40;
        }, [fx, fy]);
        const lb = await cursor.boundingBox();
        assert.ok(lb.x >= bb.x - 1 && lb.x + lb.width <= bb.x + bb.width + 1, `label x inside (${lb.x}..${lb.x + lb.width} in ${bb.x}..${bb.x + bb.width})`);
        assert.ok(lb.y >= bb.y - 1 && lb.y + lb.height <= bb.y + bb.height + 1, `label y inside (${lb.y}..${lb.y + lb.height})`);
      }
      await screenshot(phone.page, 'whiteboard-phone-cursor');
      assert.deepEqual([...a.errors, ...phone.errors], []);
    } finally {
      await phone.context.close();
    }
  });
});

test('finding 6: two tabs of one person are one person: the seat stays theirs, chat lists them once and marks their messages', { timeout: 120_000 }, async () => {
  await withPages(suite.browser, 2, async (a, b) => {
    await a.page.goto(`${suite.server.url}/tictactoe.html`);
    await a.page.evaluate(() => localStorage.setItem('session-sync:name', 'Xena'));
    const links = await startOnPage(a.page, `${suite.server.url}/tictactoe.html`);
    await a.page.waitForSelector('#me:has-text("You play X")');
    const a2 = await a.context.newPage(); // a second tab of the same person
    await a2.goto(links.write);
    await a2.waitForSelector('#me:has-text("You play X")');
    await a2.waitForSelector('#player-X:has-text("Xena (you)")');
    await b.page.goto(links.write);
    await b.page.waitForSelector('#me:has-text("You play O")');
    await a2.waitForSelector('#turn:has-text("Your turn (X)")');
    await a2.click('#board button[data-cell="4"]');
    await a.page.waitForFunction(() => document.querySelector('#board button[data-cell="4"]').textContent === 'X');
    await b.page.waitForSelector('#turn:has-text("Your turn (O)")');
    await a2.close();

    const chat = await startOnPage(a.page, `${suite.server.url}/chat.html`);
    const tab2 = await a.context.newPage();
    await tab2.goto(chat.write);
    await waitStatus(tab2, 'open');
    await b.page.goto(chat.write);
    await waitStatus(b.page, 'open');
    await b.page.waitForFunction(() => document.querySelectorAll('#people li').length === 2
      && /Xena · 2 tabs/.test(document.querySelector('#people').textContent));
    await a.page.waitForSelector('#people li:has-text("Xena (you) · 2 tabs")');
    assert.equal(await a.page.textContent('#online-count'), '(2)');
    await tab2.fill('#text', 'from my other tab');
    await tab2.press('#text', 'Enter');
    await a.page.waitForSelector('#messages li.mine:has-text("from my other tab")');
    await b.page.waitForSelector('#messages li:not(.mine):has-text("from my other tab")');
    await screenshot(a.page, 'chat-two-tabs');
    await tab2.close();
  });
});

test('finding 4: the README example shares itself, and a broken #key= shows a clear error', { timeout: 90_000 }, async () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Using it from a page'));
  const snippet = section.match(/```html\n([\s\S]*?)```/)[1];
  assert.match(section, /`keys\.admin`, `keys\.write` and `keys\.read`/, 'README names the create response fields');
  assert.match(section, /says: /, 'README shows the wscat chat');
  const example = `${suite.server.url}/readme-example.html`;
  await withPages(suite.browser, 2, async (a, b) => {
    for (const p of [a, b]) {
      await p.page.route(example, (route) => route.fulfill({ contentType: 'text/html', body: `<!doctype html><title>example</title><body>loading</body>${snippet}` }));
    }
    await a.page.goto(example);
    await a.page.waitForFunction(() => location.hash.includes('key=') && document.body.textContent === '0');
    const shared = a.page.url();
    assert.match(shared, /#key=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+&read=/, 'the address bar is the share link');
    await a.page.click('body');
    await a.page.waitForFunction(() => document.body.textContent === '1');
    await b.page.goto(shared);
    await b.page.waitForFunction(() => document.body.textContent === '1');
    await b.page.click('body');
    await a.page.waitForFunction(() => document.body.textContent === '2');

    // The same link cut short in a chat app: an error, not a fresh session.
    const cut = shared.slice(0, shared.indexOf('#key=') + 20);
    const posts = [];
    b.page.on('request', (r) => { if (r.method() === 'POST') posts.push(r.url()); });
    await b.page.goto(cut);
    await b.page.reload();
    await b.page.waitForFunction(() => document.body.textContent.startsWith('Cannot open this session'));
    assert.match(await b.page.textContent('body'), /not a session key/);
    assert.deepEqual(posts, []);
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});

test('finding 7: phone layout: one-row header with a menu, content before the Share card, a readable inspector table; screenshots of every page', { timeout: 180_000 }, async () => {
  await withPages(suite.browser, 1, async (a) => {
    // one session per page, with some content
    const pages = ['index', 'chat', 'tictactoe', 'whiteboard', 'presenter'];
    const linkOf = {};
    for (const p of pages) linkOf[p] = (await startOnPage(a.page, `${suite.server.url}/${p}.html`)).write;
    await a.page.goto(linkOf.chat);
    await waitStatus(a.page, 'open');
    for (const t of ['Hello there', 'How does it look on a phone?']) { await a.page.fill('#text', t); await a.page.press('#text', 'Enter'); }
    await a.page.waitForFunction(() => window.session.pendingCount === 0);
    await a.page.goto(linkOf.whiteboard);
    await waitStatus(a.page, 'open');
    await a.page.evaluate(() => window.session.patch({ strokes: { s1: { color: '#e53e3e', z: 1, points: [[100, 100], [300, 200], [500, 150], [700, 400]] } },
      boxes: { b1: { x: 600, y: 80, w: 160, h: 90, color: '#f6e05e', text: 'Ideas', z: 2 } } }));
    await a.page.waitForFunction(() => window.session.pendingCount === 0);

    for (const [size, viewport] of [['mobile', PHONE], ['desktop', DESKTOP]]) {
      const v = await openPage(suite.browser, { viewport });
      try {
        for (const p of pages) {
          await v.page.goto(linkOf[p]);
          await waitStatus(v.page, 'open');
          if (p === 'tictactoe') await v.page.waitForFunction(() => /You play O|watching/.test(document.querySelector('#me').textContent));
          if (p === 'chat') await v.page.waitForSelector('#messages li:has-text("phone")');
          assert.ok(await v.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${size} ${p}: no sideways scrolling`);
          const header = await v.page.locator('header.top').boundingBox();
          assert.ok(header.height <= 64, `${size} ${p}: header ${header.height} px`);
          const share = await v.page.locator('#share').boundingBox();
          const content = await v.page.locator('#app > section.card:not(#share), #app > div.grid, #app > div.chat').first().boundingBox();
          assert.ok(content.y < share.y, `${size} ${p}: content before the Share card`);
          if (size === 'mobile') {
            assert.equal(await v.page.isVisible('header nav.wide'), false);
            assert.equal(await v.page.isVisible('header details.menu summary'), true);
          }
          await screenshot(v.page, `${size}-${p}`);
        }
        await v.page.goto(`${suite.server.url}/inspector.html`);
        await v.page.fill('#key', linkOf.chat);
        await v.page.click('button[type=submit]');
        await v.page.waitForSelector('#ops td');
        if (size === 'mobile') {
          const widths = await v.page.$$eval('#ops tr:first-child td', (tds) => tds.map((t) => t.getBoundingClientRect().width));
          assert.ok(Math.min(...widths) > 300, `inspector cells are full-width rows on a phone: ${widths}`);
        }
        await screenshot(v.page, `${size}-inspector`);
        if (size === 'mobile') {
          await v.page.click('header details.menu summary');
          await v.page.click('header details.menu nav a:has-text("Whiteboard")');
          await v.page.waitForURL(/whiteboard(\.html)?$/);
        }
        assert.deepEqual(v.errors, []);
      } finally {
        await v.context.close();
      }
    }
  });
});
