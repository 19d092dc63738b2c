// Unit tests of Session through fake transports (tests/sdk/fakes.mjs, injected in the options):
// reconnect with backoff, exact resume, fallback to SSE and long-poll and back, outbox resend
// after a reconnect, rebase on conflict, session end (P14), part frames (P16), error codes and
// the durable outbox. Each case is exact and instant: the test plays the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session, SyncError, memoryStorage } from '../../packages/client/src/index.js';
import { fakeNet, welcome, once, opts, KEY } from './fakes.mjs';

/** A session on its first fake socket, welcomed at `version`. */
async function open(net, extra = {}, version = 1) {
  const s = new Session(KEY, opts(net, extra));
  const ws = await net.nextSocket(1);
  ws.deliver(welcome(version));
  await s.ready;
  return { s, ws };
}

test('reconnect with backoff: each failed connect waits longer (retry event says how long), a welcome starts over', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, { transport: 'websocket', backoff: { initialMs: 2, maxMs: 16, factor: 2, jitter: 0 } });
  const delays = [];
  s.on('retry', (e) => delays.push([e.code, e.retryInMs]));
  ws.serverClose(1006);
  for (let i = 2; i <= 5; i++) (await net.nextSocket(i)).serverClose(1006); // never welcomed
  const sixth = await net.nextSocket(6);
  assert.deepEqual(delays, [['connection_lost', 2], ['connect_failed', 4], ['connect_failed', 8], ['connect_failed', 16], ['connect_failed', 16]]);
  sixth.deliver(welcome(1));
  await net.until(() => s.status === 'open');
  sixth.serverClose(1006);
  await net.nextSocket(7);
  assert.deepEqual(delays.at(-1), ['connection_lost', 2], 'a welcome reset the backoff');
  s.close();
});

test('exact resume: the reconnect asks since=<last version>, the resumed ops apply in order, nothing twice', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, { transport: 'websocket' }, 3);
  assert.equal(ws.url.searchParams.get('since'), null, 'the first connect asks for a snapshot');
  ws.deliver({ type: 'update', version: 4, opId: 'x', author: 'c_o', merge: { a: 1 } });
  ws.deliver({ type: 'update', version: 5, opId: 'y', author: 'c_o', merge: { b: 2 } });
  ws.serverClose(1006);
  const ws2 = await net.nextSocket(2);
  assert.equal(ws2.url.searchParams.get('since'), '5');
  ws2.deliver(welcome(7, { resume: 'ops', state: undefined, ops: [
    { type: 'update', version: 5, opId: 'y', author: 'c_o', merge: { b: 2 } }, // already have it: ignored
    { type: 'update', version: 6, opId: 'z', author: 'c_o', merge: { c: 3 } },
    { type: 'update', version: 7, opId: 'w', author: 'c_o', ops: [{ op: 'add', path: '/d', value: 4 }] },
  ] }));
  await net.until(() => s.version === 7);
  assert.deepEqual(s.state, { n: 3, a: 1, b: 2, c: 3, d: 4 });
  s.close();
});

test('a resume that does not reach the welcome\u2019s version asks for a snapshot', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, { transport: 'websocket' }, 3);
  ws.serverClose(1006);
  const ws2 = await net.nextSocket(2);
  ws2.deliver(welcome(9, { resume: 'ops', state: undefined, ops: [{ type: 'update', version: 4, merge: { a: 1 } }] }));
  const ws3 = await net.nextSocket(3);
  assert.equal(ws3.url.searchParams.get('since'), null);
  ws3.deliver(welcome(9));
  await net.until(() => s.version === 9 && s.status === 'open');
  assert.deepEqual(s.state, { n: 9 });
  s.close();
});

