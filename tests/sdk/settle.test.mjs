// Unit tests of how writes end and how reconnects stop (issue 10, findings 1 and 2): the Session
// runs in Node against a scripted fake WebSocket / fetch, so each case is exact and instant.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Session, DEFAULTS, SyncError } from '../../packages/client/src/index.js';
import { createFailureCounter } from '../../packages/client/src/backoff.js';
import { frameBytes, oversize } from '../../packages/client/src/errors.js';
import { hashKeyProblem, keyFromHash, hashOf } from '../../packages/client/src/links.js';

const KEY = 'AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB';
const LIMITS = { maxMessageBytes: 1000, maxMessagesPerSecond: 100, maxPresenceBytes: 200, maxClients: 8 };

/** A scripted WebSocket: the test plays the server. */
class FakeWS {
  static sockets = [];
  static waiting = [];
  constructor(url) {
    this.url = url;
    this.readyState = 1;
    this.sent = [];
    FakeWS.sockets.push(this);
    FakeWS.waiting.splice(0).forEach((r) => r(this));
  }
  send(d) { this.sent.push(typeof d === 'string' && d !== 'ping' ? JSON.parse(d) : d); }
  close() { this.readyState = 3; }
  deliver(frame) { this.onmessage?.({ data: JSON.stringify(frame) }); }
  serverClose(code) { this.readyState = 3; this.onclose?.({ code }); }
  writes() { return this.sent.filter((f) => f.type === 'set' || f.type === 'patch'); }
}
const nextSocket = () => new Promise((r) => FakeWS.waiting.push(r));
const welcome = (version, extra = {}) => ({ type: 'welcome', protocol: 1, clientId: 'c_me', role: 'write', version, resume: 'snapshot', state: { n: version }, presence: [], limits: LIMITS, ...extra });
const once = (session, type, pred = () => true) => new Promise((resolve) => {
  const off = session.on(type, (...args) => { if (pred(...args)) { off(); resolve(args); } });
});

beforeEach(() => {
  FakeWS.sockets = [];
  FakeWS.waiting = [];
  globalThis.WebSocket = FakeWS;
  // The SDK asks plain HTTP why a connect failed; the server is "up".
  globalThis.fetch = async () => new Response('{}', { status: 200 });
});

/** A session on its first fake socket, welcomed at version 1 (with `limits` unless told). */
async function open(opts = {}, welcomeExtra = {}) {
  const sock = nextSocket();
  const s = new Session(KEY, { baseUrl: 'http://test', backoff: { initialMs: 1, maxMs: 2, jitter: 0 }, ...opts });
  const ws = await sock;
  ws.deliver(welcome(1, welcomeExtra));
  await s.ready;
  return { s, ws };
}

test('a write over the welcome\u2019s maxMessageBytes settles at once with message_too_large, is never sent, the connection stays', async () => {
  const { s, ws } = await open();
  const rejected = once(s, 'reject');
  const big = s.patch([{ op: 'add', path: '/m', value: 'X'.repeat(3000) }]);
  await assert.rejects(big, (e) => e instanceof SyncError && e.code === 'message_too_large' && e.bytes > 3000 && e.limit === 1000);
  const [ev] = await rejected;
  assert.equal(ev.code, 'message_too_large', 'the reject event says why');
  assert.equal(s.pendingCount, 0, 'not in the outbox');
  assert.deepEqual(ws.writes(), [], 'nothing was sent');
  assert.deepEqual(s.state, { n: 1 }, 'no optimistic trace');
  // the connection is untouched and the next write goes out
  const small = s.patch({ ok: true });
  assert.equal(ws.writes().length, 1);
  ws.deliver({ type: 'ack', opId: ws.writes()[0].opId, version: 2 });
  assert.equal((await small).version, 2);
  assert.equal(FakeWS.sockets.length, 1, 'no reconnect');
  assert.equal(s.status, 'open');
  s.close();
});

test('an update(fn) whose result is too large fails the same way, without a connection loss', async () => {
  const { s, ws } = await open();
  await assert.rejects(s.update((st) => ({ ...st, big: 'y'.repeat(5000) })), { code: 'message_too_large' });
  assert.equal(s.pendingCount, 0);
  assert.deepEqual(ws.writes(), []);
  s.close();
});

