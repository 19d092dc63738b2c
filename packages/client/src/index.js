// session-sync browser client SDK: an ES module, no bundler needed.
//
//   import { openSession } from '/sdk/session-sync.js';
//   const s = await openSession({ state: { count: 0 } }); // joins '#key=...' or creates one
//   s.subscribe((state) => render(state));
//   s.update((st) => ({ ...st, count: st.count + 1 }));
//
// Writes apply locally at once (optimistic) and are queued in an outbox until the server
// acknowledges them; server updates are applied to the confirmed state and the pending writes
// are re-applied on top (rebase). A write the server can never accept settles with a SyncError
// and leaves the outbox. Reconnects, resume (?since=), resends and the SSE / long-poll fallback
// are handled here; the transports live in transports/. See docs/sdk.md and docs/protocol.md.
import { createBackoff, createFailureCounter } from './backoff.js';
import { SyncState } from './rebase.js';
import { clone, deepEqual } from './patch.js';
import { DEFAULTS, mergeOptions } from './defaults.js';
import { SyncError, oversize } from './errors.js';
import { request } from './http.js';
import { sessionIdOf, keyFromHash, hashKeyProblem, putKeysInHash } from './links.js';
import { Presence } from './presence.js';
import { History } from './history.js';
import { opFrame } from './outbox.js';
import { installConnection } from './connection.js';
import { installFrames } from './frames.js';

export { applyMergePatch, applyJsonPatch, clone, deepEqual } from './patch.js';
export { DEFAULTS } from './defaults.js';
export { SyncError } from './errors.js';
export { request, getInfo, getState, deleteSession } from './http.js';
export { sessionIdOf, keyFromHash, hashKeyProblem, shareLinks, putKeysInHash } from './links.js';
export { Presence } from './presence.js';
export { History } from './history.js';
export { opFrame } from './outbox.js';

const g = /** @type {any} */ (globalThis);

function randomId(n = 8) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = new Uint8Array(n);
  g.crypto.getRandomValues(bytes);
  let s = '';
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}

/** Marks a promise as handled (so an ignored rejection is not reported) and returns it. */
function handled(p) { p.catch(() => {}); return p; }

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
    /** Why the session closed (or stopped reconnecting: code `reconnect_failed`), if it did. @type {SyncError|null} */
    this.error = null;
    /** Transport in use: 'websocket', 'sse' or 'longpoll'. */
    this.transport = this.options.transport === 'auto' ? 'websocket' : this.options.transport;
    this.presence = new Presence(this);
    /** Version history over HTTP: list, get, checkpoint, restore. */
    this.history = new History(this);
    this._sync = new SyncState(opts.initialState, opts.initialVersion || 0);
    this._listeners = new Map();
    this._epoch = 0;
    this._conn = null;
    this._failures = 0;
    this._needSnapshot = false;
    this._backoff = createBackoff(this.options.backoff);
    this._sameFailure = createFailureCounter(this.options.maxReconnectAttempts);
    /** The server's limits from `welcome` (`maxMessageBytes`, `maxPresenceBytes`, ...), once known. */
    this.limits = null;
    this._learnedMaxBytes = Infinity;
    this._openedAt = 0;
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
    const tooLarge = write.kind === 'update' ? null : this._oversize(opFrame({ ...write, opId }));
    if (tooLarge) { // never queued: it could never be sent
      tooLarge.opId = opId;
      this._emit('reject', tooLarge);
      return handled(Promise.reject(tooLarge));
    }
    const p = handled(new Promise((resolve, reject) => this._waiters.set(opId, { resolve, reject })));
    this._sync.addLocal(opId, write);
    this._changed('local');
    this._flush();
    return p;
  }

  /** `message_too_large` when a frame would exceed the WebSocket's limit (known after `welcome`). */
  _oversize(frame) {
    if (this.transport !== 'websocket') return null; // HTTP writes: the server answers 413, a reject
    const limit = Math.min(this.limits?.maxMessageBytes ?? Infinity, this._learnedMaxBytes);
    return oversize(frame, Number.isFinite(limit) ? limit : null);
  }

  /** Ends a write for good: out of the outbox, view rolled back, promise rejected, `reject` emitted. */
  _fail(op, err) {
    this._sync.drop(op.opId);
    if (!err.opId) err.opId = op.opId;
    const w = this._waiters.get(op.id);
    if (w) { this._waiters.delete(op.id); w.reject(err); }
    this._changed('rollback');
    this._emit('reject', err);
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
    const tooLarge = this._oversize(frame);
    if (tooLarge) { this._emit('error', tooLarge); return false; }
    return this._sendFrame(frame);
  }

  /**
   * Tries to connect again at once, after the SDK stopped retrying (`error` `reconnect_failed`)
   * or while it waits for the next backoff attempt. No-op on a closed session.
   */
  reconnect() {
    if (this.status === 'closed') return;
    if (this.error && this.error.code === 'reconnect_failed') this.error = null;
    this._sameFailure.reset();
    this._backoff.reset();
    this._connect();
  }

  /** Closes the connection for good. Pending writes are rejected with `closed`. */
  close() {
    if (this.status === 'closed') return;
    this._shutdown(null);
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
    let dropped = false;
    for (const op of send) {
      const tooLarge = this._oversize(opFrame(op));
      if (tooLarge) { this._fail(op, tooLarge); dropped = true; continue; }
      if (!this._conn.sendOp(op)) { this._sync.outbox.unsend(op); break; }
    }
    if (dropped) this._flush(); // what waited behind it may go now
  }
}

installConnection(Session);
installFrames(Session);

/**
 * Creates a new session (`POST /sessions`) and connects to it. In a browser it also puts the keys
 * in the page's URL fragment (`#key=<write>&read=<read>`, option `hash: false` to leave the URL
 * alone), so the address bar is the link to share.
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
  if (opts.hash ?? DEFAULTS.hash) putKeysInHash(created.keys);
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

/**
 * The one call a page needs: joins the session whose key is in the URL fragment (`#key=...`),
 * or, when there is none, creates one with `opts` and puts its keys there. Rejects with
 * SyncError `invalid_key` when the fragment has a `key=` that is not a key (a link cut short),
 * and `session_not_found` when the session is gone: it never silently starts a new session.
 * @param {{state?:any, ttl?:number, strict?:boolean} & Partial<typeof DEFAULTS>} [opts]
 * @returns {Promise<Session>}
 */
export async function openSession(opts = {}) {
  const problem = hashKeyProblem();
  if (problem) throw problem;
  const key = keyFromHash();
  return key ? joinSession(key, opts) : createSession(opts);
}
