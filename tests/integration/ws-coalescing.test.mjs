// Coalesced delivery for connections opened with batch=1 (P15): every update exactly once,
// in version order, in fewer frames; live connections on the same session are unaffected.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { createSession, getState, applyUpdate } from '../helpers/http.mjs';
import { connectWelcome, rawConnect, wsPath } from '../helpers/ws.mjs';

let srv;
before(async () => { srv = await startDevServer({ vars: { BATCH_TICK_MS: '50' } }); });
after(async () => { await srv?.stop(); });

const updatesOf = (c) => c.frames.flatMap(({ msg }) => (msg?.type === 'updates' ? msg.updates : msg?.type === 'update' ? [msg] : []));

describe('batch=1 (P15)', () => {
  it('batched and live subscribers get the same updates; batched ones in fewer frames', { timeout: 60_000 }, async () => {
    const WRITES = 60;
    const s = await createSession(srv.url, { state: { n: 0 } });
    const [batched, bw] = await connectWelcome(`${wsPath(srv.wsUrl, s.keys.read)}?batch=1`);
    const [live] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read));
    const [writer] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write));
    // Writes go out 10 at a time; the next 10 wait until the batched connection got the last
    // one, so they land in later ticks (at least WRITES / 10 frames). Ten writes take a few ms
    // of the 50 ms tick, so they coalesce into far fewer frames than updates.
    for (let i = 1; i <= WRITES; i++) {
      writer.send({ type: 'patch', opId: `b-${i}`, merge: { n: i } });
      if (i % 10 === 0) await batched.next((m) => m?.type === 'updates' && m.updates.some((u) => u.version === i + 1), 10_000);
    }
    await writer.next((m) => m?.type === 'ack' && m.opId === `b-${WRITES}`, 20_000);
    await live.next((m) => m?.type === 'update' && m.version === WRITES + 1, 5_000);

    const want = Array.from({ length: WRITES }, (_, i) => i + 2);
    assert.deepEqual(updatesOf(batched).map((u) => u.version), want, 'batched: every version once, in order');
    assert.deepEqual(updatesOf(live).map((u) => u.version), want, 'live: every version once, in order');
    assert.equal(batched.frames.filter(({ msg }) => msg?.type === 'update').length, 0, 'no single update frames on a batched connection');
    const batchFrames = batched.frames.filter(({ msg }) => msg?.type === 'updates').length;
    assert.ok(batchFrames >= WRITES / 10 && batchFrames < WRITES / 2, `coalesced into ${batchFrames} frames`);

    let state = bw.state;
    for (const u of updatesOf(batched)) state = applyUpdate(state, u);
    assert.deepEqual(state, (await getState(srv.url, s.keys.read)).state, 'applying the batches gives the server state');
    assert.deepEqual(updatesOf(batched), updatesOf(live), 'the same frames, byte for byte after parsing');
    await Promise.all([batched.close(), live.close(), writer.close()]);
  });

  it('a bad batch parameter is refused before the upgrade', async () => {
    const s = await createSession(srv.url, {});
    const r = await rawConnect(`${wsPath(srv.wsUrl, s.keys.read)}?batch=yes`);
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).error.code, 'invalid_request');
  });
});
