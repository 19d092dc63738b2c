// JavaScript baseline for the benchmarks: a minimal Durable Object with the same WebSocket
// write/broadcast path and the same JSON frames as the Rust service (docs/protocol.md):
// welcome (snapshot or exact resume from the op log), set / merge patch with opId and
// baseVersion -> ack / reject + one update broadcast to every client, opId de-duplication,
// presence join/leave, broadcast relay, JSON ping. State, version and op log live in the
// Durable Object's SQLite storage; sockets use the hibernation API.
// Not implemented (not on any benchmarked path): JSON Patch, read keys, rotation, TTL, SSE.
//
// Routes (under /js, see ../entry.js):
//   POST /js/api/v1/sessions                -> 201 {sessionId, keys:{admin,write,read}, state, version}
//   GET  /js/api/v1/sessions/{key}/ws?since= -> 101 WebSocket
//   GET  /js/api/v1/sessions/{key}          -> 200 {state, version, updatedAt, role}
//   PATCH /js/api/v1/sessions/{key}          -> 200 {version, updatedAt}; body: a JSON Merge Patch
//                                               (for the state-size benchmark; a storage error,
//                                               e.g. SQLITE_TOOBIG past ~2 MB, is 500 with its message)
//   GET  /js/api/v1/health                   -> 200 {ok:true}
import { DurableObject } from 'cloudflare:workers';

const enc = new TextEncoder();

function b64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function randomId(n) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}
async function sha256(s) {
  return b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(s))));
}
function json(status, body) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'access-control-allow-origin': '*' },
  });
}
function error(status, code, message) {
  return json(status, { error: { code, message } });
}

const KEY_RE = /^\/js\/api\/v1\/sessions\/([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})\/ws$/;
const STATE_RE = /^\/js\/api\/v1\/sessions\/([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})$/;

/** The worker side: creates sessions and forwards WebSocket upgrades to the session's object. */
export async function handleJs(request, env) {
  const url = new URL(request.url);
  const path = url.pathname;
  if (path === '/js/api/v1/health') return json(200, { ok: true });
  if (path === '/js/api/v1/sessions') {
    if (request.method !== 'POST') return error(405, 'method_not_allowed', 'use POST');
    let state = {};
    const text = await request.text();
    if (text) {
      try {
        const body = JSON.parse(text);
        if (body && body.state !== undefined) state = body.state;
      } catch {
        return error(400, 'invalid_json', 'body is not JSON');
      }
    }
    const sessionId = randomId(16);
    const secret = randomId(16);
    const stub = env.JS_SESSIONS.get(env.JS_SESSIONS.idFromName(sessionId));
    const r = await stub.fetch('https://session/create', {
      method: 'POST',
      body: JSON.stringify({ hash: await sha256(secret), state }),
    });
    if (r.status !== 200) return r;
    const created = await r.json();
    const key = `${sessionId}.${secret}`;
    return json(201, { sessionId, keys: { admin: key, write: key, read: key }, state, version: 1, updatedAt: created.updatedAt });
  }
  const sm = STATE_RE.exec(path);
  if (sm) {
    if (request.method !== 'GET' && request.method !== 'PATCH') return error(405, 'method_not_allowed', 'use GET or PATCH');
    const stub = env.JS_SESSIONS.get(env.JS_SESSIONS.idFromName(sm[1]));
    return stub.fetch(`https://session/${request.method === 'GET' ? 'state' : 'patch'}`, {
      method: request.method,
      headers: { 'x-session-secret': sm[2] },
      body: request.method === 'PATCH' ? request.body : undefined,
    });
  }
  const m = KEY_RE.exec(path);
  if (m) {
    if (request.headers.get('upgrade') !== 'websocket') return error(426, 'upgrade_required', 'WebSocket upgrade required');
    const stub = env.JS_SESSIONS.get(env.JS_SESSIONS.idFromName(m[1]));
    const headers = new Headers(request.headers);
    headers.set('x-session-secret', m[2]);
    return stub.fetch(`https://session/ws${url.search}`, { headers });
  }
  return error(404, 'not_found', 'no such route');
}

/** RFC 7396 JSON Merge Patch; mutates and returns target where it is an object. */
function mergePatch(target, patch) {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  if (target === null || typeof target !== 'object' || Array.isArray(target)) target = {};
  for (const k of Object.keys(patch)) {
    const v = patch[k];
    if (v === null) delete target[k];
    else target[k] = mergePatch(target[k], v);
  }
  return target;
}

const LIMITS = { maxMessageBytes: 262144, maxMessagesPerSecond: 1000000, maxPresenceBytes: 2048, maxClients: 1000 };
const OPLOG_MAX_OPS = 1000;