test('fallback: WebSocket blocked -> SSE -> long-poll, and back to WebSocket on reconnect()', async () => {
  const net = fakeNet();
  const s = new Session(KEY, opts(net, { wsFailuresBeforeFallback: 2, sseFailuresBeforeFallback: 2 }));
  const kinds = [];
  s.on('transport', (k) => kinds.push(k));
  (await net.nextSocket(1)).serverClose(1006);
  (await net.nextSocket(2)).serverClose(1006);
  const es = await net.nextStream(1);
  assert.equal(s.transport, 'sse');
  es.fail();
  (await net.nextStream(2)).fail();
  // long-poll: GET the session (a snapshot, reported as a welcome)
  net.answer = (url) => (url.searchParams.has('after') ? new Promise(() => {}) : Response.json({ version: 4, state: { lp: true }, role: 'write' }));
  await net.until(() => s.status === 'open');
  assert.equal(s.transport, 'longpoll');
  assert.deepEqual(s.state, { lp: true });
  s.reconnect();
  const ws3 = await net.nextSocket(3);
  assert.equal(s.transport, 'websocket');
  ws3.deliver(welcome(5));
  await net.until(() => s.version === 5);
  assert.deepEqual(kinds, ['sse', 'longpoll', 'websocket']);
  s.close();
});

test('fallback and back on its own: a fallback that served upgradeAfterMs tries WebSocket at the next reconnect', async () => {
  const net = fakeNet();
  const s = new Session(KEY, opts(net, { wsFailuresBeforeFallback: 1, upgradeAfterMs: 0 }));
  (await net.nextSocket(1)).serverClose(1006);
  const es = await net.nextStream(1);
  es.emit('welcome', welcome(2));
  await net.until(() => s.status === 'open' && s.transport === 'sse');
  es.fail(); // the stream drops after it served
  const ws = await net.nextSocket(2);
  assert.equal(ws.url.searchParams.get('since'), '2', 'WebSocket again, resuming');
  s.close();
});

test('outbox: a write not acknowledged when the connection drops is resent with the same op id', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, { transport: 'websocket' });
  const p = s.patch({ a: 1 });
  await net.until(() => ws.writes().length === 1);
  const opId = ws.writes()[0].opId;
  ws.serverClose(1006);
  const ws2 = await net.nextSocket(2);
  ws2.deliver(welcome(1, { resume: 'ops', state: undefined, ops: [] }));
  await net.until(() => ws2.writes().length === 1);
  assert.equal(ws2.writes()[0].opId, opId);
  ws2.deliver({ type: 'ack', opId, version: 2, duplicate: false });
  ws2.deliver({ type: 'update', version: 2, opId, author: 'c_me', merge: { a: 1 } });
  assert.deepEqual(await p, { version: 2, opId, duplicate: false });
  assert.equal(s.pendingCount, 0);
  s.close();
});

test('rebase on conflict: update(fn) runs again on the newer state with a new op id', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, { transport: 'websocket' });
  const seen = [];
  const p = s.update((st) => { seen.push(st.n); return { ...st, n: st.n + 10 }; });
  await net.until(() => ws.writes().length === 1);
  const first = ws.writes()[0];
  assert.equal(first.baseVersion, 1);
  ws.deliver({ type: 'reject', opId: first.opId, code: 'version_conflict', message: 'stale', version: 2 });
  ws.deliver({ type: 'update', version: 2, opId: 'o', author: 'c_o', set: { n: 5 } });
  await net.until(() => ws.writes().length === 2);
  const second = ws.writes()[1];
  assert.equal(second.opId, `${first.opId}.2`);
  assert.deepEqual([second.baseVersion, second.state], [2, { n: 15 }]);
  ws.deliver({ type: 'update', version: 3, opId: second.opId, author: 'c_me', set: second.state });
  assert.equal((await p).version, 3);
  assert.deepEqual(s.state, { n: 15 });
  assert.ok(seen.includes(5), 'fn saw the newer state');
  s.close();
});

test('session end (P14): session_ended closes for good, pending writes reject, no reconnect', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, { transport: 'websocket' });
  const p = s.patch({ a: 1 });
  ws.deliver({ type: 'error', code: 'session_ended', message: 'deleted' });
  await assert.rejects(p, (e) => e instanceof SyncError && e.code === 'session_not_found');
  assert.equal(s.status, 'closed');
  assert.equal(s.error.code, 'session_not_found');
  ws.serverClose(4004);
  assert.equal(net.sockets.length, 1);
});

/** The parts of a frame's JSON text, `size` characters each (protocol P16). */
const partsOf = (frame, size) => {
  const text = JSON.stringify(frame);
  const out = [];
  for (let i = 0, seq = 0; i < text.length; i += size, seq++) out.push({ type: 'part', seq, last: i + size >= text.length, data: text.slice(i, i + size) });
  return out;
};

