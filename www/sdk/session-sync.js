// session-sync browser client SDK: an ES module, no bundler needed.
//
//   import { createSession, joinSession } from '/sdk/session-sync.js';
//   const s = await createSession({ state: { count: 0 } });
//   s.subscribe((state) => render(state));
//   s.update((st) => ({ ...st, count: st.count + 1 }));
//
// Writes apply locally at once (optimistic) and are queued in an outbox until the server
// acknowledges them; server updates are applied to the confirmed state and the pending writes
// are re-applied on top (rebase). Reconnects, resume (?since=), resends and the SSE / long-poll
// fallback are handled here. See docs/sdk.md and docs/protocol.md.
import { createBackoff } from './backoff.js';
import { SyncState } from './rebase.js';
import { clone, deepEqual } from './patch.js';

export { applyMergePatch, applyJsonPatch, clone, deepEqual } from './patch.js';

/** Every default in one place. Any of them can be overridden per session in `opts`. */
export const DEFAULTS = Object.freeze({
  /** Origin of the server; '' means the page's own origin. */
  baseUrl: '',
  /** API prefix. */
  apiPath: '/api/v1',
  /** 'auto' (WebSocket, falling back to SSE, then long-poll), 'websocket', 'sse' or 'longpoll'. */
  transport: 'auto',
  /** Reconnect delays: min(maxMs, initialMs * factor^attempt), of which a `jitter` share is random. */
  backoff: Object.freeze({ initialMs: 250, maxMs: 10000, factor: 2, jitter: 0.5 }),
  /** A connection that has not delivered its `welcome` after this long is abandoned. */
  connectTimeoutMs: 8000,
  /** Failed WebSocket connects in a row (while plain HTTP works) before 'auto' falls back to SSE. */
  wsFailuresBeforeFallback: 2,
  /** Failed SSE connects in a row before 'auto' falls back to long-poll. */
  sseFailuresBeforeFallback: 2,
  /** A plain-text `ping` is sent this often on an idle WebSocket... */
  heartbeatMs: 25000,
  /** ...and the connection is dropped and re-made when nothing arrives within this time. */
  heartbeatTimeoutMs: 10000,
  /** `wait` of a long-poll request, in seconds. */
  longPollWaitSeconds: 25,
  /** Writes sent and not yet acknowledged at most (the server limits frames per second). */
  maxInFlight: 32,
  /** How many times update(fn) re-runs after version conflicts before it gives up. */
  maxUpdateAttempts: 25,
  /** Presence updates are sent at most this often (the latest value wins). */
  presenceThrottleMs: 50,
  /** Delay before resending writes that were rate limited or failed over HTTP. */
  resendDelayMs: 500,
  /** Reconnect at once when the page becomes visible or the browser comes back online. */
  reconnectOnVisible: true,
  /** Role of the key used by createSession: 'write' or 'admin'. */
  createRole: 'write',
  /** Ask for coalesced WebSocket updates (protocol P15): fewer frames for busy sessions, up to one server tick (20 ms) later. */
  batch: false,
});

/** Error of a rejected write or a failed request; `code` is the server's error code. */
export class SyncError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   * @param {{status?:number, currentVersion?:number, opId?:string}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'SyncError';
    this.code = code;
    Object.assign(this, extra);
  }
}

const FATAL_CLOSE = { 4003: 'key_rotated', 4004: 'session_not_found' };
const g = /** @type {any} */ (globalThis);

function mergeOptions(opts) {
  const o = { ...DEFAULTS, ...opts };
  o.backoff = { ...DEFAULTS.backoff, ...(opts.backoff || {}) };
  return o;
}

function randomId(n = 8) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = new Uint8Array(n);
  g.crypto.getRandomValues(bytes);
  let s = '';
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}

/** Resolves the HTTP base URL of the API for the given options. */
function apiBase(o) {
  const origin = o.baseUrl || (g.location ? g.location.origin : '');
  return origin.replace(/\/$/, '') + o.apiPath;
}

/** Marks a promise as handled (so an ignored rejection is not reported) and returns it. */
function handled(p) { p.catch(() => {}); return p; }

async function readError(res) {
  let body = null;
  try { body = await res.json(); } catch {}
  const err = body && body.error ? body.error : {};
  return new SyncError(err.code || `http_${res.status}`, err.message || res.statusText, {
    status: res.status, currentVersion: body ? body.currentVersion : undefined,
  });
}

/**
 * Sends a JSON request to the API and returns the parsed body; throws {@link SyncError} on an
 * error status.
 * @param {string} method
 * @param {string} path path below the API prefix, e.g. `/sessions`
 * @param {{body?:unknown, headers?:Record<string,string>, baseUrl?:string, apiPath?:string, signal?:AbortSignal}} [opts]
 * @returns {Promise<any>}
 */
