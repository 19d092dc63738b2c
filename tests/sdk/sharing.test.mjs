// Structural sharing (issue 11): merge patch and JSON Patch copy only the containers on the
// paths they touch; every untouched subtree of the result is the same object (===) as before,
// and the input is never modified.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMergePatch, applyJsonPatch, deepFreeze } from '../../packages/client/src/patch.js';

const doc = () => deepFreeze({
  a: { deep: { x: 1 }, list: [{ id: 1 }, { id: 2 }, { id: 3 }] },
  b: { big: Array.from({ length: 1000 }, (_, i) => ({ i })) },
  c: 'text',
});

test('merge patch: only the patched path is new; siblings are shared; the (frozen) input is untouched', () => {
  const d = doc();
  const out = applyMergePatch(d, { a: { deep: { x: 2 } }, c: null });
  assert.deepEqual(out.a.deep, { x: 2 });
  assert.equal(out.b, d.b, 'untouched subtree shared');
  assert.equal(out.a.list, d.a.list, 'untouched sibling inside a patched object shared');
  assert.notEqual(out.a, d.a);
  assert.equal('c' in out, false);
  assert.equal(d.a.deep.x, 1);
});

test('JSON Patch: add / replace / remove / move / copy copy only their paths', () => {
  const d = doc();
  const out = applyJsonPatch(d, [
    { op: 'replace', path: '/a/list/1/id', value: 20 },
    { op: 'add', path: '/a/list/-', value: { id: 4 } },
    { op: 'remove', path: '/c' },
    { op: 'copy', from: '/a/deep', path: '/copied' },
    { op: 'test', path: '/a/list/1/id', value: 20 },
  ]);
  assert.deepEqual(out.a.list.map((x) => x.id), [1, 20, 3, 4]);
  assert.equal(out.b, d.b, 'the 1000-item subtree is the same object');
  assert.equal(out.b.big[500], d.b.big[500]);
  assert.equal(out.a.list[0], d.a.list[0], 'untouched array elements shared');
  assert.equal(out.a.list[2], d.a.list[2]);
  assert.equal(out.copied, d.a.deep, 'copy shares the copied value (states are immutable)');
  assert.equal(d.a.list.length, 3, 'input unchanged');
  assert.equal(d.c, 'text');
  const moved = applyJsonPatch(d, [{ op: 'move', from: '/a/deep', path: '/b/deep' }]);
  assert.equal(moved.b.deep, d.a.deep);
  assert.equal(moved.b.big, d.b.big);
  assert.equal('deep' in moved.a, false);
});

test('a failing operation leaves the input as it was (atomic without a copy)', () => {
  const d = doc();
  assert.throws(() => applyJsonPatch(d, [{ op: 'replace', path: '/a/deep/x', value: 5 }, { op: 'remove', path: '/nope' }]), { code: 'patch_conflict' });
  assert.equal(d.a.deep.x, 1);
});

test('patching a large state costs what the patch costs, not what the state costs', () => {
  const big = deepFreeze({ items: Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, { v: i }])), n: 0 });
  const t0 = performance.now();
  let s = big;
  for (let i = 0; i < 1000; i++) s = applyJsonPatch(s, [{ op: 'replace', path: '/n', value: i }]);
  const perPatch = (performance.now() - t0) / 1000;
  assert.equal(s.items, big.items);
  assert.equal(s.n, 999);
  console.log(`[sharing] one small JSON Patch on a 200,000-member state: ${(perPatch * 1000).toFixed(1)} us`);
  assert.ok(perPatch < 5, `a small patch took ${perPatch} ms`);
});
