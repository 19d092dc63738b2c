// Crash safety (issue 9): writers over HTTP (PATCH with If-Match) and WebSocket (patch with
// baseVersion), all retrying on conflict, while the workerd process that runs the worker is
// killed with SIGKILL three times. wrangler dev (Miniflare) restarts a crashed runtime by itself
// on the same --persist-to storage ("The Workers runtime crashed unexpectedly and is being
// restarted (crash #n)"), so the test waits for that instead of restarting wrangler.
// Each writer appends its own increasing tokens to its own array, so the final state says which
// writes were applied. Checked: every acknowledged write is stored, at the version its ack
// named; versions have no gaps or repeats; a socket opened before each crash resumes with
// ?since and gets exactly the missed ops (P4); one left behind longer than the op log gets a snapshot.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, getState, sessionPath, applyUpdate } from '../helpers/http.mjs';
import { connectWelcome, wsPath } from '../helpers/ws.mjs';
import { waitFor } from '../helpers/poll.mjs';
import { runtimeWorkerd } from '../helpers/proc.mjs';

const OPLOG_MAX_OPS = 50;
const KILLS = 3;
const ACKS_PER_ROUND = 20; // a kill after every 20 acknowledged writes, then 20 more to finish
const HTTP_WRITERS = ['h0', 'h1'];
const WS_WRITERS = ['w0', 'w1'];

/** How long a client waits for the restarted runtime to answer again. */
const RESTART_MS = 60_000;

/** The JSON Patch with which writer `name` appends `token` to its array. */
const appendOps = (name, token) => [{ op: 'add', path: `/${name}/-`, value: token }];

/**
 * An HTTP writer: for each token, reads the state and its version, and PATCHes with If-Match
 * until a 200. A request with no answer (the runtime died) has an unknown outcome: the next
 * read shows whether it was applied, and If-Match ensures a token is never applied twice.
 */
async function httpWriter(ctx, name) {
  const w = { name, acked: new Map(), unknown: new Set() };
  for (let token = 1; !ctx.stopping; token++) {
    for (;;) {
      const cur = await waitFor(() => req(ctx.srv.url, 'GET', sessionPath(ctx.key)).then((r) => r.status === 200 && r, () => null),
        { timeoutMs: RESTART_MS, intervalMs: 25, what: `${name}: the runtime answers reads` });
      if (cur.json.state[name].includes(token)) break; // an earlier try was applied; its answer was lost
      const r = await req(ctx.srv.url, 'PATCH', sessionPath(ctx.key), {
        body: JSON.stringify(appendOps(name, token)),
        headers: { 'Content-Type': 'application/json-patch+json', 'If-Match': `"${cur.json.version}"` },
      }).catch(() => null);
      if (r?.status === 200) { w.acked.set(token, r.json.version); ctx.acks++; break; }
      if (r?.status === 412) continue; // another writer came first: read again
      if (r && r.status < 500) assert.fail(`${name}: PATCH answered ${r.status} ${r.text}`);
      w.unknown.add(token); // no answer or a 5xx from the dying runtime: the next read waits for it
    }
  }
  return w;
}

/** Waits until a socket (resuming from `since`, if given) gets its welcome; resolves [client, welcome]. */
function openSocket(ctx, since) {
  return waitFor(async () => {
    const got = await connectWelcome(wsPath(ctx.srv.wsUrl, ctx.key, since)).catch(() => null);
    if (got?.[1]?.type === 'welcome') return got;
    got?.[0].close();
    return null;
  }, { timeoutMs: RESTART_MS, intervalMs: 25, what: 'the runtime accepts a socket' });
}

/**
 * A WebSocket writer: sends each token as a `patch` with `baseVersion` until it is acked; a
 * `version_conflict` reject names the current version to retry on. A socket that closes before
 * the answer leaves the outcome unknown: the welcome of the next connection shows the state.
 */
