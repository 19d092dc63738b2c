// The API exactly as specified (issue 9 item 4): each mismatch Schemathesis found between
// docs/openapi.yaml and the server, over HTTP. `npm run conformance` reruns Schemathesis itself.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, getState, sessionPath, assertError } from '../helpers/http.mjs';

const MAX_PATCH_OPS = 3;
const HUGE = '340282366920938463463374607431768211456'; // 2^128, far past 2^64
const SPEC = readFileSync(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8');
const MP = { 'Content-Type': 'application/merge-patch+json' };
const JP = { 'Content-Type': 'application/json-patch+json' };
const J = { 'Content-Type': 'application/json' };

let srv;
let base;
before(async () => { srv = await startDevServer({ vars: { MAX_PATCH_OPS: String(MAX_PATCH_OPS) } }); base = srv.url; });
after(async () => { await srv?.stop(); });

/** A request with any method and headers (fetch refuses TRACE, custom methods and Upgrade). */
function raw(method, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const r = httpRequest(base + path, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    r.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode, headers: res.headers, text: '' }); });
    r.setTimeout(20_000, () => r.destroy(new Error(`${method} ${path} timed out`)));
    r.on('error', reject);
    r.end();
  });
}

function assertJsonError(r, status, code, what) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers['content-type'] ?? '', /application\/json/, `${what}: content-type`);
  assert.equal(JSON.parse(r.text).error.code, code, `${what}: ${r.text}`);
}

describe('405 and methods', () => {
  it('405 names the allowed methods in Allow', async () => {
    const s = await createSession(base);
    const cases = [
      ['TRACE', '/api/v1/health', 'GET, OPTIONS'],
      ['DELETE', '/api/v1/sessions', 'POST, OPTIONS'],
      ['POST', sessionPath(s.keys.read, '/info'), 'GET, OPTIONS'],
      ['GET', sessionPath(s.keys.admin, '/rotate'), 'POST, OPTIONS'],
      ['PUT', sessionPath(s.keys.read, '/events'), 'GET, OPTIONS'],
      ['POST', sessionPath(s.keys.write), 'GET, PUT, PATCH, DELETE, OPTIONS'],
    ];
    for (const [method, path, allow] of cases) {
      const r = await raw(method, path);
      assertJsonError(r, 405, 'method_not_allowed', `${method} ${path}`);
      assert.equal(r.headers.allow, allow, `${method} ${path}: Allow`);
    }
  });

  it('a method the router does not know is not read as GET', async () => {
    const s = await createSession(base);
    for (const [method, path] of [['QUERY', '/api/v1/health'], ['PROPFIND', sessionPath(s.keys.read)]]) {
      const r = await raw(method, path);
      assertJsonError(r, 405, 'method_not_allowed', `${method} ${path}`);
      assert.ok(r.headers.allow, `${method} ${path}: Allow`);
    }
    assertJsonError(await raw('QUERY', '/api/v1/nope'), 404, 'not_found', 'QUERY on no route');
  });

  it('preflights are answered on any path, as the spec says (key not checked)', async () => {
    for (const path of ['/api/v1/sessions/%C2%84', '/api/v1/sessions/x/info', '/api/v1/sessions/-/messages']) {
      assert.equal((await raw('OPTIONS', path, { Origin: 'https://a.example', 'Access-Control-Request-Method': 'GET' })).status, 204, path);
    }
  });
});

