// Exact resume (issue 3, P4): reconnect with ?since=V gets exactly the missed updates in
// welcome.ops; after op-log compaction it gets resume:"snapshot"; it still works after a
// wrangler dev restart with the same --persist-to.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, getState, sessionPath, applyUpdate } from '../helpers/http.mjs';
import { connectWelcome, write, wsPath, quiet } from '../helpers/ws.mjs';

/** Applies `n` writes from a write socket (mixed kinds, some over HTTP); returns the opIds by version. */
async function writeMany(base, c, key, n, tag) {
  const ids = new Map();
  for (let i = 0; i < n; i++) {
    const opId = `${tag}-${i}`;
    if (i % 5 === 4) {
      const r = await req(base, 'PATCH', sessionPath(key), { body: JSON.stringify({ http: i }), headers: { 'Content-Type': 'application/merge-patch+json', 'Idempotency-Key': opId } });
      assert.equal(r.status, 200, r.text);
      ids.set(r.json.version, opId);
    } else {
      const frame = i % 2
        ? { type: 'patch', opId, ops: [{ op: 'add', path: '/log/-', value: i }] }
        : { type: 'patch', opId, merge: { last: i } };
      const a = await write(c, frame);
      assert.equal(a.type, 'ack', JSON.stringify(a));
      ids.set(a.version, opId);
    }
  }
  return ids;
}

function checkOps(welcome, since, ids, stateBefore, finalState) {
  assert.equal(welcome.type, 'welcome');
  assert.equal(welcome.resume, 'ops', `expected resume ops, got ${welcome.resume}`);
  assert.ok(Array.isArray(welcome.ops), 'welcome.ops is an array');
  assert.equal(welcome.ops.length, ids.size, `exactly ${ids.size} ops`);
  assert.deepEqual(welcome.ops.map((u) => u.version), Array.from({ length: ids.size }, (_, i) => since + 1 + i), 'the ops after since, in order');
  let st = stateBefore;
  for (const u of welcome.ops) {
    assert.equal(u.type, 'update');
    assert.equal(u.opId, ids.get(u.version));
    st = applyUpdate(st, u);
  }
  assert.deepEqual(st, finalState, 'replaying welcome.ops gives the current state');
  assert.equal(welcome.version, since + ids.size);
}

describe('resume from the op log', () => {
  let srv;
  before(async () => { srv = await startDevServer(); });
  after(async () => { await srv?.stop(); });

  it('a client that misses 50 writes gets exactly those 50 ops on reconnect with ?since', { timeout: 60_000 }, async () => {
    const s = await createSession(srv.url, { state: { log: [] } });
    const [w] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write));
    await writeMany(srv.url, w, s.keys.write, 3, 'pre');
    const [r, rw] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read));
    const since = rw.version;
    const stateBefore = rw.state;
    assert.equal(since, 4);
    await r.close();
    const ids = await writeMany(srv.url, w, s.keys.write, 50, 'missed');
    const g = await getState(srv.url, s.keys.read);
    const [r2, welcome] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read, since));
    checkOps(welcome, since, ids, stateBefore, g.state);
    assert.equal(welcome.role, 'read');
    // and it continues live with no gap
    const a = await write(w, { type: 'set', opId: 'live', state: { done: true } });
    const u = await r2.next('update');
    assert.equal(u.version, a.version);
    assert.equal(u.version, welcome.version + 1);
    await r2.close(); await w.close();
  });

  it('since = current version gives resume ops with no ops; since = 0 .. the ops from the start', async () => {
    const s = await createSession(srv.url, { state: { log: [] } });
    const [w] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write));
    const ids = await writeMany(srv.url, w, s.keys.write, 4, 'z');
    const [c1, w1] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read, 5));
    assert.equal(w1.resume, 'ops');
    assert.deepEqual(w1.ops, []);
    assert.equal(w1.version, 5);
    const [c2, w2] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read, 1));
    checkOps(w2, 1, ids, { log: [] }, (await getState(srv.url, s.keys.read)).state);
    for (const c of [c1, c2, w]) await c.close();
  });

  it('without since, or with a bad since, welcome is a snapshot', async () => {
    const s = await createSession(srv.url, { state: { a: 1 } });
    const [c1, w1] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read));
    assert.equal(w1.resume, 'snapshot');
    assert.deepEqual(w1.state, { a: 1 });
    assert.equal(w1.version, 1);
    assert.equal(w1.protocol, 1);
    assert.match(w1.clientId, /^c_/);
    assert.equal(typeof w1.updatedAt, 'number');
    assert.deepEqual(Object.keys(w1.limits).sort(), ['maxBodyBytes', 'maxClients', 'maxMessageBytes', 'maxMessagesPerSecond',
      'maxPresenceBytes', 'maxStateBytes', 'maxStateDepth']);
    assert.equal(w1.limits.maxMessageBytes, 262144);
    // since in the future: the client cannot be resumed with ops
    const [c2, w2] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read, 99));
    assert.equal(w2.resume, 'snapshot');
    assert.deepEqual(w2.state, { a: 1 });
    for (const c of [c1, c2]) await c.close();
  });
});

