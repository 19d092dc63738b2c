// The presenter's audience in real Chromium against a real `wrangler dev` (issue 13): a presenter
// and two viewers on the read link. Everyone sees how many watch (the server's `audience`
// count, which counts viewers behind relay objects too); a viewer's reaction and raised hand
// reach the presenter's panel, the presenter lowers the hands, and a viewer who leaves is no
// longer counted. Every wait is for a condition in the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSuite, withPages, screenshot, waitStatus, startOnPage } from '../helpers/browser.mjs';

const suite = browserSuite();

/** Waits until the page shows `n` watching and its session's server count is `n` (not only presence). */
async function waitWatching(page, n) {
  await page.waitForFunction((want) => window.session.audience === want
    && document.querySelector('#audience').dataset.count === String(want)
    && document.querySelector('#audience').textContent.includes(`${want} watching`), n)
    .catch(async (e) => {
      const seen = await page.evaluate(() => [window.session.audience, document.querySelector('#audience').textContent]);
      throw new Error(`never ${n} watching (session.audience, text: ${JSON.stringify(seen)}): ${e.message}`);
    });
}

/** Waits until the reactions panel of `page` counts `n` of `emoji`. */
const waitReaction = (page, emoji, n) => page.waitForSelector(`#reaction-counts li[data-reaction="${emoji}"][data-count="${n}"]`);

test('presenter audience: two viewers are counted everywhere, their reactions and raised hands reach the presenter', { timeout: 120_000 }, async () => {
  await withPages(suite.browser, 3, async (p, v1, v2) => {
    const links = await startOnPage(p.page, `${suite.server.url}/presenter.html`);
    await waitWatching(p.page, 0);
    for (const v of [v1, v2]) {
      await v.page.goto(links.read);
      await waitStatus(v.page, 'open');
      await v.page.waitForSelector('#mode:has-text("Following")');
    }
    await waitWatching(p.page, 2);
    await waitWatching(v1.page, 2);
    await waitWatching(v2.page, 2);
    assert.equal(await p.page.locator('#react').isVisible(), false, 'the presenter gets no reaction buttons');
    assert.equal(await v1.page.getAttribute('#react button[data-reaction="👏"]', 'aria-label'), 'Applause');

    // A reaction reaches the presenter's panel, and the other viewer's.
    await v1.page.click('#react button[data-reaction="👏"]');
    await waitReaction(p.page, '👏', 1);
    await waitReaction(v2.page, '👏', 1);
    await waitReaction(v1.page, '👏', 1); // the sender counts its own
    // By keyboard: Space presses the focused button (the page's Space-for-next-slide leaves it alone).
    await v2.page.focus('#react button[data-reaction="❤️"]');
    await v2.page.keyboard.press(' ');
    await waitReaction(p.page, '❤️', 1);

    // A raised hand shows on the presenter's panel until the presenter lowers every hand.
    await v2.page.click('#hand');
    await v2.page.waitForSelector('#hand[aria-pressed="true"]');
    await p.page.waitForSelector('#hands[data-count="1"]:has-text("1 hand raised")');
    await screenshot(p.page, 'presenter-audience');
    await screenshot(v2.page, 'presenter-audience-viewer');
    await p.page.click('#lower-hands');
    await v2.page.waitForSelector('#hand[aria-pressed="false"]');
    await p.page.waitForSelector('#hands[data-count="0"]');
    assert.equal(await p.page.locator('#lower-hands').isVisible(), false);

    // A viewer who leaves is no longer counted.
    await v2.page.close();
    await waitWatching(p.page, 1);
    await waitWatching(v1.page, 1);
    assert.deepEqual([...p.errors, ...v1.errors, ...v2.errors], []);
  });
});
