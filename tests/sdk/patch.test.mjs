// Unit tests of packages/client/src/patch.js: JSON Merge Patch (RFC 7396) and JSON Patch (RFC 6902).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMergePatch, applyJsonPatch, applyWrite, deepEqual, clone, PatchError } from '../../packages/client/src/patch.js';

test('merge patch: RFC 7396 appendix examples', () => {
  const cases = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, want] of cases) {
    const before = clone(target);
    assert.deepEqual(applyMergePatch(target, patch), want, JSON.stringify([target, patch]));
    assert.deepEqual(target, before, 'input not modified');
  }
});

test('json patch: add, remove, replace, move, copy, test', () => {
  const doc = { a: { b: [1, 2] }, c: 'x' };
  const out = applyJsonPatch(doc, [
    { op: 'add', path: '/a/b/-', value: 3 },
    { op: 'add', path: '/a/b/0', value: 0 },
    { op: 'remove', path: '/a/b/1' },
    { op: 'replace', path: '/c', value: 'y' },
    { op: 'copy', from: '/c', path: '/d' },
    { op: 'move', from: '/d', path: '/e' },
    { op: 'test', path: '/e', value: 'y' },
    { op: 'add', path: '/f~1g', value: { 'h~i': 1 } },
    { op: 'test', path: '/f~1g/h~0i', value: 1 },
  ]);
  assert.deepEqual(out, { a: { b: [0, 2, 3] }, c: 'y', e: 'y', 'f/g': { 'h~i': 1 } });
  assert.deepEqual(doc, { a: { b: [1, 2] }, c: 'x' }, 'input not modified');
});

test('json patch is atomic and reports patch_conflict / invalid_patch', () => {
  const doc = { n: 1 };
  assert.throws(() => applyJsonPatch(doc, [{ op: 'replace', path: '/n', value: 2 }, { op: 'test', path: '/n', value: 1 }]),
    (e) => e instanceof PatchError && e.code === 'patch_conflict');
  assert.deepEqual(doc, { n: 1 });
  assert.throws(() => applyJsonPatch(doc, [{ op: 'remove', path: '/missing' }]), (e) => e.code === 'patch_conflict');
  assert.throws(() => applyJsonPatch(doc, [{ op: 'add', path: '/x/y', value: 1 }]), (e) => e.code === 'patch_conflict');
  assert.throws(() => applyJsonPatch({ l: [] }, [{ op: 'add', path: '/l/5', value: 1 }]), (e) => e.code === 'patch_conflict');
  assert.throws(() => applyJsonPatch(doc, [{ op: 'frobnicate', path: '/n' }]), (e) => e.code === 'invalid_patch');
  assert.throws(() => applyJsonPatch(doc, { op: 'add' }), (e) => e.code === 'invalid_patch');
  assert.throws(() => applyJsonPatch(doc, [{ op: 'add', path: 'n', value: 1 }]), (e) => e.code === 'invalid_patch');
});

test('json patch on the root and test with deep equality', () => {
  assert.deepEqual(applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: [1] }]), [1]);
  assert.deepEqual(applyJsonPatch({ a: { x: [1, { y: 2 }] } }, [{ op: 'test', path: '/a', value: { x: [1, { y: 2 }] } }]), { a: { x: [1, { y: 2 }] } });
});

test('applyWrite picks set, merge or ops', () => {
  assert.deepEqual(applyWrite({ a: 1 }, { set: { b: 2 } }), { b: 2 });
  assert.equal(applyWrite({ a: 1 }, { set: null }), null);
  assert.deepEqual(applyWrite({ a: 1 }, { merge: { a: null } }), {});
  assert.deepEqual(applyWrite({ a: [] }, { ops: [{ op: 'add', path: '/a/-', value: 1 }] }), { a: [1] });
  assert.throws(() => applyWrite({}, {}), PatchError);
});

test('deepEqual ignores key order and distinguishes arrays from objects', () => {
  assert.ok(deepEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }));
  assert.ok(!deepEqual([], {}));
  assert.ok(!deepEqual({ a: undefined }, { b: undefined }));
  assert.ok(!deepEqual([1, 2], [1, 2, 3]));
  assert.ok(deepEqual(null, null));
  assert.ok(!deepEqual(null, {}));
});
