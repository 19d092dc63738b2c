// Browser tests of the demo apps in real Chromium against a real `wrangler dev`: a full
// tic-tac-toe game with a read-only spectator, whiteboard cursors and strokes, the presenter
// followed by a viewer, and the inspector. Every page is screenshotted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { launchBrowser, withPages, screenshot, waitStatus, startOnPage } from '../helpers/browser.mjs';

let server;
let browser;
before(async () => {
  [server, browser] = await Promise.all([startDevServer(), launchBrowser()]);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const boardOf = (page) => page.$$eval('#board button', (bs) => bs.map((b) => b.textContent || null));
const enabledCells = (page) => page.$$eval('#board button', (bs) => bs.filter((b) => !b.disabled).length);

test('tic-tac-toe: two players, turns enforced, read-only spectator, winner and rematch', { timeout: 90_000 }, async () => {
  await withPages(browser, 3, async (x, o, spectator) => {
    const links = await startOnPage(x.page, `${server.url}/tictactoe.html`);
    await x.page.waitForSelector('#me:has-text("You play X")');
    await o.page.goto(links.write);
    await o.page.waitForSelector('#me:has-text("You play O")');
    await spectator.page.goto(links.read);
    await waitStatus(spectator.page, 'open');
    await spectator.page.waitForSelector('#me:has-text("read-only")');

    await x.page.waitForSelector('#turn:has-text("Your turn (X)")');
    assert.equal(await enabledCells(o.page), 0, 'O cannot move on X\'s turn');
    assert.equal(await enabledCells(spectator.page), 0, 'spectator cannot move');

    // A forced out-of-turn move through the SDK is refused by the move logic (update() cancels).
    const outOfTurn = await o.page.evaluate(() => window.session.update((s) => (s.turn === 'O' ? { ...s } : undefined)));
    assert.equal(outOfTurn.cancelled, true);
    // The spectator's key is read-only: the server (and SDK) refuse its writes.
    const specCode = await spectator.page.evaluate(() => window.session.patch({ turn: 'O' }).then(() => 'applied', (e) => e.code));
    assert.equal(specCode, 'read_only');

    const play = async (p, cell, next) => {
      await p.page.click(`#board button[data-cell="${cell}"]`);
      await next.page.waitForFunction((c) => document.querySelector(`#board button[data-cell="${c}"]`).textContent !== '', cell);
    };
    await play(x, 4, o);
    await spectator.page.waitForFunction(() => document.querySelector('#board button[data-cell="4"]').textContent === 'X');
    await o.page.waitForSelector('#turn:has-text("Your turn (O)")');
    assert.equal(await enabledCells(x.page), 0, 'X waits for O');
    await play(o, 0, x);
    await play(x, 2, o);
    await play(o, 6, x);
    await spectator.page.click('#board button[data-cell="8"]', { force: true }).catch(() => {});
    await play(x, 3, o);
    await play(o, 5, x);
    // Race: O writes a move based on a version X has already moved past: the server rejects it
    // (baseVersion), the SDK rolls it back, and nobody ever sees it.
    const stale = await o.page.evaluate(() => ({ version: window.session.version, state: window.session.state }));
    await play(x, 1, o);
    const race = await o.page.evaluate(({ version, state }) => {
      const board = state.board.slice();
      board[7] = 'O';
      return window.session.set({ ...state, board, turn: 'X' }, { baseVersion: version }).then(() => 'applied', (e) => e.code);
    }, stale);
    assert.equal(race, 'version_conflict');
    assert.equal((await boardOf(o.page))[7], null, 'rolled back');
    assert.equal((await boardOf(x.page))[7], null);
    await play(o, 7, x);
    // X: 4 2 3 1, O: 0 6 5 7: no line yet; X takes the last cell and it is a draw.
    const b1 = await boardOf(x.page);
    assert.equal(b1.filter((v) => v === 'X').length, 4);
    assert.equal(b1.filter((v) => v === 'O').length, 4);
    await x.page.waitForSelector('#turn:has-text("Your turn (X)")');
    await x.page.click('#board button[data-cell="8"]');
    for (const p of [x, o, spectator]) await p.page.waitForSelector('#turn:has-text("Draw")');
    await screenshot(spectator.page, 'tictactoe-draw-spectator');

    // Rematch: O starts this time. Then a winning game for O.
    await x.page.click('#rematch');
    await o.page.waitForSelector('#turn:has-text("Your turn (O)")');
    for (const p of [x, o, spectator]) await p.page.waitForSelector('#round:has-text("round 2")');
    assert.deepEqual(await boardOf(spectator.page), Array(9).fill(null));
    await play(o, 0, x);
    await play(x, 3, o);
    await play(o, 1, x);
    await play(x, 4, o);
    await play(o, 2, x);
    for (const p of [x, o, spectator]) await p.page.waitForSelector('#turn:has-text("O wins!")');
    assert.equal(await x.page.locator('#board button.win').count(), 3);
    assert.equal(await enabledCells(x.page), 0, 'no moves after the game ended');
    assert.equal(await spectator.page.locator('#rematch').isVisible(), false);
    await screenshot(x.page, 'tictactoe');
    // server state agrees
    const key = new URL(links.read).hash.match(/key=([^&]+)/)[1];
    const st = await (await fetch(`${server.url}/api/v1/sessions/${key}`)).json();
    assert.equal(st.state.winner, 'O');
    assert.deepEqual(st.state.line, [0, 1, 2]);
    assert.deepEqual([...x.errors, ...o.errors, ...spectator.errors], []);
  });
});

test('whiteboard: the other context sees my cursor, strokes and boxes', { timeout: 90_000 }, async () => {
  await withPages(browser, 2, async (a, b) => {
    await a.page.goto(`${server.url}/whiteboard.html`);
    await a.page.evaluate(() => localStorage.setItem('session-sync:name', 'Ada'));
    const links = await startOnPage(a.page, `${server.url}/whiteboard.html`);
    await b.page.goto(links.write);
    await waitStatus(b.page, 'open');
    const box = await a.page.locator('#board').boundingBox();
    await a.page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.4);
    await a.page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 5 });
    const cursor = b.page.locator('#cursors .cursor:has-text("Ada")');
    await cursor.waitFor();
    const cb = await cursor.boundingBox();
    const bb = await b.page.locator('#board').boundingBox();
    assert.ok(Math.abs((cb.x - bb.x) / bb.width - 0.5) < 0.05, 'cursor x follows');
    assert.ok(Math.abs((cb.y - bb.y) / bb.height - 0.5) < 0.06, 'cursor y follows');

    // draw a stroke in A
    await a.page.mouse.down();
    await a.page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.3, { steps: 8 });
    await a.page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.6, { steps: 8 });
    await a.page.mouse.up();
    await b.page.waitForSelector('#ink path[data-stroke]', { state: 'attached' });
    // add a box in B and move it with the keyboard
    await b.page.click('#add-box');
    await a.page.waitForSelector('.wb-box');
    await b.page.focus('.wb-box');
    const before = await a.page.$eval('.wb-box', (e) => parseFloat(e.style.left));
    await b.page.keyboard.press('ArrowRight');
    await b.page.keyboard.press('ArrowRight');
    await a.page.waitForFunction((l) => parseFloat(document.querySelector('.wb-box').style.left) > l + 1.5, before);
    await screenshot(b.page, 'whiteboard');
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});