describe('bodies read as JSON Schema reads them', () => {
  it('ttl: any number without a fraction is an integer (190.0, 1.9e2); fractions, null and strings are not', async () => {
    for (const [text, ttl] of [['{"ttl":190.0}', 190], ['{"ttl":1.9e2}', 190], ['{"ttl":3600}', 3600]]) {
      const r = await req(base, 'POST', '/api/v1/sessions', { body: text, headers: J });
      assert.equal(r.status, 201, `${text}: ${r.text}`);
      assert.equal(r.json.ttl, ttl, text);
    }
    for (const text of ['{"ttl":190.5}', '{"ttl":null}', '{"ttl":"60"}', '{"ttl":-1}', '{"ttl":2592001}']) {
      assertError(await req(base, 'POST', '/api/v1/sessions', { body: text, headers: J }), 400, 'invalid_request', text);
    }
    assert.match(SPEC, /maximum: 2592000/, 'the spec states the ttl maximum');
  });

  it('strict: null is refused like any non-boolean; state: null is the state null', async () => {
    for (const text of ['{"strict":null}', '{"strict":"true"}', '{"strict":0}']) {
      assertError(await req(base, 'POST', '/api/v1/sessions', { body: text, headers: J }), 400, 'invalid_request', text);
    }
    const s = await createSession(base, { state: null });
    assert.equal(s.state, null);
    assert.equal((await getState(base, s.keys.read)).state, null);
  });

  it('messages: unknown fields and a non-string to are refused, as the spec now says', async () => {
    const s = await createSession(base);
    const path = sessionPath(s.keys.read, '/messages');
    assertError(await req(base, 'POST', path, { body: { data: 1, too: 'c_x' } }), 400, 'invalid_request', 'misspelt to');
    assertError(await req(base, 'POST', path, { body: { data: 1, to: null } }), 400, 'invalid_request', 'to null');
    assert.equal((await req(base, 'POST', path, { body: { data: null } })).status, 202);
    assert.match(SPEC, /required: \[data\]\n\s+additionalProperties: false/, 'spec: messages body additionalProperties false');
  });

  it('presence: an array is not read as {data, clientId}; clientId null is no clientId, as the spec says', async () => {
    const s = await createSession(base);
    const path = sessionPath(s.keys.read, '/presence');
    assertError(await req(base, 'POST', path, { body: [null, null] }), 400, 'invalid_request', 'array body');
    const r = await req(base, 'POST', path, { body: { data: { name: 'Ann' }, clientId: null } });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.clientId, /^h_/, 'a new long-poll id');
  });
});

describe('whole numbers past 2^64', () => {
  it('after, since and Last-Event-ID saturate instead of answering 400', async () => {
    const s = await createSession(base);
    const poll = await req(base, 'GET', `${sessionPath(s.keys.read)}?after=${HUGE}&wait=1`);
    assert.equal(poll.status, 304, `long-poll after a version no session reaches: ${poll.text}`);
    for (const [path, headers] of [[`${sessionPath(s.keys.read, '/events')}?since=${HUGE}`, {}], [sessionPath(s.keys.read, '/events'), { 'Last-Event-ID': HUGE }]]) {
      // An SSE stream does not end: read its first chunk, which holds the welcome.
      const ctrl = new AbortController();
      const res = await fetch(base + path, { headers, signal: ctrl.signal });
      assert.equal(res.status, 200, path);
      const chunk = new TextDecoder().decode((await res.body.getReader().read()).value);
      ctrl.abort();
      assert.match(chunk, /event: welcome/, path);
    }
  });

  it('a malformed after is refused also next to version= (history reads check every parameter)', async () => {
    const s = await createSession(base);
    assertError(await req(base, 'GET', `${sessionPath(s.keys.read)}?version=1&after=null`), 400, 'invalid_request', 'version with after=null');
  });

  it('If-Match past 2^64 is a version no session has: 412, not 400', async () => {
    const s = await createSession(base, { state: { a: 1 } });
    const r = await req(base, 'PATCH', sessionPath(s.keys.write), { body: '{"a":2}', headers: { ...MP, 'If-Match': `"${HUGE}"` } });
    assertError(r, 412, 'version_conflict', 'If-Match huge');
  });
});

describe('If-Match', () => {
  it('* matches any current version and counts as a precondition in a strict session', async () => {
    const loose = await createSession(base, { state: { a: 1 } });
    const w = await req(base, 'PUT', sessionPath(loose.keys.write), { body: { a: 2 }, headers: { 'If-Match': '*' } });
    assert.equal(w.status, 200, w.text);
    assert.equal(w.json.version, 2);
    const strict = await createSession(base, { state: { a: 1 }, strict: true });
    assertError(await req(base, 'PUT', sessionPath(strict.keys.write), { body: { a: 2 } }), 428, 'precondition_required', 'no If-Match');
    const p = await req(base, 'PATCH', sessionPath(strict.keys.write), { body: '{"a":3}', headers: { ...MP, 'If-Match': '*' } });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual((await getState(base, strict.keys.read)).state, { a: 3 });
  });
});

