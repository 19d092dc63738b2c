// Large documents (issue 11): a session of about 60 MB (MAX_STATE_BYTES at its 64 MiB ceiling)
// is built by merge patches, refused past the limit with nothing stored, read by a streamed GET,
// sent to a new WebSocket client as P16 part frames, patched, resumed from the op log, and read
// back identical after wrangler dev restarts (the object loads its chunked snapshot and replays
// its log). A second session is written to while its runtime is killed three times: every
// acknowledged write survives and the state stays loadable and consistent.
// The server writes object keys sorted (serde_json), so the expected text is built with keys
// inserted in sorted order and compared byte for byte (by hash).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, sessionPath, assertError } from '../helpers/http.mjs';
import { waitFor } from '../helpers/poll.mjs';
import { runtimeWorkerd } from '../helpers/proc.mjs';

const MP = { 'Content-Type': 'application/merge-patch+json' };
const sha = (text) => createHash('sha256').update(text).digest('hex');
const key = (i) => `k${String(i).padStart(6, '0')}`;
/** One item of about 1 KB (keys in sorted order, as the server writes them). */
const item = (i, x = i) => ({ label: `item ${i} `.padEnd(1000, '.'), x, y: -i });

/** The merge patch adding items `from` (inclusive) to `to` (exclusive). */
function itemsPatch(from, to) {
  const items = {};
  for (let i = from; i < to; i++) items[key(i)] = item(i);
  return { items };
}

/**
 * A raw WebSocket that collects frames, joining P16 parts into the frame they carry.
 * `next(type)` waits for the next whole frame of that type.
 */
async function openSocket(url) {
  const ws = new WebSocket(url);
  const frames = [];
  const waiters = [];
  let parts = null;
  let partsSeen = 0;
  ws.onmessage = (ev) => {
    let f = JSON.parse(ev.data);
    if (f.type === 'part') {
      assert.equal(f.seq, parts === null ? 0 : parts.length, 'parts arrive in order');
      assert.ok(ev.data.length <= 1_048_576, 'a part frame is at most 1 MiB');
      parts = [...(parts ?? []), f.data];
      partsSeen++;
      if (!f.last) return;
      f = JSON.parse(parts.join(''));
      f.text = parts.join('');
      parts = null;
    } else {
      assert.equal(parts, null, 'no frame between the parts of another');
    }
    frames.push(f);
    for (const w of waiters.splice(0)) w();
  };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const next = async (type) => {
    for (;;) {
      const i = frames.findIndex((f) => f.type === type);
      if (i >= 0) return frames.splice(i, 1)[0];
      await new Promise((r) => waiters.push(r));
    }
  };
  return { ws, next, send: (f) => ws.send(JSON.stringify(f)), parts: () => partsSeen, close: () => ws.close() };
}

describe('a 60 MB session', { timeout: 600_000 }, () => {
  let srv;
  let restarted;
  before(async () => { srv = await startDevServer({ abuseLimits: 'large' }); });
  after(async () => { await restarted?.stop(); await srv?.stop(); });

  const ITEMS = 58_000; // about 60 MB
  const STEP = 2000;
  let s;
  const expected = { items: {} };

  it('is built by merge patches; a patch past MAX_STATE_BYTES is refused and stores nothing', async () => {
    s = await createSession(srv.url, { state: {} });
    for (let from = 0; from < ITEMS; from += STEP) {
      const patch = itemsPatch(from, Math.min(ITEMS, from + STEP));
      const r = await req(srv.url, 'PATCH', sessionPath(s.keys.write), { body: JSON.stringify(patch), headers: MP });
      assert.equal(r.status, 200, r.text);
      Object.assign(expected.items, patch.items);
    }
    const info = await req(srv.url, 'GET', sessionPath(s.keys.admin, '/info'));
    const bytes = JSON.stringify(expected).length;
    assert.equal(info.json.stateBytes, bytes, 'the tracked size is exact');
    assert.ok(bytes > 58_000_000 && bytes < 67_108_864, `${bytes} bytes`);
    const over = await req(srv.url, 'PATCH', sessionPath(s.keys.write), { body: JSON.stringify(itemsPatch(ITEMS, ITEMS + 8000)), headers: MP });
    assertError(over, 413, 'state_too_large', 'past 64 MiB');
    const after = await req(srv.url, 'GET', sessionPath(s.keys.admin, '/info'));
    assert.equal(after.json.version, ITEMS / STEP + 1, 'the refused patch made no version');
    assert.equal(after.json.stateBytes, bytes, 'and changed nothing');
  });

  it('is read whole by a streamed GET', async () => {
    const r = await fetch(`${srv.url}${sessionPath(s.keys.read)}`);
    assert.equal(r.status, 200);
    const text = await r.text();
    const body = JSON.parse(text);
    assert.equal(body.version, ITEMS / STEP + 1);
    assert.equal(sha(JSON.stringify(body.state)), sha(JSON.stringify(expected)));
  });

  it('reaches a new WebSocket client as part frames, takes a small patch, and resumes exactly', async () => {
    const c = await openSocket(`${srv.wsUrl}${sessionPath(s.keys.write)}/ws`);
    const welcome = await c.next('welcome');
    assert.ok(c.parts() >= 58, `a ${welcome.text.length}-byte welcome came in ${c.parts()} parts`);
    assert.equal(welcome.resume, 'snapshot');
    assert.equal(sha(JSON.stringify(welcome.state)), sha(JSON.stringify(expected)));
    const v = welcome.version;
    c.send({ type: 'patch', opId: 'small-1', merge: { items: { [key(7)]: { x: -7 } } } });
    const ack = await c.next('ack');
    assert.equal(ack.version, v + 1);
    const update = await c.next('update');
    assert.deepEqual(update.merge, { items: { [key(7)]: { x: -7 } } });
    expected.items[key(7)].x = -7;
    c.close();

    const r = await openSocket(`${srv.wsUrl}${sessionPath(s.keys.read)}/ws?since=${v}`);
    const resumed = await r.next('welcome');
    assert.equal(resumed.resume, 'ops');
    assert.deepEqual(resumed.ops.map((o) => o.opId), ['small-1'], 'exactly the missed op');
    assert.equal(r.parts(), 0, 'a resume is small');
    r.close();
  });

  it('is read back identical after wrangler dev restarts (snapshot plus log)', async () => {
    await srv.stop({ keepData: true });
    restarted = await startDevServer({ abuseLimits: 'large', persistTo: srv.persistTo });
    const r = await fetch(`${restarted.url}${sessionPath(s.keys.read)}`);
    assert.equal(r.status, 200);
    const body = JSON.parse(await r.text());
    assert.equal(body.version, ITEMS / STEP + 2);
    assert.equal(sha(JSON.stringify(body.state)), sha(JSON.stringify(expected)));
  });
});