test('presenter: a read-only viewer follows the slide and the pointer', { timeout: 90_000 }, async () => {
  await withPages(browser, 2, async (p, v) => {
    const links = await startOnPage(p.page, `${server.url}/presenter.html`);
    await v.page.goto(links.read);
    await waitStatus(v.page, 'open');
    await v.page.waitForSelector('#mode:has-text("Following")');
    assert.equal(await v.page.locator('#next').isVisible(), false, 'viewers get no controls');
    await p.page.click('#next');
    await p.page.keyboard.press('ArrowRight');
    await v.page.waitForSelector('#slide[data-slide="2"]');
    await p.page.keyboard.press('ArrowLeft');
    await v.page.waitForSelector('#slide[data-slide="1"]');
    // viewer's keys do nothing
    await v.page.keyboard.press('ArrowRight');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await p.page.getAttribute('#slide', 'data-slide'), '1');
    const sb = await p.page.locator('#slide').boundingBox();
    await p.page.mouse.move(sb.x + sb.width * 0.25, sb.y + sb.height * 0.75, { steps: 4 });
    await v.page.waitForSelector('#pointer:not([hidden])');
    const left = await v.page.$eval('#pointer', (e) => parseFloat(e.style.left));
    assert.ok(Math.abs(left - 25) < 3, `pointer at ${left}%`);
    await p.page.waitForSelector('#mode:has-text("1 viewer")');
    await screenshot(v.page, 'presenter-viewer');
    await screenshot(p.page, 'presenter');
    assert.deepEqual([...p.errors, ...v.errors], []);
  });
});

test('inspector: clients, version, size and recent ops of a session', { timeout: 90_000 }, async () => {
  await withPages(browser, 2, async (a, i) => {
    const links = await startOnPage(a.page, `${server.url}/chat.html`);
    await a.page.fill('#text', 'inspect me');
    await a.page.press('#text', 'Enter');
    await a.page.waitForFunction(() => window.session.pendingCount === 0);
    await i.page.goto(`${server.url}/inspector.html`);
    await i.page.fill('#key', links.read);
    await i.page.click('button[type=submit]');
    await i.page.waitForSelector('#report:not([hidden])');
    await i.page.waitForFunction(() => document.querySelector('#i-version').textContent === '2');
    assert.equal(await i.page.textContent('#i-clients'), '1');
    await i.page.waitForSelector('#ops tr:has-text("inspect me")');
    await i.page.waitForSelector('#clients td:has-text("write")');
    await screenshot(i.page, 'inspector');
    // a bad key shows an error, not a crash
    await i.page.fill('#key', 'AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB');
    await i.page.click('button[type=submit]');
    await i.page.waitForSelector('#error:not([hidden])');
    assert.deepEqual([...a.errors, ...i.errors], []);
  });
});
