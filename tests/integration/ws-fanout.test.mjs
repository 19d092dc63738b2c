// WebSocket fan-out and concurrent writers (issue 3, P1-P3, P5, P6).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, getState, sessionPath, applyUpdate } from '../helpers/http.mjs';
import { connectWelcome, write, wsPath, quiet } from '../helpers/ws.mjs';
import { waitFor } from '../helpers/poll.mjs';

let srv;
let base;
let wsBase;
before(async () => { srv = await startDevServer(); base = srv.url; wsBase = srv.wsUrl; });
after(async () => { await srv?.stop(); });

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

describe('fan-out', () => {
  it('1 writer + 20 subscribers: every update exactly once, in version order, no gaps; latency measured', { timeout: 120_000 }, async () => {
    const SUBS = 20;
    const WRITES = 40;
    const s = await createSession(base, { state: { n: 0, log: [] } });
    const subs = [];
    for (let i = 0; i < SUBS; i++) {
      const key = i % 2 ? s.keys.read : s.keys.write;
      const [c, welcome] = await connectWelcome(wsPath(wsBase, key));
      assert.equal(welcome.type, 'welcome');
      assert.equal(welcome.version, 1);
      assert.equal(welcome.resume, 'snapshot');
      assert.deepEqual(welcome.state, { n: 0, log: [] });
      subs.push({ c, welcome, state: welcome.state });
    }
    const [writer, ww] = await connectWelcome(wsPath(wsBase, s.keys.write));
    assert.equal(ww.presence.length, SUBS + 1, 'welcome lists every connected client');

    const sentAt = new Map(); // version -> send time
    const opIdOf = new Map();
    let expected = { n: 0, log: [] };
    for (let i = 1; i <= WRITES; i++) {
      const opId = `fan-${i}`;
      // alternate the three write kinds
      let frame;
      if (i % 3 === 0) frame = { type: 'set', opId, state: { ...expected, n: i, log: [...expected.log, i] } };
      else if (i % 3 === 1) frame = { type: 'patch', opId, merge: { n: i, log: [...expected.log, i] } };
      else frame = { type: 'patch', opId, ops: [{ op: 'replace', path: '/n', value: i }, { op: 'add', path: '/log/-', value: i }] };
      const t0 = performance.now();
      const a = await write(writer, frame);
      assert.equal(a.type, 'ack', JSON.stringify(a));
      assert.equal(a.version, i + 1);
      assert.notEqual(a.duplicate, true);
      sentAt.set(a.version, t0);
      opIdOf.set(a.version, opId);
      expected = { n: i, log: [...expected.log, i] };
    }
    const lastVersion = WRITES + 1;
    const lat = [];
    await Promise.all(subs.map(async (sub, idx) => {
      const got = [];
      while (got.length < WRITES) {
        const f = await sub.c.next('update', 15_000, { full: true });
        got.push(f);
      }
      // nothing more arrives: every write was acked before this ping
      assert.ok(await quiet(sub.c, 'update'), `subscriber ${idx} got an extra update`);
      assert.deepEqual(got.map((f) => f.msg.version), Array.from({ length: WRITES }, (_, i) => i + 2), `subscriber ${idx}: versions in order, no gaps, no duplicates`);
      for (const f of got) {
        assert.equal(f.msg.opId, opIdOf.get(f.msg.version));
        assert.equal(f.msg.author, ww.clientId);
        assert.equal(typeof f.msg.updatedAt, 'number');
        const kinds = ['set', 'merge', 'ops'].filter((k) => k in f.msg);
        assert.equal(kinds.length, 1, `exactly one of set/merge/ops: ${f.text}`);
        sub.state = applyUpdate(sub.state, f.msg);
        lat.push(f.t - sentAt.get(f.msg.version));
      }
      assert.deepEqual(sub.state, expected, `subscriber ${idx} converged`);
    }));
    // the writer got its own updates too (P2/P3)
    const own = [];
    while (own.length < WRITES) own.push((await writer.next('update', 5000)).version);
    assert.deepEqual(own, Array.from({ length: WRITES }, (_, i) => i + 2));
    const g = await getState(base, s.keys.read);
    assert.equal(g.version, lastVersion);
    assert.deepEqual(g.state, expected);

    lat.sort((a, b) => a - b);
    console.log(`[fan-out latency] ${WRITES} writes x ${SUBS} subscribers = ${lat.length} deliveries: ` +
      `median ${pct(lat, 0.5).toFixed(2)} ms, p95 ${pct(lat, 0.95).toFixed(2)} ms, worst ${lat.at(-1).toFixed(2)} ms, best ${lat[0].toFixed(2)} ms`);

    // burst: the writer sends 30 writes without waiting; all arrive in order everywhere
    const BURST = 30;
    const tb = performance.now();
    for (let i = 0; i < BURST; i++) writer.send({ type: 'patch', opId: `burst-${i}`, merge: { burst: i } });
    const burstLat = [];
    await Promise.all(subs.map(async (sub, idx) => {
      const vs = [];
      for (let i = 0; i < BURST; i++) {
        const f = await sub.c.next('update', 15_000, { full: true });
        vs.push(f.msg.version);
        if (i === BURST - 1) burstLat.push(f.t - tb);
      }
      assert.deepEqual(vs, Array.from({ length: BURST }, (_, i) => lastVersion + 1 + i), `subscriber ${idx} burst order`);
    }));
    burstLat.sort((a, b) => a - b);
    console.log(`[fan-out burst] ${BURST} writes sent at once: last update reached subscribers after median ${pct(burstLat, 0.5).toFixed(1)} ms, worst ${burstLat.at(-1).toFixed(1)} ms`);
    for (const sub of subs) await sub.c.close();
    await writer.close();
  });

  it('HTTP writes are fanned out too, with author "http" and the Idempotency-Key as opId', async () => {
    const s = await createSession(base, { state: {} });
    const [c] = await connectWelcome(wsPath(wsBase, s.keys.read));
    const r = await req(base, 'PUT', sessionPath(s.keys.write), { body: { x: 1 }, headers: { 'Idempotency-Key': 'h-1' } });
    assert.equal(r.status, 200);
    const u = await c.next('update');
    assert.deepEqual(u, { type: 'update', version: 2, updatedAt: r.json.updatedAt, opId: 'h-1', author: 'http', set: { x: 1 } });
    const p = await req(base, 'PATCH', sessionPath(s.keys.write), { body: '{"y":2}', headers: { 'Content-Type': 'application/merge-patch+json' } });
    assert.equal(p.status, 200);
    const u2 = await c.next('update');
    assert.equal(u2.version, 3); assert.equal(u2.opId, null); assert.equal(u2.author, 'http'); assert.deepEqual(u2.merge, { y: 2 });
    const j = await req(base, 'PATCH', sessionPath(s.keys.write), { body: '[{"op":"add","path":"/z","value":3}]', headers: { 'Content-Type': 'application/json-patch+json' } });
    assert.equal(j.status, 200);
    const u3 = await c.next('update');
    assert.equal(u3.version, 4); assert.deepEqual(u3.ops, [{ op: 'add', path: '/z', value: 3 }]);
    await c.close();
  });
});

