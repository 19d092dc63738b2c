// Keys and roles (issue 2 + P7, P14): the read key is refused on every write path (HTTP and
// WebSocket), admin-only routes, rotation closes old sockets with 4003, DELETE with 4004.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, sessionPath, assertError, wrongSecret, assertUnchanged } from '../helpers/http.mjs';
import { connectWelcome, rawWelcome, write, rawConnect, wsPath, quiet } from '../helpers/ws.mjs';

let srv;
let base;
let wsBase;
before(async () => { srv = await startDevServer(); base = srv.url; wsBase = srv.wsUrl; });
after(async () => { await srv?.stop(); });

describe('read key', () => {
  it('is refused on every HTTP write path: PUT, PATCH, DELETE, rotate', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const rk = s.keys.read;
    assertError(await req(base, 'PUT', sessionPath(rk), { body: { a: 2 } }), 403, 'read_only', 'PUT');
    assertError(await req(base, 'PATCH', sessionPath(rk), { body: '{"a":2}', headers: { 'Content-Type': 'application/merge-patch+json' } }), 403, 'read_only', 'PATCH merge');
    assertError(await req(base, 'PATCH', sessionPath(rk), { body: '[{"op":"replace","path":"/a","value":2}]', headers: { 'Content-Type': 'application/json-patch+json' } }), 403, 'read_only', 'PATCH json');
    assertError(await req(base, 'DELETE', sessionPath(rk)), 403, 'read_only', 'DELETE');
    assertError(await req(base, 'POST', sessionPath(rk, '/rotate')), 403, 'read_only', 'rotate');
    await assertUnchanged(base, s.keys.admin, { a: 1 }, 1);
    // the keys were not rotated and the session was not deleted
    assert.equal((await req(base, 'GET', sessionPath(s.keys.read))).status, 200);
    assert.equal((await req(base, 'GET', sessionPath(s.keys.write))).status, 200);
  });

  it('may read, subscribe and send messages', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const g = await req(base, 'GET', sessionPath(s.keys.read));
    assert.equal(g.status, 200); assert.equal(g.json.role, 'read');
    assert.equal((await req(base, 'GET', sessionPath(s.keys.read, '/info'))).status, 200);
    assert.equal((await req(base, 'POST', sessionPath(s.keys.read, '/messages'), { body: { data: 'hi' } })).status, 202);
    const [c, welcome] = await connectWelcome(wsPath(wsBase, s.keys.read));
    assert.equal(welcome.type, 'welcome');
    assert.equal(welcome.role, 'read');
    await c.close();
  });

  it('is refused over WebSocket: set and patch get reject read_only, nothing changes', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const [w, ww] = await connectWelcome(wsPath(wsBase, s.keys.write));
    assert.equal(ww.role, 'write');
    const [c, welcome] = await connectWelcome(wsPath(wsBase, s.keys.read));
    assert.equal(welcome.role, 'read');
    const frames = [
      { type: 'set', opId: 'r1', state: { a: 2 } },
      { type: 'set', opId: 'r2', baseVersion: 1, state: { a: 2 } },
      { type: 'patch', opId: 'r3', merge: { a: 3 } },
      { type: 'patch', opId: 'r4', baseVersion: 1, merge: { a: 3 } },
      { type: 'patch', opId: 'r5', ops: [{ op: 'replace', path: '/a', value: 4 }] },
      { type: 'patch', opId: 'r6', baseVersion: 1, ops: [{ op: 'replace', path: '/a', value: 4 }] },
    ];
    for (const f of frames) {
      const r = await write(c, f);
      assert.equal(r.type, 'reject', `${JSON.stringify(f)} -> ${JSON.stringify(r)}`);
      assert.equal(r.code, 'read_only');
      assert.equal(r.version, 1);
    }
    assert.ok(await quiet(c, 'update'), 'the read-only socket saw no update');
    assert.ok(await quiet(w, 'update'), 'the write socket saw no update');
    await assertUnchanged(base, s.keys.admin, { a: 1 }, 1);
    await c.close(); await w.close();
  });
});

describe('admin routes', () => {
  it('write key gets 403 admin_required on DELETE and rotate; admin key succeeds', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    assertError(await req(base, 'DELETE', sessionPath(s.keys.write)), 403, 'admin_required');
    assertError(await req(base, 'POST', sessionPath(s.keys.write, '/rotate')), 403, 'admin_required');
    await assertUnchanged(base, s.keys.admin, { a: 1 }, 1);
    assert.equal((await req(base, 'DELETE', sessionPath(s.keys.admin))).status, 204);
  });

  it('an admin WebSocket has role admin and can write', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const [c, welcome] = await connectWelcome(wsPath(wsBase, s.keys.admin));
    assert.equal(welcome.role, 'admin');
    const r = await write(c, { type: 'set', opId: 'adm-1', state: { a: 2 } });
    assert.equal(r.type, 'ack', JSON.stringify(r));
    assert.equal(r.version, 2);
    await c.close();
    await assertUnchanged(base, s.keys.admin, { a: 2 }, 2);
  });
});

