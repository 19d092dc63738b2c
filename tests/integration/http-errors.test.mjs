// HTTP error codes (issue 2): every status/code of docs/http-api.md, with small limits.
// Every failed write must leave state and version unchanged.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, sessionPath, assertError, randomKey, wrongSecret, assertUnchanged } from '../helpers/http.mjs';

const MAX_STATE = 1000;
const MAX_BODY = 2000;
let srv;
let base;
before(async () => {
  srv = await startDevServer({ vars: { MAX_STATE_BYTES: String(MAX_STATE), MAX_BODY_BYTES: String(MAX_BODY), MAX_TTL_SECONDS: '3600' } });
  base = srv.url;
});
after(async () => { await srv?.stop(); });

const MP = { 'Content-Type': 'application/merge-patch+json' };
const JP = { 'Content-Type': 'application/json-patch+json' };

describe('400', () => {
  it('invalid_json: malformed JSON bodies on create, PUT, PATCH and messages', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const J = { 'Content-Type': 'application/json' };
    assertError(await req(base, 'POST', '/api/v1/sessions', { body: '{"state":', headers: J }), 400, 'invalid_json', 'create');
    assertError(await req(base, 'PUT', sessionPath(s.keys.write), { body: '{"a":', headers: J }), 400, 'invalid_json', 'PUT');
    assertError(await req(base, 'PUT', sessionPath(s.keys.write), { body: '', headers: J }), 400, 'invalid_json', 'PUT empty');
    assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: '{a:1}', headers: MP }), 400, 'invalid_json', 'PATCH merge');
    assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: '[{"op":', headers: JP }), 400, 'invalid_json', 'PATCH json-patch');
    assertError(await req(base, 'POST', sessionPath(s.keys.read, '/messages'), { body: 'nope', headers: J }), 400, 'invalid_json', 'messages');
    await assertUnchanged(base, s.keys.read, { a: 1 });
  });

  it('invalid_key: syntactically broken keys on every route', async () => {
    const bad = ['abc', 'abc.def', 'x'.repeat(22) + '.' + 'y'.repeat(21), 'a'.repeat(22) + '.' + 'b'.repeat(22) + '.c', 'a'.repeat(22) + '.' + 'b'.repeat(21) + '*'];
    for (const k of bad) {
      assertError(await req(base, 'GET', sessionPath(k)), 400, 'invalid_key', `GET ${k}`);
      assertError(await req(base, 'PUT', sessionPath(k), { body: {} }), 400, 'invalid_key', `PUT ${k}`);
    }
    const k = 'not-a-key';
    assertError(await req(base, 'PATCH', sessionPath(k), { body: '{}', headers: MP }), 400, 'invalid_key', 'PATCH');
    assertError(await req(base, 'DELETE', sessionPath(k)), 400, 'invalid_key', 'DELETE');
    assertError(await req(base, 'POST', sessionPath(k, '/rotate')), 400, 'invalid_key', 'rotate');
    assertError(await req(base, 'GET', sessionPath(k, '/info')), 400, 'invalid_key', 'info');
    assertError(await req(base, 'GET', sessionPath(k, '/events')), 400, 'invalid_key', 'events');
    assertError(await req(base, 'POST', sessionPath(k, '/messages'), { body: { data: 1 } }), 400, 'invalid_key', 'messages');
    assertError(await req(base, 'GET', sessionPath(k, '/ws')), 400, 'invalid_key', 'ws');
  });

  it('invalid_request: bad create fields', async () => {
    for (const body of [{ ttl: 0 }, { ttl: -5 }, { ttl: 3601 }, { ttl: 'long' }, { ttl: 1.5 }, { strict: 'yes' }, [1, 2], 'str']) {
      assertError(await req(base, 'POST', '/api/v1/sessions', { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }), 400, 'invalid_request', `create ${JSON.stringify(body)}`);
    }
    const ok = await createSession(base, { ttl: 3600 });
    assert.equal(ok.ttl, 3600, 'ttl = MAX_TTL_SECONDS is allowed');
  });

  it('invalid_request: bad If-Match and bad query values; nothing changes', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    for (const im of ['"abc"', 'abc', '"-1"', '"1.5"']) {
      assertError(await req(base, 'PUT', sessionPath(s.keys.write), { body: { a: 2 }, headers: { 'If-Match': im } }), 400, 'invalid_request', `If-Match ${im}`);
    }
    assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: '{"a":2}', headers: { ...MP, 'If-Match': 'x' } }), 400, 'invalid_request', 'PATCH If-Match');
    for (const q of ['?after=abc&wait=1', '?after=1&wait=abc', '?after=-1&wait=1', '?after=1&wait=-2']) {
      assertError(await req(base, 'GET', sessionPath(s.keys.read) + q), 400, 'invalid_request', `GET ${q}`);
    }
    assertError(await req(base, 'GET', sessionPath(s.keys.read, '/events') + '?since=abc'), 400, 'invalid_request', 'events since=abc');
    await assertUnchanged(base, s.keys.read, { a: 1 });
  });

  it('invalid_request: messages body without data, or to that is not a string', async () => {
    const s = await createSession(base);
    assertError(await req(base, 'POST', sessionPath(s.keys.read, '/messages'), { body: { nodata: 1 } }), 400, 'invalid_request', 'no data');
    assertError(await req(base, 'POST', sessionPath(s.keys.read, '/messages'), { body: [1] }), 400, 'invalid_request', 'array');
    assertError(await req(base, 'POST', sessionPath(s.keys.read, '/messages'), { body: { data: 1, to: 5 } }), 400, 'invalid_request', 'to: 5');
  });
});

