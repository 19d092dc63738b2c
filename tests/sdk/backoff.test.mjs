// Unit tests of packages/client/src/backoff.js (jittered exponential backoff).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, createBackoff } from '../../packages/client/src/backoff.js';
import { DEFAULTS } from '../../packages/client/src/index.js';

const opts = { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.5 };

test('without randomness the delay doubles up to the cap', () => {
  const top = () => 0.999999;
  const delays = [0, 1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelay(a, opts, top));
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
});

test('jitter keeps every delay within [base*(1-jitter), base]', () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const base = Math.min(opts.maxMs, opts.initialMs * 2 ** attempt);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(attempt, opts);
      assert.ok(d >= Math.floor(base * 0.5) && d <= base, `attempt ${attempt}: ${d} outside [${base / 2}, ${base}]`);
    }
  }
});

test('jitter spreads delays (not all equal)', () => {
  const seen = new Set();
  for (let i = 0; i < 50; i++) seen.add(backoffDelay(5, opts));
  assert.ok(seen.size > 10, `only ${seen.size} distinct delays`);
});

test('zero jitter is deterministic, full jitter may reach 0', () => {
  assert.equal(backoffDelay(3, { ...opts, jitter: 0 }, Math.random), 800);
  assert.equal(backoffDelay(3, { ...opts, jitter: 1 }, () => 0), 0);
});

test('huge attempt numbers do not overflow', () => {
  assert.equal(backoffDelay(10_000, opts, () => 0.999999), 5000);
  assert.equal(backoffDelay(-3, opts, () => 0.999999), 100);
});

test('createBackoff counts attempts and reset starts over', () => {
  const b = createBackoff({ ...opts, jitter: 0 });
  assert.equal(b.attempt, 0);
  assert.deepEqual([b.next(), b.next(), b.next()], [100, 200, 400]);
  assert.equal(b.attempt, 3);
  b.reset();
  assert.equal(b.next(), 100);
});

test('DEFAULTS backoff is sane: first retry fast, capped within a minute', () => {
  const d = DEFAULTS.backoff;
  assert.ok(d.initialMs > 0 && d.initialMs <= 1000);
  assert.ok(d.maxMs >= d.initialMs && d.maxMs <= 60000);
  assert.ok(d.factor > 1);
  assert.ok(d.jitter > 0 && d.jitter <= 1);
  assert.ok(Object.isFrozen(DEFAULTS));
});
