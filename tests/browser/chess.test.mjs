// Browser tests of the chess demo (www/chess.html) in real Chromium against a real `wrangler dev`:
// fool's mate between two people with a read-only spectator, an illegal drag that writes nothing,
// and races (two tabs of one player moving at once) where exactly one move lands.
// Screenshots at 390x844 and 1280x800, mid-game and game over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, withPages, screenshot, waitStatus, startOnPage } from '../helpers/browser.mjs';

const suite = browserSuite();

const square = (page, sq) => page.locator(`#board [data-square="${sq}"]`);
const pieceOn = (page, sq) => square(page, sq).getAttribute('data-piece');
const movesOf = (page) => page.$$eval('#moves .san', (els) => els.map((e) => e.textContent).filter(Boolean));
const waitCount = (page, n) => page.waitForFunction((k) => document.querySelector('#moves').dataset.count === String(k), n);
const serverState = async (readLink) => {
  const key = new URL(readLink).hash.match(/key=([^&]+)/)[1];
  return (await (await fetch(`${suite.server.url}/api/v1/sessions/${key}`)).json());
};

/** Click the piece, then the destination. */
async function clickMove(page, from, to) {
  await square(page, from).click();
  await page.waitForSelector(`#board [data-square="${to}"].target`);
  await square(page, to).click();
}
/** Drag the piece with the mouse (pointer events) and drop it on `to`. */
async function dragMove(page, from, to) {
  const a = await square(page, from).boundingBox();
  const b = await square(page, to).boundingBox();
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move(a.x + a.width / 2 + 8, a.y + a.height / 2 + 8, { steps: 2 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 6 });
  await page.mouse.up();
}

/** Starts a game: White creates it, Black joins with the edit link. */
async function startGame(white, black) {
  const links = await startOnPage(white.page, `${suite.server.url}/chess.html`);
  await white.page.waitForSelector('#me:has-text("You play White")');
  await black.page.goto(links.write);
  await black.page.waitForSelector('#me:has-text("You play Black")');
  await white.page.waitForSelector('#turn:has-text("Your move (White)")');
  return links;
}

