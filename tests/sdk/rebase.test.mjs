// Unit tests of packages/client/src/rebase.js: optimistic view = confirmed state + pending ops, rebase on
// remote updates, rollback on reject, update(fn) retry on conflict, resume after reconnect.
// The last tests run clients against a tiny in-memory model of the server (P1..P6).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyncState, applyPending } from '../../packages/client/src/rebase.js';
import { applyWrite } from '../../packages/client/src/patch.js';

test('local writes show at once and stay on top of remote updates (rebase)', () => {
  const s = new SyncState({ a: 1 }, 1);
  s.addLocal('l-1', { kind: 'merge', merge: { mine: true } });
  assert.deepEqual(s.view, { a: 1, mine: true });
  const r = s.applyRemote({ version: 2, opId: 'other-1', merge: { b: 2 } });
  assert.equal(r.status, 'applied');
  assert.deepEqual(s.confirmed, { a: 1, b: 2 });
  assert.deepEqual(s.view, { a: 1, b: 2, mine: true }, 'pending op re-applied on the new state');
  const own = s.applyRemote({ version: 3, opId: 'l-1', merge: { mine: true } });
  assert.deepEqual(own.confirmed.map((o) => o.opId), ['l-1']);
  assert.equal(s.outbox.size, 0);
  assert.deepEqual(s.view, { a: 1, b: 2, mine: true });
});

test('stale updates are ignored and gaps are detected', () => {
  const s = new SyncState({}, 5);
  assert.equal(s.applyRemote({ version: 5, set: { x: 1 } }).status, 'stale');
  assert.equal(s.applyRemote({ version: 7, set: { x: 1 } }).status, 'gap');
  assert.deepEqual(s.confirmed, {});
  assert.equal(s.applyRemote({ version: 6, set: { x: 1 } }).status, 'applied');
});

test('a rejected write is rolled back', () => {
  const s = new SyncState({ n: 1 }, 1);
  s.addLocal('l-1', { kind: 'set', set: { n: 99 }, baseVersion: 1 });
  assert.deepEqual(s.view, { n: 99 });
  s.applyRemote({ version: 2, opId: 'x', set: { n: 2 } });
  const r = s.reject('l-1', 'version_conflict', 2);
  assert.equal(r.action, 'dropped');
  assert.deepEqual(s.view, { n: 2 });
  assert.equal(s.outbox.size, 0);
});

test('rate_limited writes are resent unchanged', () => {
  const s = new SyncState({}, 1);
  const op = s.addLocal('l-1', { kind: 'merge', merge: { a: 1 } });
  s.takeSendable(1);
  assert.equal(s.reject('l-1', 'rate_limited').action, 'resend');
  assert.equal(op.opId, 'l-1');
  assert.deepEqual(s.takeSendable(1).send.map((o) => o.opId), ['l-1']);
  assert.deepEqual(s.view, { a: 1 });
});

test('update(fn) is computed on the confirmed state at send time with baseVersion', () => {
  const s = new SyncState({ count: 0 }, 1);
  s.addLocal('u-1', { kind: 'update', fn: (st) => ({ ...st, count: st.count + 1 }) });
  assert.deepEqual(s.view, { count: 1 });
  const { send } = s.takeSendable(1);
  assert.equal(send.length, 1);
  assert.equal(send[0].baseVersion, 1);
  assert.deepEqual(send[0].set, { count: 1 });
});

