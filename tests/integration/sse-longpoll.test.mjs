// Server-Sent Events and long-poll (issue 3): they see the same updates as WebSocket clients;
// Last-Event-ID / ?since resume; long-poll answers 304 after `wait` seconds with no change.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, getState, sessionPath, applyUpdate } from '../helpers/http.mjs';
import { connectWelcome, write, wsPath, openSSE } from '../helpers/ws.mjs';
import { waitFor } from '../helpers/poll.mjs';

let srv;
let base;
let wsBase;
before(async () => { srv = await startDevServer({ vars: { MAX_LONG_POLL_SECONDS: '5' } }); base = srv.url; wsBase = srv.wsUrl; });
after(async () => { await srv?.stop(); });

const ev = (name) => (m) => m?.event === name;

/** The session's open SSE streams plus parked long-polls, from /info (exact, see docs/http-api.md). */
const httpListeners = async (key) => (await req(base, 'GET', sessionPath(key, '/info'))).json?.httpListeners;

// Long-poll durations are the subject of some tests here (the server is started with
// MAX_LONG_POLL_SECONDS=5): the bounds only tell "at once" from "after the wait" from "after
// the 5 s cap", with seconds of margin for a loaded machine.

describe('long-poll', () => {
  it('answers at once when the version is already newer than after', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    await req(base, 'PUT', sessionPath(s.keys.write), { body: { a: 2 } });
    const t0 = Date.now();
    const r = await req(base, 'GET', sessionPath(s.keys.read) + '?after=1&wait=5');
    assert.equal(r.status, 200, r.text);
    assert.ok(Date.now() - t0 < 4000, `answered in ${Date.now() - t0} ms, not after the 5 s wait`);
    assert.equal(r.json.version, 2);
    assert.deepEqual(r.json.state, { a: 2 });
    assert.equal(r.headers.get('etag'), '"2"');
  });

  it('answers 304 after wait seconds when nothing changes', { timeout: 20_000 }, async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const t0 = Date.now();
    const r = await req(base, 'GET', sessionPath(s.keys.read) + '?after=1&wait=2');
    const dt = Date.now() - t0;
    assert.equal(r.status, 304, r.text);
    // not before the 2 s (timers may fire a little early), and well before the 5 s cap
    assert.ok(dt >= 1800 && dt < 4800, `304 after ${dt} ms (wait=2)`);
    assert.equal((await getState(base, s.keys.read)).version, 1);
  });

  it('wait is capped at MAX_LONG_POLL_SECONDS', { timeout: 30_000 }, async () => {
    const s = await createSession(base);
    const t0 = Date.now();
    const r = await req(base, 'GET', sessionPath(s.keys.read) + '?after=1&wait=60', { timeoutMs: 25_000 });
    const dt = Date.now() - t0;
    assert.equal(r.status, 304, r.text);
    // a wait over the limit is served as 5 s: not refused, not 60 s
    assert.ok(dt >= 4500 && dt < 15_000, `a wait over the limit is capped to 5 s (took ${dt} ms)`);
  });

  it('a waiting request is answered as soon as a write lands', { timeout: 20_000 }, async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const pending = req(base, 'GET', sessionPath(s.keys.read) + '?after=1&wait=5');
    await waitFor(async () => (await httpListeners(s.keys.read)) === 1, { what: 'the long-poll is parked' });
    const w = await req(base, 'PATCH', sessionPath(s.keys.write), { body: '{"b":2}', headers: { 'Content-Type': 'application/merge-patch+json' } });
    assert.equal(w.status, 200);
    const t0 = Date.now();
    const r = await pending;
    const dt = Date.now() - t0;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.version, 2);
    assert.deepEqual(r.json.state, { a: 1, b: 2 });
    assert.ok(dt < 3000, `answered ${dt} ms after the write, not at the 5 s timeout`);
  });
});