describe('JSON Patch', () => {
  it('path and from must be JSON Pointers (as the spec now says); every pointer the spec allows is read', async () => {
    assert.match(SPEC, /JsonPointer:\n(.*\n){1,2}\s+pattern: "\^\(\/\(\[\^\/~\]\|~\[01\]\)\*\)\*\$"/, 'spec: JsonPointer pattern');
    const s = await createSession(base, { state: { 'a/b': 1, 'm~n': [1] } });
    const ok = [{ op: 'replace', path: '/a~1b', value: 2 }, { op: 'add', path: '/m~0n/-', value: 2 }];
    const r = await req(base, 'PATCH', sessionPath(s.keys.write), { body: JSON.stringify(ok), headers: JP });
    assert.equal(r.status, 200, r.text);
    for (const bad of [[{ op: 'add', path: 'a', value: 1 }], [{ op: 'move', path: '/x', from: 'a' }], [{ op: 'copy', path: '/x' }], [{ op: 'add', path: '/x' }]]) {
      assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: JSON.stringify(bad), headers: JP }), 422, 'invalid_patch', JSON.stringify(bad));
    }
  });

  it('too many operations are refused even when the Idempotency-Key was seen before', async () => {
    const s = await createSession(base);
    const op = { op: 'add', path: '/a', value: 1 };
    const headers = { ...JP, 'Idempotency-Key': 'same-key' };
    assert.equal((await req(base, 'PATCH', sessionPath(s.keys.write), { body: JSON.stringify([op]), headers })).status, 200);
    const many = JSON.stringify(Array(MAX_PATCH_OPS + 1).fill(op));
    assertError(await req(base, 'PATCH', sessionPath(s.keys.write), { body: many, headers }), 413, 'too_many_ops', 'repeat with too many ops');
  });
});

describe('WebSocket handshake', () => {
  it('no Upgrade is 426 upgrade_required in JSON, naming version 13', async () => {
    const s = await createSession(base);
    const r = await raw('GET', sessionPath(s.keys.read, '/ws'));
    assertJsonError(r, 426, 'upgrade_required', 'no Upgrade');
    assert.equal(r.headers['sec-websocket-version'], '13');
  });

  it('an incomplete handshake gets the documented status, in JSON or (from the runtime) text/plain', async () => {
    const s = await createSession(base);
    const path = sessionPath(s.keys.read, '/ws');
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const cases = [
      [{ Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': key }, 426, 'upgrade_required', 'no version'],
      [{ Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '8', 'Sec-WebSocket-Key': key }, 426, 'upgrade_required', 'version 8'],
      [{ Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13' }, 400, 'invalid_request', 'no key'],
    ];
    for (const [headers, status, code, what] of cases) {
      const r = await raw('GET', path, headers);
      assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
      const type = r.headers['content-type'] ?? '';
      if (type.includes('json')) assert.equal(JSON.parse(r.text).error.code, code, what);
      else assert.match(type, /^text\/plain/, `${what}: only JSON or the runtime's text/plain is documented`);
    }
    assert.match(SPEC, /name: Sec-WebSocket-Key\n\s+in: header\n\s+required: true/, 'spec: the key is a required header');
    const ok = await raw('GET', path, { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key });
    assert.equal(ok.status, 101, 'a complete handshake still upgrades');
  });
});

describe('numbers in the state', () => {
  it('are kept exactly as docs/http-api.md says', async () => {
    const s = await createSession(base);
    const text = '{"u64":18446744073709551615,"i64":-9223372036854775808,"big":123456789012345678901234567890,"tiny":1e-400,"one":1.0,"exp":1e2}';
    assert.equal((await req(base, 'PUT', sessionPath(s.keys.write), { body: text, headers: J })).status, 200);
    const back = (await req(base, 'GET', sessionPath(s.keys.read))).text;
    for (const kept of ['"u64":18446744073709551615', '"i64":-9223372036854775808', '"big":1.2345678901234568e+29', '"tiny":0.0', '"one":1.0', '"exp":100.0']) {
      assert.ok(back.includes(kept), `${kept} in ${back}`);
    }
    assertError(await req(base, 'PUT', sessionPath(s.keys.write), { body: '{"n":1e400}', headers: J }), 400, 'invalid_json', '1e400');
  });
});