test('update(fn) conflict: fn runs again on the newer state and retries with a new op id', () => {
  const s = new SyncState({ count: 0 }, 1);
  s.addLocal('u-1', { kind: 'update', fn: (st) => ({ ...st, count: st.count + 1 }) });
  s.takeSendable(1);
  // someone else incremented first
  s.applyRemote({ version: 2, opId: 'b-1', set: { count: 1 } });
  assert.deepEqual(s.view, { count: 2 }, 'the doomed attempt is not shown over the newer state');
  const r = s.reject('u-1', 'version_conflict', 2);
  assert.equal(r.action, 'retry');
  const { send } = s.takeSendable(1);
  assert.equal(send[0].opId, 'u-1.2');
  assert.equal(send[0].baseVersion, 2);
  assert.deepEqual(send[0].set, { count: 2 });
  s.ack('u-1.2', 3);
  s.applyRemote({ version: 3, opId: 'u-1.2', set: { count: 2 } });
  assert.equal(s.outbox.size, 0);
  assert.deepEqual(s.view, { count: 2 });
});

test('update(fn) returning undefined is cancelled at send time', () => {
  const s = new SyncState({ turn: 'x' }, 1);
  s.addLocal('u-1', { kind: 'update', fn: (st) => (st.turn === 'x' ? { turn: 'o' } : undefined) });
  s.takeSendable(1);
  s.applyRemote({ version: 2, opId: 'b-1', set: { turn: 'o' } });
  s.reject('u-1', 'version_conflict', 2);
  const { send, cancelled } = s.takeSendable(1);
  assert.equal(send.length, 0);
  assert.deepEqual(cancelled.map((o) => o.id), ['u-1']);
  assert.deepEqual(s.view, { turn: 'o' });
});

test('a retried update waits until the reject\'s version has arrived locally', () => {
  const s = new SyncState({ c: 0 }, 1);
  s.addLocal('u-1', { kind: 'update', fn: (st) => ({ c: st.c + 1 }) });
  s.takeSendable(1);
  s.reject('u-1', 'version_conflict', 3); // server is at 3, we know only 1
  assert.equal(s.takeSendable(1).send.length, 0);
  s.applyRemote({ version: 2, set: { c: 1 } });
  assert.equal(s.takeSendable(1).send.length, 0);
  s.applyRemote({ version: 3, set: { c: 2 } });
  const { send } = s.takeSendable(1);
  assert.equal(send[0].baseVersion, 3);
  assert.deepEqual(send[0].set, { c: 3 });
});

test('a failing local JSON Patch is skipped in the view, not thrown', () => {
  const s = new SyncState({ list: [] }, 1);
  s.addLocal('p-1', { kind: 'ops', ops: [{ op: 'test', path: '/missing', value: 1 }] });
  s.addLocal('p-2', { kind: 'ops', ops: [{ op: 'add', path: '/list/-', value: 'a' }] });
  assert.deepEqual(s.view, { list: ['a'] });
});

test('snapshot resume confirms acked ops at or below its version and keeps the rest', () => {
  const s = new SyncState({ l: [] }, 1);
  s.addLocal('a-1', { kind: 'ops', ops: [{ op: 'add', path: '/l/-', value: 1 }] });
  s.addLocal('a-2', { kind: 'ops', ops: [{ op: 'add', path: '/l/-', value: 2 }] });
  s.takeSendable(1);
  s.ack('a-1', 2);
  const done = s.applySnapshot({ l: [1, 'b'] }, 3);
  assert.deepEqual(done.map((o) => o.opId), ['a-1']);
  assert.deepEqual(s.view, { l: [1, 'b', 2] });
  assert.deepEqual(s.takeSendable(2).send.map((o) => o.opId), ['a-2'], 'resent on the new connection');
});

test('applyPending handles each kind', () => {
  assert.deepEqual(applyPending({ a: 1 }, { kind: 'set', set: { b: 1 } }, 1).state, { b: 1 });
  assert.deepEqual(applyPending({ a: 1 }, { kind: 'merge', merge: { a: null } }, 1).state, {});
  assert.equal(applyPending({}, { kind: 'update', fn: () => undefined }, 1), undefined);
  assert.equal(applyPending({}, { kind: 'update', fn: () => { throw new Error('x'); } }, 1), undefined);
});

// ---- a model of the server and two clients --------------------------------------------------

