// Presence for HTTP-only clients (issue 14): `POST .../presence` puts an SSE or long-poll
// client into `welcome` presence lists and `presence` frames on every transport; it leaves
// when its SSE stream closes, or when a long-poll client stops renewing it.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, sessionPath, assertError } from '../helpers/http.mjs';
import { connectWelcome, openSSE, wsPath } from '../helpers/ws.mjs';

let srv;
before(async () => { srv = await startDevServer({ vars: { HTTP_PRESENCE_TTL_SECONDS: '2' } }); });
after(async () => { await srv?.stop(); });

const setPresence = (key, body) => req(srv.url, 'POST', sessionPath(key, '/presence'), { body });
const isPresence = (event, clientId) => (m) => m?.type === 'presence' && m.event === event && m.clientId === clientId;

describe('an SSE client in presence', () => {
  test('joins with its stream id, updates, is listed in welcomes, and leaves when its stream closes', async () => {
    const s = await createSession(srv.url, { state: {} });
    const [ws] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read));
    const sse = await openSSE(`${srv.url}${sessionPath(s.keys.read, '/events')}`);
    const welcome = (await sse.next((m) => m.event === 'welcome')).json;
    assert.match(welcome.clientId, /^s_/);

    const joined = await setPresence(s.keys.read, { data: { name: 'Sam' }, clientId: welcome.clientId });
    assert.equal(joined.status, 200, joined.text);
    assert.equal(joined.json.clientId, welcome.clientId);
    assert.equal(joined.json.ttl, null, 'tied to the stream, no TTL');
    const join = await ws.next(isPresence('join', welcome.clientId));
    assert.deepEqual(join.data, { name: 'Sam' });
    const echoed = await sse.next((m) => m.event === 'presence' && m.json.clientId === welcome.clientId);
    assert.equal(echoed.json.event, 'join', 'SSE streams carry presence events too');

    await setPresence(s.keys.read, { data: { name: 'Sam', typing: true }, clientId: welcome.clientId });
    assert.deepEqual((await ws.next(isPresence('update', welcome.clientId))).data, { name: 'Sam', typing: true });

    const [late, lateWelcome] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read));
    assert.ok(lateWelcome.presence.some((p) => p.clientId === welcome.clientId && p.data.typing === true),
      'a later WebSocket sees the SSE client in its welcome');

    // A WebSocket client's own presence reaches the SSE stream.
    ws.send({ type: 'presence', data: { name: 'Wes' } });
    await sse.next((m) => m.event === 'presence' && m.json.event === 'update' && m.json.data?.name === 'Wes');

    sse.close();
    // The runtime notices the closed stream at its next keep-alive (5 s); the sweep follows.
    await ws.next(isPresence('leave', welcome.clientId), 30_000);
    ws.close();
    late.close();
  });
});

describe('a long-poll client in presence', () => {
  test('gets an id and the presence list, renews with it, and leaves once it stops renewing', async () => {
    const s = await createSession(srv.url, { state: {} });
    const [ws] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write));
    ws.send({ type: 'presence', data: { name: 'Wes' } });
    const first = await setPresence(s.keys.read, { data: { name: 'Lou' } });
    assert.equal(first.status, 200, first.text);
    const id = first.json.clientId;
    assert.match(id, /^h_/);
    assert.equal(first.json.ttl, 2);
    assert.ok(first.json.presence.some((p) => p.clientId === id), 'the answer lists everyone present');
    await ws.next(isPresence('join', id));

    const renewed = await setPresence(s.keys.read, { data: { name: 'Lou', away: true }, clientId: id });
    assert.equal(renewed.json.clientId, id);
    await ws.next(isPresence('update', id));

    // No more renewals: the entry lapses after its TTL and the next sweep announces it.
    await ws.next(isPresence('leave', id), 30_000);
    const lapsed = await setPresence(s.keys.read, { data: 1, clientId: id });
    assertError(lapsed, 400, 'unknown_client', 'renewing a lapsed id');
    ws.close();
  });

  test('bad bodies and ids are refused with stable codes', async () => {
    const s = await createSession(srv.url, { state: {} });
    assertError(await setPresence(s.keys.read, { data: 1, clientId: 'c_not_mine' }), 400, 'unknown_client');
    assertError(await setPresence(s.keys.read, { nodata: 1 }), 400, 'invalid_request');
    assertError(await setPresence(s.keys.read, { data: 'x'.repeat(3000) }), 400, 'presence_too_large');
    const wrongMethod = await req(srv.url, 'GET', sessionPath(s.keys.read, '/presence'));
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'POST, OPTIONS');
  });
});