describe('resume after compaction (OPLOG_MAX_OPS=20)', () => {
  let srv;
  before(async () => { srv = await startDevServer({ vars: { OPLOG_MAX_OPS: '20' } }); });
  after(async () => { await srv?.stop(); });

  it('missing more than the op log keeps gives resume:"snapshot" with the current state; recent since still gives ops', { timeout: 60_000 }, async () => {
    const s = await createSession(srv.url, { state: { log: [] } });
    const [w] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write));
    const since = 1;
    await writeMany(srv.url, w, s.keys.write, 50, 'c');
    const g = await getState(srv.url, s.keys.read);
    assert.equal(g.version, 51);
    const [c, welcome] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read, since));
    assert.equal(welcome.resume, 'snapshot');
    assert.deepEqual(welcome.state, g.state);
    assert.equal(welcome.version, 51);
    assert.ok(!welcome.ops || welcome.ops.length === 0, 'a snapshot welcome carries no ops');
    // the last 20 are still in the log: since = 51 - 20 resumes with ops
    const [c2, w2] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read, 41));
    assert.equal(w2.resume, 'ops');
    assert.deepEqual(w2.ops.map((u) => u.version), Array.from({ length: 10 }, (_, i) => 42 + i));
    const info = await req(srv.url, 'GET', sessionPath(s.keys.read, '/info'));
    assert.ok(info.json.recentOps.length <= 20, `recentOps bounded by OPLOG_MAX_OPS: ${info.json.recentOps.length}`);
    for (const x of [c, c2, w]) await x.close();
  });
});

describe('resume after a wrangler dev restart', () => {
  let srv;
  let restartedData; // the folder passed to the restarted server: removed here, not by the harness
  before(async () => { srv = await startDevServer(); });
  after(async () => {
    await srv?.stop();
    if (restartedData) rmSync(restartedData, { recursive: true, force: true, maxRetries: 5 });
  });

  it('the op log survives a restart: ?since still resumes with ops', { timeout: 180_000 }, async () => {
    const s = await createSession(srv.url, { state: { log: [] } });
    const [w] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write));
    const [r, rw] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read));
    const since = rw.version;
    await r.close();
    const ids = await writeMany(srv.url, w, s.keys.write, 50, 'rs');
    const g = await getState(srv.url, s.keys.read);
    await w.close();
    const persistTo = srv.persistTo;
    await srv.stop({ keepData: true });
    srv = await startDevServer({ persistTo });
    restartedData = persistTo;
    const [r2, welcome] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read, since));
    checkOps(welcome, since, ids, rw.state, g.state);
    // duplicates are still recognised after the restart
    const [w2] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write));
    const d = await write(w2, { type: 'patch', opId: 'rs-0', merge: { last: 0 } });
    assert.equal(d.type, 'ack'); assert.equal(d.duplicate, true); assert.equal(d.version, since + 1);
    assert.ok(await quiet(r2, 'update'), 'a duplicate is not broadcast');
    await r2.close(); await w2.close();
  });
});