/** In-memory server with the protocol rules that matter here (P1 versions, P5 baseVersion, P6 opIds). */
class ModelServer {
  constructor(state) { this.state = state; this.version = 1; this.log = []; this.clients = new Set(); }
  handle(client, frame) {
    const dup = this.log.find((u) => u.opId === frame.opId);
    if (dup) return client.inbox.push({ type: 'ack', opId: frame.opId, version: dup.version, duplicate: true });
    if (typeof frame.baseVersion === 'number' && frame.baseVersion !== this.version) {
      return client.inbox.push({ type: 'reject', opId: frame.opId, code: 'version_conflict', version: this.version });
    }
    const write = frame.type === 'set' ? { set: frame.state } : frame.merge ? { merge: frame.merge } : { ops: frame.ops };
    let next;
    try { next = applyWrite(this.state, write); } catch (e) {
      return client.inbox.push({ type: 'reject', opId: frame.opId, code: e.code, version: this.version });
    }
    this.state = next;
    this.version += 1;
    const update = { type: 'update', version: this.version, opId: frame.opId, ...write };
    this.log.push(update);
    client.inbox.push({ type: 'ack', opId: frame.opId, version: this.version });
    for (const c of this.clients) c.inbox.push(update);
  }
  welcome(since) { return { ops: this.log.filter((u) => u.version > since), version: this.version }; }
}

class ModelClient {
  constructor(server, name) {
    this.server = server; this.name = name; this.sync = new SyncState(server.state, server.version);
    this.inbox = []; this.epoch = 1; this.online = true; this.n = 0; this.outgoing = [];
    server.clients.add(this);
  }
  write(w) { this.sync.addLocal(`${this.name}-${++this.n}`, w); this.flush(); }
  flush() {
    if (!this.online) return;
    for (const op of this.sync.takeSendable(this.epoch).send) {
      const frame = { type: op.kind === 'merge' ? 'patch' : op.kind === 'ops' ? 'patch' : 'set', opId: op.opId };
      if (op.baseVersion !== undefined) frame.baseVersion = op.baseVersion;
      if (frame.type === 'set') frame.state = op.set; else if (op.merge) frame.merge = op.merge; else frame.ops = op.ops;
      this.outgoing.push(frame);
    }
  }
  deliverOutgoing(count = Infinity) {
    while (this.online && this.outgoing.length && count-- > 0) this.server.handle(this, this.outgoing.shift());
  }
  receive() {
    while (this.online && this.inbox.length) {
      const f = this.inbox.shift();
      if (f.type === 'update') assert.notEqual(this.sync.applyRemote(f).status, 'gap');
      if (f.type === 'ack') this.sync.ack(f.opId, f.version);
      if (f.type === 'reject') this.sync.reject(f.opId, f.code, f.version);
      this.flush();
    }
  }
  goOffline() { this.online = false; this.server.clients.delete(this); this.inbox = []; this.outgoing = []; }
  goOnline(lose = false) {
    this.online = true; this.epoch += 1; this.server.clients.add(this);
    const w = this.server.welcome(this.sync.version);
    for (const u of w.ops) this.sync.applyRemote(u);
    this.flush();
  }
}

function settle(clients) {
  for (let i = 0; i < 1000; i++) {
    let busy = false;
    for (const c of clients) {
      if (c.outgoing.length || c.inbox.length) busy = true;
      c.deliverOutgoing(); c.receive();
    }
    if (!busy) return;
  }
  throw new Error('did not settle');
}