export async function request(method, path, opts = {}) {
  const o = mergeOptions(opts);
  const headers = { ...(opts.headers || {}) };
  let body;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['Content-Type'] = headers['Content-Type'] || 'application/json';
  }
  const res = await fetch(apiBase(o) + path, { method, headers, body, signal: opts.signal });
  if (!res.ok) throw await readError(res);
  if (res.status === 204) return null;
  const data = await res.json();
  const etag = res.headers.get('ETag');
  if (etag && data && typeof data === 'object') Object.defineProperty(data, 'etag', { value: etag });
  return data;
}

/** Session id of a key (`<sessionId>.<secret>`). @param {string} key @returns {string} */
export function sessionIdOf(key) { return String(key).split('.')[0]; }

/**
 * Reads a session key from a URL fragment such as `#key=abc.def` (the fragment never reaches
 * server logs).
 * @param {string} [hash] defaults to `location.hash`
 * @returns {string|null}
 */
export function keyFromHash(hash = g.location ? g.location.hash : '') {
  const params = new URLSearchParams(String(hash).replace(/^#/, ''));
  const key = params.get('key');
  return key && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(key) ? key : null;
}

/**
 * Share links for a page: the same page URL with `#key=<write key>` and `#key=<read key>`.
 * @param {{write?:string, read?:string, admin?:string}} keys
 * @param {string} [pageUrl] defaults to the current page without its fragment
 * @returns {{write?:string, read?:string}}
 */
export function shareLinks(keys, pageUrl = g.location ? g.location.href : '') {
  const base = String(pageUrl).split('#')[0];
  const out = {};
  if (keys.write) out.write = `${base}#key=${keys.write}`;
  if (keys.read) out.read = `${base}#key=${keys.read}`;
  return out;
}

/**
 * Fetches `GET /sessions/{key}/info`: version, state size, connected clients, recent ops.
 * @param {string} key any key of the session
 * @param {{baseUrl?:string, apiPath?:string}} [opts]
 * @returns {Promise<{version:number, updatedAt:number, expiresAt:number, stateBytes:number, clients:Array<{clientId:string, role:string, data:unknown}>, recentOps:any[]}>}
 */
export function getInfo(key, opts = {}) {
  return request('GET', `/sessions/${encodeURIComponent(key)}/info`, opts);
}

/**
 * Fetches the state once over HTTP (`GET /sessions/{key}`), without connecting.
 * @param {string} key @param {{baseUrl?:string, apiPath?:string}} [opts]
 * @returns {Promise<{state:unknown, version:number, updatedAt:number, expiresAt:number, role:string}>}
 */
export function getState(key, opts = {}) {
  return request('GET', `/sessions/${encodeURIComponent(key)}`, opts);
}

/**
 * Deletes a session (admin key). Connected clients are closed with 4004.
 * @param {string} adminKey @param {{baseUrl?:string, apiPath?:string}} [opts]
 * @returns {Promise<null>}
 */
export function deleteSession(adminKey, opts = {}) {
  return request('DELETE', `/sessions/${encodeURIComponent(adminKey)}`, opts);
}

/** Presence of a session: who is connected and the small JSON value each one shares. */
export class Presence {
  /** @param {Session} session */
  constructor(session) {
    this._session = session;
    /** @type {Map<string, unknown>} */
    this.clients = new Map();
    /** This client's own presence value (re-sent after every reconnect). */
    this.data = null;
    this._timer = null;
    this._lastSent = 0;
    this._dirty = false;
  }

  /** This client's id (null before the first welcome). @returns {string|null} */
  get self() { return this._session.clientId; }

  /**
   * Every connected client, this one included (flagged `self`).
   * @returns {Array<{clientId:string, data:any, self:boolean}>}
   */
  list() {
    return [...this.clients].map(([clientId, data]) => ({ clientId, data, self: clientId === this.self }));
  }

  /** The other connected clients. @returns {Array<{clientId:string, data:any, self:boolean}>} */
  others() { return this.list().filter((c) => !c.self); }

  /** Presence value of one client. @param {string} clientId @returns {any} */
  get(clientId) { return this.clients.get(clientId); }

  /** Number of connected clients. @returns {number} */
  get size() { return this.clients.size; }

  /**
   * Sets this client's presence value (at most `maxPresenceBytes` of JSON) and shares it with
   * the others. Calls are throttled (`presenceThrottleMs`); the latest value is always sent.
   * Over SSE or long-poll presence stays local (those transports cannot send it).
   * @param {any} data
   */
  set(data) {
    this.data = clone(data);
    if (this.self) this.clients.set(this.self, this.data);
    this._dirty = true;
    this._schedule();
    this._session._emit('presence', { event: 'self', clientId: this.self, data: this.data, list: this.list() });
  }

  _schedule() {
    if (this._timer) return;
    const wait = Math.max(0, this._lastSent + this._session.options.presenceThrottleMs - Date.now());
    this._timer = setTimeout(() => { this._timer = null; this._flush(); }, wait);
  }

  _flush() {
    if (!this._dirty) return;
    if (this._session._sendFrame({ type: 'presence', data: this.data })) {
      this._dirty = false;
      this._lastSent = Date.now();
    }
  }

  /** @param {Array<{clientId:string, data:unknown}>} list */
  _reset(list) {
    this.clients = new Map((list || []).map((c) => [c.clientId, c.data]));
    if (this.self && this.data !== null) {
      this.clients.set(this.self, this.data);
      this._dirty = true;
      this._flush();
    }
    this._session._emit('presence', { event: 'sync', list: this.list() });
  }

  /** @param {{event:string, clientId:string, data:unknown}} f */
  _apply(f) {
    if (f.event === 'leave') this.clients.delete(f.clientId);
    else this.clients.set(f.clientId, f.data);
    this._session._emit('presence', { event: f.event, clientId: f.clientId, data: f.data, list: this.list() });
  }
}

/**
 * A live connection to one session. Create it with {@link createSession} or {@link joinSession}
 * (or `new Session(key, opts)` and await `session.ready`).
 */
export class Session {
  /**
   * @param {string} key a write, read or admin key
   * @param {object} [opts] overrides of {@link DEFAULTS}, plus `keys` (all three keys, known to
   *   the creator), `initialState` and `initialVersion` (a state already fetched)
   */
  constructor(key, opts = {}) {
    this.key = key;
    this.sessionId = sessionIdOf(key);
    this.options = mergeOptions(opts);
    /** All keys when this client created the session, else null. */
    this.keys = opts.keys || null;
    /** Connection id given by the server in `welcome`. @type {string|null} */
    this.clientId = null;
    /** 'admin', 'write' or 'read' once known. @type {string|null} */
    this.role = null;
    /** 'connecting', 'open', 'offline' or 'closed'. */
    this.status = 'connecting';
    /** Fatal error that closed the session, if any. @type {SyncError|null} */
    this.error = null;
    /** Transport in use: 'websocket', 'sse' or 'longpoll'. */
    this.transport = this.options.transport === 'auto' ? 'websocket' : this.options.transport;
    this.presence = new Presence(this);
    this._sync = new SyncState(opts.initialState, opts.initialVersion || 0);
    this._listeners = new Map();
    this._epoch = 0;
    this._conn = null;
    this._failures = 0;
    this._needSnapshot = false;
    this._backoff = createBackoff(this.options.backoff);
    this._retryTimer = null;
    this._flushTimer = null;
    this._opPrefix = randomId(8);
    this._opCounter = 0;
    /** @type {Map<string, {resolve:Function, reject:Function}>} op id (first attempt) -> promise */
    this._waiters = new Map();
    this._lastView = this._sync.view;
    this._lastPending = 0;
    this.ready = handled(new Promise((resolve, reject) => { this._ready = { resolve, reject }; }));
    this._bindWindow();
    this._connect();
  }

  /** The current state: the confirmed server state with pending local writes applied. */
  get state() { return this._sync.view; }
  /** The last server version applied (pending local writes not counted). */
  get version() { return this._sync.version; }
  /** The last state confirmed by the server, without pending local writes. */
  get confirmedState() { return this._sync.confirmed; }
  /** Number of local writes not yet confirmed by the server. */
  get pendingCount() { return this._sync.outbox.size; }
  /** True when this key may write ('write' or 'admin'). */
  get canWrite() { return this.role === 'write' || this.role === 'admin'; }

  // ---- events -------------------------------------------------------------------------

  /**
   * Adds an event listener; returns a function that removes it. Events:
   * `change` (state, {version, source}), `status` (status), `presence` ({event, clientId, data, list}),
   * `pending` (number of unconfirmed local writes), `transport` (kind), `text` (plain-text chat line),
   * `message` (data, {from}), `reject` (SyncError), `error` (SyncError), `welcome` (frame).
   * @param {string} type @param {Function} fn @returns {() => void}
   */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  /** Removes an event listener. @param {string} type @param {Function} fn */
  off(type, fn) { this._listeners.get(type)?.delete(fn); }

  _emit(type, ...args) {
    for (const fn of [...(this._listeners.get(type) || [])]) {
      try { fn(...args); } catch (e) { console.error(`session-sync ${type} listener failed`, e); }
    }
  }

  /**
   * Calls `listener(state, {version, source})` now (when a state is known) and after every change
   * of the state, local or remote. Returns the unsubscribe function.
   * @param {(state:any, info:{version:number, source:string}) => void} listener
   * @returns {() => void}
   */
  subscribe(listener) {
    const off = this.on('change', listener);
    if (this._sync.version > 0 || this._sync.outbox.size > 0) {
      try { listener(this.state, { version: this.version, source: 'initial' }); } catch (e) { console.error(e); }
    }
    return off;
  }

  _changed(source) {
    const pending = this._sync.outbox.size;
    if (pending !== this._lastPending) {
      this._lastPending = pending;
      this._emit('pending', pending);
    }
    const view = this._sync.view;
    if (view === this._lastView) return;
    if (deepEqual(view, this._lastView)) { this._lastView = view; return; }
    this._lastView = view;
    this._emit('change', view, { version: this.version, source });
  }

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this._emit('status', status);
  }

  // ---- writes -------------------------------------------------------------------------

  _write(write) {
    if (this.status === 'closed') return handled(Promise.reject(new SyncError('closed', 'the session is closed')));
    if (this.role === 'read') return handled(Promise.reject(new SyncError('read_only', 'this key is read-only')));
    const opId = `${this._opPrefix}-${++this._opCounter}`;
    const p = handled(new Promise((resolve, reject) => this._waiters.set(opId, { resolve, reject })));
    this._sync.addLocal(opId, write);
    this._changed('local');
    this._flush();
    return p;
  }

  /**
   * Replaces the state. Applied locally at once; resolves with `{version, opId}` once the server
   * applied it. Last writer wins unless `baseVersion` is given (then a newer server version
   * rejects it with `version_conflict` and the local change is rolled back).
   * @param {any} state
   * @param {{baseVersion?:number}} [opts]
   * @returns {Promise<{version:number, opId:string, duplicate?:boolean}>}
   */
  set(state, opts = {}) { return this._write({ kind: 'set', set: clone(state), baseVersion: opts.baseVersion }); }

  /**
   * Changes part of the state with a JSON Merge Patch (an object), or a JSON Patch (an array
   * of operations). Applied locally at once; resolves once the server applied it.
   * @param {object|any[]} patch
   * @param {{baseVersion?:number}} [opts]
   * @returns {Promise<{version:number, opId:string, duplicate?:boolean}>}
   */
  patch(patch, opts = {}) {
    if (Array.isArray(patch)) return this._write({ kind: 'ops', ops: clone(patch), baseVersion: opts.baseVersion });
    return this._write({ kind: 'merge', merge: clone(patch), baseVersion: opts.baseVersion });
  }

  /**
   * Read-modify-write: `fn(state)` gets a copy of the latest state and returns the new state
   * (or `undefined` to change nothing). It is sent with `baseVersion`, so a concurrent write
   * makes the server reject it; `fn` then runs again on the newer state and the write is
   * retried. Resolves with `{version, opId}`, or `{cancelled:true}` when fn returned undefined.
   * @param {(state:any) => any} fn
   * @returns {Promise<{version?:number, opId?:string, cancelled?:boolean}>}
   */
  update(fn) { return this._write({ kind: 'update', fn }); }

  /**
   * Sends an ephemeral message to every other client, or to one (`to`: a client id). Returns
   * false when not connected (messages are not queued).
   * @param {any} data
   * @param {{to?:string}} [opts]
   * @returns {boolean}
   */
  broadcast(data, opts = {}) {
    const frame = { type: 'broadcast', data };
    if (opts.to) frame.to = opts.to;
    return this._sendFrame(frame);
  }

  /** Closes the connection for good. Pending writes are rejected with `closed`. */
  close() {
    if (this.status === 'closed') return;
    this._shutdown(null);
  }

  // ---- connection ---------------------------------------------------------------------

  _bindWindow() {
    if (typeof g.addEventListener !== 'function') return;
    this._onOnline = () => this._reconnectNow();
    this._onOffline = () => this._drop('offline', false);
    this._onVisible = () => {
      if (g.document && g.document.visibilityState !== 'visible') return;
      if (this.status === 'open') this._probeAlive();
      else this._reconnectNow();
    };
    g.addEventListener('online', this._onOnline);
    g.addEventListener('offline', this._onOffline);
    if (this.options.reconnectOnVisible && g.document) g.document.addEventListener('visibilitychange', this._onVisible);
  }

  _unbindWindow() {
    if (typeof g.removeEventListener !== 'function') return;
    g.removeEventListener('online', this._onOnline);
    g.removeEventListener('offline', this._onOffline);
    if (g.document) g.document.removeEventListener('visibilitychange', this._onVisible);
  }

  _isOffline() { return g.navigator && g.navigator.onLine === false; }

  _connect() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (this.status === 'closed') return;
    if (this._conn) { try { this._conn.close(); } catch {} this._conn = null; }
    if (this._isOffline()) { this._epoch++; this._setStatus('offline'); return; }
    const epoch = ++this._epoch;
    this._setStatus('connecting');
    if (this.transport === 'websocket') this._connectWs(epoch);
    else if (this.transport === 'sse') this._connectSse(epoch);
    else this._connectLongPoll(epoch);
  }

  _reconnectNow() {
    if (this.status !== 'offline') return; // open, closed, or an attempt is under way
    this._backoff.reset();
    this._connect();
  }

  /** Abandons the current connection (if any). `retry`: schedule a reconnect with backoff. */
  _drop(reason, retry) {
    const conn = this._conn;
    this._conn = null;
    this._epoch++;
    if (conn) { try { conn.close(); } catch {} }
    this._stopHeartbeat();
    if (this.status === 'closed') return;
    this._setStatus('offline');
    if (retry) this._scheduleReconnect();
  }

  _scheduleReconnect() {
    clearTimeout(this._retryTimer);
    const delay = this._backoff.next();
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  /**
   * Called when a connection ended. Decides between a fatal close, a transport fallback and
   * a reconnect with backoff.
   */
  async _lost(epoch, info) {
    if (epoch !== this._epoch || this.status === 'closed') return;
    this._conn = null;
    this._stopHeartbeat();
    this._epoch++;
    if (info.code && FATAL_CLOSE[info.code]) {
      this._shutdown(new SyncError(FATAL_CLOSE[info.code], `connection closed with ${info.code}`));
      return;
    }
    this._setStatus('offline');
    const lostEpoch = this._epoch;
    if (!info.welcomed) {
      this._failures++;
      // The browser hides why a WebSocket / EventSource failed: ask plain HTTP.
      const probe = await this._probe();
      if (this.status === 'closed' || this._epoch !== lostEpoch) return; // reconnected meanwhile
      if (probe.fatal) { this._shutdown(probe.fatal); return; }
      if (probe.ok && this.options.transport === 'auto') {
        if (this.transport === 'websocket' && this._failures >= this.options.wsFailuresBeforeFallback) {
          this._switchTransport('sse');
        } else if (this.transport === 'sse' && this._failures >= this.options.sseFailuresBeforeFallback) {
          this._switchTransport('longpoll');
        }
      }
    }
    if (this._retryTimer === null && this.status !== 'closed') this._scheduleReconnect();
  }

  _switchTransport(kind) {
    this.transport = kind;
    this._failures = 0;
    this._backoff.reset();
    this._emit('transport', kind);
  }

  async _probe() {
    try {
      const res = await fetch(`${apiBase(this.options)}/sessions/${encodeURIComponent(this.key)}`, { method: 'GET', cache: 'no-store' });
      if (res.status === 404 || res.status === 400) return { fatal: await readError(res) };
      return { ok: res.ok };
    } catch {
      return { ok: false };
    }
  }

  _shutdown(error) {
    this.error = error;
    const conn = this._conn;
    this._conn = null;
    this._epoch++;
    if (conn) { try { conn.close(); } catch {} }
    this._stopHeartbeat();
    clearTimeout(this._retryTimer);
    clearTimeout(this._flushTimer);
    clearTimeout(this.presence._timer);
    this._unbindWindow();
    this._setStatus('closed');
    const err = error || new SyncError('closed', 'the session is closed');
    for (const w of this._waiters.values()) w.reject(err);
    this._waiters.clear();
    this._ready.reject(err);
    if (error) this._emit('error', error);
  }

  _wsUrl() {
    const http = apiBase(this.options);
    const base = http.startsWith('http') ? http : new URL(http, g.location.href).href;
    const url = new URL(`${base.replace(/^http/, 'ws')}/sessions/${encodeURIComponent(this.key)}/ws`);
    if (this._sync.version > 0 && !this._needSnapshot) url.searchParams.set('since', String(this._sync.version));
    if (this.options.batch) url.searchParams.set('batch', '1');
    return url.href;
  }

  _connectWs(epoch) {
    let ws;
    try { ws = new WebSocket(this._wsUrl()); } catch (e) { this._lost(epoch, { welcomed: false }); return; }
    const conn = { kind: 'websocket', welcomed: false, ws };
    conn.close = () => { ws.onclose = ws.onmessage = ws.onerror = null; try { ws.close(1000); } catch {} };
    conn.send = (frame) => {
      if (ws.readyState !== 1) return false;
      ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
      return true;
    };
    conn.sendOp = (op) => conn.send(opFrame(op));
    this._conn = conn;
    const timer = setTimeout(() => {
      if (epoch === this._epoch && !conn.welcomed) { conn.close(); this._lost(epoch, { welcomed: false }); }
    }, this.options.connectTimeoutMs);
    ws.onmessage = (ev) => {
      if (epoch !== this._epoch) return;
      this._alive();
      if (typeof ev.data !== 'string') return;
      if (ev.data === 'pong') return;
      let frame;
      try { frame = JSON.parse(ev.data); } catch { this._emit('text', ev.data); return; }
      if (frame && frame.type === 'welcome') { conn.welcomed = true; clearTimeout(timer); }
      this._onFrame(frame);
    };
    ws.onclose = (ev) => {
      clearTimeout(timer);
      this._lost(epoch, { code: ev.code, welcomed: conn.welcomed });
    };
  }

  _connectSse(epoch) {
    let url = `${apiBase(this.options)}/sessions/${encodeURIComponent(this.key)}/events`;
    if (this._sync.version > 0 && !this._needSnapshot) url += `?since=${this._sync.version}`;
    const es = new EventSource(url);
    const conn = { kind: 'sse', welcomed: false, es };
    conn.close = () => es.close();
    conn.send = (frame) => this._httpFrame(frame);
    conn.sendOp = (op) => this._httpOp(op, epoch);
    this._conn = conn;
    const timer = setTimeout(() => {
      if (epoch === this._epoch && !conn.welcomed) { es.close(); this._lost(epoch, { welcomed: false }); }
    }, this.options.connectTimeoutMs);
    const handle = (ev) => {
      if (epoch !== this._epoch) return;
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      if (!frame.type) frame.type = ev.type === 'message' ? frame.type : ev.type;
      if (frame.type === 'welcome') { conn.welcomed = true; clearTimeout(timer); }
      this._onFrame(frame);
    };
    for (const t of ['welcome', 'update', 'broadcast', 'presence', 'message']) es.addEventListener(t, handle);
    es.onerror = () => {
      clearTimeout(timer);
      es.close();
      this._lost(epoch, { welcomed: conn.welcomed });
    };
  }

  _connectLongPoll(epoch) {
    const ctrl = new AbortController();
    const conn = { kind: 'longpoll', welcomed: false };
    conn.close = () => ctrl.abort();
    conn.send = (frame) => this._httpFrame(frame);
    conn.sendOp = (op) => this._httpOp(op, epoch);
    this._conn = conn;
    const base = `${apiBase(this.options)}/sessions/${encodeURIComponent(this.key)}`;
    const loop = async () => {
      try {
        let first = true;
        while (epoch === this._epoch) {
          const url = first ? base : `${base}?after=${this._sync.version}&wait=${this.options.longPollWaitSeconds}`;
          const res = await fetch(url, { cache: 'no-store', signal: ctrl.signal });
          if (epoch !== this._epoch) return;
          if (res.status === 304) continue;
          if (!res.ok) {
            const err = await readError(res);
            if (res.status === 404 || res.status === 400) { this._shutdown(err); return; }
            throw err;
          }
          const body = await res.json();
          if (epoch !== this._epoch) return;
          if (first) {
            first = false;
            conn.welcomed = true;
            this._onFrame({ type: 'welcome', role: body.role, clientId: null, version: body.version, resume: 'snapshot', state: body.state, presence: [] });
          } else if (body.version > this._sync.version) {
            this._snapshot(body.state, body.version, 'remote');
          }
        }
      } catch (e) {
        if (epoch === this._epoch) this._lost(epoch, { welcomed: conn.welcomed });
      }
    };
    loop();
  }

  _httpFrame(frame) {
    if (frame.type !== 'broadcast') return false; // presence and ping cannot go over HTTP
    const body = { data: frame.data };
    if (frame.to) body.to = frame.to;
    request('POST', `/sessions/${encodeURIComponent(this.key)}/messages`, { ...this.options, body })
      .catch((e) => this._emit('error', e));
    return true;
  }

  /** HTTP writes go one at a time, in order. */
  _httpOp(op, epoch) {
    this._httpChain = (this._httpChain || Promise.resolve()).then(() => this._httpOpNow(op, epoch));
    return true;
  }

  async _httpOpNow(op, epoch) {
    if (!this._sync.outbox.get(op.opId)) return; // confirmed or dropped meanwhile
    const headers = { 'Idempotency-Key': op.opId };
    if (typeof op.baseVersion === 'number') headers['If-Match'] = `"${op.baseVersion}"`;
    let method = 'PUT';
    let body = op.set;
    if (op.kind === 'merge') { method = 'PATCH'; body = op.merge; headers['Content-Type'] = 'application/merge-patch+json'; }
    if (op.kind === 'ops') { method = 'PATCH'; body = op.ops; headers['Content-Type'] = 'application/json-patch+json'; }
    if (method === 'PUT') headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(`${apiBase(this.options)}/sessions/${encodeURIComponent(this.key)}`, { method, headers, body: JSON.stringify(body) });
    } catch {
      this._sync.outbox.unsend(op);
      if (epoch === this._epoch) this._lost(epoch, { welcomed: true });
      return;
    }
    if (res.ok) {
      const data = await res.json().catch(() => ({}));
      this._onFrame({ type: 'ack', opId: op.opId, version: data.version, duplicate: !!data.duplicate });
      return;
    }
    const err = await readError(res);
    if (res.status === 429 || res.status >= 500) {
      this._onFrame({ type: 'reject', opId: op.opId, code: 'rate_limited', message: err.message });
      return;
    }
    this._onFrame({ type: 'reject', opId: op.opId, code: err.code, message: err.message, version: err.currentVersion });
  }

  _sendFrame(frame) {
    if (!this._conn || this.status !== 'open') return false;
    return this._conn.send(frame);
  }

  // ---- heartbeat ----------------------------------------------------------------------

  _alive() {
    if (!this._conn || this._conn.kind !== 'websocket') return;
    clearTimeout(this._hbTimeout);
    this._hbTimeout = null;
    clearTimeout(this._hbTimer);
    this._hbTimer = setTimeout(() => this._probeAlive(), this.options.heartbeatMs);
  }

  /** Sends a plain-text ping; without any answer in time the connection is re-made. */
  _probeAlive() {
    const conn = this._conn;
    if (!conn || conn.kind !== 'websocket' || this._hbTimeout) return;
    const epoch = this._epoch;
    conn.send('ping');
    this._hbTimeout = setTimeout(() => {
      this._hbTimeout = null;
      if (epoch !== this._epoch) return;
      conn.close();
      this._lost(epoch, { welcomed: true });
    }, this.options.heartbeatTimeoutMs);
  }

  _stopHeartbeat() {
    clearTimeout(this._hbTimer);
    clearTimeout(this._hbTimeout);
    this._hbTimer = this._hbTimeout = null;
  }

  // ---- frames -------------------------------------------------------------------------

  _snapshot(state, version, source) {
    const done = this._sync.applySnapshot(state, version);
    this._settle(done);
    this._changed(source);
    this._flush();
  }

  /** Resolves the promises of ops the confirmed state now includes. */
  _settle(ops, version) {
    for (const op of ops) {
      const w = this._waiters.get(op.id);
      if (!w) continue;
      this._waiters.delete(op.id);
      w.resolve({ version: op.ackedVersion ?? version ?? this.version, opId: op.opId });
    }
  }

  _onFrame(f) {
    if (!f || typeof f !== 'object') return;
    switch (f.type) {
      case 'welcome': this._onWelcome(f); break;
      case 'update': {
        const r = this._sync.applyRemote(f);
        if (r.status === 'gap') { this._resync(); return; }
        this._settle(r.confirmed, f.version);
        this._changed(f.author && f.author === this.clientId ? 'ack' : 'remote');
        this._flush();
        break;
      }
      case 'updates': // batch=1 (protocol P15): the same update frames, coalesced
        for (const u of f.updates ?? []) this._onFrame(u);
        break;
      case 'ack': {
        const op = this._sync.outbox.get(f.opId);
        if (!op) break;
        const w = this._waiters.get(op.id);
        if (w) { this._waiters.delete(op.id); w.resolve({ version: f.version, opId: f.opId, duplicate: !!f.duplicate }); }
        this._sync.ack(f.opId, f.version);
        this._changed('ack');
        this._flush();
        break;
      }
      case 'reject': {
        const r = this._sync.reject(f.opId, f.code, f.version, this.options.maxUpdateAttempts);
        if (r.action === 'dropped' && r.op) {
          const err = new SyncError(f.code, f.message, { opId: f.opId, currentVersion: f.version });
          const w = this._waiters.get(r.op.id);
          if (w) { this._waiters.delete(r.op.id); w.reject(err); }
          this._changed('rollback');
          this._emit('reject', err);
        } else if (r.action === 'retry') {
          this._changed('rebase');
        }
        if (r.action === 'resend') this._scheduleFlush(this.options.resendDelayMs);
        else this._flush();
        break;
      }
      case 'presence': this.presence._apply(f); break;
      case 'broadcast': this._emit('message', f.data, { from: f.from }); break;
      case 'error':
        // P14: the server says why before it closes (4004 / 4003); some proxies delay the
        // close event itself, so end the session on the frame.
        if (f.code === 'session_ended') { this._shutdown(new SyncError('session_not_found', f.message)); break; }
        if (f.code === 'key_rotated') { this._shutdown(new SyncError('key_rotated', f.message)); break; }
        this._emit('error', new SyncError(f.code, f.message));
        break;
      default: break;
    }
  }

  _onWelcome(f) {
    if (f.clientId !== undefined) this.clientId = f.clientId;
    if (f.role) this.role = f.role;
    if (f.resume === 'ops' && Array.isArray(f.ops)) {
      for (const u of f.ops) {
        const r = this._sync.applyRemote(u);
        if (r.status === 'gap') { this._needSnapshot = true; this._resync(); return; }
        this._settle(r.confirmed, u.version);
      }
      if (f.version !== this._sync.version) { this._needSnapshot = true; this._resync(); return; }
      this._changed('resume');
    } else {
      this._snapshot(f.state, f.version, 'snapshot');
    }
    this._needSnapshot = false;
    this._failures = 0;
    this._backoff.reset();
    this._setStatus('open');
    this.presence._reset(f.presence);
    this._alive();
    this._emit('welcome', f);
    this._ready.resolve(this);
    if (this.role === 'read') this._rejectAllPending(new SyncError('read_only', 'this key is read-only'));
    this._flush();
  }

  _rejectAllPending(err) {
    for (const op of [...this._sync.outbox.ops]) {
      this._sync.outbox.remove(op.opId);
      const w = this._waiters.get(op.id);
      if (w) { this._waiters.delete(op.id); w.reject(err); }
    }
    this._sync.recompute();
    this._changed('rollback');
  }

  /** Versions are missing or do not apply: reconnect and resume (or take a snapshot). */
  _resync() {
    this._drop('resync', false);
    this._connect();
  }

  _scheduleFlush(ms) {
    clearTimeout(this._flushTimer);
    this._flushTimer = setTimeout(() => this._flush(), ms);
  }

  /** Sends every write that may go now on the open connection. */
  _flush() {
    if (!this._conn || this.status !== 'open') return;
    const epoch = this._epoch;
    const { send, cancelled } = this._sync.takeSendable(epoch, this.options.maxInFlight);
    for (const op of cancelled) {
      const w = this._waiters.get(op.id);
      if (!w) continue;
      this._waiters.delete(op.id);
      if (op.error) w.reject(op.error);
      else w.resolve({ cancelled: true, version: this.version });
    }
    if (cancelled.length) this._changed('rollback');
    if (send.some((op) => op.kind === 'update')) this._changed('rebase');
    for (const op of send) {
      if (!this._conn.sendOp(op)) { this._sync.outbox.unsend(op); break; }
    }
  }
}

