// The audience of a session in the SDK (issue 13: read-key viewers served by relay objects):
// `session.audience` from `welcome.audience` and from `audience` frames, the `audience` event,
// over WebSocket and SSE, through the fake transports of fakes.mjs (the test plays the server);
// and the React hook useAudience (rendered with react-dom/server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from '../../packages/client/src/index.js';
import { fakeNet, welcome, once, opts, KEY } from './fakes.mjs';

/** A session on `transport` whose first welcome is `first`; `deliver(frame)` plays the server. */
async function open(net, transport, first) {
  const s = new Session(KEY, opts(net, { transport }));
  const counts = [];
  s.on('audience', (n) => counts.push(n));
  if (transport === 'sse') {
    const es = await net.nextStream(1);
    es.emit('welcome', first);
    await s.ready;
    return { s, counts, es, deliver: (f) => es.emit(f.type, f) };
  }
  const ws = await net.nextSocket(1);
  ws.deliver(first);
  await s.ready;
  return { s, counts, ws, deliver: (f) => ws.deliver(f) };
}

for (const transport of ['websocket', 'sse']) {
  test(`audience (${transport}): welcome.audience sets the count, audience frames update it and emit the event`, async () => {
    const net = fakeNet();
    const { s, counts, deliver } = await open(net, transport, welcome(1, { audience: 120 }));
    assert.equal(s.audience, 120);
    assert.deepEqual(counts, [120], 'the welcome changed the count from 0: one event, before ready');
    const next = once(s, 'audience');
    deliver({ type: 'audience', viewers: 123 });
    assert.deepEqual(await next, [123]);
    assert.equal(s.audience, 123);
    // The same count again (a reconnect's welcome, then the frame of that count) emits nothing.
    deliver({ type: 'audience', viewers: 123 });
    deliver({ type: 'audience', viewers: 0 });
    await net.until(() => s.audience === 0);
    assert.deepEqual(counts, [120, 123, 0]);
    // The count is its own frame: it changes no state, presence or version.
    assert.equal(s.version, 1);
    assert.deepEqual(s.state, { n: 1 });
    s.close();
  });
}

test('audience: a welcome without it (an older server) means 0, and a broken count is ignored', async () => {
  const net = fakeNet();
  const { s, counts, ws } = await open(net, 'websocket', welcome(1));
  assert.equal(s.audience, 0);
  assert.deepEqual(counts, [], 'no change from the initial 0');
  for (const viewers of [-1, 1.5, '7', null, undefined]) ws.deliver({ type: 'audience', viewers });
  ws.deliver({ type: 'audience', viewers: 7 });
  await net.until(() => s.audience === 7);
  assert.deepEqual(counts, [7]);
  // A reconnect's welcome brings the count at join time; one from an older server resets it.
  ws.serverClose(1006);
  const ws2 = await net.nextSocket(2);
  ws2.deliver(welcome(1, { resume: 'ops', ops: [], audience: 9 }));
  await net.until(() => s.audience === 9);
  ws2.serverClose(1006);
  const ws3 = await net.nextSocket(3);
  ws3.deliver(welcome(1, { resume: 'ops', ops: [] }));
  await net.until(() => s.audience === 0);
  assert.deepEqual(counts, [7, 9, 0]);
  s.close();
});

test('audience: a read-only viewer gets the count too', async () => {
  const net = fakeNet();
  const { s, counts, ws } = await open(net, 'websocket', welcome(1, { role: 'read', audience: 2 }));
  assert.equal(s.canWrite, false);
  assert.equal(s.audience, 2);
  ws.deliver({ type: 'audience', viewers: 3 });
  await net.until(() => s.audience === 3);
  assert.deepEqual(counts, [2, 3]);
  s.close();
});

test('useAudience (session-sync/react) reads session.audience, and 0 with no session', async () => {
  const { createElement } = await import('react');
  const { renderToString } = await import('react-dom/server');
  const { useAudience, SessionProvider } = await import('../../packages/client/src/react.js');
  const net = fakeNet();
  const { s } = await open(net, 'websocket', welcome(1, { audience: 5 }));
  const Count = ({ session }) => `${useAudience(session)} watching`;
  assert.equal(renderToString(createElement(Count, { session: s })), '5 watching');
  assert.equal(renderToString(createElement(SessionProvider, { session: s }, createElement(Count))), '5 watching');
  assert.equal(renderToString(createElement(Count, { session: null })), '0 watching');
  s.close();
});
