// Version history (issue 14 item 3): automatic checkpoints every N versions or M bytes and
// before every whole-state write, checkpoints on demand with a label, the paged versions list,
// reading a checkpoint (?version=N), restoring one as a new version (broadcast, undoable),
// retention, roles, erase with the session, and a 1.5 MB state kept in two chunks.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from '../helpers/devserver.mjs';
import { req, createSession, getState, sessionPath, assertError } from '../helpers/http.mjs';
import { connectWelcome, wsPath, write } from '../helpers/ws.mjs';
import { History } from '../../packages/client/src/history.js';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const EVERY_VERSIONS = 5;
const EVERY_BYTES = 4000;
const MAX_CHECKPOINTS = 6;

let srv;
before(async () => {
  srv = await startDevServer({
    vars: {
      CHECKPOINT_EVERY_VERSIONS: String(EVERY_VERSIONS),
      CHECKPOINT_EVERY_BYTES: String(EVERY_BYTES),
      HISTORY_MAX_CHECKPOINTS: String(MAX_CHECKPOINTS),
      MAX_STATE_BYTES: '1700000',
      MAX_BODY_BYTES: '2000000',
    },
  });
});
after(async () => { await srv?.stop(); });

const merge = (key, patch, headers = {}) => req(srv.url, 'PATCH', sessionPath(key), {
  body: JSON.stringify(patch), headers: { 'Content-Type': 'application/merge-patch+json', ...headers },
});
const put = (key, state, headers = {}) => req(srv.url, 'PUT', sessionPath(key), { body: state, headers });
const checkpoint = (key, body) => req(srv.url, 'POST', sessionPath(key, '/checkpoints'), body === undefined ? {} : { body });
const restore = (key, version, headers = {}) =>
  req(srv.url, 'POST', sessionPath(key, '/restore'), { body: { version }, headers });
const versionAt = (key, version) => req(srv.url, 'GET', sessionPath(key, `?version=${version}`));

/** GET .../versions with a query; asserts 200 and returns the body. */
async function listVersions(key, query = '') {
  const r = await req(srv.url, 'GET', sessionPath(key, `/versions${query}`));
  assert.equal(r.status, 200, r.text);
  return r.json;
}
const listed = async (key, query) => (await listVersions(key, query)).versions.map((v) => v.version);

/** Applies `n` small merge writes `{n: i}`; returns the last version. */
async function writes(key, n) {
  let version;
  for (let i = 0; i < n; i++) {
    const r = await merge(key, { n: i });
    assert.equal(r.status, 200, r.text);
    version = r.json.version;
  }
  return version;
}

describe('automatic checkpoints', () => {
  it('every N versions, newest first, with version, updatedAt, label and stateBytes', async () => {
    const s = await createSession(srv.url, { state: { n: -1 } });
    assert.deepEqual(await listVersions(s.keys.read), { versions: [], next: null });
    assert.equal(await writes(s.keys.write, 11), 12);
    assert.deepEqual(await listed(s.keys.read), [10, 5]);
    const [v10] = (await listVersions(s.keys.read)).versions;
    const g = await versionAt(s.keys.read, 10);
    assert.equal(g.status, 200, g.text);
    assert.deepEqual(g.json.state, { n: 8 });
    assert.equal(g.json.version, 10);
    assert.equal(g.json.role, 'read');
    assert.deepEqual(v10, { version: 10, updatedAt: g.json.updatedAt, label: null, stateBytes: JSON.stringify({ n: 8 }).length });
    assert.equal(typeof v10.updatedAt, 'number');
  });

  it('after M bytes of changes, whichever comes first', async () => {
    const s = await createSession(srv.url, { state: {} });
    await writes(s.keys.write, 2); // v3, small
    const big = await merge(s.keys.write, { blob: 'y'.repeat(EVERY_BYTES) });
    assert.equal(big.json.version, 4);
    assert.deepEqual(await listed(s.keys.read), [4], 'the bytes limit came before the 5th version');
    await writes(s.keys.write, 4); // v8: 4 versions since the last checkpoint
    assert.deepEqual(await listed(s.keys.read), [4]);
    await writes(s.keys.write, 1); // v9
    assert.deepEqual(await listed(s.keys.read), [9, 4]);
  });

  it('before any write that replaces the whole state, so clearing is undoable', async () => {
    const s = await createSession(srv.url, { state: { shapes: [1, 2, 3] } });
    // A refused replacing write keeps nothing.
    assertError(await put(s.keys.write, {}, { 'If-Match': '"9"' }), 412, 'version_conflict');
    assertError(await put(s.keys.write, { deep: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]] }), 413, 'state_too_deep');
    assert.deepEqual(await listed(s.keys.read), []);
    assertError(await versionAt(s.keys.read, 1), 404, 'version_not_found');
    await writes(s.keys.write, 1); // v2
    assert.equal((await put(s.keys.write, {})).status, 200); // v3 clears
    assert.deepEqual(await listed(s.keys.read), [2]);
    assert.deepEqual((await versionAt(s.keys.read, 2)).json.state, { shapes: [1, 2, 3], n: 0 });
    // A second clear right away checkpoints the cleared state, not the same version twice.
    assert.equal((await put(s.keys.write, { x: 1 })).status, 200); // v4
    assert.deepEqual(await listed(s.keys.read), [3, 2]);
    // A WebSocket set is a replacing write too; a merge patch is not.
    const [c] = await connectWelcome(wsPath(srv.wsUrl, s.keys.write));
    try {
      assert.equal((await write(c, { type: 'patch', opId: 'm1', merge: { y: 2 } })).type, 'ack'); // v5
      assert.deepEqual(await listed(s.keys.read), [3, 2]);
      assert.equal((await write(c, { type: 'set', opId: 's1', state: { z: 3 } })).type, 'ack'); // v6
    } finally {
      await c.close();
    }
    assert.deepEqual(await listed(s.keys.read), [5, 3, 2]);
    assert.deepEqual((await versionAt(s.keys.read, 5)).json.state, { x: 1, y: 2 });
  });
});

