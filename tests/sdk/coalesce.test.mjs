// Coalesced delivery (protocol P15 revised) and volatile broadcasts (P17) in the SDK, through the
// fake transports of fakes.mjs: an `updates` frame with updates, presence and broadcasts (over
// WebSocket and SSE), an ack that arrives before its update and one that arrives after it, and
// volatile broadcasts (frame, throttle, HTTP body, servers that do not know the flag).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from '../../packages/client/src/index.js';
import { fakeNet, welcome, opts, KEY } from './fakes.mjs';

const update = (version, merge, extra = {}) => ({ type: 'update', version, updatedAt: 0, opId: `o${version}`, author: 'c_other', merge, ...extra });

/** A session on `transport`, welcomed at `version`; `deliver(frame)` plays the server. */
async function open(net, transport, extra = {}, version = 1) {
  const s = new Session(KEY, opts(net, { transport, ...extra }));
  if (transport === 'sse') {
    const es = await net.nextStream(1);
    es.emit('welcome', welcome(version));
    await s.ready;
    return { s, deliver: (f) => es.emit(f.type, f) };
  }
  const ws = await net.nextSocket(1);
  ws.deliver(welcome(version));
  await s.ready;
  return { s, ws, deliver: (f) => ws.deliver(f) };
}

/** Records `change`, `presence` and `message` events in arrival order, with the version then. */
function record(s) {
  const log = [];
  s.on('change', (st, info) => log.push(['change', info.version, info.source]));
  s.on('presence', (ev) => log.push(['presence', s.version, ev.event, ev.clientId]));
  s.on('message', (data, { from }) => log.push(['message', s.version, data, from]));
  return log;
}

for (const transport of ['websocket', 'sse']) {
  test(`P15 (${transport}): an updates frame applies its updates in order, then presence, then broadcasts`, async () => {
    const net = fakeNet();
    const { s, deliver } = await open(net, transport);
    const log = record(s);
    deliver({
      type: 'updates',
      updates: [update(2, { a: 1 }), update(3, { a: 2, b: 1 }), update(4, { c: 3 })],
      presence: [
        { type: 'presence', event: 'join', clientId: 'c_x', data: { name: 'X' } },
        { type: 'presence', event: 'update', clientId: 'c_x', data: { name: 'X2' } },
      ],
      broadcasts: [
        { type: 'broadcast', from: 'c_x', data: { m: 1 } },
        { type: 'broadcast', from: 'c_y', data: { m: 2 } },
      ],
    });
    await net.until(() => log.length === 5);
    assert.deepEqual(log, [
      ['change', 4, 'remote'], // one change for the three updates, at the last version
      ['presence', 4, 'join', 'c_x'],
      ['presence', 4, 'update', 'c_x'],
      ['message', 4, { m: 1 }, 'c_x'],
      ['message', 4, { m: 2 }, 'c_y'],
    ]);
    assert.deepEqual(s.state, { n: 1, a: 2, b: 1, c: 3 });
    assert.deepEqual(s.presence.get('c_x'), { name: 'X2' });
    // Both extra keys may be absent, and a stale update in a frame is skipped like a lone one.
    deliver({ type: 'updates', updates: [update(4, { c: 3 }), update(5, { d: 4 })] });
    await net.until(() => s.version === 5);
    assert.deepEqual(s.state, { n: 1, a: 2, b: 1, c: 3, d: 4 });
    // An updates frame with no updates only carries the other lists.
    deliver({ type: 'updates', updates: [], broadcasts: [{ type: 'broadcast', from: 'c_x', data: 'hi' }] });
    await net.until(() => log.some((e) => e[2] === 'hi'));
    assert.equal(log.filter((e) => e[0] === 'change').length, 2);
    s.close();
  });
}