async function wsWriter(ctx, name) {
  const w = { name, acked: new Map(), unknown: new Set() };
  let c = null;
  let version = 0;
  for (let token = 1; !ctx.stopping; token++) {
    for (let attempt = 0; ; attempt++) {
      if (!c) {
        const [client, welcome] = await openSocket(ctx);
        c = client;
        version = welcome.version;
        if (welcome.state[name].includes(token)) break; // applied before the crash, answer lost
      }
      const opId = `${name}-${token}-${attempt}`;
      c.send({ type: 'patch', opId, baseVersion: version, ops: appendOps(name, token) });
      const a = await c.next((m) => (m?.type === 'ack' || m?.type === 'reject') && m.opId === opId, 15_000).catch(() => null);
      c.q.drain(); // the updates in between are not needed: acks and rejects carry the version
      if (a?.type === 'ack') { w.acked.set(token, a.version); version = a.version; ctx.acks++; break; }
      if (a?.type === 'reject' && a.code === 'version_conflict') { version = a.version; continue; }
      if (a?.type === 'reject' && a.code === 'rate_limited') continue; // not expected: the limit is raised for this suite
      if (a) assert.fail(`${name}: unexpected answer ${JSON.stringify(a)}`);
      w.unknown.add(token); // the socket closed (or went silent) before the answer
      c.close();
      c = null; // the next attempt waits for the runtime to accept a socket
    }
  }
  c?.close();
  return w;
}

/**
 * A read socket that applies every update, checks that each version is the previous one plus
 * one, and after each disconnect resumes with ?since=<last applied version>, checking the welcome
 * against P4: `ops` (exactly since+1 .. version) when those are all in the op log, else `snapshot`.
 */
function observer(ctx, first) {
  const o = { version: first.version, state: first.state, updates: new Map(), resumes: [], stopped: false, failed: null };
  let c = first.client;
  o.stop = () => { o.stopped = true; c.close(); };
  const apply = (u) => {
    assert.equal(u.version, o.version + 1, `observer: update ${u.version} after ${o.version} (gap or repeat)`);
    o.state = applyUpdate(o.state, u);
    o.version = u.version;
    o.updates.set(u.version, u);
  };
  o.done = (async () => {
    for (;;) {
      const u = await c.next('update', 120_000).catch(() => null);
      if (o.stopped) { c.close(); return; }
      if (u) { apply(u); continue; }
      const closed = c.q.closeInfo ? `${c.q.closeInfo.code}` : 'silent';
      c.close();
      const since = o.version;
      // Stay away until 5 more writes are acked, so that the resume has ops to replay.
      const mark = ctx.acks;
      await waitFor(() => ctx.acks >= mark + 5 || ctx.stopping, { timeoutMs: 60_000, what: 'writes while the observer is away' });
      let welcome;
      [c, welcome] = await openSocket(ctx, since);
      const expected = welcome.version - since <= OPLOG_MAX_OPS ? 'ops' : 'snapshot';
      o.resumes.push({ since, version: welcome.version, resume: welcome.resume, expected, closed, at: ctx.kills });
      assert.equal(welcome.resume, expected, `resume from ${since} at version ${welcome.version}`);
      if (welcome.resume === 'ops') {
        assert.deepEqual(welcome.ops.map((x) => x.version),
          Array.from({ length: welcome.version - since }, (_, i) => since + 1 + i), 'exactly the missed ops');
        for (const x of welcome.ops) apply(x);
      } else {
        o.state = welcome.state;
        o.version = welcome.version;
      }
    }
  })();
  o.done.catch((e) => { o.failed = e; });
  return o;
}