describe('checkpoints on demand', () => {
  it('POST .../checkpoints answers 201 with the checkpoint, label optional', async () => {
    const s = await createSession(srv.url, { state: { a: 1 } });
    const r = await checkpoint(s.keys.write, { label: 'before demo' });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json, { version: 1, updatedAt: s.updatedAt, label: 'before demo', stateBytes: 7 });
    await writes(s.keys.write, 1);
    const plain = await checkpoint(s.keys.write);
    assert.equal(plain.status, 201, plain.text);
    assert.equal(plain.json.version, 2);
    assert.equal(plain.json.label, null);
    const list = (await listVersions(s.keys.read)).versions;
    assert.deepEqual(list.map((v) => [v.version, v.label]), [[2, null], [1, 'before demo']]);
    // Labelling a version that is already kept renames it.
    const again = await checkpoint(s.keys.admin, { label: 'renamed' });
    assert.equal(again.status, 201, again.text);
    assert.equal(again.json.label, 'renamed');
    assert.deepEqual(await listed(s.keys.read), [2, 1]);
  });

  it('refuses labels over 100 characters, other fields, and non-JSON bodies', async () => {
    const s = await createSession(srv.url, { state: {} });
    assert.equal((await checkpoint(s.keys.write, { label: 'é'.repeat(100) })).status, 201);
    assertError(await checkpoint(s.keys.write, { label: 'a'.repeat(101) }), 400, 'invalid_request');
    assertError(await checkpoint(s.keys.write, { label: 3 }), 400, 'invalid_request');
    assertError(await checkpoint(s.keys.write, { name: 'x' }), 400, 'invalid_request');
    const oops = await req(srv.url, 'POST', sessionPath(s.keys.write, '/checkpoints'), {
      body: '{oops', headers: { 'Content-Type': 'application/json' },
    });
    assertError(oops, 400, 'invalid_json');
    const text = await req(srv.url, 'POST', sessionPath(s.keys.write, '/checkpoints'), {
      body: '{}', headers: { 'Content-Type': 'text/plain' },
    });
    assertError(text, 415, 'unsupported_media_type');
  });
});