test('P15: a gap inside an updates frame resyncs from the last version applied, and the rest of the frame is dropped', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, 'websocket');
  const log = record(s);
  ws.deliver({ type: 'updates', updates: [update(2, { a: 1 }), update(4, { b: 1 })], broadcasts: [{ type: 'broadcast', from: 'c_x', data: 1 }] });
  const ws2 = await net.nextSocket(2);
  assert.equal(ws2.url.searchParams.get('since'), '2');
  assert.deepEqual(log, [['change', 2, 'remote']]);
  s.close();
});

test('P3: an ack before its update resolves the write; the write stays applied and pending until its update arrives', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, 'websocket');
  const sources = [];
  s.on('change', (st, info) => sources.push(info.source));
  const first = s.update((st) => ({ ...st, n: st.n + 1 }));
  const second = s.update((st) => ({ ...st, n: st.n * 10 }));
  await net.until(() => ws.writes().length === 1);
  const w1 = ws.writes()[0];
  assert.deepEqual([w1.baseVersion, w1.state], [1, { n: 2 }]);
  ws.deliver({ type: 'ack', opId: w1.opId, version: 3 }); // an update by someone else (v2) is still on its way
  assert.deepEqual(await first, { version: 3, opId: w1.opId, duplicate: false });
  assert.equal(s.pendingCount, 2, 'acknowledged, but not in the confirmed state yet');
  assert.equal(s.version, 1);
  assert.deepEqual(s.state, { n: 20 }, 'both writes still show: no flicker');
  assert.equal(ws.writes().length, 1, 'the next conditional write waits for the acknowledged one to be applied');
  ws.deliver({ type: 'updates', updates: [update(2, { other: true }), { ...update(3, undefined), opId: w1.opId, author: 'c_me', merge: undefined, set: w1.state }] });
  await net.until(() => ws.writes().length === 2);
  assert.equal(s.version, 3);
  const w2 = ws.writes()[1];
  assert.deepEqual([w2.baseVersion, w2.state], [3, { n: 20 }], 'based on the state that includes the first write');
  ws.deliver({ type: 'ack', opId: w2.opId, version: 4 });
  ws.deliver({ ...update(4, undefined), opId: w2.opId, author: 'c_me', merge: undefined, set: w2.state });
  assert.equal((await second).version, 4);
  assert.equal(s.pendingCount, 0);
  assert.deepEqual(s.state, { n: 20 });
  assert.ok(!sources.includes('rollback'), `no rollback: ${sources}`);
  s.close();
});

test('P3: an update before its ack confirms the write; the late ack changes nothing and resends nothing', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, 'websocket');
  const p = s.patch({ a: 1 });
  await net.until(() => ws.writes().length === 1);
  const { opId } = ws.writes()[0];
  ws.deliver({ type: 'updates', updates: [update(2, { b: 2 }), { ...update(3, { a: 1 }), opId, author: 'c_me' }] });
  assert.deepEqual(await p, { version: 3, opId });
  assert.equal(s.pendingCount, 0);
  const changes = [];
  const errors = [];
  s.on('change', () => changes.push(1));
  s.on('error', (e) => errors.push(e));
  ws.deliver({ type: 'ack', opId, version: 3 });
  assert.deepEqual([changes, errors, s.version, s.pendingCount], [[], [], 3, 0]);
  assert.deepEqual(s.state, { n: 1, a: 1, b: 2 });
  // A reconnect now resends nothing.
  ws.serverClose(1006);
  const ws2 = await net.nextSocket(2);
  ws2.deliver(welcome(3, { resume: 'ops', state: undefined, ops: [] }));
  await net.until(() => s.status === 'open');
  assert.deepEqual(ws2.writes(), []);
  s.close();
});

