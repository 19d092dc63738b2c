// Audiences through relay objects (issue 13, P18): with a low relay threshold, read-key viewers
// are spread over relay Durable Objects; everything that holds for a direct viewer holds
// through a relay. Every wait is for a frame, a close or an observable count, never a duration.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, getState, sessionPath } from '../helpers/http.mjs';
import { connect, connectWelcome, rawWelcome, write, wsPath, rawConnect, openSSE } from '../helpers/ws.mjs';
import { waitFor } from '../helpers/poll.mjs';
import { createSession as sdkCreate, joinSession } from '../../packages/client/src/index.js';

/** Four viewers on the session object, then relays of about 32, at least 8 of them. */
const VARS = { RELAY_THRESHOLD: '4', RELAY_VIEWERS: '32', RELAY_MIN: '8', MAX_VIEWERS: '320', AUDIENCE_INTERVAL_MS: '200' };
const VIEWERS = 300;

let srv;
before(async () => { srv = await startDevServer({ vars: VARS }); });
after(async () => { await srv?.stop(); });
// What the worker logged is the first thing to read when a test here fails.
afterEach((t) => { if (!t.passed && srv) console.log(`[relays] wrangler dev said:\n${srv.logs().slice(-6000)}`); });

const info = async (s) => (await req(srv.url, 'GET', sessionPath(s.keys.admin, '/info'))).json;

/**
 * Connects `n` read-key viewers, `batch` at a time; resolves with [client, welcome] pairs.
 * `open` is `connectWelcome` (Node's WebSocket) or `rawWelcome` (a raw socket, which sees the
 * server's close frame itself: the runtime ends the TCP connection of a closed hibernatable
 * socket only when its object next goes idle, 10 to 20 s later, and only then does a
 * WebSocket's `close` event fire).
 */
async function viewers(url, n, batch = 25, open = connectWelcome) {
  const out = [];
  for (let i = 0; i < n; i += batch) {
    const size = Math.min(batch, n - i);
    out.push(...await Promise.all(Array.from({ length: size }, () => open(url))));
  }
  return out;
}

/** The versions of every `update` `c` received, in order of receipt. */
const versions = (c) => c.frames.filter((f) => f.msg?.type === 'update').map((f) => f.msg.version);