test('chess: fool\'s mate with a read-only spectator, an illegal drag changes nothing, rematch swaps colours', { timeout: 120_000 }, async () => {
  await withPages(suite.browser, 3, async (w, b, spec) => {
    const links = await startGame(w, b);
    await spec.page.goto(links.read);
    await waitStatus(spec.page, 'open');
    await spec.page.waitForSelector('#me:has-text("read-only")');
    await spec.page.waitForSelector('#player-b:has-text("Guest")');
    assert.equal(await b.page.$eval('#board [data-square]', (e) => e.dataset.square), 'h1', 'Black sees the board from its side');

    // Black cannot move on White's turn: the board ignores it, and a forced write is cancelled
    // inside update() (not Black's turn in the state it is applied to).
    await square(b.page, 'e7').click();
    assert.equal(await b.page.locator('#board .sq.target').count(), 0);
    const outOfTurn = await b.page.evaluate(() => window.chessDemo.move('e7', 'e5'));
    assert.equal(outOfTurn.cancelled, true);
    // The read-only key is refused by the server (and the SDK).
    assert.equal(await spec.page.evaluate(() => window.session.patch({ fen: 'x' }).then(() => 'applied', (e) => e.code)), 'read_only');

    // An illegal drag (knight g1 to g3) changes nothing: no write, same board.
    const v0 = await w.page.evaluate(() => window.session.version);
    await dragMove(w.page, 'g1', 'g3');
    assert.equal(await pieceOn(w.page, 'g1'), 'wn');
    assert.equal(await pieceOn(w.page, 'g3'), '');
    assert.equal(await w.page.evaluate(() => window.session.pendingCount), 0);
    assert.equal(await w.page.evaluate(() => window.session.version), v0);
    // A move played into an illegal square by the SDK hook is cancelled too.
    assert.equal((await w.page.evaluate(() => window.chessDemo.move('e2', 'e5'))).cancelled, true);

    // 1. f3 (click) e5 (drag) 2. g4 (drag) Qh4# (click)
    await clickMove(w.page, 'f2', 'f3');
    for (const p of [w, b, spec]) await waitCount(p.page, 1);
    // Writes are ordered: exactly one write after v0, so the illegal attempts wrote nothing.
    assert.equal((await serverState(links.read)).version, v0 + 1);
    await b.page.waitForSelector('#turn:has-text("Your move (Black)")');
    await dragMove(b.page, 'e7', 'e5');
    for (const p of [w, b, spec]) await waitCount(p.page, 2);
    await dragMove(w.page, 'g2', 'g4');
    for (const p of [w, b, spec]) await waitCount(p.page, 3);
    await spec.page.waitForSelector('#board [data-square="g4"].last');

    // Mid-game screenshots: Black on a phone, the spectator on a laptop (Black's queen selected).
    await b.page.setViewportSize({ width: 390, height: 844 });
    await square(b.page, 'd8').click();
    await b.page.waitForSelector('#board [data-square="h4"].target');
    await screenshot(b.page, 'chess-midgame-390');
    await spec.page.setViewportSize({ width: 1280, height: 800 });
    await screenshot(spec.page, 'chess-midgame-1280');

    await square(b.page, 'h4').click();
    for (const p of [w, b, spec]) {
      await p.page.waitForSelector('#turn:has-text("Checkmate: Black wins")');
      await waitCount(p.page, 4);
    }
    assert.deepEqual(await movesOf(spec.page), ['f3', 'e5', 'g4', 'Qh4#']);
    await spec.page.waitForSelector('#board [data-square="e1"].check');
    await w.page.waitForSelector('#turn:has-text("you lost")');
    await b.page.waitForSelector('#turn:has-text("you won")');
    assert.equal(await w.page.locator('#board .sq.target').count(), 0);
    assert.equal(await spec.page.locator('#rematch').isVisible(), false, 'spectators get no rematch button');
    assert.equal(await w.page.locator('#resign').isVisible(), false);
    const st = await serverState(links.read);
    assert.deepEqual(st.state.result, { winner: 'b', reason: 'checkmate' });
    assert.deepEqual(st.state.moves, ['f3', 'e5', 'g4', 'Qh4#']);
    assert.equal(st.state.fen, 'rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3');

    await screenshot(spec.page, 'chess-gameover-1280');
    await screenshot(b.page, 'chess-gameover-390');
    await w.page.setViewportSize({ width: 390, height: 844 });
    await screenshot(w.page, 'chess-gameover-390-loser');

    // Rematch: colours swap, the spectator follows.
    await b.page.click('#rematch');
    await b.page.waitForSelector('#me:has-text("You play White")');
    await w.page.waitForSelector('#me:has-text("You play Black")');
    await spec.page.waitForSelector('#round:has-text("game 2")');
    await b.page.waitForSelector('#turn:has-text("Your move (White)")');
    assert.equal(await spec.page.$eval('#moves', (e) => e.dataset.count), '0');
    assert.equal(await pieceOn(spec.page, 'e2'), 'wp');
    assert.deepEqual([...w.errors, ...b.errors, ...spec.errors], []);
  });
});

