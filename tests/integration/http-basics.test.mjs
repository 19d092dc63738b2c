// HTTP API basics (issue 2): every endpoint's success path, ETag/If-None-Match/If-Match,
// merge patch and JSON Patch, Idempotency-Key, info, CORS, DELETE, rotate.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, getState, sessionPath, assertError, KEY_RE, randomKey, etagVersion } from '../helpers/http.mjs';

let srv;
let base;
before(async () => { srv = await startDevServer(); base = srv.url; });
after(async () => { await srv?.stop(); });

describe('health and create', () => {
  it('GET /api/v1/health answers {ok:true}', async () => {
    const r = await req(base, 'GET', '/api/v1/health');
    assert.equal(r.status, 200);
    assert.equal(r.json.ok, true);
  });

  it('POST /api/v1/sessions with no body creates an empty session', async () => {
    const before = Date.now();
    const r = await req(base, 'POST', '/api/v1/sessions');
    assert.equal(r.status, 201, r.text);
    const b = r.json;
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(b.state, {});
    assert.equal(b.version, 1);
    assert.equal(b.strict, false);
    assert.equal(b.ttl, 86400, 'ttl defaults to DEFAULT_TTL_SECONDS');
    for (const role of ['admin', 'write', 'read']) assert.match(b.keys[role], KEY_RE, `${role} key format`);
    const ids = new Set(Object.values(b.keys).map((k) => k.split('.')[0]));
    assert.deepEqual([...ids], [b.sessionId], 'all three keys start with the session id');
    const secrets = new Set(Object.values(b.keys).map((k) => k.split('.')[1]));
    assert.equal(secrets.size, 3, 'three different secrets');
    assert.equal(typeof b.updatedAt, 'number');
    assert.ok(b.updatedAt >= before - 5000 && b.updatedAt <= Date.now() + 5000, `updatedAt ${b.updatedAt} is a ms timestamp`);
    assert.equal(typeof b.expiresAt, 'number');
    assert.ok(Math.abs(b.expiresAt - (b.updatedAt + 86400_000)) < 10_000, `expiresAt ${b.expiresAt} ~ updatedAt + ttl`);
    assert.equal(etagVersion(r.headers.get('etag')), 1, `ETag ${r.headers.get('etag')}`);
    assert.ok(r.headers.get('location'), 'Location header');
    assert.ok(r.headers.get('location').includes('/api/v1/sessions/'), `Location ${r.headers.get('location')}`);
  });

  it('create body sets state, ttl and strict; two sessions get different ids', async () => {
    const a = await createSession(base, { state: { board: [1, null], n: 'x' }, ttl: 120, strict: true });
    assert.deepEqual(a.state, { board: [1, null], n: 'x' });
    assert.equal(a.ttl, 120);
    assert.equal(a.strict, true);
    assert.ok(Math.abs(a.expiresAt - a.updatedAt - 120_000) < 5000, 'expiresAt = updatedAt + 120 s');
    const b = await createSession(base, { state: [1, 2, 3] });
    assert.notEqual(a.sessionId, b.sessionId);
    assert.deepEqual((await getState(base, b.keys.read)).state, [1, 2, 3], 'state may be any JSON');
  });

  it('the Location header of create answers GET', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const loc = new URL(s.location, base);
    const r = await req(base, 'GET', loc.pathname + loc.search);
    assert.equal(r.status, 200, `GET ${s.location}: ${r.status} ${r.text}`);
    assert.deepEqual(r.json.state, { a: 1 });
  });
});