test('P17: broadcast(data, {volatile: true, to}) sends the volatile frame; a burst sends the first at once and then only the newest', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, 'websocket', { volatileThrottleMs: 200 });
  const sent = () => ws.sent.filter((f) => f.type === 'broadcast');
  assert.equal(s.broadcast({ cursor: [1, 1] }, { volatile: true }), true);
  assert.equal(s.broadcast({ cursor: [2, 2] }, { volatile: true }), true);
  assert.equal(s.broadcast({ cursor: [3, 3] }, { volatile: true }), true);
  assert.equal(s.broadcast({ cursor: [9, 9] }, { volatile: true, to: 'c_x' }), true, 'another recipient has its own window');
  assert.equal(s.broadcast({ emoji: 'wave' }), true, 'plain broadcasts are never held');
  assert.deepEqual(sent(), [
    { type: 'broadcast', volatile: true, data: { cursor: [1, 1] } },
    { type: 'broadcast', volatile: true, data: { cursor: [9, 9] }, to: 'c_x' },
    { type: 'broadcast', data: { emoji: 'wave' } },
  ]);
  await net.until(() => sent().length === 4);
  assert.deepEqual(sent()[3], { type: 'broadcast', volatile: true, data: { cursor: [3, 3] } }, 'the newest, [2, 2] never went');
  s.close();
});

test('P17: a server without volatile refuses the flag: the newest message goes again without it, no error event, until the next welcome', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, 'websocket', { volatileThrottleMs: 0 });
  const errors = [];
  s.on('error', (e) => errors.push(e.code));
  const refuse = () => ws.deliver({ type: 'error', code: 'invalid_frame', message: 'frame is not valid protocol json: unknown field `volatile`, expected `data` or `to`' });
  s.broadcast({ cursor: [1, 1] }, { volatile: true });
  s.broadcast({ cursor: [2, 2] }, { volatile: true });
  refuse();
  refuse(); // the second frame's refusal: already handled
  s.broadcast({ cursor: [3, 3] }, { volatile: true });
  assert.deepEqual(ws.sent.filter((f) => f.type === 'broadcast'), [
    { type: 'broadcast', volatile: true, data: { cursor: [1, 1] } },
    { type: 'broadcast', volatile: true, data: { cursor: [2, 2] } },
    { type: 'broadcast', data: { cursor: [2, 2] } },
    { type: 'broadcast', data: { cursor: [3, 3] } },
  ]);
  ws.deliver({ type: 'error', code: 'invalid_frame', message: 'missing field `state`' });
  assert.deepEqual(errors, ['invalid_frame'], 'other invalid_frame errors are still reported');
  ws.serverClose(1006);
  const ws2 = await net.nextSocket(2);
  ws2.deliver(welcome(1, { resume: 'ops', state: undefined, ops: [] }));
  await net.until(() => s.status === 'open');
  s.broadcast({ cursor: [4, 4] }, { volatile: true });
  assert.deepEqual(ws2.sent.filter((f) => f.type === 'broadcast'), [{ type: 'broadcast', volatile: true, data: { cursor: [4, 4] } }], 'a new connection tries the flag again');
  s.close();
});

test('P17 over SSE: POST .../messages carries data and to, never volatile (the server refuses unknown keys there)', async () => {
  const net = fakeNet();
  const { s } = await open(net, 'sse', { volatileThrottleMs: 0 });
  assert.equal(s.broadcast({ cursor: [5, 6] }, { volatile: true, to: 's_peer' }), true);
  const req = await net.until(() => net.requests.find((r) => r.url.pathname.endsWith('/messages')));
  assert.deepEqual(JSON.parse(req.body), { data: { cursor: [5, 6] }, to: 's_peer' });
  s.close();
});

test('P17: not connected, a volatile broadcast returns false and is not queued', async () => {
  const net = fakeNet();
  const s = new Session(KEY, opts(net, { transport: 'websocket' }));
  const ws = await net.nextSocket(1);
  assert.equal(s.broadcast({ cursor: [1, 1] }, { volatile: true }), false);
  ws.deliver(welcome(1));
  await s.ready;
  assert.deepEqual(ws.sent.filter((f) => f.type === 'broadcast'), []);
  s.close();
});