test('P16: a welcome in parts is reported once, whole; an update in parts applies like one frame', async () => {
  const net = fakeNet();
  const s = new Session(KEY, opts(net, { transport: 'websocket' }));
  const changes = [];
  s.on('change', (st) => changes.push(st));
  const ws = await net.nextSocket(1);
  const big = { items: Array.from({ length: 200 }, (_, i) => ({ i, text: `item ${i}` })) };
  const parts = partsOf(welcome(3, { state: big }), 500);
  assert.ok(parts.length > 10);
  for (const p of parts.slice(0, -1)) ws.deliver(p);
  assert.equal(s.status, 'connecting', 'no state before the last part');
  assert.equal(changes.length, 0);
  ws.deliver(parts.at(-1));
  await s.ready;
  assert.equal(changes.length, 1);
  assert.deepEqual(s.state, big);
  const before = s.state;
  for (const p of partsOf({ type: 'update', version: 4, opId: 'o', author: 'c_o', ops: [{ op: 'replace', path: '/items/7/text', value: 'x'.repeat(3000) }] }, 700)) ws.deliver(p);
  assert.equal(s.version, 4);
  assert.equal(s.state.items[7].text.length, 3000);
  assert.equal(s.state.items[6], before.items[6], 'untouched items are shared');
  assert.notEqual(s.state.items, before.items);
  s.close();
});

for (const [name, broken] of [
  ['a seq gap', (parts) => [parts[0], parts[2]]],
  ['another frame between parts', (parts) => [parts[0], { type: 'presence', event: 'join', clientId: 'c_x', data: null }]],
]) {
  test(`P16: ${name} is a protocol error: the connection is dropped and resumes`, async () => {
    const net = fakeNet();
    const { s, ws } = await open(net, { transport: 'websocket' }, 2);
    const errors = [];
    s.on('error', (e) => errors.push(e.code));
    const parts = partsOf({ type: 'update', version: 3, merge: { big: 'y'.repeat(2000) } }, 500);
    for (const p of broken(parts)) ws.deliver(p);
    const ws2 = await net.nextSocket(2);
    assert.deepEqual(errors, ['protocol_error']);
    assert.equal(ws2.url.searchParams.get('since'), '2');
    assert.equal(s.version, 2, 'nothing of the broken frame applied');
    s.close();
  });
}

test('errors: HTTP 429 is rate_limited (retry after Retry-After), 5xx unavailable; both resent, then applied once', async () => {
  const net = fakeNet();
  const s = new Session(KEY, opts(net, { transport: 'sse', resendDelayMs: 1 }));
  const es = await net.nextStream(1);
  es.emit('welcome', welcome(1));
  await s.ready;
  const answers = [
    () => new Response(JSON.stringify({ error: { code: 'throttled', message: 'slow down' } }), { status: 429, headers: { 'Retry-After': '0.01' } }),
    () => Response.json({ error: { code: 'internal', message: 'oops' } }, { status: 503 }),
    () => Response.json({ version: 2 }),
  ];
  const writes = [];
  net.answer = (url, req) => { if (req.method === 'PATCH') { writes.push(req.headers['Idempotency-Key']); return answers[writes.length - 1](); } return Response.json({}); };
  const retries = [];
  s.on('retry', (e) => retries.push({ code: e.code, retryInMs: e.retryInMs, retryAfterMs: e.retryAfterMs }));
  assert.equal((await s.patch({ a: 1 })).version, 2);
  assert.deepEqual(retries, [{ code: 'rate_limited', retryInMs: 10, retryAfterMs: 10 }, { code: 'unavailable', retryInMs: 1, retryAfterMs: undefined }]);
  assert.equal(new Set(writes).size, 1, 'the same op id each time');
  s.close();
});

test('errors: a connect that fails while the server answers 503 reports unavailable with the retry delay', async () => {
  const net = fakeNet();
  net.answer = () => Response.json({ error: { code: 'internal', message: 'down' } }, { status: 503 });
  const s = new Session(KEY, opts(net, { transport: 'websocket' }));
  const retry = once(s, 'retry');
  (await net.nextSocket(1)).serverClose(1006);
  const [e] = await retry;
  assert.equal(e.code, 'unavailable');
  assert.equal(e.retryInMs, 1);
  s.close();
});

