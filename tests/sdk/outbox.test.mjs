// Unit tests of packages/client/src/outbox.js: ordering, in-flight window, acks, resends, conditional ops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox, makeOp } from '../../packages/client/src/outbox.js';

const merge = (n) => ({ kind: 'merge', merge: { n } });
const ids = (ops) => ops.map((o) => o.opId);

test('ops are sendable in order, once per connection', () => {
  const ob = new Outbox();
  ob.push(makeOp('a-1', merge(1)));
  ob.push(makeOp('a-2', merge(2)));
  const first = ob.sendable(1, 0);
  assert.deepEqual(ids(first), ['a-1', 'a-2']);
  first.forEach((o) => ob.markSent(o, 1));
  assert.deepEqual(ids(ob.sendable(1, 0)), [], 'nothing is sent twice on one connection');
  assert.equal(ob.inFlight(1), 2);
});

test('after a reconnect unacknowledged ops are sent again with the same op ids', () => {
  const ob = new Outbox();
  ['a-1', 'a-2', 'a-3'].forEach((id, i) => ob.push(makeOp(id, merge(i))));
  ob.sendable(1, 0).forEach((o) => ob.markSent(o, 1));
  ob.ack('a-1', 5);
  assert.deepEqual(ids(ob.sendable(2, 4)), ['a-2', 'a-3'], 'acked a-1 is not resent');
});

test('writes made while offline wait in the outbox and go out on the next connection', () => {
  const ob = new Outbox();
  for (let i = 1; i <= 5; i++) ob.push(makeOp(`o-${i}`, merge(i)));
  assert.equal(ob.size, 5);
  assert.deepEqual(ids(ob.sendable(7, 10)), ['o-1', 'o-2', 'o-3', 'o-4', 'o-5']);
});

test('maxInFlight limits the window; acks open it again', () => {
  const ob = new Outbox();
  for (let i = 1; i <= 5; i++) ob.push(makeOp(`w-${i}`, merge(i)));
  let batch = ob.sendable(1, 0, 2);
  assert.deepEqual(ids(batch), ['w-1', 'w-2']);
  batch.forEach((o) => ob.markSent(o, 1));
  assert.deepEqual(ids(ob.sendable(1, 0, 2)), []);
  ob.ack('w-1', 1);
  batch = ob.sendable(1, 0, 2);
  assert.deepEqual(ids(batch), ['w-3']);
});

test('confirmUpTo removes acked ops once the local version includes them', () => {
  const ob = new Outbox();
  ob.push(makeOp('x-1', merge(1)));
  ob.push(makeOp('x-2', merge(2)));
  ob.ack('x-1', 3);
  ob.ack('x-2', 4);
  assert.deepEqual(ids(ob.confirmUpTo(3)), ['x-1']);
  assert.equal(ob.size, 1);
  assert.deepEqual(ids(ob.confirmUpTo(10)), ['x-2']);
  assert.equal(ob.size, 0);
});

test('a conditional op waits until it is first and blocks the ops behind it', () => {
  const ob = new Outbox();
  ob.push(makeOp('c-1', merge(1)));
  ob.push(makeOp('c-2', { kind: 'update', fn: (s) => s }));
  ob.push(makeOp('c-3', merge(3)));
  assert.deepEqual(ids(ob.sendable(1, 0)), ['c-1'], 'the update waits for c-1');
  ob.markSent(ob.get('c-1'), 1);
  ob.ack('c-1', 1);
  assert.deepEqual(ids(ob.sendable(1, 0)), [], 'acked but not yet in the local state: still waits');
  ob.confirmUpTo(1);
  assert.deepEqual(ids(ob.sendable(1, 1)), ['c-2'], 'now first: sent alone, c-3 waits');
  ob.markSent(ob.get('c-2'), 1);
  assert.deepEqual(ids(ob.sendable(1, 1)), []);
});

test('retry gives a conditional op a new op id and makes it wait for the server version', () => {
  const ob = new Outbox();
  const op = ob.push(makeOp('u-1', { kind: 'update', fn: (s) => s }));
  op.set = { a: 1 };
  op.baseVersion = 3;
  ob.markSent(op, 1);
  ob.retry(op, 6);
  assert.equal(op.opId, 'u-1.2');
  assert.equal(op.id, 'u-1');
  assert.equal(op.set, undefined);
  assert.equal(op.baseVersion, undefined);
  assert.deepEqual(ids(ob.sendable(1, 5)), [], 'waits until version 6 is known locally');
  assert.deepEqual(ids(ob.sendable(1, 6)), ['u-1.2']);
  assert.equal(ob.get('u-1'), undefined, 'found by its current op id only');
});

test('unsend makes an op go again on the same connection (rate limited)', () => {
  const ob = new Outbox();
  const op = ob.push(makeOp('r-1', merge(1)));
  ob.markSent(op, 4);
  assert.deepEqual(ids(ob.sendable(4, 0)), []);
  ob.unsend(op);
  assert.deepEqual(ids(ob.sendable(4, 0)), ['r-1']);
});

test('makeOp: writes with baseVersion are conditional, plain ones are not', () => {
  assert.equal(makeOp('a', { kind: 'set', set: 1 }).conditional, false);
  assert.equal(makeOp('a', { kind: 'set', set: 1, baseVersion: 2 }).conditional, true);
  assert.equal(makeOp('a', { kind: 'update', fn: () => 1 }).conditional, true);
  assert.deepEqual(makeOp('a', { kind: 'ops', ops: [] }).ops, []);
});
