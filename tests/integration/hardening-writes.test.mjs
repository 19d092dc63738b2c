// Issue 8, findings 1 and 2, reproduced as reported: a 914-byte JSON Patch of root copies, the
// same as a WebSocket frame, and a state nested deeper than every reader can read. Each must be
// refused while it is applied, hurt no other session, and leave every session readable.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, getState, sessionPath, assertError } from '../helpers/http.mjs';
import { connectWelcome, write, wsPath, openSSE } from '../helpers/ws.mjs';

const rootCopies = (n) => Array.from({ length: n }, (_, i) => ({ op: 'copy', from: '', path: `/k${i}` }));
const nested = (levels, inner = []) => { let v = inner; for (let i = 0; i < levels; i++) v = [v]; return v; };

let srv;
before(async () => { srv = await startDevServer(); });
after(async () => { await srv?.stop(); });

describe('finding 1: a patch that multiplies the state', () => {
  test('21 root copies (914 bytes) answer 413 at once, store nothing, and another session\'s stream keeps flowing', async () => {
    const victim = await createSession(srv.url, { state: { a: 'x'.repeat(1000) } });
    const bystander = await createSession(srv.url, { state: { n: 0 } });
    const sse = await openSSE(`${srv.url}${sessionPath(bystander.keys.read, '/events')}`);
    await sse.next((m) => m.event === 'welcome');

    const body = JSON.stringify(rootCopies(21));
    assert.ok(body.length <= 914, `the patch is ${body.length} bytes`);
    const r = await req(srv.url, 'PATCH', sessionPath(victim.keys.write), {
      headers: { 'Content-Type': 'application/json-patch+json' }, body,
    });
    assertError(r, 413, 'state_too_large', 'root copies');
    const after = await getState(srv.url, victim.keys.write);
    assert.equal(after.version, 1, 'nothing stored');
    assert.deepEqual(after.state, { a: 'x'.repeat(1000) });

    // The same worker still serves other sessions and their streams.
    const w = await req(srv.url, 'PATCH', sessionPath(bystander.keys.write), {
      headers: { 'Content-Type': 'application/merge-patch+json' }, body: '{"n":1}',
    });
    assert.equal(w.status, 200);
    const update = await sse.next((m) => m.event === 'update');
    assert.equal(update.json.version, 2);
    sse.close();
    assert.doesNotMatch(srv.logs(), /RuntimeError|Critical|previous WASM instance/);
  });

  test('the same as a 956-byte WebSocket patch frame gets reject state_too_large, and the socket stays usable', async () => {
    const s = await createSession(srv.url, { state: { a: 'x'.repeat(1000) } });
    const [c] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write));
    const frame = { type: 'patch', opId: 'boom', ops: rootCopies(21) };
    assert.ok(JSON.stringify(frame).length <= 956);
    const answer = await write(c, frame);
    assert.equal(answer.type, 'reject');
    assert.equal(answer.code, 'state_too_large');
    const ok = await write(c, { type: 'patch', opId: 'fine', merge: { b: 1 } });
    assert.equal(ok.type, 'ack');
    assert.equal(ok.version, 2);
    c.close();
  });

  test('more operations than MAX_PATCH_OPS answer 413 too_many_ops', async () => {
    const s = await createSession(srv.url, { state: {} });
    const ops = Array.from({ length: 1001 }, () => ({ op: 'test', path: '', value: {} }));
    const r = await req(srv.url, 'PATCH', sessionPath(s.keys.write), {
      headers: { 'Content-Type': 'application/json-patch+json' }, body: JSON.stringify(ops),
    });
    assertError(r, 413, 'too_many_ops');
  });
});

describe('finding 2: depth', () => {
  test('two accepted writes can no longer build a state deeper than MAX_STATE_DEPTH (64)', async () => {
    const s = await createSession(srv.url, { state: {} });
    const put = await req(srv.url, 'PUT', sessionPath(s.keys.write), { body: { d: nested(60) } });
    assert.equal(put.status, 200, put.text);
    const path = `/d${'/0'.repeat(60)}`;
    const deeper = await req(srv.url, 'PATCH', sessionPath(s.keys.write), {
      headers: { 'Content-Type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'add', path, value: nested(60) }]),
    });
    assertError(deeper, 413, 'state_too_deep', 'add below depth 60');
    const self = await req(srv.url, 'PATCH', sessionPath(s.keys.write), {
      headers: { 'Content-Type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'copy', from: '', path: `${path}/0` }]),
    });
    assertError(self, 413, 'state_too_deep', 'copy of the root into its innermost array');
    const tooDeepPut = await req(srv.url, 'PUT', sessionPath(s.keys.write), { body: nested(70) });
    assertError(tooDeepPut, 413, 'state_too_deep', 'PUT');
    const tooDeepCreate = await req(srv.url, 'POST', '/api/v1/sessions', { body: { state: nested(70) } });
    assertError(tooDeepCreate, 413, 'state_too_deep', 'create');
    assert.equal((await getState(srv.url, s.keys.write)).version, 2);
  });

  test('a deep presence value is refused', async () => {
    const s = await createSession(srv.url, { state: {} });
    const [c] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read));
    c.send({ type: 'presence', data: nested(70) });
    const err = await c.next('error');
    assert.equal(err.code, 'state_too_deep');
    c.close();
  });
});

describe('finding 2: a session whose stored state cannot be read', () => {
  test('answers 500 on reads, but its admin can still delete it (state written before the bound existed)', async () => {
    const dev = await startDevServer();
    let stopped = false;
    try {
      const s = await createSession(dev.url, { state: { d: 1 } });
      await dev.stop({ keepData: true });
      stopped = true;
      // Store a 239-deep state directly, as the old service could: in the session row, where
      // sessions kept their state before snapshots existed (docs/storage.md).
      const objectDir = join(dev.persistTo, 'v3', 'do', 'session-sync-SessionObject');
      const files = readdirSync(objectDir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
      assert.equal(files.length, 1, 'one session object');
      const db = new DatabaseSync(join(objectDir, files[0]));
      db.exec('DROP TABLE snapshot_meta; DROP TABLE snapshot_chunks;');
      db.prepare('UPDATE session SET state = ? WHERE id = 1').run(JSON.stringify({ d: nested(238) }));
      db.close();

      const again = await startDevServer({ persistTo: dev.persistTo });
      try {
        const r = await req(again.url, 'GET', sessionPath(s.keys.write));
        assertError(r, 500, 'internal', 'GET of an unreadable state');
        const info = await req(again.url, 'GET', sessionPath(s.keys.write, '/info'));
        assert.equal(info.status, 200, `the inspector still describes it: ${info.text}`);
        const del = await req(again.url, 'DELETE', sessionPath(s.keys.admin));
        assert.equal(del.status, 204);
        assertError(await req(again.url, 'GET', sessionPath(s.keys.write)), 404, 'session_not_found');
        assert.match(again.logs(), /stored state unreadable/, 'the cause is logged');
      } finally {
        await again.stop();
      }
    } finally {
      if (!stopped) await dev.stop();
      rmSync(dev.persistTo, { recursive: true, force: true, maxRetries: 5 }); // kept for the restart above
    }
  });
});
