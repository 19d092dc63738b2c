// Browser tests of the demo apps in real Chromium against a real `wrangler dev`: a full
// tic-tac-toe game with a read-only spectator, whiteboard cursors and strokes, the presenter
// followed by a viewer, and the inspector. Every page is screenshotted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, withPages, screenshot, waitStatus, startOnPage } from '../helpers/browser.mjs';

const suite = browserSuite();

/**
 * Waits until the element `selector` (containing `text`) sits at the fraction `at` = [x, y] of
 * the element `frame`, within `tol`: positions converge as the moves arrive. A timeout names
 * the last position seen.
 */
async function waitPositionIn(page, { selector, text = '', frame, at, tol }) {
  // Runs in the page: the position when within tol, else null.
  const near = ({ selector, text, frame, at, tol }) => {
    const el = [...document.querySelectorAll(selector)].find((e) => e.textContent.includes(text));
    const f = document.querySelector(frame);
    if (!el || !f) return null;
    const r = el.getBoundingClientRect();
    const b = f.getBoundingClientRect();
    const where = [(r.x - b.x) / b.width, (r.y - b.y) / b.height];
    return Math.abs(where[0] - at[0]) < tol[0] && Math.abs(where[1] - at[1]) < tol[1] ? where : null;
  };
  const args = { selector, text, frame, at, tol };
  await page.waitForFunction(near, args).catch(async (e) => {
    const last = await page.evaluate(near, { ...args, tol: [Infinity, Infinity] });
    throw new Error(`${selector} "${text}" never within ${tol} of ${at} in ${frame} (last: ${JSON.stringify(last)}): ${e.message}`);
  });
}

const boardOf = (page) => page.$$eval('#board button', (bs) => bs.map((b) => b.textContent || null));
const enabledCells = (page) => page.$$eval('#board button', (bs) => bs.filter((b) => !b.disabled).length);

test('tic-tac-toe: two players, turns enforced, read-only spectator, winner and rematch', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 3, async (x, o, spectator) => {
    const links = await startOnPage(x.page, `${suite.server.url}/tictactoe.html`);
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
    const st = await (await fetch(`${suite.server.url}/api/v1/sessions/${key}`)).json();
    assert.equal(st.state.winner, 'O');
    assert.deepEqual(st.state.line, [0, 1, 2]);
    assert.deepEqual([...x.errors, ...o.errors, ...spectator.errors], []);
  });
});

test('whiteboard: the other context sees my cursor, strokes and boxes', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 2, async (a, b) => {
    await a.page.goto(`${suite.server.url}/whiteboard.html`);
    await a.page.evaluate(() => localStorage.setItem('session-sync:name', 'Ada'));
    const links = await startOnPage(a.page, `${suite.server.url}/whiteboard.html`);
    await b.page.goto(links.write);
    await waitStatus(b.page, 'open');
    const box = await a.page.locator('#board').boundingBox();
    await a.page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.4);
    await a.page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 5 });
    // Cursor elements are re-rendered on every presence change: wait for the last move to arrive.
    await waitPositionIn(b.page, { selector: '#cursors .cursor', text: 'Ada', frame: '#board', at: [0.5, 0.5], tol: [0.05, 0.06] });

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
  await withPages(suite.browser, 2, async (p, v) => {
    const links = await startOnPage(p.page, `${suite.server.url}/presenter.html`);
    await v.page.goto(links.read);
    await waitStatus(v.page, 'open');
    await v.page.waitForSelector('#mode:has-text("Following")');
    assert.equal(await v.page.locator('#next').isVisible(), false, 'viewers get no controls');
    await p.page.click('#next');
    await p.page.keyboard.press('ArrowRight');
    await v.page.waitForSelector('#slide[data-slide="2"]');
    await p.page.keyboard.press('ArrowLeft');
    await v.page.waitForSelector('#slide[data-slide="1"]');
    // The viewer's keys do nothing. Its presence set after the key press travels on the same
    // socket, behind any write the key could have sent: once the presenter sees that presence,
    // such a write would already have changed the slide there.
    await v.page.keyboard.press('ArrowRight');
    assert.equal(await v.page.evaluate(() => window.session.pendingCount), 0, 'the key sent no write');
    await v.page.evaluate(() => window.session.presence.set({ name: 'viewer', presenter: false, pointer: null, probe: 1 }));
    await p.page.waitForFunction(() => window.session.presence.list().some((c) => c.data && c.data.probe === 1));
    assert.equal(await p.page.getAttribute('#slide', 'data-slide'), '1');
    const sb = await p.page.locator('#slide').boundingBox();
    await p.page.mouse.move(sb.x + sb.width * 0.25, sb.y + sb.height * 0.75, { steps: 4 });
    // The pointer shows at once and then follows each move: wait for the last one.
    const pointerAt = (want) => v.page.waitForFunction((w) => {
      const e = document.querySelector('#pointer');
      return !e.hidden && Math.abs(parseFloat(e.style.left) - w[0]) < 3 && Math.abs(parseFloat(e.style.top) - w[1]) < 3;
    }, want).catch(async (err) => {
      const at = await v.page.$eval('#pointer', (e) => [e.hidden, e.style.left, e.style.top]);
      throw new Error(`pointer never at ${want}% (hidden, left, top: ${at}): ${err.message}`);
    });
    await pointerAt([25, 75]);
    await p.page.waitForSelector('#audience[data-count="1"]:has-text("1 watching")');
    await screenshot(v.page, 'presenter-viewer');
    await screenshot(p.page, 'presenter');
    assert.deepEqual([...p.errors, ...v.errors], []);
  });
});

test('inspector: clients, version, size and recent ops of a session', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 2, async (a, i) => {
    const links = await startOnPage(a.page, `${suite.server.url}/chat.html`);
    await a.page.fill('#text', 'inspect me');
    await a.page.press('#text', 'Enter');
    await a.page.waitForFunction(() => window.session.pendingCount === 0);
    await i.page.goto(`${suite.server.url}/inspector.html`);
    await i.page.fill('#key', links.read);
    await i.page.click('button[type=submit]');
    await i.page.waitForSelector('#report:not([hidden])');
    await i.page.waitForFunction(() => document.querySelector('#i-version').textContent === '2');
    assert.equal(await i.page.textContent('#i-clients'), '1');
    assert.equal(await i.page.textContent('#i-viewers'), '0', 'no read-key viewer yet (the writer is not one)');
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
