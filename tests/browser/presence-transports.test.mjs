// Presence on every transport (issue 14): a chat over WebSocket, one over SSE and one over
// long-poll see each other in the online list, and a closed SSE tab leaves it.
import { test } from 'node:test';
import { browserSuite, withPages, waitStatus, startOnPage } from '../helpers/browser.mjs';

const suite = browserSuite({ vars: { HTTP_PRESENCE_TTL_SECONDS: '4' } });

/** The share link with `?transport=` set. */
const over = (link, transport) => { const u = new URL(link); u.searchParams.set('transport', transport); return u.href; };
/** Names listed under "Online" on `page`. */
const online = (page) => page.$$eval('#people li', (items) => items.map((li) => li.textContent).sort());

async function named(page, name, url) {
  await page.goto(`${suite.server.url}/chat.html`);
  await page.evaluate((n) => localStorage.setItem('session-sync:name', n), name);
  if (url) await page.goto(url);
}

test('chat over WebSocket, SSE and long-poll: everyone sees everyone online; a closed SSE tab leaves', { timeout: 120_000 }, async () => {
  await withPages(suite.browser, 3, async (ws, sse, poll) => {
    await named(ws.page, 'Wes');
    const links = await startOnPage(ws.page, `${suite.server.url}/chat.html`);
    await named(sse.page, 'Sue', over(links.write, 'sse'));
    await named(poll.page, 'Lou', over(links.write, 'longpoll'));
    await Promise.all([waitStatus(sse.page, 'open'), waitStatus(poll.page, 'open')]);
    const everyone = (page) => page.waitForFunction(() => {
      const text = document.querySelector('#people')?.textContent ?? '';
      return ['Wes', 'Sue', 'Lou'].every((n) => text.includes(n)) && document.querySelectorAll('#people li').length === 3;
    }, null, { timeout: 40_000 });
    await Promise.all([everyone(ws.page), everyone(sse.page), everyone(poll.page)]);
    await sse.page.close();
    await ws.page.waitForFunction(() => !document.querySelector('#people').textContent.includes('Sue')
      && document.querySelectorAll('#people li').length === 2, null, { timeout: 40_000 });
    console.log(`[presence] online after the SSE tab closed: ${(await online(ws.page)).join(', ')}`);
  });
});