describe('403', () => {
  it('read_only: the read key on PUT, PATCH (both kinds) — state and version unchanged', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    assertError(await req(base, 'PUT', sessionPath(s.keys.read), { body: { a: 2 } }), 403, 'read_only', 'PUT');
    assertError(await req(base, 'PUT', sessionPath(s.keys.read), { body: { a: 2 }, headers: { 'If-Match': '"1"' } }), 403, 'read_only', 'PUT If-Match');
    assertError(await req(base, 'PATCH', sessionPath(s.keys.read), { body: '{"a":2}', headers: MP }), 403, 'read_only', 'PATCH merge');
    assertError(await req(base, 'PATCH', sessionPath(s.keys.read), { body: '[{"op":"replace","path":"/a","value":2}]', headers: JP }), 403, 'read_only', 'PATCH json');
    await assertUnchanged(base, s.keys.read, { a: 1 });
  });

  it('admin_required: write and read keys on DELETE and rotate', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    assertError(await req(base, 'DELETE', sessionPath(s.keys.write)), 403, 'admin_required', 'DELETE write');
    assertError(await req(base, 'POST', sessionPath(s.keys.write, '/rotate')), 403, 'admin_required', 'rotate write');
    // a read key is refused for what it is: read-only (Role::require_admin)
    assertError(await req(base, 'DELETE', sessionPath(s.keys.read)), 403, 'read_only', 'DELETE read');
    assertError(await req(base, 'POST', sessionPath(s.keys.read, '/rotate')), 403, 'read_only', 'rotate read');
    await assertUnchanged(base, s.keys.read, { a: 1 });
    // keys still work
    assert.equal((await req(base, 'GET', sessionPath(s.keys.write))).status, 200);
  });
});

describe('404', () => {
  it('not_found: unknown routes', async () => {
    const s = await createSession(base);
    assertError(await req(base, 'GET', '/api/v1/nope'), 404, 'not_found', '/api/v1/nope');
    assertError(await req(base, 'GET', '/api/v2/sessions'), 404, 'not_found', '/api/v2');
    assertError(await req(base, 'GET', sessionPath(s.keys.read, '/bogus')), 404, 'not_found', 'session subroute');
    assertError(await req(base, 'GET', sessionPath(s.keys.read, '/info/more')), 404, 'not_found', 'deep subroute');
  });

  it('session_not_found: unknown session id, wrong secret', async () => {
    const s = await createSession(base);
    assertError(await req(base, 'GET', sessionPath(randomKey())), 404, 'session_not_found', 'unknown id');
    assertError(await req(base, 'GET', sessionPath(wrongSecret(s.keys.read))), 404, 'session_not_found', 'wrong secret');
    assertError(await req(base, 'PUT', sessionPath(wrongSecret(s.keys.write)), { body: { a: 1 } }), 404, 'session_not_found', 'wrong secret PUT');
    assertError(await req(base, 'DELETE', sessionPath(wrongSecret(s.keys.admin))), 404, 'session_not_found', 'wrong secret DELETE');
    await assertUnchanged(base, s.keys.read, {});
  });
});

