// Concurrency (issue 2): 20 HTTP clients each doing 25 read-modify-write increments with
// If-Match, retrying on 412. No lost update: final counter = acknowledged writes = 500.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { waitFor } from '../helpers/poll.mjs';
import { req, createSession, getState, sessionPath, sleep, etagVersion } from '../helpers/http.mjs';

let srv;
let base;
before(async () => { srv = await startDevServer(); base = srv.url; });
after(async () => { await srv?.stop(); });

/**
 * Retries a request whose answer was lost (connection reset, or a 503 while wrangler dev
 * reloads): waits until an answer other than 503 comes, for up to 30 s.
 */
async function retrying(fn) {
  let last;
  const answered = async () => {
    try { last = await fn(); } catch (e) { last = e; return false; }
    return last.status !== 503;
  };
  await waitFor(answered, { timeoutMs: 30_000, intervalMs: 100, what: 'an answer other than 503' }).catch(() => {});
  if (last instanceof Error) throw last;
  return last; // after 30 s of 503s, the last 503 itself
}

const CLIENTS = 20;
const PER_CLIENT = 25;

describe('optimistic concurrency over HTTP', () => {
  it(`${CLIENTS} clients x ${PER_CLIENT} If-Match increments: counter = acked writes = ${CLIENTS * PER_CLIENT}`, { timeout: 240_000 }, async () => {
    const s = await createSession(base, { state: { counter: 0 } });
    const path = sessionPath(s.keys.write);
    const ackedVersions = [];
    let conflicts = 0;
    const deadline = Date.now() + 200_000;
    const started = Date.now();

    async function client(id) {
      let acked = 0;
      let attempts = 0;
      let streak = 0; // consecutive conflicts: randomized exponential backoff
      while (acked < PER_CLIENT) {
        assert.ok(Date.now() < deadline, `client ${id} ran out of time after ${acked} acks`);
        assert.ok(++attempts < 3000, `client ${id}: too many attempts`);
        const g = await retrying(() => req(base, 'GET', path));
        assert.equal(g.status, 200, g.text);
        const v = etagVersion(g.headers.get('etag'));
        assert.equal(v, g.json.version, 'ETag matches version');
        // An Idempotency-Key per attempt makes a retry after a lost answer safe: if the first
        // try was applied, the retry answers duplicate:true with its version.
        const headers = { 'If-Match': `"${v}"`, 'Idempotency-Key': `c${id}-${attempts}` };
        const p = await retrying(() => req(base, 'PUT', path, { body: { counter: g.json.state.counter + 1 }, headers }));
        if (p.status === 200) {
          assert.equal(p.json.version, v + 1, 'a conditional write moves the version by exactly one');
          ackedVersions.push(p.json.version);
          acked++;
          streak = 0;
        } else if (p.status === 412) {
          assert.equal(p.json.error.code, 'version_conflict');
          assert.ok(p.json.currentVersion > v, `currentVersion ${p.json.currentVersion} > ${v}`);
          conflicts++;
          streak++;
          await sleep(Math.random() * Math.min(150, 5 * 2 ** streak)); // pacing of the load, as a real client backs off
        } else {
          assert.fail(`unexpected ${p.status} ${p.text}`);
        }
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
    const g = await getState(base, s.keys.read);
    const total = CLIENTS * PER_CLIENT;
    console.log(`[concurrency] ${total} acked writes, ${conflicts} conflicts (412), ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(ackedVersions.length, total);
    assert.equal(g.state.counter, ackedVersions.length, 'final counter equals acknowledged writes');
    assert.equal(g.state.counter, total);
    assert.equal(g.version, 1 + total, 'one version per applied write');
    assert.deepEqual([...ackedVersions].sort((a, b) => a - b), Array.from({ length: total }, (_, i) => i + 2), 'every acked version is distinct');
  });

  it('concurrent unconditional PATCHes to different keys are all applied (no lost update)', { timeout: 60_000 }, async () => {
    const s = await createSession(base, { state: {} });
    const N = 40;
    const rs = await Promise.all(Array.from({ length: N }, (_, i) => req(base, 'PATCH', sessionPath(s.keys.write), {
      body: JSON.stringify({ [`k${i}`]: i }), headers: { 'Content-Type': 'application/merge-patch+json' },
    })));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    const versions = rs.map((r) => r.json.version).sort((a, b) => a - b);
    assert.deepEqual(versions, Array.from({ length: N }, (_, i) => i + 2));
    const g = await getState(base, s.keys.read);
    assert.equal(g.version, N + 1);
    assert.deepEqual(g.state, Object.fromEntries(Array.from({ length: N }, (_, i) => [`k${i}`, i])));
  });
});