describe('crash safety: workerd killed with SIGKILL during concurrent writes', () => {
  let srv;
  before(async () => { srv = await startDevServer({ vars: { OPLOG_MAX_OPS: String(OPLOG_MAX_OPS), MAX_MESSAGES_PER_SECOND: '100000' } }); });
  after(async () => { await srv?.stop(); });

  it(`every acked write survives ${KILLS} kills, versions have no gaps, sockets resume exactly`, { timeout: 240_000 }, async () => {
    const initial = Object.fromEntries([...HTTP_WRITERS, ...WS_WRITERS].map((n) => [n, []]));
    const s = await createSession(srv.url, { state: initial });
    const ctx = { srv, key: s.keys.write, acks: 0, kills: 0, stopping: false };

    // One socket left behind from the start, resumed at the end: its gap is beyond the op log.
    const [lagging, lagWelcome] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read));
    await lagging.close();
    const [obsClient, obsWelcome] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read));
    const obs = observer(ctx, { client: obsClient, version: obsWelcome.version, state: obsWelcome.state });

    const writers = Promise.all([...HTTP_WRITERS.map((n) => httpWriter(ctx, n)), ...WS_WRITERS.map((n) => wsWriter(ctx, n))]);
    let writersFailed = null;
    writers.catch((e) => { writersFailed = e; });
    const progress = (n) => () => {
      if (writersFailed || obs.failed) throw writersFailed ?? obs.failed;
      return ctx.acks >= n;
    };
    for (let k = 1; k <= KILLS; k++) {
      await waitFor(progress(k * ACKS_PER_ROUND), { timeoutMs: 60_000, what: `${k * ACKS_PER_ROUND} acked writes` });
      const pid = runtimeWorkerd(srv);
      assert.ok(pid, 'the runtime workerd is running');
      process.kill(pid, 'SIGKILL');
      ctx.kills = k;
      await waitFor(() => { const p = runtimeWorkerd(srv); return p && p !== pid; },
        { timeoutMs: 30_000, what: `wrangler dev starting a new workerd after kill ${k}` });
      assert.match(srv.logs(), new RegExp(`runtime crashed unexpectedly and is being restarted \\(crash #${k}\\)`));
    }
    await waitFor(progress((KILLS + 1) * ACKS_PER_ROUND), { timeoutMs: 60_000, what: 'writes after the last kill' });
    ctx.stopping = true;
    const results = await writers;

    const final = await getState(srv.url, s.keys.read);
    await waitFor(() => { if (obs.failed) throw obs.failed; return obs.version >= final.version; },
      { timeoutMs: 30_000, what: `the observer at version ${final.version}` });
    obs.stop();
    await obs.done;

    // Every applied write added exactly one token and one version: no lost or phantom versions.
    const applied = results.reduce((n, w) => n + final.state[w.name].length, 0);
    assert.equal(final.version, 1 + applied, 'one version per stored token');
    const ackVersions = new Map();
    for (const w of results) {
      const stored = final.state[w.name];
      assert.deepEqual(stored, [...stored].sort((a, b) => a - b), `${w.name}: tokens in order`);
      assert.equal(new Set(stored).size, stored.length, `${w.name}: no token applied twice`);
      for (const t of stored) assert.ok(w.acked.has(t) || w.unknown.has(t), `${w.name}: token ${t} stored but never sent`);
      for (const [token, version] of w.acked) {
        assert.ok(stored.includes(token), `${w.name}: acked token ${token} (version ${version}) lost`);
        assert.ok(!ackVersions.has(version), `version ${version} acked twice (${ackVersions.get(version)}, ${w.name} ${token})`);
        ackVersions.set(version, `${w.name} ${token}`);
        const u = obs.updates.get(version);
        if (u) assert.deepEqual(u.ops, appendOps(w.name, token), `the update at version ${version} is ${w.name}'s token ${token}`);
      }
      assert.ok(w.acked.size > 0, `${w.name} got acks`);
    }

    // The observer saw every version once (P2 across reconnects) and ends in the stored state.
    assert.equal(obs.version, final.version);
    assert.deepEqual(obs.state, final.state, 'replaying the updates and resumes gives the stored state');
    const snapshots = obs.resumes.filter((r) => r.resume === 'snapshot');
    const seen = obs.updates.size + snapshots.reduce((n, r) => n + r.version - r.since, 0);
    assert.equal(seen, final.version - obsWelcome.version, 'every version seen once, as an update or inside a snapshot');
    assert.ok(obs.resumes.length >= KILLS, `the observer resumed after each crash: ${JSON.stringify(obs.resumes)}`);
    assert.ok(obs.resumes.some((r) => r.resume === 'ops' && r.version > r.since), 'some resumes replayed missed ops');

    // The socket left behind since version 1 is beyond the op log: a snapshot of the stored state.
    const [late, lateWelcome] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read, lagWelcome.version));
    assert.ok(final.version - lagWelcome.version > OPLOG_MAX_OPS);
    assert.equal(lateWelcome.resume, 'snapshot');
    assert.deepEqual(lateWelcome.state, final.state);
    assert.equal(lateWelcome.version, final.version);
    await late.close();
    const unknown = results.reduce((n, w) => n + w.unknown.size, 0);
    console.log(`# crash: ${final.version - 1} writes, ${ackVersions.size} acked, ${unknown} with a lost answer; ` +
      `resumes: ${obs.resumes.map((r) => `${r.since}->${r.version} ${r.resume} (close ${r.closed}, after kill ${r.at})`).join(', ')}`);
  });
});