describe('405', () => {
  it('method_not_allowed on known routes with other methods', async () => {
    const s = await createSession(base);
    const cases = [
      ['POST', sessionPath(s.keys.write)],
      ['GET', '/api/v1/sessions'],
      ['PUT', '/api/v1/sessions'],
      ['DELETE', '/api/v1/health'],
      ['GET', sessionPath(s.keys.admin, '/rotate')],
      ['GET', sessionPath(s.keys.read, '/messages')],
      ['POST', sessionPath(s.keys.read, '/info')],
      ['PUT', sessionPath(s.keys.read, '/events')],
    ];
    for (const [m, p] of cases) assertError(await req(base, m, p, m === 'GET' ? {} : { body: '{}', headers: { 'Content-Type': 'application/json' } }), 405, 'method_not_allowed', `${m} ${p}`);
    await assertUnchanged(base, s.keys.read, {});
  });
});

describe('409, 412, 422', () => {
  it('patch_conflict carries currentVersion; invalid_patch for well-formed non-patches', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    await req(base, 'PUT', sessionPath(s.keys.write), { body: { a: 1, b: [1] } });
    const c = await req(base, 'PATCH', sessionPath(s.keys.write), { body: '[{"op":"test","path":"/a","value":2}]', headers: JP });
    assertError(c, 409, 'patch_conflict');
    assert.equal(c.json.currentVersion, 2);
    const c2 = await req(base, 'PATCH', sessionPath(s.keys.write), { body: '[{"op":"replace","path":"/nope/deeper","value":2}]', headers: JP });
    assertError(c2, 409, 'patch_conflict');
    assert.equal(c2.json.currentVersion, 2);
    for (const body of ['{"op":"add","path":"/a","value":1}', '[{"op":"frobnicate","path":"/a"}]', '[{"op":"add","value":1}]', '[{"op":"add","path":"a","value":1}]', '[1,2]', '"str"']) {
      assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body, headers: JP }), 422, 'invalid_patch', `json-patch ${body}`);
    }
    await assertUnchanged(base, s.keys.read, { a: 1, b: [1] }, 2);
  });

  it('version_conflict: 412 with currentVersion for PUT and PATCH (both kinds)', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    for (let i = 0; i < 3; i++) await req(base, 'PUT', sessionPath(s.keys.write), { body: { a: 10 + i } });
    for (const [m, body, headers] of [['PUT', { a: 0 }, {}], ['PATCH', '{"a":0}', MP], ['PATCH', '[{"op":"replace","path":"/a","value":0}]', JP]]) {
      for (const im of ['"1"', '"3"', '"5"', '"999"']) {
        const r = await req(base, m, sessionPath(s.keys.write), { body, headers: { ...headers, 'If-Match': im } });
        assertError(r, 412, 'version_conflict', `${m} ${im}`);
        assert.equal(r.json.currentVersion, 4);
      }
    }
    await assertUnchanged(base, s.keys.read, { a: 12 }, 4);
  });
});