describe('the versions list', () => {
  it('pages with ?before and ?limit and a next cursor', async () => {
    const s = await createSession(srv.url, { state: {} });
    for (let i = 0; i < 5; i++) {
      await writes(s.keys.write, 1);
      assert.equal((await checkpoint(s.keys.write)).status, 201);
    }
    assert.deepEqual(await listed(s.keys.read), [6, 5, 4, 3, 2]);
    const p1 = await listVersions(s.keys.read, '?limit=2');
    assert.deepEqual([p1.versions.map((v) => v.version), p1.next], [[6, 5], 5]);
    const p2 = await listVersions(s.keys.read, `?limit=2&before=${p1.next}`);
    assert.deepEqual([p2.versions.map((v) => v.version), p2.next], [[4, 3], 3]);
    const p3 = await listVersions(s.keys.read, `?limit=2&before=${p2.next}`);
    assert.deepEqual([p3.versions.map((v) => v.version), p3.next], [[2], null]);
    assert.deepEqual((await listVersions(s.keys.read, '?limit=5')).next, null, 'exactly one page');
    for (const bad of ['?limit=0', '?limit=101', '?limit=x', '?before=-1']) {
      assertError(await req(srv.url, 'GET', sessionPath(s.keys.read, `/versions${bad}`)), 400, 'invalid_request', bad);
    }
    assert.equal((await listVersions(s.keys.read, '?limit=100')).versions.length, 5);
  });

  it('retention keeps the newest HISTORY_MAX_CHECKPOINTS and drops the oldest', async () => {
    const s = await createSession(srv.url, { state: {} });
    for (let i = 0; i < MAX_CHECKPOINTS + 3; i++) {
      await writes(s.keys.write, 1);
      assert.equal((await checkpoint(s.keys.write, { label: `c${i}` })).status, 201);
    }
    const list = (await listVersions(s.keys.read)).versions;
    assert.deepEqual(list.map((v) => v.version), [10, 9, 8, 7, 6, 5]);
    assertError(await versionAt(s.keys.read, 4), 404, 'version_not_found', 'dropped');
  });

  it('?version=N is 404 version_not_found without a checkpoint N, 400 when malformed', async () => {
    const s = await createSession(srv.url, { state: {} });
    assertError(await versionAt(s.keys.read, 1), 404, 'version_not_found');
    assertError(await versionAt(s.keys.read, 99), 404, 'version_not_found');
    assertError(await versionAt(s.keys.read, 'x'), 400, 'invalid_request');
    assertError(await req(srv.url, 'GET', sessionPath(s.keys.read, '/checkpoints')), 405, 'method_not_allowed');
    assertError(await req(srv.url, 'GET', sessionPath(s.keys.read, '/restore')), 405, 'method_not_allowed');
    assertError(await req(srv.url, 'POST', sessionPath(s.keys.read, '/versions')), 405, 'method_not_allowed');
  });
});

describe('restore', () => {
  it('writes the checkpoint as a new version, broadcast to WebSockets, and is undoable', async () => {
    const s = await createSession(srv.url, { state: { board: ['a', 'b'] } });
    assert.equal((await checkpoint(s.keys.write, { label: 'two boxes' })).status, 201); // v1
    assert.equal((await put(s.keys.write, { board: [] })).status, 200); // v2: clear
    const [c, welcome] = await connectWelcome(wsPath(srv.wsUrl, s.keys.read));
    assert.equal(welcome.version, 2);
    try {
      const r = await restore(s.keys.write, 1);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.version, 3);
      assert.equal(typeof r.json.updatedAt, 'number');
      assert.equal(r.headers.get('etag'), '"3"');
      const update = await c.next('update');
      assert.deepEqual([update.version, update.set, update.author], [3, { board: ['a', 'b'] }, 'http']);
    } finally {
      await c.close();
    }
    assert.deepEqual((await getState(srv.url, s.keys.read)).state, { board: ['a', 'b'] });
    // The state the restore replaced (v2) was checkpointed: restoring it undoes the restore.
    assert.deepEqual(await listed(s.keys.read), [2, 1]);
    const undo = await restore(s.keys.write, 2);
    assert.equal(undo.status, 200, undo.text);
    assert.deepEqual((await getState(srv.url, s.keys.read)).state, { board: [] });
    assert.equal((await getState(srv.url, s.keys.read)).version, 4);
  });

  it('follows the write rules: preconditions, strict sessions, bodies, unknown versions', async () => {
    const s = await createSession(srv.url, { state: { v: 1 }, strict: true });
    assert.equal((await checkpoint(s.keys.write)).status, 201);
    assertError(await restore(s.keys.write, 1), 428, 'precondition_required');
    const stale = await restore(s.keys.write, 1, { 'If-Match': '"7"' });
    assertError(stale, 412, 'version_conflict');
    assert.equal(stale.json.currentVersion, 1);
    const ok = await restore(s.keys.write, 1, { 'If-Match': '"1"' });
    assert.equal(ok.status, 200, ok.text);
    assertError(await restore(s.keys.write, 42, { 'If-Match': '*' }), 404, 'version_not_found');
    const bad = (body) => req(srv.url, 'POST', sessionPath(s.keys.write, '/restore'), {
      body, headers: { 'Content-Type': 'application/json' },
    });
    assertError(await bad({}), 400, 'invalid_request');
    assertError(await bad({ version: '1' }), 400, 'invalid_request');
    assertError(await bad({ version: 1, extra: true }), 400, 'invalid_request');
    assertError(await bad('nope'), 400, 'invalid_json');
  });
});