test('chess: two tabs of White move at once, exactly one move lands; resign and draw offers', { timeout: 120_000 }, async () => {
  await withPages(suite.browser, 2, async (w, b) => {
    const links = await startGame(w, b);
    // White's second tab: same person (same localStorage), so it plays White too.
    const w2 = await w.context.newPage();
    const w2errors = [];
    w2.on('pageerror', (e) => w2errors.push(e.message));
    await w2.goto(links.write);
    await w2.waitForSelector('#me:has-text("You play White")');
    await w2.waitForSelector('#turn:has-text("Your move (White)")');

    // Offline, both tabs make a different move on the same position (each sees its own at
    // once); back online, both writes reach the server with the same base version.
    await w.context.setOffline(true);
    for (const p of [w.page, w2]) await waitStatus(p, 'offline');
    await clickMove(w.page, 'e2', 'e4');
    await dragMove(w2, 'd2', 'd4');
    await waitCount(w.page, 1);
    await waitCount(w2, 1);
    assert.deepEqual(await movesOf(w.page), ['e4']);
    assert.deepEqual(await movesOf(w2), ['d4']);
    await w.context.setOffline(false);
    const settled = (p) => p.waitForFunction(() => window.session.status === 'open' && window.session.pendingCount === 0);
    await settled(w.page);
    await settled(w2);
    await waitCount(b.page, 1);
    const st = await serverState(links.read);
    assert.equal(st.state.moves.length, 1, `exactly one move landed: ${st.state.moves}`);
    assert.ok(['e4', 'd4'].includes(st.state.moves[0]));
    for (const p of [w.page, w2, b.page]) {
      await p.waitForFunction((m) => [...document.querySelectorAll('#moves .san')].map((e) => e.textContent).filter(Boolean).join() === m, st.state.moves.join());
    }
    const loser = st.state.moves[0] === 'e4' ? w2 : w.page;
    await loser.waitForSelector('#move-error:has-text("was not made")');
    await b.page.waitForSelector('#turn:has-text("Your move (Black)")');

    // Black replies; then both White tabs move at once online (no waiting between them).
    await clickMove(b.page, 'e7', 'e5');
    for (const p of [w.page, w2]) await waitCount(p, 2);
    const [r1, r2] = await Promise.all([w.page.evaluate(() => window.chessDemo.move('g1', 'f3')), w2.evaluate(() => window.chessDemo.move('b1', 'c3'))]);
    assert.equal([r1, r2].filter((r) => r.cancelled).length, 1, `one of the two is cancelled: ${JSON.stringify([r1, r2])}`);
    await waitCount(b.page, 3);
    assert.equal((await serverState(links.read)).state.moves.length, 3);

    // Draw offer declined, then resign.
    await b.page.click('#offer-draw');
    await w.page.waitForSelector('#draw-offer:has-text("offers a draw")');
    await w.page.click('#decline-draw');
    await b.page.waitForSelector('#offer-draw:visible');
    await b.page.click('#offer-draw');
    await w.page.waitForSelector('#accept-draw:visible');
    await w.page.setViewportSize({ width: 1280, height: 800 });
    await screenshot(w.page, 'chess-draw-offer-1280');
    await w.page.click('#accept-draw');
    for (const p of [w.page, w2, b.page]) await p.waitForSelector('#turn:has-text("Draw agreed")');
    await b.page.click('#rematch');
    await b.page.waitForSelector('#me:has-text("You play White")');
    await b.page.click('#resign');
    await b.page.click('#resign-yes');
    for (const p of [w.page, w2, b.page]) await p.waitForSelector('#turn:has-text("White resigned: Black wins")');
    assert.deepEqual((await serverState(links.read)).state.result, { winner: 'b', reason: 'resign', by: 'w' });
    assert.deepEqual([...w.errors, ...b.errors, ...w2errors], []);
  });
});

test('chess: promotion picker, and a draw by insufficient material', { timeout: 120_000 }, async () => {
  await withPages(suite.browser, 2, async (w, b) => {
    const links = await startGame(w, b);
    // A position with a pawn on the seventh rank, written through the SDK (the page then
    // rebuilds the position from this FEN, as there are no moves to replay).
    const setFen = (fen) => w.page.evaluate((f) => window.session.update((s) => ({ ...s, fen: f, moves: [], last: null, result: null, drawOffer: null })), fen);
    await setFen('7k/P7/8/8/8/8/8/4K3 w - - 0 1');
    await b.page.waitForFunction(() => document.querySelector('#board [data-square="a7"]').dataset.piece === 'wp');
    await w.page.setViewportSize({ width: 390, height: 844 });
    await dragMove(w.page, 'a7', 'a8');
    await w.page.waitForSelector('#promo:not([hidden])');
    assert.equal(await w.page.locator('#promo [data-promo]').count(), 4);
    assert.equal(await w.page.evaluate(() => window.session.pendingCount), 0, 'nothing written before the choice');
    await screenshot(w.page, 'chess-promotion-390');
    await w.page.click('#promo [data-promo="n"]');
    await waitCount(b.page, 1);
    assert.deepEqual(await movesOf(b.page), ['a8=N']);
    assert.equal(await pieceOn(b.page, 'a8'), 'wn');

    // King takes the last black piece: only kings are left, a draw.
    await setFen('7k/8/8/8/8/8/1r6/K7 w - - 0 1');
    await b.page.waitForFunction(() => document.querySelector('#board [data-square="b2"]').dataset.piece === 'br');
    await clickMove(w.page, 'a1', 'b2');
    for (const p of [w.page, b.page]) await p.waitForSelector('#turn:has-text("Draw: insufficient material")');
    assert.deepEqual((await serverState(links.read)).state.result, { winner: null, reason: 'insufficient' });
    assert.deepEqual([...w.errors, ...b.errors], []);
  });
});