describe('413', () => {
  it('body_too_large for bodies over MAX_BODY_BYTES (create, PUT, PATCH, messages)', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const big = { pad: 'x'.repeat(MAX_BODY + 100) };
    assertError(await req(base, 'POST', '/api/v1/sessions', { body: { state: big } }), 413, 'body_too_large', 'create');
    assertError(await req(base, 'PUT', sessionPath(s.keys.write), { body: big }), 413, 'body_too_large', 'PUT');
    assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: JSON.stringify(big), headers: MP }), 413, 'body_too_large', 'PATCH');
    assertError(await req(base, 'POST', sessionPath(s.keys.read, '/messages'), { body: { data: big } }), 413, 'body_too_large', 'messages');
    await assertUnchanged(base, s.keys.read, { a: 1 });
  });

  it('state_too_large when the resulting state exceeds MAX_STATE_BYTES (PUT, merge, JSON Patch, create)', async () => {
    const s = await createSession(base, { state: { a: 'y'.repeat(600) } });
    const over = { pad: 'x'.repeat(MAX_STATE + 10) }; // body < MAX_BODY, state > MAX_STATE
    assertError(await req(base, 'POST', '/api/v1/sessions', { body: { state: over } }), 413, 'state_too_large', 'create');
    assertError(await req(base, 'PUT', sessionPath(s.keys.write), { body: over }), 413, 'state_too_large', 'PUT');
    // each patch is small, but together with the existing 600 bytes the state exceeds 1000
    assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: JSON.stringify({ b: 'z'.repeat(500) }), headers: MP }), 413, 'state_too_large', 'merge');
    assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: JSON.stringify([{ op: 'add', path: '/b', value: 'z'.repeat(500) }]), headers: JP }), 413, 'state_too_large', 'json-patch');
    await assertUnchanged(base, s.keys.read, { a: 'y'.repeat(600) });
    // exactly at the limit is fine
    const exact = { p: '' };
    exact.p = 'q'.repeat(MAX_STATE - JSON.stringify(exact).length);
    assert.equal(Buffer.byteLength(JSON.stringify(exact)), MAX_STATE);
    const ok = await req(base, 'PUT', sessionPath(s.keys.write), { body: exact });
    assert.equal(ok.status, 200, `a state of exactly MAX_STATE_BYTES is accepted: ${ok.text}`);
  });
});

describe('415, 426, 428', () => {
  it('unsupported_media_type for wrong Content-Type on PUT and PATCH; nothing changes', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    assertError(await req(base, 'PUT', sessionPath(s.keys.write), { body: '{"a":2}', headers: { 'Content-Type': 'text/plain' } }), 415, 'unsupported_media_type', 'PUT text/plain');
    assertError(await req(base, 'PUT', sessionPath(s.keys.write), { body: '{"a":2}', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type', 'PUT form');
    assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: '{"a":2}', headers: { 'Content-Type': 'text/plain' } }), 415, 'unsupported_media_type', 'PATCH text/plain');
    assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: '{"a":2}', headers: { 'Content-Type': 'application/xml' } }), 415, 'unsupported_media_type', 'PATCH xml');
    await assertUnchanged(base, s.keys.read, { a: 1 });
  });

  it('upgrade_required: GET .../ws without Upgrade: websocket', async () => {
    const s = await createSession(base);
    assertError(await req(base, 'GET', sessionPath(s.keys.read, '/ws')), 426, 'upgrade_required');
    assertError(await req(base, 'GET', sessionPath(s.keys.write, '/ws')), 426, 'upgrade_required');
  });

  it('precondition_required: a strict session refuses writes without If-Match', async () => {
    const s = await createSession(base, { state: { a: 1 }, strict: true });
    assertError(await req(base, 'PUT', sessionPath(s.keys.write), { body: { a: 2 } }), 428, 'precondition_required', 'PUT');
    assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: '{"a":2}', headers: MP }), 428, 'precondition_required', 'PATCH merge');
    assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: '[{"op":"replace","path":"/a","value":2}]', headers: JP }), 428, 'precondition_required', 'PATCH json');
    await assertUnchanged(base, s.keys.read, { a: 1 });
    const ok = await req(base, 'PUT', sessionPath(s.keys.write), { body: { a: 3 }, headers: { 'If-Match': '"1"' } });
    assert.equal(ok.status, 200, ok.text);
    await assertUnchanged(base, s.keys.read, { a: 3 }, 2);
  });
});