describe('roles and erase', () => {
  it('a read key lists and reads history but cannot restore or checkpoint', async () => {
    const s = await createSession(srv.url, { state: { r: 1 } });
    assert.equal((await checkpoint(s.keys.write)).status, 201);
    assert.deepEqual(await listed(s.keys.read), [1]);
    assert.equal((await versionAt(s.keys.read, 1)).status, 200);
    assertError(await checkpoint(s.keys.read, { label: 'x' }), 403, 'read_only');
    assertError(await restore(s.keys.read, 1), 403, 'read_only');
    assert.equal((await getState(srv.url, s.keys.read)).version, 1, 'nothing written');
    assert.deepEqual(await listed(s.keys.read), [1]);
  });

  it('history is erased with the session', async () => {
    const s = await createSession(srv.url, { state: { gone: true } });
    const label = `erase-me-${s.sessionId}`;
    assert.equal((await checkpoint(s.keys.write, { label })).status, 201);
    // The object's SQLite file under wrangler dev's storage folder: deleteAll must empty it.
    const { DatabaseSync } = await import('node:sqlite');
    const files = (dir) => readdirSync(dir, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.sqlite') ? [join(dir, e.name)] : []));
    const historyRows = (file) => {
      if (!existsSync(file)) return { tables: [], labels: [] };
      const db = new DatabaseSync(file, { readOnly: true });
      try {
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('checkpoints', 'checkpoint_chunks', 'history_progress')").all().map((r) => r.name);
        const labels = tables.includes('checkpoints') ? db.prepare('SELECT label FROM checkpoints').all().map((r) => r.label) : [];
        return { tables, labels };
      } finally { db.close(); }
    };
    const file = files(srv.persistTo).find((f) => historyRows(f).labels.includes(label));
    assert.ok(file, 'the checkpoint is in one object\'s SQLite file');
    assert.equal((await req(srv.url, 'DELETE', sessionPath(s.keys.admin))).status, 204);
    assert.deepEqual(historyRows(file), { tables: [], labels: [] }, 'deleteAll dropped the history tables');
    assertError(await req(srv.url, 'GET', sessionPath(s.keys.read, '/versions')), 404, 'session_not_found');
    assertError(await versionAt(s.keys.read, 1), 404, 'session_not_found');
    assertError(await restore(s.keys.write, 1), 404, 'session_not_found');
    assertError(await checkpoint(s.keys.write), 404, 'session_not_found');
  });
});

describe('large states', () => {
  it('a 1.5 MB state is checkpointed in two chunks and restored intact', { timeout: 60_000 }, async () => {
    // Multi-byte characters throughout, so the chunk boundary falls inside one unless split on a character.
    const blob = 'aé€😀'.repeat(150_000); // 10 bytes a repeat: 1,500,000 bytes of UTF-8
    const state = { blob };
    const bytes = Buffer.byteLength(JSON.stringify(state));
    assert.ok(bytes > 1_000_000 && bytes <= 2_000_000, 'two chunks of at most 1,000,000 bytes');
    // Checkpointed on demand, and before a write replaces it.
    const a = await createSession(srv.url, { state });
    const cp = await checkpoint(a.keys.write, { label: 'big' });
    assert.equal(cp.status, 201, cp.text);
    assert.equal(cp.json.stateBytes, bytes);
    const b = await createSession(srv.url, { state });
    assert.equal((await put(b.keys.write, {})).status, 200);
    assert.deepEqual((await listVersions(b.keys.read)).versions.map((v) => [v.version, v.stateBytes]), [[1, bytes]]);
    for (const s of [a, b]) {
      const read = await versionAt(s.keys.read, 1);
      assert.equal(read.status, 200);
      assert.equal(read.json.state.blob, blob);
      if (s === a) assert.equal((await put(s.keys.write, {})).status, 200);
      const r = await restore(s.keys.write, 1);
      assert.equal(r.status, 200, r.text);
      const now = await getState(srv.url, s.keys.read);
      assert.equal(now.version, 3);
      assert.equal(now.state.blob, blob);
    }
  });
});

describe('SDK session.history', () => {
  it('list, get, checkpoint and restore over HTTP with the session key', async () => {
    const s = await createSession(srv.url, { state: { boxes: [1] } });
    const history = new History({ key: s.keys.write, options: { baseUrl: srv.url } });
    const cp = await history.checkpoint('start');
    assert.deepEqual([cp.version, cp.label], [1, 'start']);
    assert.equal((await put(s.keys.write, {})).status, 200);
    const page = await history.list({ limit: 1 });
    assert.deepEqual([page.versions.map((v) => v.version), page.next], [[1], null]);
    assert.deepEqual((await history.get(1)).state, { boxes: [1] });
    await assert.rejects(history.get(9), (e) => e.code === 'version_not_found');
    const r = await history.restore(1);
    assert.equal(r.version, 3);
    assert.deepEqual((await getState(srv.url, s.keys.read)).state, { boxes: [1] });
    const reader = new History({ key: s.keys.read, options: { baseUrl: srv.url } });
    await assert.rejects(reader.restore(1), (e) => e.code === 'read_only');
    await assert.rejects(reader.checkpoint(), (e) => e.code === 'read_only');
  });
});