describe('concurrent WebSocket writers', () => {
  it('writers with baseVersion: conflicts get reject with the current version, nothing acked is lost, all converge', { timeout: 120_000 }, async () => {
    const WRITERS = 6;
    const EACH = 10;
    const s = await createSession(base, { state: { count: 0, by: {} } });
    const clients = [];
    for (let i = 0; i < WRITERS; i++) {
      const [c, welcome] = await connectWelcome(wsPath(wsBase, s.keys.write));
      clients.push({ c, id: welcome.clientId, state: welcome.state, version: welcome.version, seen: [], acks: [], rejects: 0 });
    }
    // each client applies the update stream in its own loop
    const pumps = clients.map((cl) => (async () => {
      for (;;) {
        let u;
        try { u = await cl.c.next('update', 20_000); } catch { return; }
        assert.equal(u.version, cl.version + 1, 'no gap in the update stream');
        cl.state = applyUpdate(cl.state, u);
        cl.version = u.version;
        cl.seen.push(u);
      }
    })());
    /** Resolves once the client's update stream has reached version v. */
    const waitVersion = (cl, v) => waitFor(() => cl.version >= v, { timeoutMs: 10_000, intervalMs: 5, what: `a client at version ${v}` });
    let seq = 0;
    await Promise.all(clients.map(async (cl, i) => {
      let attempts = 0;
      while (cl.acks.length < EACH) {
        assert.ok(++attempts < 500, 'too many attempts');
        const bv = cl.version;
        const frame = i % 2
          ? { type: 'set', opId: `w${i}-${seq++}`, baseVersion: bv, state: { count: cl.state.count + 1, by: { ...cl.state.by, [i]: (cl.state.by[i] ?? 0) + 1 } } }
          : { type: 'patch', opId: `w${i}-${seq++}`, baseVersion: bv, merge: { count: cl.state.count + 1, by: { [i]: (cl.state.by[i] ?? 0) + 1 } } };
        const r = await write(cl.c, frame);
        if (r.type === 'ack') {
          assert.equal(r.version, bv + 1);
          cl.acks.push({ opId: frame.opId, version: r.version });
          await waitVersion(cl, r.version); // the author's own update may come after the ack (P3)
        } else {
          assert.equal(r.type, 'reject');
          assert.equal(r.code, 'version_conflict', JSON.stringify(r));
          assert.ok(r.version > bv, `reject carries the current version (${r.version} > ${bv})`);
          cl.rejects++;
          await waitVersion(cl, r.version);
        }
      }
    }));
    const total = WRITERS * EACH;
    const g = await getState(base, s.keys.read);
    assert.equal(g.version, 1 + total);
    assert.equal(g.state.count, total, 'nothing acked is lost');
    for (let i = 0; i < WRITERS; i++) assert.equal(g.state.by[i], EACH);
    for (const cl of clients) await waitVersion(cl, g.version);
    const allAcks = new Map(clients.flatMap((cl) => cl.acks.map((a) => [a.version, a.opId])));
    assert.equal(allAcks.size, total, 'acked versions are distinct');
    for (const cl of clients) {
      assert.equal(cl.version, g.version, 'every client converged on the same version');
      assert.deepEqual(cl.state, g.state, 'every client converged on the same state');
      for (const u of cl.seen) assert.equal(u.opId, allAcks.get(u.version), `update ${u.version} is the acked write`);
    }
    console.log(`[ws writers] ${total} acked, ${clients.reduce((n, c) => n + c.rejects, 0)} rejects (version_conflict)`);
    for (const cl of clients) await cl.c.close();
    await Promise.all(pumps);
  });

  it('writes without baseVersion from several sockets at once are all applied (last writer wins per key)', { timeout: 60_000 }, async () => {
    const s = await createSession(base, { state: {} });
    const cs = [];
    for (let i = 0; i < 4; i++) cs.push((await connectWelcome(wsPath(wsBase, s.keys.write)))[0]);
    const acks = await Promise.all(cs.flatMap((c, i) => Array.from({ length: 10 }, (_, j) => write(c, { type: 'patch', opId: `lw-${i}-${j}`, merge: { [`c${i}`]: j } }))));
    for (const a of acks) assert.equal(a.type, 'ack', JSON.stringify(a));
    assert.deepEqual(acks.map((a) => a.version).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 2));
    const g = await getState(base, s.keys.read);
    assert.deepEqual(g.state, { c0: 9, c1: 9, c2: 9, c3: 9 });
    for (const c of cs) await c.close();
  });
});