describe('GET, ETag, If-None-Match', () => {
  it('each key reads the state with its role and ETag "<version>"', async () => {
    const s = await createSession(base, { state: { hello: 'world' } });
    for (const role of ['admin', 'write', 'read']) {
      const r = await req(base, 'GET', sessionPath(s.keys[role]));
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.state, { hello: 'world' });
      assert.equal(r.json.version, 1);
      assert.equal(r.json.role, role);
      assert.equal(r.json.updatedAt, s.updatedAt);
      assert.equal(typeof r.json.expiresAt, 'number');
      assert.equal(r.headers.get('etag'), '"1"');
    }
  });

  it('If-None-Match with the current ETag gives 304 with no body; a stale one gives 200', async () => {
    const s = await createSession(base, { state: { v: 0 } });
    const r1 = await req(base, 'GET', sessionPath(s.keys.read), { headers: { 'If-None-Match': '"1"' } });
    assert.equal(r1.status, 304);
    assert.equal(r1.text, '');
    assert.equal(r1.headers.get('etag'), '"1"');
    const put = await req(base, 'PUT', sessionPath(s.keys.write), { body: { v: 1 } });
    assert.equal(put.status, 200, put.text);
    const r2 = await req(base, 'GET', sessionPath(s.keys.read), { headers: { 'If-None-Match': '"1"' } });
    assert.equal(r2.status, 200);
    assert.deepEqual(r2.json.state, { v: 1 });
    assert.equal(r2.headers.get('etag'), '"2"');
    const r3 = await req(base, 'GET', sessionPath(s.keys.read), { headers: { 'If-None-Match': '"2"' } });
    assert.equal(r3.status, 304);
  });
});