/** The protocol frame of a pending op. */
export function opFrame(op) {
  const f = { type: op.kind === 'set' || op.kind === 'update' ? 'set' : 'patch', opId: op.opId };
  if (typeof op.baseVersion === 'number') f.baseVersion = op.baseVersion;
  if (f.type === 'set') f.state = op.set;
  else if (op.kind === 'merge') f.merge = op.merge;
  else f.ops = op.ops;
  return f;
}

/**
 * Creates a new session (`POST /sessions`) and connects to it.
 * @param {{state?:any, ttl?:number, strict?:boolean} & Partial<typeof DEFAULTS>} [opts]
 * @returns {Promise<Session>} resolves once connected; `session.keys` holds admin, write and read keys
 */
export async function createSession(opts = {}) {
  const body = {};
  if (opts.state !== undefined) body.state = opts.state;
  if (opts.ttl !== undefined) body.ttl = opts.ttl;
  if (opts.strict !== undefined) body.strict = opts.strict;
  const created = await request('POST', '/sessions', { ...opts, body });
  const role = opts.createRole || DEFAULTS.createRole;
  const session = new Session(created.keys[role] || created.keys.write, {
    ...opts, keys: created.keys, initialState: created.state, initialVersion: created.version,
  });
  return untilReady(session);
}

/** Resolves with the session once it has its first state; closes it if that fails. */
async function untilReady(session) {
  try {
    await session.ready;
  } catch (e) {
    session.close();
    throw e;
  }
  return session;
}

/**
 * Joins an existing session with any of its keys and connects.
 * @param {string} key
 * @param {Partial<typeof DEFAULTS> & {wait?:boolean}} [opts] `wait: false` returns at once
 *   instead of waiting for the first state
 * @returns {Promise<Session>}
 */
export async function joinSession(key, opts = {}) {
  const session = new Session(key, opts);
  if (opts.wait === false) return session;
  return untilReady(session);
}