test('model: offline appends on both sides converge, each entry exactly once', () => {
  const server = new ModelServer({ log: [] });
  const a = new ModelClient(server, 'a');
  const b = new ModelClient(server, 'b');
  const add = (v) => ({ kind: 'ops', ops: [{ op: 'add', path: '/log/-', value: v }] });
  a.write(add('a0')); settle([a, b]);
  a.goOffline();
  a.write(add('a1')); a.write(add('a2'));
  b.write(add('b1')); settle([b]);
  b.write(add('b2')); settle([b]);
  assert.deepEqual(a.sync.view.log, ['a0', 'a1', 'a2'], 'offline writes visible locally');
  a.goOnline();
  settle([a, b]);
  assert.deepEqual(server.state.log.slice().sort(), ['a0', 'a1', 'a2', 'b1', 'b2']);
  assert.deepEqual(a.sync.view, server.state);
  assert.deepEqual(b.sync.view, server.state);
  assert.equal(a.sync.outbox.size + b.sync.outbox.size, 0);
});

test('model: a write whose ack was lost is resent after reconnect and not applied twice', () => {
  const server = new ModelServer({ log: [] });
  const a = new ModelClient(server, 'a');
  a.write({ kind: 'ops', ops: [{ op: 'add', path: '/log/-', value: 'once' }] });
  a.deliverOutgoing(); // server applied it, but the connection dies before the ack arrives
  a.goOffline();
  // reconnect with a snapshot-like resume that does not tell which ops were ours
  a.online = true; a.epoch += 1; server.clients.add(a);
  a.sync.applySnapshot(server.state, server.version);
  assert.deepEqual(a.sync.view.log, ['once', 'once'], 'unconfirmed op still pending on top');
  a.flush();
  settle([a]);
  assert.deepEqual(server.state.log, ['once'], 'duplicate op id not applied again');
  assert.deepEqual(a.sync.view.log, ['once']);
  assert.equal(a.sync.outbox.size, 0);
});

test('model: concurrent update(fn) increments from two clients and offline never lose a count', () => {
  const server = new ModelServer({ count: 0 });
  const a = new ModelClient(server, 'a');
  const b = new ModelClient(server, 'b');
  const inc = { kind: 'update', fn: (s) => ({ ...s, count: s.count + 1 }) };
  for (let round = 0; round < 20; round++) {
    a.write(inc); b.write(inc);
    // interleave deliveries: both send on the same base version, one of them conflicts
    a.deliverOutgoing(); b.deliverOutgoing();
    settle([a, b]);
  }
  a.goOffline();
  a.write(inc); a.write(inc); a.write(inc);
  b.write(inc); b.write(inc); settle([b]);
  a.goOnline();
  settle([a, b]);
  assert.equal(server.state.count, 45);
  assert.deepEqual(a.sync.view, { count: 45 });
  assert.deepEqual(b.sync.view, { count: 45 });
});

test('model: random interleavings of mixed writes always converge', () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 30; trial++) {
    const server = new ModelServer({ items: [], n: 0, meta: {} });
    const clients = [0, 1, 2].map((i) => new ModelClient(server, `c${i}`));
    let expectItems = 0; let expectN = 0;
    for (let step = 0; step < 60; step++) {
      const c = clients[Math.floor(rnd() * clients.length)];
      const r = rnd();
      if (r < 0.3) { c.write({ kind: 'ops', ops: [{ op: 'add', path: '/items/-', value: `${c.name}-${step}` }] }); expectItems++; }
      else if (r < 0.5) { c.write({ kind: 'update', fn: (s) => ({ ...s, n: s.n + 1 }) }); expectN++; }
      else if (r < 0.6) c.write({ kind: 'merge', merge: { meta: { [c.name]: step } } });
      else if (r < 0.7) { if (c.online) c.goOffline(); else c.goOnline(); }
      else if (r < 0.85) c.deliverOutgoing(1);
      else c.receive();
    }
    for (const c of clients) if (!c.online) c.goOnline();
    settle(clients);
    assert.equal(server.state.items.length, expectItems, 'every append exactly once');
    assert.equal(new Set(server.state.items).size, expectItems);
    assert.equal(server.state.n, expectN, 'every increment exactly once');
    for (const c of clients) {
      assert.deepEqual(c.sync.view, server.state, `${c.name} converged`);
      assert.equal(c.sync.outbox.size, 0);
    }
  }
});
