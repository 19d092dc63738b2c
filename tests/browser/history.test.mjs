// Browser tests of version history in the demos (issue 14 item 3): the whiteboard brings a
// cleared board back from the checkpoint taken before the clear, and the inspector lists
// checkpoints, shows one and restores it after asking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, withPages, screenshot, waitStatus, startOnPage } from '../helpers/browser.mjs';

const suite = browserSuite();

test('whiteboard: after "Clear board", "Bring back the board" restores it for everyone', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 2, async (a, b) => {
    const links = await startOnPage(a.page, `${suite.server.url}/whiteboard.html`);
    await b.page.goto(links.write);
    await waitStatus(b.page, 'open');
    await a.page.click('#add-box');
    await a.page.dblclick('.wb-box');
    await a.page.keyboard.type('Keep me');
    await a.page.keyboard.press('Enter');
    await b.page.waitForSelector('.wb-box:has-text("Keep me")');
    await a.page.waitForFunction(() => window.session.pendingCount === 0);

    await a.page.click('#clear');
    await a.page.click('#confirm-yes');
    await b.page.waitForFunction(() => document.querySelectorAll('.wb-box').length === 0);
    await a.page.waitForSelector('#bring-back-bar:not([hidden])');
    await screenshot(a.page, 'whiteboard-cleared-bring-back');
    await a.page.click('#bring-back');
    await b.page.waitForSelector('.wb-box:has-text("Keep me")');
    await a.page.waitForSelector('#bring-back-bar', { state: 'hidden' });
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});

test('inspector: history lists checkpoints, View shows one, Restore asks and restores it', { timeout: 90_000 }, async () => {
  await withPages(suite.browser, 2, async (a, i) => {
    const links = await startOnPage(a.page, `${suite.server.url}/whiteboard.html`);
    await a.page.evaluate(() => window.session.history.checkpoint('empty board'));
    await a.page.click('#add-box');
    await a.page.waitForFunction(() => window.session.pendingCount === 0 && Object.keys(window.session.state.boxes).length === 1);

    await i.page.goto(`${suite.server.url}/inspector.html`);
    await i.page.fill('#key', links.write);
    await i.page.click('button[type=submit]');
    await i.page.waitForSelector('#versions tr:has-text("empty board")');
    await i.page.click('#versions tr:has-text("empty board") button:has-text("View")');
    await i.page.waitForSelector('#version-view:not([hidden])');
    assert.match(await i.page.textContent('#version-view'), /"boxes": \{\}/);

    let asked = '';
    i.page.once('dialog', (d) => { asked = d.message(); d.accept(); });
    await i.page.click('#versions tr:has-text("empty board") button:has-text("Restore")');
    await a.page.waitForFunction(() => Object.keys(window.session.state.boxes).length === 0);
    assert.match(asked, /Make version \d+ the current state/);
    await i.page.waitForSelector('#history-note:has-text("Restored version")');
    await screenshot(i.page, 'inspector-history');
    assert.deepEqual([...a.errors, ...i.errors], []);
  });
});
