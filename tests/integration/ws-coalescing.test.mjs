// Coalesced delivery (P15) and volatile messages (P17), seen raw on the wire: under a burst,
// every update arrives exactly once and in version order, in far fewer frames than updates
// (by default the updates of the writes handled in one turn share a frame; `batch=1` waits for
// the tick); an idle connection gets a lone update at once as a plain `update`; volatile
// broadcasts of one sender collapse to the newest while a connection is behind, and plain
// broadcasts are never dropped.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { createSession, getState, applyUpdate } from '../helpers/http.mjs';
import { connectWelcome, rawConnect, wsPath, unpack } from '../helpers/ws.mjs';

let srv;
before(async () => { srv = await startDevServer({ vars: { BATCH_TICK_MS: '50' } }); });
after(async () => { await srv?.stop(); });

/** Every frame a raw connection received, with `updates` frames opened. */
const received = (c) => c.frames.flatMap(({ msg }) => unpack(msg));
const updatesOf = (c) => received(c).filter((m) => m?.type === 'update');

describe('coalescing (P15)', () => {
  it('a burst reaches every connection exactly once and in order, in fewer frames', { timeout: 60_000 }, async () => {
    const WRITES = 100;
    const s = await createSession(srv.url, { state: { n: 0 } });
    const [sub, welcome] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read), { raw: true });
    const [batched] = await connectWelcome(`${wsPath(srv.wsUrl, s.keys.read)}?batch=1`, { raw: true });
    const [writer] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write), { raw: true });
    for (let i = 1; i <= WRITES; i++) writer.send({ type: 'patch', opId: `b-${i}`, merge: { n: i } });
    for (const c of [sub, batched]) {
      await c.next((m) => unpack(m).some((u) => u?.type === 'update' && u.version === WRITES + 1), 20_000);
    }
    const want = Array.from({ length: WRITES }, (_, i) => i + 2);
    const frames = (c) => c.frames.filter(({ msg }) => msg?.type === 'update' || msg?.type === 'updates').length;
    for (const c of [sub, batched]) assert.deepEqual(updatesOf(c).map((u) => u.version), want, 'every version once, in order');
    // A burst is a backlog of writes: by default the updates handled in one turn share a frame.
    assert.ok(frames(sub) < WRITES / 2, `default: ${WRITES} updates in ${frames(sub)} frames`);
    assert.ok(frames(batched) < WRITES / 2, `batch=1: ${WRITES} updates in ${frames(batched)} frames`);
    let state = welcome.state;
    for (const u of updatesOf(sub)) state = applyUpdate(state, u);
    assert.deepEqual(state, (await getState(srv.url, s.keys.read)).state, 'applying them gives the server state');

    await Promise.all([sub.close(), batched.close(), writer.close()]);
  });

  it('an idle connection gets an update at once, as a plain update frame', async () => {
    const s = await createSession(srv.url, { state: { n: 0 } });
    const [sub] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read), { raw: true });
    // An HTTP write: no socket joins, so nothing was sent to `sub` since its welcome.
    const r = await fetch(`${srv.url}/api/v1/sessions/${s.keys.write}`, {
      method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' }, body: '{"n":1}',
    });
    assert.equal(r.status, 200);
    const first = await sub.next((m) => m?.type === 'update' || m?.type === 'updates', 5_000);
    assert.equal(first.type, 'update');
    assert.equal(first.version, 2);
    await sub.close();
  });

  it('a bad batch parameter is refused before the upgrade', async () => {
    const s = await createSession(srv.url, {});
    const r = await rawConnect(`${wsPath(srv.wsUrl, s.keys.read)}?batch=yes`);
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).error.code, 'invalid_request');
  });
});

describe('volatile messages (P17)', () => {
  it('a burst of volatile broadcasts collapses to the newest; plain broadcasts all arrive in order', { timeout: 60_000 }, async () => {
    const N = 40; // 2 x 40 frames stay under the 100 frames/s limit (P11)
    const s = await createSession(srv.url, {});
    const [rx] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read), { raw: true });
    const [tx] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read), { raw: true });
    await rx.next((m) => unpack(m).some((p) => p?.type === 'presence' && p.event === 'join'), 5_000);
    for (let i = 1; i <= N; i++) tx.send({ type: 'broadcast', volatile: true, data: { cursor: i } });
    for (let i = 1; i <= N; i++) tx.send({ type: 'broadcast', data: { line: i } });
    await rx.next((m) => unpack(m).some((b) => b?.type === 'broadcast' && b.data.line === N), 20_000);
    const broadcasts = received(rx).filter((m) => m?.type === 'broadcast');
    const cursors = broadcasts.filter((b) => b.data.cursor !== undefined).map((b) => b.data.cursor);
    const lines = broadcasts.filter((b) => b.data.line !== undefined).map((b) => b.data.line);
    assert.deepEqual(lines, Array.from({ length: N }, (_, i) => i + 1), 'plain broadcasts: all, in order');
    assert.ok(cursors.length < N, `volatile: ${cursors.length} of ${N} delivered`);
    assert.equal(cursors.at(-1), N, 'the newest volatile value arrives');
    assert.deepEqual(cursors, [...cursors].sort((a, b) => a - b), 'never an older value after a newer one');
    await Promise.all([rx.close(), tx.close()]);
  });
});