test('1009 close (limits unknown): the largest write in flight settles, is never resent, and one reconnect suffices', async () => {
  const { s, ws } = await open({}, { limits: undefined });
  const big = s.patch({ big: 'Z'.repeat(3000) });
  const small = s.patch({ small: 1 });
  assert.equal(ws.writes().length, 2, 'both sent: the SDK did not know the limit');
  const second = nextSocket();
  ws.deliver({ type: 'error', code: 'message_too_large', message: 'frame of 3034 bytes exceeds 1000' });
  ws.serverClose(1009);
  await assert.rejects(big, { code: 'message_too_large' });
  const ws2 = await second;
  ws2.deliver(welcome(1, { limits: undefined, resume: 'ops', ops: [] }));
  assert.equal(s.status, 'open');
  const resent = ws2.writes();
  assert.deepEqual(resent.map((f) => Object.keys(f.merge)[0]), ['small'], 'only the small write is resent');
  ws2.deliver({ type: 'ack', opId: resent[0].opId, version: 2 });
  assert.equal((await small).version, 2);
  // the size it learned is refused locally now, so there is no loop
  await assert.rejects(s.patch({ big: 'Z'.repeat(3000) }), { code: 'message_too_large' });
  assert.equal(ws2.writes().length, 1);
  assert.equal(FakeWS.sockets.length, 2, 'exactly one reconnect');
  s.close();
});

for (const [code, expected] of [[4004, 'session_not_found'], [4003, 'key_rotated']]) {
  test(`close ${code} ends the session: pending writes reject with ${expected}, no reconnect`, async () => {
    const { s, ws } = await open();
    const p = s.patch({ a: 1 });
    ws.serverClose(code);
    await assert.rejects(p, { code: expected });
    assert.equal(s.status, 'closed');
    assert.equal(s.error.code, expected);
    await assert.rejects(s.patch({ b: 1 }), { code: 'closed' });
    assert.equal(FakeWS.sockets.length, 1);
  });
}

for (const code of ['state_too_large', 'invalid_patch', 'patch_conflict', 'read_only', 'precondition_required']) {
  test(`reject ${code}: the promise settles with it, the write leaves the outbox and is not resent after a reconnect`, async () => {
    const { s, ws } = await open();
    const p = s.patch([{ op: 'add', path: '/x', value: 1 }]);
    const [frame] = ws.writes();
    ws.deliver({ type: 'reject', opId: frame.opId, code, message: code, version: 1 });
    await assert.rejects(p, (e) => e.code === code && e.opId === frame.opId);
    assert.equal(s.pendingCount, 0);
    const again = nextSocket();
    ws.serverClose(1006);
    const ws2 = await again;
    ws2.deliver(welcome(1, { resume: 'ops', ops: [] }));
    assert.deepEqual(ws2.writes(), [], 'not resent');
    s.close();
  });
}

test('the same failure again and again: reconnects stop after maxReconnectAttempts and say so; writes stay queued', async () => {
  const { s, ws } = await open({ maxReconnectAttempts: 3 });
  const p = s.patch({ keep: 1 });
  const gaveUp = once(s, 'error', (e) => e.code === 'reconnect_failed');
  let sock = ws;
  const sockets = [];
  // every connection is welcomed and then closed at once with 1011: welcome alone is no cure
  for (;;) {
    const next = nextSocket();
    sock.serverClose(1011);
    const winner = await Promise.race([next, gaveUp.then(() => null)]);
    if (!winner) break;
    sockets.push(winner);
    winner.deliver(welcome(1, { resume: 'ops', ops: [] }));
    sock = winner;
  }
  const [err] = await gaveUp;
  assert.match(err.message, /3 attempts.*closed with 1011/);
  assert.equal(sockets.length, 2, 'three failures in a row: two reconnects, then it stopped');
  assert.equal(s.status, 'offline');
  assert.equal(s.error.code, 'reconnect_failed');
  assert.equal(s.pendingCount, 1, 'the write is kept');
  // reconnect() tries again and the write goes out
  const next = nextSocket();
  s.reconnect();
  const ws3 = await next;
  ws3.deliver(welcome(1, { resume: 'ops', ops: [] }));
  const [w] = ws3.writes();
  ws3.deliver({ type: 'ack', opId: w.opId, version: 2 });
  assert.equal((await p).version, 2);
  assert.equal(s.error, null);
  s.close();
});