describe('a large session written to while its runtime is killed', { timeout: 600_000 }, () => {
  let srv;
  before(async () => { srv = await startDevServer({ abuseLimits: 'large' }); });
  after(async () => { await srv?.stop(); });

  it('keeps every acknowledged write, three times over, and always loads', async () => {
    // 8 MB of items; each write replaces 256 of them (about 256 KB), so a snapshot is taken
    // every few dozen writes and the kills land before, during and after them.
    const s = await createSession(srv.url, { state: {} });
    for (let from = 0; from < 8000; from += 4000) {
      const r = await req(srv.url, 'PATCH', sessionPath(s.keys.write), { body: JSON.stringify(itemsPatch(from, from + 4000)), headers: MP });
      assert.equal(r.status, 200, r.text);
    }
    const acked = new Map(); // token -> version its ack named
    let token = 0;
    /** Writes until `count` more acks, over one socket; resolves early if the socket dies. */
    const writeSome = async (count) => {
      const c = await waitFor(() => openSocket(`${srv.wsUrl}${sessionPath(s.keys.write)}/ws`).catch(() => null),
        { timeoutMs: 60_000, intervalMs: 100, what: 'the runtime accepts sockets again' });
      const closed = new Promise((r) => c.ws.addEventListener('close', r));
      await Promise.race([c.next('welcome'), closed]);
      for (let n = 0; n < count; n++) {
        token++;
        const items = {};
        for (let i = 0; i < 256; i++) items[key((token * 256 + i) % 8000)] = { x: token };
        c.send({ type: 'patch', opId: `t${token}`, merge: { items, last: token } });
        const ack = await Promise.race([c.next('ack'), closed.then(() => null)]);
        if (!ack) return;
        acked.set(token, ack.version);
      }
      c.close();
    };
    for (let kill = 0; kill < 3; kill++) {
      const before = acked.size;
      const writing = writeSome(1000);
      await waitFor(() => acked.size >= before + 20, { timeoutMs: 60_000, what: '20 more acks' });
      const pid = runtimeWorkerd(srv);
      assert.ok(pid, 'the runtime workerd is running');
      process.kill(pid, 'SIGKILL');
      await writing;
    }
    await writeSome(5);
    const r = await waitFor(() => req(srv.url, 'GET', sessionPath(s.keys.read)).then((x) => x.status === 200 && x, () => null),
      { timeoutMs: 60_000, what: 'the session loads' });
    const state = r.json.state;
    const newest = Math.max(...acked.keys());
    assert.ok(state.last >= newest, `the newest acknowledged write (${newest}) is stored (last=${state.last})`);
    // Every item holds the newest token that wrote it, so no acknowledged write was lost.
    for (const [t] of acked) {
      for (let i = 0; i < 256; i++) {
        const k = key((t * 256 + i) % 8000);
        assert.ok(state.items[k].x >= t, `item ${k} lost write ${t}`);
        assert.equal(typeof state.items[k].label, 'string', 'merged, not replaced');
      }
    }
    assert.equal(Object.keys(state.items).length, 8000);
    const maxAckVersion = Math.max(...acked.values());
    assert.ok(r.json.version >= maxAckVersion, 'the version is at least the newest acknowledged one');
  });
});