describe('duplicate opId (P6)', () => {
  it('a repeated opId is acked with duplicate:true and the first version, not applied or broadcast again', async () => {
    const s = await createSession(base, { state: { n: 0 } });
    const [a] = await connectWelcome(wsPath(wsBase, s.keys.write));
    const [b] = await connectWelcome(wsPath(wsBase, s.keys.read));
    const frame = { type: 'patch', opId: 'dup-1', merge: { n: 1 } };
    const first = await write(a, frame);
    assert.deepEqual({ type: first.type, opId: first.opId, version: first.version }, { type: 'ack', opId: 'dup-1', version: 2 });
    assert.notEqual(first.duplicate, true);
    assert.equal((await b.next('update')).version, 2);
    assert.equal((await a.next('update')).version, 2);
    const other = await write(a, { type: 'set', opId: 'other', state: { n: 5 } });
    assert.equal(other.version, 3);
    await b.next('update'); await a.next('update');
    // the same opId again, even with a different body and from another socket
    const again = await write(a, frame);
    assert.deepEqual(again, { type: 'ack', opId: 'dup-1', version: 2, duplicate: true });
    const [c] = await connectWelcome(wsPath(wsBase, s.keys.write));
    const again2 = await write(c, { type: 'set', opId: 'dup-1', state: { n: 100 } });
    assert.equal(again2.type, 'ack'); assert.equal(again2.version, 2); assert.equal(again2.duplicate, true);
    assert.ok(await quiet(b, 'update'), 'no second update was broadcast');
    assert.ok(await quiet(a, 'update'));
    const g = await getState(base, s.keys.read);
    assert.equal(g.version, 3, 'version unchanged');
    assert.deepEqual(g.state, { n: 5 });
    // an HTTP Idempotency-Key shares the opId namespace
    const h = await req(base, 'PUT', sessionPath(s.keys.write), { body: { n: 7 }, headers: { 'Idempotency-Key': 'dup-1' } });
    assert.equal(h.status, 200); assert.equal(h.json.duplicate, true); assert.equal(h.json.version, 2);
    for (const x of [a, b, c]) await x.close();
  });

  it('invalid opIds (empty, over 64 chars) get reject invalid_op_id and change nothing', async () => {
    const s = await createSession(base, { state: { n: 0 } });
    const [a] = await connectWelcome(wsPath(wsBase, s.keys.write));
    for (const opId of ['', 'x'.repeat(65)]) {
      a.send({ type: 'set', opId, state: { n: 1 } });
      const r = await a.next((m) => m?.type === 'reject' || m?.type === 'error' || m?.type === 'ack');
      assert.notEqual(r.type, 'ack', JSON.stringify(r));
      assert.equal(r.code, 'invalid_op_id', JSON.stringify(r));
    }
    const ok = await write(a, { type: 'set', opId: 'x'.repeat(64), state: { n: 2 } });
    assert.equal(ok.type, 'ack', '64 characters are fine');
    const g = await getState(base, s.keys.read);
    assert.deepEqual(g.state, { n: 2 }); assert.equal(g.version, 2);
    await a.close();
  });
});