export class JsSession extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.maxStateBytes = Number(env.MAX_STATE_BYTES || 262144);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), hash TEXT NOT NULL,
        state TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS ops (version INTEGER PRIMARY KEY, op_id TEXT, frame TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS ops_op_id ON ops (op_id);`);
    const row = this.sql.exec('SELECT hash, state, version, updated_at FROM meta WHERE id = 1').toArray()[0];
    if (row) {
      this.hash = row.hash;
      this.stateText = row.state;
      this.state = JSON.parse(row.state);
      this.version = row.version;
      this.updatedAt = row.updated_at;
    } else {
      this.hash = null;
    }
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  }

  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/create') {
      if (this.hash !== null) return error(409, 'exists', 'session exists');
      const { hash, state } = await request.json();
      this.hash = hash;
      this.state = state;
      this.stateText = JSON.stringify(state);
      this.version = 1;
      this.updatedAt = Date.now();
      this.sql.exec('INSERT INTO meta (id, hash, state, version, updated_at) VALUES (1, ?, ?, ?, ?)',
        hash, this.stateText, this.version, this.updatedAt);
      return json(200, { updatedAt: this.updatedAt });
    }
    if (url.pathname === '/state' || url.pathname === '/patch') return this.http(url.pathname, request);
    if (url.pathname !== '/ws') return error(404, 'not_found', 'no such route');
    if (this.hash === null) return error(404, 'session_not_found', 'no such session');
    const secret = request.headers.get('x-session-secret') || '';
    if ((await sha256(secret)) !== this.hash) return error(404, 'session_not_found', 'no such session');

    const pair = new WebSocketPair();
    const client = pair[0];
    const server = pair[1];
    const clientId = 'c_' + randomId(6);
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ clientId, role: 'write', data: null });

    const others = [];
    const presence = [];
    for (const ws of this.ctx.getWebSockets()) {
      const a = ws.deserializeAttachment();
      if (!a) continue;
      presence.push({ clientId: a.clientId, data: a.data });
      if (ws !== server) others.push(ws);
    }
    const head = `{"type":"welcome","protocol":1,"clientId":"${clientId}","role":"write","version":${this.version},"updatedAt":${this.updatedAt},`;
    const tail = `,"presence":${JSON.stringify(presence)},"limits":${JSON.stringify(LIMITS)}}`;
    let body = null;
    const sinceParam = url.searchParams.get('since');
    if (sinceParam !== null && /^\d+$/.test(sinceParam)) {
      const since = Number(sinceParam);
      if (since === this.version) body = '"resume":"ops","ops":[]';
      else if (since < this.version) {
        const rows = this.sql.exec('SELECT version, frame FROM ops WHERE version > ? ORDER BY version', since).toArray();
        if (rows.length === this.version - since) body = `"resume":"ops","ops":[${rows.map((r) => r.frame).join(',')}]`;
      }
    }
    if (body === null) body = `"resume":"snapshot","state":${this.stateText}`;
    server.send(head + body + tail);
    const join = `{"type":"presence","event":"join","clientId":"${clientId}","data":null}`;
    for (const ws of others) ws.send(join);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** GET the state, or PATCH it with a merge patch (the state-size benchmark grows sessions so). */
  async http(path, request) {
    if (this.hash === null) return error(404, 'session_not_found', 'no such session');
    if ((await sha256(request.headers.get('x-session-secret') || '')) !== this.hash) return error(404, 'session_not_found', 'no such session');
    if (path === '/state') {
      return new Response(`{"state":${this.stateText},"version":${this.version},"updatedAt":${this.updatedAt},"role":"write"}`,
        { headers: { 'content-type': 'application/json', etag: `"${this.version}"` } });
    }
    let merge;
    try {
      merge = JSON.parse(await request.text());
    } catch {
      return error(400, 'invalid_json', 'body is not JSON');
    }
    const next = mergePatch(this.state, merge);
    const text = JSON.stringify(next);
    if (enc.encode(text).length > this.maxStateBytes) {
      this.state = JSON.parse(this.stateText); // mergePatch mutated it: restore
      return error(413, 'state_too_large', 'state would exceed MAX_STATE_BYTES');
    }
    const version = this.version + 1;
    const updatedAt = Date.now();
    const frame = JSON.stringify({ type: 'update', version, updatedAt, opId: null, author: 'http', merge });
    try {
      this.ctx.storage.transactionSync(() => {
        this.sql.exec('UPDATE meta SET state = ?, version = ?, updated_at = ? WHERE id = 1', text, version, updatedAt);
        this.sql.exec('INSERT INTO ops (version, op_id, frame) VALUES (?, NULL, ?)', version, frame);
        if (version > OPLOG_MAX_OPS) this.sql.exec('DELETE FROM ops WHERE version <= ?', version - OPLOG_MAX_OPS);
      });
    } catch (e) {
      this.state = JSON.parse(this.stateText);
      return error(500, 'storage_error', `${e && e.message} (new state ${text.length} bytes, stored state ${this.stateText.length} bytes)`);
    }
    this.state = next;
    this.stateText = text;
    this.version = version;
    this.updatedAt = updatedAt;
    for (const s of this.ctx.getWebSockets()) s.send(frame);
    return json(200, { version, updatedAt });
  }

  webSocketMessage(ws, message) {
    if (typeof message !== 'string') {
      ws.send('{"type":"error","code":"invalid_frame","message":"binary frames are not supported"}');
      return;
    }
    let f;
    try {
      f = JSON.parse(message);
    } catch {
      f = undefined;
    }
    if (f === null || typeof f !== 'object' || Array.isArray(f)) {
      const a = ws.deserializeAttachment();
      const line = `${a.clientId} says: ${message}`;
      for (const s of this.ctx.getWebSockets()) if (s !== ws) s.send(line);
      return;
    }
    switch (f.type) {
      case 'set':
      case 'patch':
        this.write(ws, f);
        return;
      case 'ping':
        ws.send('{"type":"pong"}');
        return;
      case 'presence': {
        const a = ws.deserializeAttachment();
        a.data = f.data === undefined ? null : f.data;
        ws.serializeAttachment(a);
        const frame = JSON.stringify({ type: 'presence', event: 'update', clientId: a.clientId, data: a.data });
        for (const s of this.ctx.getWebSockets()) if (s !== ws) s.send(frame);
        return;
      }
      case 'broadcast': {
        const a = ws.deserializeAttachment();
        const frame = JSON.stringify({ type: 'broadcast', from: a.clientId, data: f.data });
        for (const s of this.ctx.getWebSockets()) {
          if (s === ws) continue;
          if (f.to !== undefined && s.deserializeAttachment()?.clientId !== f.to) continue;
          s.send(frame);
        }
        return;
      }
      default:
        ws.send('{"type":"error","code":"invalid_frame","message":"unknown type"}');
    }
  }

  reject(ws, opId, code, message) {
    ws.send(JSON.stringify({ type: 'reject', opId: opId ?? null, code, message, version: this.version }));
  }

  write(ws, f) {
    const opId = f.opId;
    if (opId !== undefined && (typeof opId !== 'string' || opId.length < 1 || opId.length > 64)) {
      this.reject(ws, null, 'invalid_op_id', 'opId must be 1 to 64 characters');
      return;
    }
    if (opId !== undefined) {
      const dup = this.sql.exec('SELECT version FROM ops WHERE op_id = ?', opId).toArray()[0];
      if (dup) {
        ws.send(JSON.stringify({ type: 'ack', opId, version: dup.version, duplicate: true }));
        return;
      }
    }
    if (f.baseVersion !== undefined && f.baseVersion !== this.version) {
      this.reject(ws, opId, 'version_conflict', `base version ${f.baseVersion} is not the current version ${this.version}`);
      return;
    }
    let next;
    let kind;
    let body;
    if (f.type === 'set') {
      if (f.state === undefined) return this.reject(ws, opId, 'invalid_frame', 'missing field `state`');
      next = f.state;
      kind = 'set';
      body = f.state;
    } else if (f.merge !== undefined && f.ops === undefined) {
      next = mergePatch(this.state, f.merge);
      kind = 'merge';
      body = f.merge;
    } else {
      this.reject(ws, opId, 'invalid_patch', 'the baseline supports merge patches only');
      return;
    }
    const text = JSON.stringify(next);
    if (enc.encode(text).length > this.maxStateBytes) {
      this.state = JSON.parse(this.stateText); // mergePatch mutated it: restore
      this.reject(ws, opId, 'state_too_large', 'state would exceed MAX_STATE_BYTES');
      return;
    }
    const a = ws.deserializeAttachment();
    this.state = next;
    this.stateText = text;
    this.version += 1;
    this.updatedAt = Date.now();
    const frame = JSON.stringify({ type: 'update', version: this.version, updatedAt: this.updatedAt,
      opId: opId ?? null, author: a.clientId, [kind]: body });
    this.sql.exec('UPDATE meta SET state = ?, version = ?, updated_at = ? WHERE id = 1', text, this.version, this.updatedAt);
    this.sql.exec('INSERT INTO ops (version, op_id, frame) VALUES (?, ?, ?)', this.version, opId ?? null, frame);
    if (this.version > OPLOG_MAX_OPS) this.sql.exec('DELETE FROM ops WHERE version <= ?', this.version - OPLOG_MAX_OPS);
    // Output gates hold these until the writes above are durable (P3: ack after store).
    ws.send(`{"type":"ack","opId":${JSON.stringify(opId ?? null)},"version":${this.version}}`);
    for (const s of this.ctx.getWebSockets()) s.send(frame);
  }

  webSocketClose(ws, code) {
    const a = ws.deserializeAttachment();
    try { ws.close(code >= 3000 && code <= 4999 ? code : 1000, 'bye'); } catch {}
    if (!a) return;
    const frame = `{"type":"presence","event":"leave","clientId":"${a.clientId}","data":null}`;
    for (const s of this.ctx.getWebSockets()) if (s !== ws) { try { s.send(frame); } catch {} }
  }

  webSocketError(ws) {
    this.webSocketClose(ws, 1011);
  }
}
