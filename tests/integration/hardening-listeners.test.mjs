// Issue 8, findings 3 to 5, reproduced as reported: HTTP listeners that outlived a key
// rotation, closed SSE streams that kept counting (and kept a session alive), and long-polls
// with no limit of their own.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, sessionPath, assertError } from '../helpers/http.mjs';
import { openSSE } from '../helpers/ws.mjs';
import { waitFor } from '../helpers/poll.mjs';

let srv;
before(async () => { srv = await startDevServer({ vars: { MAX_SSE_STREAMS: '4', MAX_LONG_POLLS: '3' } }); });
after(async () => { await srv?.stop(); });

/** The session's `/info`, read with `key`. */
async function info(key) {
  const r = await req(srv.url, 'GET', sessionPath(key, '/info'));
  assert.equal(r.status, 200, r.text);
  return r.json;
}

/** Parks a long-poll on `key` after version `after`; resolves with its response. */
function longPoll(key, after, wait = 30) {
  return req(srv.url, 'GET', sessionPath(key, `?after=${after}&wait=${wait}`), { timeoutMs: 60_000 });
}

describe('finding 3: rotation ends HTTP listeners opened with the old keys', () => {
  test('an SSE stream on the old read key gets an error event key_rotated and ends', async () => {
    const s = await createSession(srv.url, { state: { n: 0 } });
    const sse = await openSSE(`${srv.url}${sessionPath(s.keys.read, '/events')}`);
    await sse.next((m) => m.event === 'welcome');
    const rot = await req(srv.url, 'POST', sessionPath(s.keys.admin, '/rotate'));
    assert.equal(rot.status, 200);
    const notice = await sse.next((m) => m.event === 'error');
    assert.equal(notice.json.code, 'key_rotated');
    const end = await sse.q.waitClose(10_000);
    assert.equal(end.reason, 'stream ended');
    // A write with the new key reaches nobody on the old one.
    const w = await req(srv.url, 'PATCH', sessionPath(rot.json.keys.write), {
      headers: { 'Content-Type': 'application/merge-patch+json' }, body: '{"n":1}',
    });
    assert.equal(w.status, 200);
    assert.equal(sse.events.filter((f) => f.msg.event === 'update').length, 0);
  });

  test('a long-poll parked on the old read key answers 403 key_rotated, not the new state', async () => {
    const s = await createSession(srv.url, { state: { n: 0 } });
    const parked = longPoll(s.keys.read, 1);
    await waitFor(async () => (await info(s.keys.admin)).longPolls === 1, { what: 'the long-poll is parked' });
    const rot = await req(srv.url, 'POST', sessionPath(s.keys.admin, '/rotate'));
    assert.equal(rot.status, 200);
    assertError(await parked, 403, 'key_rotated', 'parked long-poll');
  });

  test('an SSE stream opened with the admin key survives a rotation (the admin key is not rotated)', async () => {
    const s = await createSession(srv.url, { state: { n: 0 } });
    const sse = await openSSE(`${srv.url}${sessionPath(s.keys.admin, '/events')}`);
    await sse.next((m) => m.event === 'welcome');
    const rot = await req(srv.url, 'POST', sessionPath(s.keys.admin, '/rotate'));
    await req(srv.url, 'PATCH', sessionPath(rot.json.keys.write), {
      headers: { 'Content-Type': 'application/merge-patch+json' }, body: '{"n":1}',
    });
    assert.equal((await sse.next((m) => m.event === 'update')).json.version, 2);
    sse.close();
  });

  test('deleting the session ends streams with session_ended and long-polls with 404', async () => {
    const s = await createSession(srv.url, { state: {} });
    const sse = await openSSE(`${srv.url}${sessionPath(s.keys.read, '/events')}`);
    await sse.next((m) => m.event === 'welcome');
    const parked = longPoll(s.keys.write, 1);
    await waitFor(async () => (await info(s.keys.admin)).longPolls === 1, { what: 'the long-poll is parked' });
    assert.equal((await req(srv.url, 'DELETE', sessionPath(s.keys.admin))).status, 204);
    assert.equal((await sse.next((m) => m.event === 'error')).json.code, 'session_ended');
    await sse.q.waitClose(10_000);
    assertError(await parked, 404, 'session_not_found', 'parked long-poll');
  });
});

describe('finding 4: closed SSE streams stop counting', () => {
  test('streams the client closed leave /info within seconds and free their slots', async () => {
    const s = await createSession(srv.url, { state: {} });
    const streams = [];
    for (let i = 0; i < 4; i++) {
      const sse = await openSSE(`${srv.url}${sessionPath(s.keys.read, '/events')}`);
      await sse.next((m) => m.event === 'welcome');
      streams.push(sse);
    }
    assert.equal((await info(s.keys.admin)).sseStreams, 4);
    const full = await openSSE(`${srv.url}${sessionPath(s.keys.read, '/events')}`);
    assert.equal(full.status, 429, 'MAX_SSE_STREAMS is 4');
    for (const sse of streams) sse.close();
    // Noticed at the next keep-alive (every 5 s): room for a slow machine.
    await waitFor(async () => (await info(s.keys.admin)).httpListeners === 0, { timeoutMs: 30_000, what: 'closed streams leave the count' });
    const again = await openSSE(`${srv.url}${sessionPath(s.keys.read, '/events')}`);
    assert.equal(again.status, 200, 'no write was needed to free the slots');
    again.close();
  });

  test('a closed stream does not keep a 2-second-TTL session alive', async () => {
    const s = await createSession(srv.url, { state: {}, ttl: 2 });
    const sse = await openSSE(`${srv.url}${sessionPath(s.keys.read, '/events')}`);
    await sse.next((m) => m.event === 'welcome');
    sse.close();
    // The session is erased by its alarm once idle: poll for that outcome (bounded well past the TTL).
    await waitFor(async () => (await req(srv.url, 'GET', sessionPath(s.keys.write, '/info'))).status === 404,
      { timeoutMs: 40_000, intervalMs: 250, what: 'the idle session expires' });
  });
});

describe('finding 5: long-polls have their own limit', () => {
  test('MAX_LONG_POLLS parked at once, then 429; timed-out polls stop counting and never block SSE', async () => {
    const s = await createSession(srv.url, { state: {} });
    const parked = [longPoll(s.keys.read, 1, 2), longPoll(s.keys.read, 1, 2), longPoll(s.keys.read, 1, 2)];
    await waitFor(async () => (await info(s.keys.admin)).longPolls === 3, { what: 'three long-polls parked' });
    const sse = await openSSE(`${srv.url}${sessionPath(s.keys.read, '/events')}`);
    assert.equal(sse.status, 200, 'long-polls do not count against the SSE limit');
    sse.close();
    const fourth = await longPoll(s.keys.read, 1, 2);
    assertError(fourth, 429, 'too_many_connections', 'fourth long-poll');
    assert.ok(fourth.headers.get('retry-after'), 'Retry-After is set');
    for (const r of await Promise.all(parked)) assert.equal(r.status, 304, 'timed out with no write: 304');
    await waitFor(async () => (await info(s.keys.admin)).longPolls === 0, { what: 'timed-out polls leave the count' });
    const fifth = longPoll(s.keys.read, 1, 2);
    await waitFor(async () => (await info(s.keys.admin)).longPolls === 1, { what: 'a new poll parks again' });
    assert.equal((await fifth).status, 304);
  });
});