describe('WebSocket upgrade errors', () => {
  it('unknown key or wrong secret answers the upgrade with HTTP 404 session_not_found; broken key 400', async () => {
    const s = await createSession(base);
    const r1 = await rawConnect(wsPath(wsBase, wrongSecret(s.keys.read)));
    assert.equal(r1.status, 404, r1.statusLine);
    assert.equal(JSON.parse(r1.body).error.code, 'session_not_found');
    const r2 = await rawConnect(wsPath(wsBase, 'broken'));
    assert.equal(r2.status, 400, r2.statusLine);
    assert.equal(JSON.parse(r2.body).error.code, 'invalid_key');
    const ok = await rawConnect(wsPath(wsBase, s.keys.read));
    assert.equal(ok.status, 101);
    assert.ok(ok.acceptOk, 'Sec-WebSocket-Accept is right');
    const w = await ok.next('welcome');
    assert.equal(w.role, 'read');
    ok.destroy();
  });
});

describe('rotate and delete close sockets', () => {
  it('rotate closes sockets opened with the old write and read keys with 4003; admin sockets stay; new keys connect', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    // raw sockets: they see the server's close frame itself (see the note in the DELETE test)
    const [cw] = await rawWelcome(wsPath(wsBase, s.keys.write));
    const [cr] = await rawWelcome(wsPath(wsBase, s.keys.read));
    const [ca] = await connectWelcome(wsPath(wsBase, s.keys.admin));
    const r = await req(base, 'POST', sessionPath(s.keys.admin, '/rotate'));
    assert.equal(r.status, 200, r.text);
    const [iw, ir] = await Promise.all([cw.waitClose(5000), cr.waitClose(5000)]);
    assert.equal(iw.code, 4003, `write socket close ${JSON.stringify(iw)}`);
    assert.equal(ir.code, 4003, `read socket close ${JSON.stringify(ir)}`);
    for (const x of [cw, cr]) assert.equal(x.frames.find((f) => f.msg?.type === 'error')?.msg.code, 'key_rotated', 'error frame before the close (P14)');
    // the admin socket is still usable
    const a = await write(ca, { type: 'set', opId: 'after-rotate', state: { a: 2 } });
    assert.equal(a.type, 'ack', JSON.stringify(a));
    // old keys are refused at upgrade, new ones work
    const old = await rawConnect(wsPath(wsBase, s.keys.write));
    assert.equal(old.status, 404, old.statusLine);
    const [nw, nwel] = await connectWelcome(wsPath(wsBase, r.json.keys.write));
    assert.equal(nwel.role, 'write');
    assert.equal(nwel.version, 2);
    const w2 = await write(nw, { type: 'patch', opId: 'new-key', merge: { b: 1 } });
    assert.equal(w2.type, 'ack', JSON.stringify(w2));
    await nw.close(); await ca.close();
    await assertUnchanged(base, s.keys.admin, { a: 2, b: 1 }, 3);
  });

  it('DELETE closes every socket with 4004', async () => {
    const s = await createSession(base);
    const socks = [];
    for (const role of ['admin', 'write', 'read']) socks.push((await rawWelcome(wsPath(wsBase, s.keys[role])))[0]);
    const d = await req(base, 'DELETE', sessionPath(s.keys.admin));
    assert.equal(d.status, 204);
    const infos = await Promise.all(socks.map((c) => c.waitClose(5000)));
    assert.deepEqual(infos.map((i) => i.code), [4004, 4004, 4004]);
    for (const x of socks) assert.equal(x.frames.find((f) => f.msg?.type === 'error')?.msg.code, 'session_ended', 'error frame before the close (P14)');
    const again = await rawConnect(wsPath(wsBase, s.keys.read));
    assert.equal(again.status, 404, again.statusLine);
  });

  it('a standard WebSocket client gets error session_ended after DELETE and key_rotated after rotate (P14)', async () => {
    // wrangler dev's proxy holds the TCP connection after a server-initiated close, so a
    // standard client's close event can be late; P14 sends an error frame first.
    const s = await createSession(base);
    const [c] = await connectWelcome(wsPath(wsBase, s.keys.write));
    const [a] = await connectWelcome(wsPath(wsBase, s.keys.admin));
    assert.equal((await req(base, 'POST', sessionPath(s.keys.admin, '/rotate'))).status, 200);
    assert.equal((await c.next('error', 5000)).code, 'key_rotated');
    assert.equal((await req(base, 'DELETE', sessionPath(s.keys.admin))).status, 204);
    // the first error the admin connection gets is session_ended: it was not told of the rotation
    assert.equal((await a.next('error', 5000)).code, 'session_ended');
  });
});
