// React bindings in real Chromium (issue 15 item 4): a page bundled with esbuild at test time
// renders useSessionState / usePresence / useStatus; a second client (the SDK under Node) makes
// a remote update and a presence change, and the page shows both. A component that selects
// another part of the state does not re-render for the update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, screenshot } from '../helpers/browser.mjs';
import { bundle, serveFiles, html, js, routedPagesSuite } from './sdk-pages.mjs';
import { joinSession } from '../../packages/client/src/index.js';

const suite = routedPagesSuite();

const APP = `
import { createElement as h, useEffect } from 'react';
import { createRoot } from 'react-dom/client';
import { useSession, useSessionState, usePresence, useStatus, SessionProvider } from 'session-sync/react';

window.renders = { counter: 0, title: 0 };
function Counter() {
  const count = useSessionState((s) => s.count);
  const people = usePresence();
  const status = useStatus();
  window.renders.counter++;
  return h('div', null,
    h('p', null, 'count: ', h('span', { id: 'count' }, String(count))),
    h('p', null, 'status: ', h('span', { id: 'status' }, status)),
    h('ul', { id: 'people' }, people.map((p) => h('li', { key: p.clientId }, (p.data && p.data.name) || '?'))));
}
function Title() {
  const title = useSessionState((s) => s.title);
  window.renders.title++;
  return h('h1', { id: 'title' }, title);
}
function App() {
  const key = new URLSearchParams(location.hash.slice(1)).get('key');
  const session = useSession({ key });
  useEffect(() => { if (!session) return; window.session = session; session.presence.set({ name: 'react page' }); }, [session]);
  return h(SessionProvider, { session }, h(Title), h(Counter));
}
createRoot(document.getElementById('root')).render(h(App));
`;

test('React: useSessionState / usePresence / useStatus show a remote update and a presence change', { timeout: 90_000 }, async () => {
  const { url } = suite.server;
  const created = await (await fetch(`${url}/api/v1/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ state: { count: 0, title: 'React counter' } }) })).json();
  const { context, page, errors } = await openPage(suite.browser);
  let other;
  try {
    await serveFiles(context, url, { '/react-test.html': html('/react-test.js'), '/react-test.js': js(await bundle('react-test', APP)) });
    await page.goto(`${url}/react-test.html#key=${created.keys.write}`);
    await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'open' && document.querySelector('#count')?.textContent === '0');
    assert.equal(await page.textContent('#title'), 'React counter');
    assert.equal(await page.evaluate(() => window.session.transport), 'websocket');
    const titleRenders = await page.evaluate(() => window.renders.title);

    other = await joinSession(created.keys.write, { baseUrl: url, durableOutbox: false });
    await other.patch({ count: 5 });
    await page.waitForFunction(() => document.querySelector('#count').textContent === '5');
    other.presence.set({ name: 'node client' });
    await page.waitForFunction(() => document.querySelector('#people').textContent.includes('node client'));
    assert.match(await page.textContent('#people'), /react page/);
    await screenshot(page, 'react-counter');
    assert.equal(await page.evaluate(() => window.renders.title), titleRenders, 'Title selects s.title: the count update did not re-render it');

    // and the other way: the page writes, the Node client sees it
    await page.evaluate(() => window.session.update((s) => ({ ...s, count: s.count + 1 })));
    await new Promise((resolve) => { if (other.state.count === 6) resolve(); other.on('change', (s) => { if (s.count === 6) resolve(); }); });
    other.close();
    other = null;
    await page.waitForFunction(() => !document.querySelector('#people').textContent.includes('node client'));
    assert.deepEqual(errors, []);
  } finally {
    other?.close();
    await context.close();
  }
});