describe('PUT', () => {
  it('replaces the state, bumps the version by one, returns {version, updatedAt} + ETag', async () => {
    const s = await createSession(base, { state: { a: 1, b: 2 } });
    const r = await req(base, 'PUT', sessionPath(s.keys.write), { body: { c: 3 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.version, 2);
    assert.equal(typeof r.json.updatedAt, 'number');
    assert.ok(r.json.updatedAt >= s.updatedAt);
    assert.equal(r.headers.get('etag'), '"2"');
    const g = await getState(base, s.keys.read);
    assert.deepEqual(g.state, { c: 3 });
    assert.equal(g.version, 2);
    assert.equal(g.updatedAt, r.json.updatedAt);
  });

  it('the admin key can write too; application/json; charset=utf-8 is accepted', async () => {
    const s = await createSession(base);
    const r = await req(base, 'PUT', sessionPath(s.keys.admin), { body: JSON.stringify(['é', null, 1.5, true]), headers: { 'Content-Type': 'application/json; charset=utf-8' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual((await getState(base, s.keys.read)).state, ['é', null, 1.5, true]);
  });

  it('If-Match accepts "<v>", <v> and W/"<v>"; a stale one gives 412 with currentVersion and changes nothing', async () => {
    const s = await createSession(base, { state: { n: 0 } });
    let r = await req(base, 'PUT', sessionPath(s.keys.write), { body: { n: 1 }, headers: { 'If-Match': '"1"' } });
    assert.equal(r.status, 200, r.text); assert.equal(r.json.version, 2);
    r = await req(base, 'PUT', sessionPath(s.keys.write), { body: { n: 2 }, headers: { 'If-Match': '2' } });
    assert.equal(r.status, 200, r.text); assert.equal(r.json.version, 3);
    r = await req(base, 'PUT', sessionPath(s.keys.write), { body: { n: 3 }, headers: { 'If-Match': 'W/"3"' } });
    assert.equal(r.status, 200, r.text); assert.equal(r.json.version, 4);
    r = await req(base, 'PUT', sessionPath(s.keys.write), { body: { n: 99 }, headers: { 'If-Match': '"2"' } });
    assertError(r, 412, 'version_conflict');
    assert.equal(r.json.currentVersion, 4);
    const g = await getState(base, s.keys.read);
    assert.deepEqual(g.state, { n: 3 });
    assert.equal(g.version, 4);
  });
});

describe('PATCH', () => {
  it('merge patch (RFC 7396): nested merge, null removes', async () => {
    const s = await createSession(base, { state: { a: 1, b: { c: 2, d: 3 }, arr: [1, 2] } });
    const r = await req(base, 'PATCH', sessionPath(s.keys.write), {
      body: JSON.stringify({ b: { c: null, e: 4 }, f: 5, arr: [9] }),
      headers: { 'Content-Type': 'application/merge-patch+json' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.version, 2);
    assert.equal(r.headers.get('etag'), '"2"');
    const g = await getState(base, s.keys.read);
    assert.deepEqual(g.state, { a: 1, b: { d: 3, e: 4 }, f: 5, arr: [9] });
    assert.equal(g.version, 2);
  });

  it('JSON Patch (RFC 6902) with a passing test op is applied', async () => {
    const s = await createSession(base, { state: { turn: 'o', list: [1, 2] } });
    const r = await req(base, 'PATCH', sessionPath(s.keys.write), {
      body: JSON.stringify([
        { op: 'test', path: '/turn', value: 'o' },
        { op: 'replace', path: '/turn', value: 'x' },
        { op: 'add', path: '/list/-', value: 3 },
        { op: 'remove', path: '/list/0' },
        { op: 'copy', from: '/turn', path: '/last' },
      ]),
      headers: { 'Content-Type': 'application/json-patch+json' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.version, 2);
    const g = await getState(base, s.keys.read);
    assert.deepEqual(g.state, { turn: 'x', list: [2, 3], last: 'x' });
  });

  it('a JSON Patch whose test fails is not applied at all (409 patch_conflict, state and version unchanged)', async () => {
    const s = await createSession(base, { state: { turn: 'o', n: 1 } });
    const r = await req(base, 'PATCH', sessionPath(s.keys.write), {
      body: JSON.stringify([
        { op: 'replace', path: '/n', value: 2 },
        { op: 'test', path: '/turn', value: 'x' },
        { op: 'replace', path: '/turn', value: 'y' },
      ]),
      headers: { 'Content-Type': 'application/json-patch+json' },
    });
    assertError(r, 409, 'patch_conflict');
    assert.equal(r.json.currentVersion, 1);
    const g = await getState(base, s.keys.read);
    assert.deepEqual(g.state, { turn: 'o', n: 1 });
    assert.equal(g.version, 1);
  });

  it('a JSON Patch touching a missing path is not applied (409, unchanged)', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const r = await req(base, 'PATCH', sessionPath(s.keys.write), {
      body: JSON.stringify([{ op: 'add', path: '/b', value: 2 }, { op: 'remove', path: '/missing' }]),
      headers: { 'Content-Type': 'application/json-patch+json' },
    });
    assertError(r, 409, 'patch_conflict');
    assert.equal(r.json.currentVersion, 1);
    const g = await getState(base, s.keys.read);
    assert.deepEqual(g.state, { a: 1 });
    assert.equal(g.version, 1);
  });

  it('PATCH honours If-Match', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const mp = { 'Content-Type': 'application/merge-patch+json' };
    let r = await req(base, 'PATCH', sessionPath(s.keys.write), { body: '{"a":2}', headers: { ...mp, 'If-Match': '"1"' } });
    assert.equal(r.status, 200, r.text);
    r = await req(base, 'PATCH', sessionPath(s.keys.write), { body: '{"a":3}', headers: { ...mp, 'If-Match': '"1"' } });
    assertError(r, 412, 'version_conflict');
    assert.equal(r.json.currentVersion, 2);
    assert.deepEqual((await getState(base, s.keys.read)).state, { a: 2 });
  });
});

describe('Idempotency-Key', () => {
  it('a repeated PUT with the same Idempotency-Key is applied once and answers the first version with duplicate:true', async () => {
    const s = await createSession(base, { state: { n: 0 } });
    const h = { 'Idempotency-Key': 'op-put-1' };
    const r1 = await req(base, 'PUT', sessionPath(s.keys.write), { body: { n: 1 }, headers: h });
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.json.version, 2);
    assert.notEqual(r1.json.duplicate, true);
    const w = await req(base, 'PUT', sessionPath(s.keys.write), { body: { n: 2 } });
    assert.equal(w.json.version, 3);
    const r2 = await req(base, 'PUT', sessionPath(s.keys.write), { body: { n: 1 }, headers: h });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.version, 2, 'answers the version it got the first time');
    assert.equal(r2.json.duplicate, true);
    const g = await getState(base, s.keys.read);
    assert.deepEqual(g.state, { n: 2 }, 'the repeat was not applied again');
    assert.equal(g.version, 3);
  });

  it('a repeated PATCH with the same Idempotency-Key is applied once', async () => {
    const s = await createSession(base, { state: { list: [] } });
    const h = { 'Content-Type': 'application/json-patch+json', 'Idempotency-Key': 'append-1' };
    const body = JSON.stringify([{ op: 'add', path: '/list/-', value: 'x' }]);
    const r1 = await req(base, 'PATCH', sessionPath(s.keys.write), { body, headers: h });
    assert.equal(r1.status, 200, r1.text);
    const r2 = await req(base, 'PATCH', sessionPath(s.keys.write), { body, headers: h });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.duplicate, true);
    assert.equal(r2.json.version, r1.json.version);
    const g = await getState(base, s.keys.read);
    assert.deepEqual(g.state, { list: ['x'] });
    assert.equal(g.version, 2);
  });
});

describe('info, messages', () => {
  it('GET .../info reports version, stateBytes, clients and recentOps', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    await req(base, 'PUT', sessionPath(s.keys.write), { body: { a: 2 }, headers: { 'Idempotency-Key': 'info-op' } });
    const r = await req(base, 'GET', sessionPath(s.keys.read, '/info'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.version, 2);
    assert.equal(typeof r.json.updatedAt, 'number');
    assert.equal(typeof r.json.expiresAt, 'number');
    assert.equal(r.json.stateBytes, Buffer.byteLength(JSON.stringify({ a: 2 })));
    assert.deepEqual(r.json.clients, []);
    assert.ok(Array.isArray(r.json.recentOps));
    const last = r.json.recentOps.at(-1);
    assert.equal(last.type, 'update');
    assert.equal(last.version, 2);
    assert.equal(last.author, 'http');
    assert.equal(last.opId, 'info-op');
    assert.deepEqual(last.set, { a: 2 });
  });

  it('POST .../messages with no sockets answers 202 {delivered:0} and does not change the version', async () => {
    const s = await createSession(base);
    const r = await req(base, 'POST', sessionPath(s.keys.read, '/messages'), { body: { data: { hi: 1 } } });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.delivered, 0);
    assert.equal((await getState(base, s.keys.read)).version, 1);
  });
});

describe('GET/PUT/PATCH never create a session', () => {
  it('unknown keys get 404 session_not_found on every route and nothing is created', async () => {
    const k = randomKey();
    assertError(await req(base, 'GET', sessionPath(k)), 404, 'session_not_found', 'GET');
    assertError(await req(base, 'PUT', sessionPath(k), { body: { a: 1 } }), 404, 'session_not_found', 'PUT');
    assertError(await req(base, 'PATCH', sessionPath(k), { body: '{"a":1}', headers: { 'Content-Type': 'application/merge-patch+json' } }), 404, 'session_not_found', 'PATCH');
    assertError(await req(base, 'PATCH', sessionPath(k), { body: '[{"op":"add","path":"/a","value":1}]', headers: { 'Content-Type': 'application/json-patch+json' } }), 404, 'session_not_found', 'PATCH json-patch');
    assertError(await req(base, 'DELETE', sessionPath(k)), 404, 'session_not_found', 'DELETE');
    assertError(await req(base, 'GET', sessionPath(k, '/info')), 404, 'session_not_found', 'info');
    assertError(await req(base, 'POST', sessionPath(k, '/messages'), { body: { data: 1 } }), 404, 'session_not_found', 'messages');
    assertError(await req(base, 'POST', sessionPath(k, '/rotate')), 404, 'session_not_found', 'rotate');
    assertError(await req(base, 'GET', sessionPath(k, '/events')), 404, 'session_not_found', 'events');
    // after all those writes the session still does not exist
    assertError(await req(base, 'GET', sessionPath(k)), 404, 'session_not_found', 'GET after PUT');
  });
});

describe('DELETE and rotate', () => {
  it('DELETE with the admin key answers 204 and erases the session (then 404 for every key)', async () => {
    const s = await createSession(base, { state: { x: 1 } });
    const r = await req(base, 'DELETE', sessionPath(s.keys.admin));
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    for (const role of ['admin', 'write', 'read']) {
      assertError(await req(base, 'GET', sessionPath(s.keys[role])), 404, 'session_not_found', role);
    }
    assertError(await req(base, 'PUT', sessionPath(s.keys.write), { body: { x: 2 } }), 404, 'session_not_found', 'PUT after delete');
    assertError(await req(base, 'DELETE', sessionPath(s.keys.admin)), 404, 'session_not_found', 'second DELETE');
  });

  it('rotate gives new write and read keys (admin unchanged); old ones stop working, new ones work', async () => {
    const s = await createSession(base, { state: { x: 1 } });
    const r = await req(base, 'POST', sessionPath(s.keys.admin, '/rotate'));
    assert.equal(r.status, 200, r.text);
    const k = r.json.keys;
    assert.equal(k.admin, s.keys.admin);
    for (const role of ['write', 'read']) {
      assert.match(k[role], KEY_RE);
      assert.notEqual(k[role], s.keys[role]);
      assert.equal(k[role].split('.')[0], s.sessionId);
    }
    assertError(await req(base, 'GET', sessionPath(s.keys.read)), 404, 'session_not_found', 'old read key');
    assertError(await req(base, 'GET', sessionPath(s.keys.write)), 404, 'session_not_found', 'old write key');
    assertError(await req(base, 'PUT', sessionPath(s.keys.write), { body: { x: 2 } }), 404, 'session_not_found', 'old write key PUT');
    const g = await req(base, 'GET', sessionPath(k.read));
    assert.equal(g.status, 200); assert.equal(g.json.role, 'read'); assert.deepEqual(g.json.state, { x: 1 });
    const p = await req(base, 'PUT', sessionPath(k.write), { body: { x: 3 } });
    assert.equal(p.status, 200, p.text);
    assert.equal((await getState(base, k.read)).version, 2, 'rotation is not a write');
    assert.equal((await getState(base, s.keys.admin)).role, 'admin');
  });
});

describe('CORS', () => {
  it('OPTIONS preflight answers 204 with Access-Control-Allow-*', async () => {
    const s = await createSession(base);
    for (const [path, method] of [[sessionPath(s.keys.write), 'PUT'], [sessionPath(s.keys.write), 'PATCH'], ['/api/v1/sessions', 'POST'], [sessionPath(s.keys.admin), 'DELETE']]) {
      const r = await req(base, 'OPTIONS', path, {
        headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'content-type, if-match, idempotency-key' },
      });
      assert.equal(r.status, 204, `${method} ${path}: ${r.status} ${r.text}`);
      const ao = r.headers.get('access-control-allow-origin');
      assert.ok(ao === '*' || ao === 'https://app.example', `allow-origin ${ao}`);
      const am = (r.headers.get('access-control-allow-methods') ?? '').toUpperCase();
      assert.ok(am === '*' || am.includes(method), `allow-methods ${am} lacks ${method}`);
      const ah = (r.headers.get('access-control-allow-headers') ?? '').toLowerCase();
      for (const h of ['content-type', 'if-match', 'idempotency-key']) assert.ok(ah === '*' || ah.includes(h), `allow-headers ${ah} lacks ${h}`);
    }
  });

  it('responses carry Access-Control-Allow-Origin and expose ETag (also on errors)', async () => {
    const s = await createSession(base);
    const r = await req(base, 'GET', sessionPath(s.keys.read), { headers: { Origin: 'https://app.example' } });
    assert.equal(r.status, 200);
    const ao = r.headers.get('access-control-allow-origin');
    assert.ok(ao === '*' || ao === 'https://app.example', `allow-origin ${ao}`);
    const ex = (r.headers.get('access-control-expose-headers') ?? '').toLowerCase();
    assert.ok(ex.includes('etag'), `expose-headers ${ex}`);
    const c = await req(base, 'POST', '/api/v1/sessions', { headers: { Origin: 'https://app.example' } });
    assert.ok((c.headers.get('access-control-expose-headers') ?? '').toLowerCase().includes('location'), 'Location exposed on create');
    const e = await req(base, 'GET', sessionPath(randomKey()), { headers: { Origin: 'https://app.example' } });
    assert.equal(e.status, 404);
    assert.ok(e.headers.get('access-control-allow-origin'), 'error responses carry Access-Control-Allow-Origin');
  });
});