test('update(fn) keeps retrying past 25 version conflicts until it applies (no lost increment)', async () => {
  assert.equal(DEFAULTS.maxUpdateAttempts, Infinity);
  const { s, ws } = await open();
  const p = s.update((st) => ({ ...st, n: st.n + 1 }));
  let version = 1;
  for (let i = 0; i < 40; i++) {
    const f = ws.writes().at(-1);
    assert.equal(f.baseVersion, version, `attempt ${i + 1} is based on the latest version`);
    // someone else wrote first: the server rejects, then the other write arrives
    ws.deliver({ type: 'reject', opId: f.opId, code: 'version_conflict', message: 'stale', version: version + 1 });
    ws.deliver({ type: 'update', version: version + 1, opId: `other-${i}`, author: 'c_other', set: { n: version + 1 } });
    version++;
  }
  const f = ws.writes().at(-1);
  assert.deepEqual(f.state, { n: version + 1 });
  ws.deliver({ type: 'ack', opId: f.opId, version: version + 1 });
  ws.deliver({ type: 'update', version: version + 1, opId: f.opId, author: 'c_me', set: f.state });
  assert.equal((await p).version, version + 1);
  assert.equal(s.state.n, 42);
  s.close();
});

test('a conflict whose reject has no version waits for the next version, not the stale one', async () => {
  const { s, ws } = await open();
  s.update((st) => ({ ...st, n: st.n + 1 }));
  const f = ws.writes()[0];
  ws.deliver({ type: 'reject', opId: f.opId, code: 'version_conflict', message: 'stale' });
  assert.equal(ws.writes().length, 1, 'no resend on the same base');
  ws.deliver({ type: 'update', version: 2, opId: 'o', author: 'c_other', set: { n: 5 } });
  assert.equal(ws.writes().at(-1).baseVersion, 2);
  s.close();
});

test('presence and broadcast over the limits are refused locally with an error event', async () => {
  const { s, ws } = await open();
  const errors = [];
  s.on('error', (e) => errors.push(e.code));
  assert.equal(s.presence.set({ name: 'n'.repeat(500) }), false);
  assert.equal(s.broadcast({ blob: 'b'.repeat(2000) }), false);
  assert.deepEqual(errors, ['presence_too_large', 'message_too_large']);
  assert.equal(ws.sent.filter((f) => f.type === 'broadcast').length, 0);
  s.close();
});

test('over long-poll, a write to a deleted session ends the session and settles the write', async () => {
  let gets = 0;
  globalThis.fetch = async (url, init = {}) => {
    if (!init.method || init.method === 'GET') {
      gets++;
      if (gets === 1) return Response.json({ state: { n: 1 }, version: 1, role: 'write' });
      return new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    }
    return Response.json({ error: { code: 'session_not_found', message: 'no such session' } }, { status: 404 });
  };
  const s = new Session(KEY, { baseUrl: 'http://test', transport: 'longpoll' });
  await s.ready;
  await assert.rejects(s.patch({ a: 1 }), { code: 'session_not_found' });
  assert.equal(s.status, 'closed');
  assert.equal(s.pendingCount, 0);
});

test('helpers: frame sizes in UTF-8 bytes, the failure counter, hash keys', () => {
  assert.equal(frameBytes('é€😀'), 2 + 3 + 4);
  assert.equal(frameBytes({ a: 'x' }), 9);
  assert.equal(oversize({ a: 'x' }, 9), null);
  assert.equal(oversize({ a: 'x' }, 8).code, 'message_too_large');
  assert.equal(oversize({ a: 'x' }, null), null, 'unknown limit: no check');
  const c = createFailureCounter(3);
  assert.deepEqual(c.record('a'), { count: 1, giveUp: false });
  assert.deepEqual(c.record('a'), { count: 2, giveUp: false });
  assert.deepEqual(c.record('b'), { count: 1, giveUp: false }, 'another cause starts over');
  c.record('b');
  assert.deepEqual(c.record('b'), { count: 3, giveUp: true });
  assert.equal(keyFromHash('#key=abc'), null);
  assert.equal(hashKeyProblem('#key=abc').code, 'invalid_key');
  assert.equal(hashKeyProblem(`#key=${KEY}`), null);
  assert.equal(hashKeyProblem(''), null, 'no key at all is not a problem');
  assert.equal(hashOf({ write: 'w.1', read: 'r.1' }), 'key=w.1&read=r.1');
});

test('the message_too_large frame alone (close delayed by a proxy) already settles the write and reconnects', async () => {
  const { s, ws } = await open({}, { limits: undefined });
  const big = s.patch({ big: 'Z'.repeat(3000) });
  const second = nextSocket();
  ws.deliver({ type: 'error', code: 'message_too_large', message: 'frame too large' });
  await assert.rejects(big, { code: 'message_too_large' });
  const ws2 = await second;
  ws2.deliver(welcome(1, { limits: undefined, resume: 'ops', ops: [] }));
  assert.equal(s.status, 'open');
  assert.deepEqual(ws2.writes(), []);
  ws.serverClose(1009); // the late close of the old socket changes nothing
  assert.equal(s.status, 'open');
  assert.equal(FakeWS.sockets.length, 2);
  s.close();
});
