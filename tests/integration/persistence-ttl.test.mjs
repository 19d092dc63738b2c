// Persistence and TTL (issue 2, P14): state survives a wrangler dev restart with the same
// --persist-to; an idle session expires (404, sockets closed with 4004); writes extend the TTL.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, getState, sessionPath, assertError, sleep } from '../helpers/http.mjs';
import { rawWelcome, wsPath } from '../helpers/ws.mjs';
import { waitFor } from '../helpers/poll.mjs';

let srv;
let restartedData; // the folder the restart test passed in: removed here, not by the harness
before(async () => { srv = await startDevServer(); });
after(async () => {
  await srv?.stop();
  if (restartedData) rmSync(restartedData, { recursive: true, force: true, maxRetries: 5 });
});

describe('persistence', () => {
  it('state, version, keys and Idempotency-Keys survive stopping and restarting wrangler dev', { timeout: 180_000 }, async () => {
    const s = await createSession(srv.url, { state: { list: [] } });
    const s2 = await createSession(srv.url, { state: { other: true }, strict: true });
    for (let i = 0; i < 5; i++) {
      const r = await req(srv.url, 'PATCH', sessionPath(s.keys.write), {
        body: JSON.stringify([{ op: 'add', path: '/list/-', value: i }]),
        headers: { 'Content-Type': 'application/json-patch+json', 'Idempotency-Key': `persist-${i}` },
      });
      assert.equal(r.status, 200, r.text);
    }
    const before = await getState(srv.url, s.keys.read);
    assert.deepEqual(before.state, { list: [0, 1, 2, 3, 4] });
    assert.equal(before.version, 6);

    const persistTo = srv.persistTo;
    await srv.stop({ keepData: true });
    srv = await startDevServer({ persistTo });
    restartedData = persistTo;

    const afterR = await getState(srv.url, s.keys.read);
    assert.deepEqual(afterR.state, before.state);
    assert.equal(afterR.version, before.version);
    assert.equal(afterR.updatedAt, before.updatedAt);
    assert.equal(afterR.etag, '"6"');
    assert.equal((await getState(srv.url, s.keys.admin)).role, 'admin');
    assert.equal((await getState(srv.url, s.keys.write)).role, 'write');
    const g2 = await getState(srv.url, s2.keys.read);
    assert.deepEqual(g2.state, { other: true });
    // strictness persisted
    assertError(await req(srv.url, 'PUT', sessionPath(s2.keys.write), { body: {} }), 428, 'precondition_required');
    // an Idempotency-Key seen before the restart is still known
    const dup = await req(srv.url, 'PATCH', sessionPath(s.keys.write), {
      body: JSON.stringify([{ op: 'add', path: '/list/-', value: 4 }]),
      headers: { 'Content-Type': 'application/json-patch+json', 'Idempotency-Key': 'persist-4' },
    });
    assert.equal(dup.status, 200, dup.text);
    assert.equal(dup.json.duplicate, true);
    assert.equal(dup.json.version, 6);
    // writes continue from the stored version
    const w = await req(srv.url, 'PUT', sessionPath(s.keys.write), { body: { list: 'done' } });
    assert.equal(w.status, 200, w.text);
    assert.equal(w.json.version, 7);
  });
});

describe('TTL', () => {
  // Expiry is about time: these tests poll for the outcome (404, a moved expiresAt) with
  // deadlines of several TTLs, and wait on the clock only where a moment must pass unnoticed.
  /** True once the session answers 404. */
  const gone = async (key) => (await req(srv.url, 'GET', sessionPath(key))).status === 404;

  it('a session created with ttl:2 is gone once its TTL passes (404 for every key and route)', { timeout: 30_000 }, async () => {
    const s = await createSession(srv.url, { state: { a: 1 }, ttl: 2 });
    assert.equal(s.ttl, 2);
    assert.ok(Math.abs(s.expiresAt - s.updatedAt - 2000) < 1500, `expiresAt ${s.expiresAt} updatedAt ${s.updatedAt}`);
    assert.equal((await req(srv.url, 'GET', sessionPath(s.keys.read))).status, 200);
    await waitFor(() => gone(s.keys.read), { timeoutMs: 20_000, intervalMs: 100, what: 'the session expired' });
    assert.ok(Date.now() >= s.expiresAt - 250, `not erased before expiresAt (${s.expiresAt - Date.now()} ms early)`);
    for (const role of ['admin', 'write', 'read']) {
      assertError(await req(srv.url, 'GET', sessionPath(s.keys[role])), 404, 'session_not_found', role);
    }
    assertError(await req(srv.url, 'PUT', sessionPath(s.keys.write), { body: { a: 2 } }), 404, 'session_not_found', 'PUT after expiry');
    assertError(await req(srv.url, 'GET', sessionPath(s.keys.read, '/info')), 404, 'session_not_found', 'info after expiry');
  });

  it('a connected client keeps a session from going idle; it expires once the client leaves', { timeout: 40_000 }, async () => {
    const s = await createSession(srv.url, { ttl: 2 });
    const [c] = await rawWelcome(wsPath(srv.wsUrl, s.keys.read));
    const due = (await getState(srv.url, s.keys.read)).expiresAt; // connecting may have moved it
    // Reads never move expiresAt; the alarm does when it comes due and finds a client.
    const extended = await waitFor(async () => {
      const r = await req(srv.url, 'GET', sessionPath(s.keys.read));
      assert.equal(r.status, 200, `a watched session is not idle: ${r.text}`);
      return r.json.expiresAt > due && r.json;
    }, { timeoutMs: 20_000, intervalMs: 100, what: 'the alarm extending a watched session' });
    assert.ok(Date.now() >= due - 250, 'extended when it came due');
    assert.ok(extended.expiresAt >= due + 1000, `extended by about a TTL: ${extended.expiresAt - due} ms`);
    c.close(1000);
    // the next alarm comes at most one TTL (plus the runtime's alarm slack) later
    await waitFor(() => gone(s.keys.read), { timeoutMs: 20_000, intervalMs: 100, what: 'expiry after the last client left' });
    assertError(await req(srv.url, 'GET', sessionPath(s.keys.read)), 404, 'session_not_found', 'expired after the last client left');
  });

  it('a write restarts the idle TTL (expiresAt moves forward)', { timeout: 30_000 }, async () => {
    const s = await createSession(srv.url, { ttl: 6 });
    // Writing half a TTL after creation moves the expiry 3 s past the original one, which
    // leaves seconds of margin for the check after the original expiry below.
    await sleep(Math.max(0, s.updatedAt + 3000 - Date.now()));
    const w = await req(srv.url, 'PUT', sessionPath(s.keys.write), { body: { b: 1 } });
    assert.equal(w.status, 200, w.text);
    const g = await getState(srv.url, s.keys.read);
    assert.equal(g.expiresAt, w.json.updatedAt + 6000, 'expiresAt = write time + ttl');
    assert.ok(g.expiresAt >= s.expiresAt + 2500, `expiresAt ${g.expiresAt} should be later than ${s.expiresAt}`);
    await sleep(Math.max(0, s.expiresAt + 500 - Date.now())); // past the original expiry, before the new one
    const g2 = await req(srv.url, 'GET', sessionPath(s.keys.read));
    assert.equal(g2.status, 200, `still alive after the write extended it: ${g2.text}`);
    assert.deepEqual(g2.json.state, { b: 1 });
  });
});