test('durable outbox: writes made before a reload are resent by the next page with their op ids, once', async () => {
  const net = fakeNet();
  const kept = new Map();
  const storage = { ...memoryStorage(), get: async (n) => kept.get(n), set: async (n, v) => { kept.set(n, structuredClone(v)); }, delete: async (n) => { kept.delete(n); } };
  const a = new Session(KEY, opts(net, { transport: 'websocket', durableOutbox: true, storage }));
  await net.nextSocket(1); // never welcomed: the server is out of reach
  a.patch({ x: 1 });
  a.patch([{ op: 'add', path: '/y', value: 2 }]);
  await a.saved();
  assert.equal(kept.size, 1);
  const stored = [...kept.values()][0];
  assert.deepEqual(stored.map((r) => r.kind), ['merge', 'ops']);
  a.close(); // the page goes away
  assert.equal(kept.size, 1, 'closing keeps the stored writes');
  const n = net.sockets.length;
  const b = new Session(KEY, opts(net, { transport: 'websocket', durableOutbox: true, storage }));
  assert.equal(b.pendingCount, 0, 'restored asynchronously, before the connect');
  const ws2 = await net.nextSocket(n + 1);
  assert.equal(b.pendingCount, 2);
  ws2.deliver(welcome(1));
  await net.until(() => ws2.writes().length === 2);
  assert.deepEqual(ws2.writes().map((f) => f.opId), stored.map((r) => r.opId));
  assert.deepEqual(b.state, { n: 1, x: 1, y: 2 });
  ws2.deliver({ type: 'update', version: 2, opId: stored[0].opId, author: 'c_me', merge: { x: 1 } });
  ws2.deliver({ type: 'ack', opId: stored[0].opId, version: 2 });
  ws2.deliver({ type: 'ack', opId: stored[1].opId, version: 2, duplicate: true });
  await net.until(() => b.pendingCount === 0);
  await b.saved();
  assert.equal(kept.size, 0, 'nothing left stored');
  b.close();
});

test('durableOutbox: false stores nothing', async () => {
  const net = fakeNet();
  const kept = new Map();
  const storage = { get: async (n) => kept.get(n), set: async (n, v) => { kept.set(n, v); }, delete: async (n) => { kept.delete(n); } };
  const a = new Session(KEY, opts(net, { transport: 'websocket', durableOutbox: false, storage }));
  await net.nextSocket(1);
  a.patch({ x: 1 });
  await a.saved();
  assert.equal(kept.size, 0);
  assert.equal(a.pendingCount, 1);
  a.close();
});

test('dev option: update(fn) gets a frozen state, so a mutating fn fails instead of corrupting it', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, { transport: 'websocket', dev: true });
  await assert.rejects(s.update((st) => { st.n = 99; return st; }), TypeError);
  assert.deepEqual(s.state, { n: 1 });
  assert.equal(ws.writes().length, 0);
  const ok = s.update((st) => ({ ...st, n: st.n + 1 }));
  await net.until(() => ws.writes().length === 1);
  ws.deliver({ type: 'update', version: 2, opId: ws.writes()[0].opId, author: 'c_me', set: { n: 2 } });
  assert.equal((await ok).version, 2);
  s.close();
});

test('heartbeat (inside the WebSocket transport): a ping after heartbeatMs of silence, a new connection when nothing answers', async () => {
  const net = fakeNet();
  const { s, ws } = await open(net, { transport: 'websocket', heartbeatMs: 5, heartbeatTimeoutMs: 5 });
  await net.until(() => ws.sent.includes('ping'));
  ws.deliver('pong'); // answered: the connection stays
  await net.until(() => ws.sent.filter((f) => f === 'ping').length === 2);
  assert.equal(net.sockets.length, 1);
  const ws2 = await net.nextSocket(2); // the second ping got no answer
  assert.equal(ws2.url.searchParams.get('since'), '1');
  assert.equal(ws.readyState, 3, 'the silent socket was closed');
  s.close();
});