describe('relays (P18)', () => {
  let s;
  let writer;
  let crowd;

  it(`${VIEWERS} viewers are spread over at least 8 relays and counted, not announced`, { timeout: 120_000 }, async () => {
    s = await createSession(srv.url, { state: { n: 0 } });
    [writer] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write));
    crowd = await viewers(wsPath(srv.wsUrl, s.keys.read), VIEWERS);
    for (const [, w] of crowd) {
      assert.equal(w.type, 'welcome', JSON.stringify(w));
      assert.equal(w.role, 'read');
      assert.deepEqual(w.state, { n: 0 });
    }
    const spread = await waitFor(async () => {
      const a = (await info(s)).audience;
      return a.viewers === VIEWERS ? a : null;
    }, { timeoutMs: 20_000, what: `/info audience.viewers = ${VIEWERS}` });
    assert.equal(spread.direct, 4, 'RELAY_THRESHOLD viewers on the session object itself');
    assert.ok(spread.relays.length >= 8, `relays: ${JSON.stringify(spread.relays)}`);
    const loads = spread.relays.map((r) => r.viewers);
    assert.equal(loads.reduce((a, b) => a + b, 0), VIEWERS - 4);
    // Relays are added as the audience grows, each filled to RELAY_VIEWERS at most.
    assert.ok(Math.max(...loads) <= 32, `at most RELAY_VIEWERS each: ${loads}`);
    // The writer hears the count at a bounded rate, not 300 joins.
    await writer.next((m) => m?.type === 'audience' && m.viewers === VIEWERS, 20_000);
    const joins = writer.frames.filter((f) => f.msg?.type === 'presence' && f.msg.event === 'join').length;
    assert.equal(joins, 4, 'joins only for the viewers on the session object');
    const counts = writer.frames.filter((f) => f.msg?.type === 'audience').length;
    assert.ok(counts < 40, `${counts} audience frames`);
  });

  it('every viewer gets every update once, in order, in the same frames as the writer', { timeout: 120_000 }, async () => {
    const WRITES = 20;
    for (let i = 1; i <= WRITES; i++) {
      const a = await write(writer, { type: 'patch', opId: `r-${i}`, merge: { n: i } });
      assert.equal(a.type, 'ack', JSON.stringify(a));
    }
    const last = 1 + WRITES;
    const want = Array.from({ length: WRITES }, (_, i) => i + 2);
    // An ack may come before its update (P15): the writer's own updates are the reference.
    await writer.next((m) => m?.type === 'update' && m.version === last, 30_000);
    const reference = writer.frames.filter((f) => f.msg?.type === 'update').map((f) => f.text);
    await Promise.all(crowd.map(async ([c]) => {
      await c.next((m) => m?.type === 'update' && m.version === last, 30_000);
      assert.deepEqual(versions(c), want);
      // `updates` envelopes are unpacked by the helper: compare the update frames themselves.
      assert.deepEqual(c.frames.filter((f) => f.msg?.type === 'update').map((f) => JSON.parse(f.text)), reference.map((t) => JSON.parse(t)));
    }));
  });

  it('a viewer cannot write through a relay', { timeout: 30_000 }, async () => {
    const [c] = crowd.at(-1);
    const r = await write(c, { type: 'patch', opId: 'sneaky', merge: { n: -1 } });
    assert.equal(r.type, 'reject');
    assert.equal(r.code, 'read_only');
    assert.equal((await getState(srv.url, s.keys.read)).state.n, 20);
  });

  it("a viewer's message reaches the presenter and the session object's own viewers, not the audience behind relays", { timeout: 30_000 }, async () => {
    const [sender, welcome] = crowd.at(-2);
    // The viewers on the session object are the ones the writer saw join (the first four to
    // arrive, not necessarily the first four asked for).
    const direct = new Set(writer.frames.filter((f) => f.msg?.type === 'presence' && f.msg.event === 'join').map((f) => f.msg.clientId));
    assert.equal(direct.size, 4);
    sender.send({ type: 'broadcast', data: { clap: 1 } });
    const got = await writer.next((m) => m?.type === 'broadcast' && m.from === welcome.clientId, 10_000);
    assert.deepEqual(got.data, { clap: 1 });
    const isDirect = ([, w]) => direct.has(w.clientId);
    await Promise.all(crowd.filter(isDirect).map(([c]) => c.next((m) => m?.type === 'broadcast' && m.from === welcome.clientId, 10_000)));
    // The presenter's own broadcast comes after it on every connection: a barrier, not a wait.
    writer.send({ type: 'broadcast', data: { barrier: 1 } });
    await Promise.all(crowd.map(async ([c, w], i) => {
      const none = await c.q.noneBefore((m) => m?.type === 'broadcast' && m.from === welcome.clientId,
        (m) => m?.type === 'broadcast' && m.data?.barrier === 1, 10_000);
      if (!direct.has(w.clientId)) assert.ok(none, `viewer ${i} behind a relay got another viewer's message`);
    }));
  });

  it('a viewer resumes exactly through a relay', { timeout: 30_000 }, async () => {
    const [c, w] = crowd.pop();
    await c.close();
    const seen = Math.max(w.version, ...versions(c));
    for (let i = 0; i < 3; i++) await write(writer, { type: 'patch', opId: `gap-${i}`, merge: { gap: i } });
    const [back, again] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read, seen));
    assert.equal(again.resume, 'ops', JSON.stringify(again).slice(0, 300));
    assert.deepEqual(again.ops.map((o) => o.version), [seen + 1, seen + 2, seen + 3]);
    crowd.push([back, again]);
  });

  it('an SSE viewer is served by a relay too', { timeout: 30_000 }, async () => {
    const sse = await openSSE(`${srv.url}${sessionPath(s.keys.read, '/events')}`);
    try {
      assert.equal(sse.status, 200);
      const welcome = await sse.next((m) => m.event === 'welcome', 10_000);
      const v = welcome.json.version;
      await write(writer, { type: 'patch', opId: 'sse-1', merge: { sse: 1 } });
      const u = await sse.next((m) => m.event === 'update', 10_000);
      assert.equal(u.json.version, v + 1);
    } finally { sse.close(); }
  });

  it('past MAX_VIEWERS a viewer is refused with audience_full', { timeout: 60_000 }, async () => {
    // Viewers on their way to a relay count too: join one at a time until the answer is 429.
    const kept = [];
    let refused = null;
    for (let i = 0; i <= Number(VARS.MAX_VIEWERS) && !refused; i++) {
      const r = await rawConnect(wsPath(srv.wsUrl, s.keys.read));
      if (r.status === 101) kept.push(r);
      else refused = r;
    }
    assert.ok(refused, 'a viewer was refused');
    assert.equal(refused.status, 429, refused.body);
    assert.equal(JSON.parse(refused.body).error.code, 'audience_full');
    let last;
    const total = (await waitFor(async () => {
      last = (await info(s)).audience;
      // (An SSE viewer that left is noticed at the relay's next event: it may still count.)
      return last.viewers >= crowd.length + kept.length ? last : null;
    }, { timeoutMs: 20_000, what: 'every admitted viewer counted' }).catch((e) => {
      throw new Error(`${e.message}: ${crowd.length} + ${kept.length} expected, /info says ${JSON.stringify(last)}`);
    })).viewers;
    assert.ok(total <= Number(VARS.MAX_VIEWERS), `${total} viewers`);
    // A writer still gets in.
    const [w2, welcome] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write));
    assert.equal(welcome.type, 'welcome');
    await w2.close();
    for (const r of kept) r.destroy();
  });

  it('key rotation reaches every viewer behind the relays (4003), then the new read key works', { timeout: 150_000 }, async () => {
    const rot = await req(srv.url, 'POST', sessionPath(s.keys.admin, '/rotate'));
    assert.equal(rot.status, 200, rot.text);
    // The error frame comes at once; the `close` event when the runtime ends the TCP
    // connection (see `viewers`), which on a loaded machine can take a while.
    await Promise.all(crowd.map(async ([c]) => {
      const err = await c.next((m) => m?.type === 'error', 20_000);
      assert.equal(err.code, 'key_rotated');
      const closed = await c.waitClose(90_000);
      assert.equal(closed.code, 4003);
    }));
    const [c, w] = await connectWelcome(wsPath(srv.wsUrl, rot.json.keys.read));
    assert.equal(w.type, 'welcome', JSON.stringify(w));
    await c.close();
    const [stale] = await Promise.allSettled([connectWelcome(wsPath(srv.wsUrl, s.keys.read))]);
    assert.ok(stale.status === 'rejected' || stale.value[1].type === 'error', 'the old read key is refused');
    s.keys = rot.json.keys;
  });

  it('relays let their connection go with their last viewer', { timeout: 60_000 }, async () => {
    const t = await createSession(srv.url, { state: {} });
    const few = await viewers(wsPath(srv.wsUrl, t.keys.read), 20);
    const relaysOf = async () => (await req(srv.url, 'GET', sessionPath(t.keys.admin, '/info'))).json.audience;
    await waitFor(async () => (await relaysOf()).relays.length >= 8, { timeoutMs: 20_000, what: 'relays connected' });
    await Promise.all(few.map(([c]) => c.close()));
    const after = await waitFor(async () => { const a = await relaysOf(); return a.relays.length === 0 ? a : null; },
      { timeoutMs: 20_000, what: 'every relay disconnected' });
    assert.equal(after.viewers, 0);
  });

  it('the SDK works unchanged through relays: state, updates and the audience count', { timeout: 60_000 }, async () => {
    const opts = { baseUrl: srv.url, durableOutbox: false };
    const presenter = await sdkCreate({ ...opts, state: { slide: 0 } });
    const audience = [];
    try {
      for (let i = 0; i < 8; i++) audience.push(await joinSession(presenter.keys.read, opts));
      const a = await waitFor(async () => {
        const x = (await req(srv.url, 'GET', sessionPath(presenter.keys.admin, '/info'))).json.audience;
        return x.viewers === 8 ? x : null;
      }, { timeoutMs: 20_000, what: '8 viewers counted' });
      assert.equal(a.direct, 4, 'four on the session object, four behind relays');
      for (let i = 1; i <= 5; i++) await presenter.patch({ slide: i });
      const at = (s, pred) => new Promise((resolve) => { const check = () => { if (pred(s)) resolve(); }; check(); s.subscribe(check); s.on('audience', check); });
      await Promise.all(audience.map((s) => at(s, (x) => x.state?.slide === 5 && x.version === 6)));
      await at(presenter, (x) => x.audience === 8);
      for (const s of audience) {
        assert.equal(s.transport, 'websocket');
        assert.equal(s.canWrite, false);
      }
      await waitFor(() => audience.every((s) => s.audience === 8), { timeoutMs: 10_000, what: 'every viewer sees the count' });
    } finally {
      for (const s of [presenter, ...audience]) s.close();
    }
  });

  it('deleting the session reaches every viewer behind the relays (4004)', { timeout: 60_000 }, async () => {
    const t = await createSession(srv.url, { state: { bye: false } });
    const many = await viewers(wsPath(srv.wsUrl, t.keys.read), 40, 20, rawWelcome);
    await waitFor(async () => (await req(srv.url, 'GET', sessionPath(t.keys.admin, '/info'))).json.audience.viewers === 40,
      { timeoutMs: 20_000, what: '40 viewers counted' });
    const del = await req(srv.url, 'DELETE', sessionPath(t.keys.admin));
    assert.equal(del.status, 204);
    await Promise.all(many.map(async ([c]) => {
      const closed = await c.waitClose(20_000); // the close frame itself: it comes at once
      assert.equal(closed.code, 4004);
      assert.equal(c.frames.find((f) => f.msg?.type === 'error')?.msg.code, 'session_ended');
    }));
  });
});