describe('SSE', () => {
  it('welcome, then one update event per write with id = version, and broadcast events', { timeout: 20_000 }, async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const sse = await openSSE(base + sessionPath(s.keys.read, '/events'));
    assert.equal(sse.status, 200, sse.text);
    assert.match(sse.headers.get('content-type') ?? '', /^text\/event-stream/);
    const w = await sse.next(ev('welcome'));
    assert.equal(w.json.type, 'welcome');
    assert.equal(w.json.resume, 'snapshot');
    assert.deepEqual(w.json.state, { a: 1 });
    assert.equal(w.json.version, 1);
    assert.equal(w.json.role, 'read');
    const r = await req(base, 'PUT', sessionPath(s.keys.write), { body: { a: 2 }, headers: { 'Idempotency-Key': 'sse-1' } });
    assert.equal(r.status, 200);
    const u = await sse.next(ev('update'));
    assert.equal(u.id, '2');
    assert.deepEqual(u.json, { type: 'update', version: 2, updatedAt: r.json.updatedAt, opId: 'sse-1', author: 'http', set: { a: 2 } });
    const m = await req(base, 'POST', sessionPath(s.keys.read, '/messages'), { body: { data: { hi: 'sse' } } });
    assert.equal(m.status, 202);
    assert.equal(typeof m.json.delivered, 'number');
    const b = await sse.next(ev('broadcast'));
    assert.equal(b.json.type, 'broadcast');
    assert.deepEqual(b.json.data, { hi: 'sse' });
    sse.close();
  });

  it('SSE, long-poll and WebSocket clients receive the same updates', { timeout: 60_000 }, async () => {
    const s = await createSession(base, { state: { n: 0 } });
    const sse = await openSSE(base + sessionPath(s.keys.read, '/events'));
    const welcome = await sse.next(ev('welcome'));
    const [ws] = await connectWelcome(wsPath(wsBase, s.keys.read));
    const [writer] = await connectWelcome(wsPath(wsBase, s.keys.write));
    const N = 12;
    // long-poller: follows versions until it has seen N + 1
    const polled = [];
    const poller = (async () => {
      let after = 1;
      const deadline = Date.now() + 30_000;
      while (after < N + 1 && Date.now() < deadline) {
        const r = await req(base, 'GET', sessionPath(s.keys.read) + `?after=${after}&wait=5`);
        if (r.status === 304) continue;
        assert.equal(r.status, 200, r.text);
        assert.ok(r.json.version > after);
        polled.push({ version: r.json.version, state: r.json.state });
        after = r.json.version;
      }
    })();
    let expected = { n: 0 };
    for (let i = 1; i <= N; i++) {
      const f = i % 2 ? { type: 'patch', opId: `x${i}`, merge: { n: i } } : { type: 'patch', opId: `x${i}`, ops: [{ op: 'replace', path: '/n', value: i }] };
      assert.equal((await write(writer, f)).type, 'ack');
      expected = { n: i };
      // every 4 writes, let the long-poller catch up, so that it follows several versions
      if (i % 4 === 0) await waitFor(() => polled.at(-1)?.version === i + 1, { what: `the long-poll at version ${i + 1}` });
    }
    const fromSse = [];
    const fromWs = [];
    for (let i = 0; i < N; i++) {
      fromSse.push((await sse.next(ev('update'), 10_000)).json);
      fromWs.push(await ws.next('update', 10_000));
    }
    await poller;
    assert.deepEqual(fromSse, fromWs, 'SSE data equals the WebSocket update frames');
    assert.deepEqual(fromSse.map((u) => u.version), Array.from({ length: N }, (_, i) => i + 2));
    let st = welcome.json.state;
    for (const u of fromSse) st = applyUpdate(st, u);
    assert.deepEqual(st, expected);
    assert.ok(polled.length >= N / 4, `the long-poller followed ${polled.length} versions`);
    assert.deepEqual(polled.at(-1), { version: N + 1, state: expected }, 'long-poll ends on the same state');
    for (let i = 1; i < polled.length; i++) assert.ok(polled[i].version > polled[i - 1].version);
    // A broadcast sent after the writes is a barrier: no update may come before it.
    assert.equal((await req(base, 'POST', sessionPath(s.keys.read, '/messages'), { body: { data: 'barrier' } })).status, 202);
    assert.ok(await sse.q.noneBefore(ev('update'), ev('broadcast')), 'no extra SSE updates');
    sse.close(); await ws.close(); await writer.close();
  });

  it('Last-Event-ID and ?since resume with exactly the missed updates in the welcome', { timeout: 30_000 }, async () => {
    const s = await createSession(base, { state: { list: [] } });
    const sse = await openSSE(base + sessionPath(s.keys.read, '/events'));
    await sse.next(ev('welcome'));
    for (let i = 0; i < 3; i++) await req(base, 'PATCH', sessionPath(s.keys.write), { body: JSON.stringify([{ op: 'add', path: '/list/-', value: i }]), headers: { 'Content-Type': 'application/json-patch+json' } });
    let last;
    for (let i = 0; i < 3; i++) last = await sse.next(ev('update'));
    assert.equal(last.id, '4');
    sse.close();
    const stateAt4 = (await getState(base, s.keys.read)).state;
    for (let i = 3; i < 8; i++) await req(base, 'PATCH', sessionPath(s.keys.write), { body: JSON.stringify([{ op: 'add', path: '/list/-', value: i }]), headers: { 'Content-Type': 'application/json-patch+json' } });
    const final = await getState(base, s.keys.read);
    assert.equal(final.version, 9);

    for (const opts of [{ headers: { 'Last-Event-ID': last.id } }, { query: `?since=${last.id}` }]) {
      const r = await openSSE(base + sessionPath(s.keys.read, '/events') + (opts.query ?? ''), { headers: opts.headers });
      assert.equal(r.status, 200);
      const now = await getState(base, s.keys.read);
      const w = await r.next(ev('welcome'));
      assert.equal(w.json.resume, 'ops', JSON.stringify(opts));
      assert.equal(w.json.version, now.version);
      assert.deepEqual(w.json.ops.map((u) => u.version), Array.from({ length: now.version - 4 }, (_, i) => 5 + i), 'exactly the updates after 4');
      let st = stateAt4;
      for (const u of w.json.ops) st = applyUpdate(st, u);
      assert.deepEqual(st, now.state);
      // live updates continue after the resume point with no gap
      const p = await req(base, 'PUT', sessionPath(s.keys.write), { body: { list: 'reset' } });
      const u = await r.next(ev('update'));
      assert.equal(Number(u.id), p.json.version);
      assert.equal(u.json.version, w.json.version + 1);
      r.close();
    }
  });
});
