// Presence, broadcast, chat lines and ping (issue 3, P8, P9, P12, P13).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, getState, sessionPath } from '../helpers/http.mjs';
import { connectWelcome, rawConnect, wsPath, quiet } from '../helpers/ws.mjs';

let srv;
let base;
let wsBase;
before(async () => { srv = await startDevServer(); base = srv.url; wsBase = srv.wsUrl; });
after(async () => { await srv?.stop(); });

const isPresence = (event, clientId) => (m) => m?.type === 'presence' && m.event === event && m.clientId === clientId;

describe('presence', () => {
  it('join, update and leave are sent to the others; welcome lists every client', { timeout: 30_000 }, async () => {
    const s = await createSession(base);
    const [a, wa] = await connectWelcome(wsPath(wsBase, s.keys.write));
    assert.deepEqual(wa.presence, [{ clientId: wa.clientId, data: null }]);
    const [b, wb] = await connectWelcome(wsPath(wsBase, s.keys.read));
    assert.notEqual(wb.clientId, wa.clientId);
    assert.deepEqual(new Set(wb.presence.map((p) => p.clientId)), new Set([wa.clientId, wb.clientId]));
    const join = await a.next(isPresence('join', wb.clientId));
    assert.deepEqual(join, { type: 'presence', event: 'join', clientId: wb.clientId, data: null });

    b.send({ type: 'presence', data: { name: 'Bo', cursor: [1, 2] } });
    const upd = await a.next(isPresence('update', wb.clientId));
    assert.deepEqual(upd.data, { name: 'Bo', cursor: [1, 2] });
    assert.ok(await quiet(b, (m) => m?.type === 'presence' && m.clientId === wb.clientId), 'presence is not echoed to its sender');

    const [c, wc] = await connectWelcome(wsPath(wsBase, s.keys.write));
    const pb = wc.presence.find((p) => p.clientId === wb.clientId);
    assert.deepEqual(pb?.data, { name: 'Bo', cursor: [1, 2] }, 'a newcomer sees current presence data');
    await a.next(isPresence('join', wc.clientId));
    await b.next(isPresence('join', wc.clientId));

    const info = await req(base, 'GET', sessionPath(s.keys.read, '/info'));
    assert.equal(info.status, 200);
    const byId = Object.fromEntries(info.json.clients.map((x) => [x.clientId, x]));
    assert.equal(info.json.clients.length, 3);
    assert.equal(byId[wa.clientId].role, 'write');
    assert.equal(byId[wb.clientId].role, 'read');
    assert.deepEqual(byId[wb.clientId].data, { name: 'Bo', cursor: [1, 2] });

    await b.close(1000, 'bye');
    const la = await a.next(isPresence('leave', wb.clientId));
    assert.equal(la.type, 'presence');
    await c.next(isPresence('leave', wb.clientId));
    assert.equal((await getState(base, s.keys.read)).version, 1, 'presence never changes the version');
    await a.close(); await c.close();
  });

  it('an abrupt disconnect (TCP dropped, no close handshake) is seen as leave by the others', { timeout: 30_000 }, async () => {
    const s = await createSession(base);
    const [a, wa] = await connectWelcome(wsPath(wsBase, s.keys.write));
    const raw = await rawConnect(wsPath(wsBase, s.keys.read));
    assert.equal(raw.status, 101);
    const rw = await raw.next('welcome');
    await a.next(isPresence('join', rw.clientId));
    raw.sendText(JSON.stringify({ type: 'presence', data: { name: 'raw' } }));
    await a.next(isPresence('update', rw.clientId));
    raw.destroy();
    const leave = await a.next(isPresence('leave', rw.clientId), 15_000);
    assert.equal(leave.event, 'leave');
    const info = await req(base, 'GET', sessionPath(s.keys.read, '/info'));
    assert.deepEqual(info.json.clients.map((x) => x.clientId), [wa.clientId], 'the dropped client is gone from info');
    await a.close();
  });

  it('a client process killed with SIGKILL is seen as leave', { timeout: 30_000 }, async () => {
    const s = await createSession(base);
    const [a] = await connectWelcome(wsPath(wsBase, s.keys.write));
    const code = `const ws = new WebSocket(${JSON.stringify(wsPath(wsBase, s.keys.read))});
      ws.onmessage = (e) => { const m = JSON.parse(e.data); if (m.type === 'welcome') console.log(m.clientId); };
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const clientId = await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('child did not connect')), 10_000);
        child.stdout.on('data', (d) => { clearTimeout(t); resolve(String(d).trim()); });
      });
      await a.next(isPresence('join', clientId));
      child.kill('SIGKILL');
      await a.next(isPresence('leave', clientId), 15_000);
    } finally {
      child.kill('SIGKILL');
    }
    await a.close();
  });

  it('presence over maxPresenceBytes gets error presence_too_large and is not relayed', async () => {
    const s = await createSession(base);
    const [a] = await connectWelcome(wsPath(wsBase, s.keys.write));
    const [b, wb] = await connectWelcome(wsPath(wsBase, s.keys.write));
    b.send({ type: 'presence', data: { pad: 'x'.repeat(3000) } });
    const e = await b.next('error');
    assert.equal(e.code, 'presence_too_large');
    assert.ok(await quiet(a, isPresence('update', wb.clientId)));
    await a.close(); await b.close();
  });
});

describe('broadcast', () => {
  it('relays data to all others (not the sender), or only to `to`; never stored', async () => {
    const s = await createSession(base);
    const [a, wa] = await connectWelcome(wsPath(wsBase, s.keys.read));
    const [b, wb] = await connectWelcome(wsPath(wsBase, s.keys.write));
    const [c, wc] = await connectWelcome(wsPath(wsBase, s.keys.read));
    a.send({ type: 'broadcast', data: { emoji: 'wave' } });
    for (const x of [b, c]) assert.deepEqual(await x.next('broadcast'), { type: 'broadcast', from: wa.clientId, data: { emoji: 'wave' } });
    assert.ok(await quiet(a, 'broadcast'), 'not echoed to the sender');
    b.send({ type: 'broadcast', to: wc.clientId, data: { hint: 'your turn' } });
    assert.deepEqual(await c.next('broadcast'), { type: 'broadcast', from: wb.clientId, data: { hint: 'your turn' } });
    assert.ok(await quiet(a, 'broadcast'), 'a directed broadcast reaches only its target');
    c.send({ type: 'broadcast', to: 'c_nobody00', data: 1 });
    const e = await c.next('error');
    assert.equal(e.code, 'unknown_client');
    const g = await getState(base, s.keys.read);
    assert.equal(g.version, 1);
    assert.deepEqual(g.state, {});
    for (const x of [a, b, c]) await x.close();
  });

  it('POST .../messages reaches WebSocket clients as a broadcast frame; delivered counts them', async () => {
    const s = await createSession(base);
    const [a] = await connectWelcome(wsPath(wsBase, s.keys.read));
    const [b, wb] = await connectWelcome(wsPath(wsBase, s.keys.write));
    const r = await req(base, 'POST', sessionPath(s.keys.read, '/messages'), { body: { data: { text: 'hello from http' } } });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.delivered, 2);
    for (const x of [a, b]) {
      const m = await x.next('broadcast');
      assert.deepEqual(m.data, { text: 'hello from http' });
      assert.equal(typeof m.from, 'string');
    }
    const r2 = await req(base, 'POST', sessionPath(s.keys.write, '/messages'), { body: { data: 42, to: wb.clientId } });
    assert.equal(r2.status, 202, r2.text);
    assert.equal(r2.json.delivered, 1);
    assert.equal((await b.next('broadcast')).data, 42);
    assert.ok(await quiet(a, 'broadcast'));
    assert.equal((await getState(base, s.keys.read)).version, 1);
    for (const x of [a, b]) await x.close();
  });
});

describe('chat lines and ping', () => {
  it('two raw WebSocket clients exchange plain text as `<clientId> says: <text>`', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const [a, wa] = await connectWelcome(wsPath(wsBase, s.keys.write));
    const raw = await rawConnect(wsPath(wsBase, s.keys.read));
    const rw = await raw.next('welcome');
    raw.sendText('hello there');
    assert.equal(await a.next((m) => typeof m === 'string'), `${rw.clientId} says: hello there`);
    a.sendText('hi raw, 2 + 2 = 4');
    assert.equal(await raw.next((m) => typeof m === 'string'), `${wa.clientId} says: hi raw, 2 + 2 = 4`);
    // JSON that is not an object is a chat line too
    a.sendText('[1,2]');
    assert.equal(await raw.next((m) => typeof m === 'string'), `${wa.clientId} says: [1,2]`);
    assert.ok(await quiet(a, (m) => typeof m === 'string'), 'a chat line is not echoed to its sender');
    const g = await getState(base, s.keys.read);
    assert.equal(g.version, 1); assert.deepEqual(g.state, { a: 1 });
    raw.destroy(); await a.close();
  });

  it('plain "ping" gets plain "pong"; {"type":"ping"} gets {"type":"pong"}; neither reaches others', async () => {
    const s = await createSession(base);
    const [a] = await connectWelcome(wsPath(wsBase, s.keys.read));
    const [b] = await connectWelcome(wsPath(wsBase, s.keys.read));
    a.sendText('ping');
    assert.equal(await a.next((m) => typeof m === 'string'), 'pong');
    a.send({ type: 'ping' });
    assert.deepEqual(await a.next('pong'), { type: 'pong' });
    // a broadcast from `a` after its pings is the barrier (b's own ping would answer with a pong)
    a.send({ type: 'broadcast', data: 'barrier' });
    assert.ok(await b.q.noneBefore((m) => typeof m === 'string' || m?.type === 'pong', 'broadcast'));
    await a.close(); await b.close();
  });
});