describe('relays across a restart (P18)', () => {
  it('after the runtime restarts, viewers reconnect through relays and resume exactly', { timeout: 180_000 }, async () => {
    const own = await startDevServer({ vars: VARS });
    let again;
    try {
      const s = await createSession(own.url, { state: { n: 0 } });
      const [w] = await connectWelcome(wsPath(own.wsUrl, s.keys.write));
      for (let i = 1; i <= 3; i++) await write(w, { type: 'patch', opId: `a-${i}`, merge: { n: i } });
      const crowd = [];
      for (let i = 0; i < 40; i++) crowd.push(await connect(wsPath(own.wsUrl, s.keys.read)));
      await Promise.all(crowd.map((c) => c.next((m) => m?.type === 'welcome', 10_000)));
      await waitFor(async () => (await req(own.url, 'GET', sessionPath(s.keys.admin, '/info'))).json.audience.relays.length >= 8,
        { timeoutMs: 20_000, what: 'relays in use' });
      await own.stop({ keepData: true });
      await Promise.all(crowd.map((c) => c.waitClose(20_000)));
      again = await startDevServer({ vars: VARS, persistTo: own.persistTo });
      const [w2] = await connectWelcome(wsPath(again.wsUrl, s.keys.write));
      for (let i = 4; i <= 6; i++) await write(w2, { type: 'patch', opId: `b-${i}`, merge: { n: i } });
      // Each viewer comes back from the version it had (4) and gets exactly what it missed.
      const back = await viewers(wsPath(again.wsUrl, s.keys.read, 4), 40, 20);
      for (const [, welcome] of back) {
        assert.equal(welcome.resume, 'ops', JSON.stringify(welcome).slice(0, 200));
        assert.deepEqual(welcome.ops.map((o) => o.version), [5, 6, 7]);
      }
      const a = await write(w2, { type: 'patch', opId: 'c-7', merge: { n: 7 } });
      await Promise.all(back.map(([c]) => c.next((m) => m?.type === 'update' && m.version === a.version, 15_000)));
      assert.equal((await getState(again.url, s.keys.read)).state.n, 7);
    } finally {
      await again?.stop();
      await own.stop();
    }
  });
});
