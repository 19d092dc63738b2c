// The Session: one live session as an app sees it. Writes apply locally at once (optimistic)
// and wait in the outbox until the server confirms them; server updates move the confirmed state
// and the pending writes are re-applied on top (rebase.js). Every write ends in `settle`.
// The connection (connection.js, transports/) and incoming frames (frames.js) live elsewhere.
import { SyncState } from './rebase.js';
import { clone, deepEqual } from './patch.js';
import { mergeOptions } from './defaults.js';
import { SyncError, oversize, frameBytes } from './errors.js';
import { sessionIdOf } from './links.js';
import { Presence } from './presence.js';
import { History } from './history.js';
import { opFrame, makeOp } from './outbox.js';
import { Connection } from './connection.js';
import { handleFrame } from './frames.js';
import { openOutboxStore } from './storage.js';
import { VolatileSender } from './volatile.js';

const g = /** @type {any} */ (globalThis);

/** @typedef {'connecting'|'open'|'offline'|'closed'} Status */
/** @typedef {{version:number, opId:string, duplicate?:boolean}} WriteResult */
/** @typedef {{version?:number, opId?:string, duplicate?:boolean, cancelled?:boolean}} UpdateResult */
/** @typedef {{version:number, source:string}} ChangeInfo */
/** @typedef {{op:'add'|'remove'|'replace'|'move'|'copy'|'test', path:string, value?:any, from?:string}} JsonPatchOp */
/**
 * A JSON Merge Patch of T: any member may be left out, replaced, or deleted with null.
 * @template T
 * @typedef {T extends any[] ? T : T extends object ? { [K in keyof T]?: MergePatch<T[K]> | null } : T} MergePatch
 */

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
 * A live connection to one session, typed by its state `T`. Create it with `createSession`,
 * `joinSession` or `openSession` (or `new Session(key, opts)` and await `session.ready`).
 * @template [T=any]
 */
export class Session {
  /**
   * @param {string} key a write, read or admin key
   * @param {object} [opts] overrides of DEFAULTS, plus `keys` (all three keys, known to the
   *   creator), `initialState` / `initialVersion` (a state already fetched), `WebSocket`,
   *   `EventSource`, `fetch` (network injection) and `storage` (the durable outbox's store)
   */
  constructor(key, opts = {}) {
    const o = /** @type {any} */ (opts);
    /** The key this session connects with. */
    this.key = key;
    /** The session's id (the part of every key before the dot). */
    this.sessionId = sessionIdOf(key);
    /** Every option in force. */
    this.options = mergeOptions(opts);
    /** All keys when this client created the session, else null. @type {{admin:string, write:string, read:string}|null} */
    this.keys = o.keys || null;
    /** Connection id given by the server in `welcome`. @type {string|null} */
    this.clientId = null;
    /** 'admin', 'write' or 'read' once known. @type {'admin'|'write'|'read'|null} */
    this.role = null;
    /** 'connecting', 'open', 'offline' or 'closed'. @type {Status} */
    this.status = 'connecting';
    /** Why the session closed, if it did. @type {SyncError|null} */
    this._closedBy = null;
    /** The server's limits from `welcome` (`maxMessageBytes`, `maxPresenceBytes`, ...), once known. @type {Record<string, number>|null} */
    this.limits = null;
    /** Read-key viewers of the session, direct and behind relays (event `audience`); 0 until the server says. @type {number} */
    this.audience = 0;
    this._deps = {
      WebSocket: o.WebSocket || g.WebSocket,
      EventSource: o.EventSource || g.EventSource,
      fetch: o.fetch || ((/** @type {any[]} */ ...a) => g.fetch(...a)),
    };
    this._sync = new SyncState(o.initialState, o.initialVersion || 0, { freeze: this.options.dev });
    this._listeners = new Map();
    this._needSnapshot = false;
    this._learnedMaxBytes = Infinity;
    this._opPrefix = randomId(8);
    this._opCounter = 0;
    this._flushTimer = null;
    /** @type {Map<string, {resolve:Function, reject:Function}>} first op id -> promise of the write */
    this._waiters = new Map();
    this._lastView = this._sync.view;
    this._lastPending = 0;
    this._store = openOutboxStore(this.sessionId, /** @type {any} */ (this.options));
    /** Who is here, and this client's own presence value. */
    this.presence = new Presence({
      send: (frame) => this._conn.send(frame),
      emit: (ev) => this._emit('presence', ev),
      error: (err) => this._emit('error', err),
      selfId: () => this.clientId,
      maxBytes: () => this.limits && this.limits.maxPresenceBytes,
      throttleMs: this.options.presenceThrottleMs,
    });
    this._volatile = new VolatileSender({ send: (f) => this._conn.send(f), open: () => this._conn.open, throttleMs: this.options.volatileThrottleMs });
    /** Version history over HTTP: list, get, checkpoint, restore. */
    this.history = new History(this);
    this._conn = new Connection({
      key, options: this.options, deps: this._deps,
      since: () => (this._sync.version > 0 && !this._needSnapshot ? this._sync.version : null),
      version: () => this._sync.version,
      isPending: (opId) => !!this._sync.outbox.get(opId),
      clientId: () => this.clientId,
      status: () => this.status,
      setStatus: (s) => this._setStatus(/** @type {Status} */ (s)),
      frame: (f) => handleFrame(this, f),
      text: (line) => this._emit('text', line),
      tooLarge: (epoch) => this._dropTooLarge(epoch),
      fatal: (err) => this._shutdown(err),
      emit: (type, ...args) => this._emit(type, ...args),
    });
    /** Resolves with the session on its first `welcome`; rejects if it closes before. @type {Promise<Session<T>>} */
    this.ready = handled(new Promise((resolve, reject) => { this._ready = { resolve, reject }; }));
    this._store.load().then((records) => this._restore(records)).finally(() => {
      if (this.status !== 'closed') this._conn.start();
    });
  }

  /** The current state: the confirmed server state with pending local writes applied. @returns {T} */
  get state() { return /** @type {T} */ (this._sync.view); }
  /** The last server version applied (pending local writes not counted). @returns {number} */
  get version() { return this._sync.version; }
  /** The last state confirmed by the server, without pending local writes. @returns {T} */
  get confirmedState() { return /** @type {T} */ (this._sync.confirmed); }
  /** Number of local writes not yet confirmed by the server. @returns {number} */
  get pendingCount() { return this._sync.outbox.size; }
  /** True when this key may write ('write' or 'admin'). @returns {boolean} */
  get canWrite() { return this.role === 'write' || this.role === 'admin'; }
  /** Transport in use: 'websocket', 'sse' or 'longpoll'. @returns {'websocket'|'sse'|'longpoll'} */
  get transport() { return this._conn.kind; }
  /** Why the session closed, or why it stopped reconnecting (`reconnect_failed`). @returns {SyncError|null} */
  get error() { return this._closedBy || this._conn.gaveUp; }

  /** Resolves once the durable outbox holds every write made so far. @returns {Promise<void>} */
  saved() { return this._store.saved(); }

  // ---- events -------------------------------------------------------------------------

  /**
   * Adds an event listener; returns a function that removes it. Events (docs/sdk.md):
   * `change` (state, {version, source}), `status`, `presence`, `pending`, `transport`, `text`,
   * `message` (data, {from}), `audience` (viewers: a number), `reject` (SyncError), `error`
   * (SyncError), `retry` (SyncError with `retryInMs`), `welcome` (frame).
   * @param {string} type @param {(...args:any[]) => void} fn @returns {() => void}
   */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  /** Removes an event listener. @param {string} type @param {(...args:any[]) => void} fn */
  off(type, fn) { this._listeners.get(type)?.delete(fn); }

  /** @param {string} type @param {...any} args */
  _emit(type, ...args) {
    for (const fn of [...(this._listeners.get(type) || [])]) {
      try { fn(...args); } catch (e) { console.error(`session-sync ${type} listener failed`, e); }
    }
  }

  /**
   * Calls `listener(state, {version, source})` now (when a state is known) and after every change
   * of the state, local or remote. Returns the unsubscribe function.
   * @param {(state:T, info:ChangeInfo) => void} listener
   * @returns {() => void}
   */
  subscribe(listener) {
    const off = this.on('change', listener);
    if (this._sync.version > 0 || this._sync.outbox.size > 0) {
      try { listener(this.state, { version: this.version, source: 'initial' }); } catch (e) { console.error(e); }
    }
    return off;
  }

  /** Emits `pending` / `change` when they changed, and stores the outbox. @param {string} source */
  _changed(source) {
    this._store.save(this._sync.outbox.ops);
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

  /** @param {Status} status */
  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this._emit('status', status);
  }

  /** Puts the writes a previous page left unconfirmed back in the outbox (their op ids kept). */
  _restore(records) {
    for (const r of records) {
      const op = makeOp(r.opId, r);
      op.id = r.id || r.opId;
      op.attempts = r.attempts || 1;
      this._sync.outbox.push(op);
    }
    if (!records.length) return;
    this._sync.recompute();
    this._lastView = this._sync.view; // no `change` before the first welcome: there is no state yet
    this._changed('restore');
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

  /**
   * Settles the promise of a write: a result resolves it, a SyncError rejects it (the one place
   * where a write's promise ends). Ops restored from the durable outbox have no promise.
   * @param {import('./outbox.js').PendingOp} op @param {object|Error} result
   */
  _settle(op, result) {
    const w = this._waiters.get(op.id);
    if (!w) return;
    this._waiters.delete(op.id);
    if (result instanceof Error) w.reject(result);
    else w.resolve(result);
  }

  /** Ends a write for good: out of the outbox, view rolled back, promise rejected, `reject` emitted. */
  _fail(op, err) {
    this._sync.drop(op.opId);
    if (!err.opId) err.opId = op.opId;
    this._settle(op, err);
    this._changed('rollback');
    this._emit('reject', err);
  }

  /**
   * Replaces the state. Applied locally at once; resolves with `{version, opId}` once the server
   * applied it. Last writer wins unless `baseVersion` is given (then a newer server version
   * rejects it with `version_conflict` and the local change is rolled back).
   * @param {T} state
   * @param {{baseVersion?:number}} [opts]
   * @returns {Promise<WriteResult>}
   */
  set(state, opts = {}) { return this._write({ kind: 'set', set: clone(state), baseVersion: opts.baseVersion }); }

  /**
   * Changes part of the state with a JSON Merge Patch (an object: members of T, null deletes),
   * or a JSON Patch (an array of operations). Applied locally at once; resolves once the
   * server applied it.
   * @param {MergePatch<T> | JsonPatchOp[]} patch
   * @param {{baseVersion?:number}} [opts]
   * @returns {Promise<WriteResult>}
   */
  patch(patch, opts = {}) {
    if (Array.isArray(patch)) return this._write({ kind: 'ops', ops: clone(patch), baseVersion: opts.baseVersion });
    return this._write({ kind: 'merge', merge: clone(patch), baseVersion: opts.baseVersion });
  }

  /**
   * Read-modify-write: `fn(state)` gets the latest state (not a copy: it must not mutate it; the
   * `dev` option freezes it) and returns the new state, or `undefined` to change nothing. It
   * is sent with `baseVersion`, so a concurrent write makes the server reject it; `fn` then runs
   * again on the newer state and the write is retried. Resolves with `{version, opId}`, or
   * `{cancelled: true}` when fn returned undefined.
   * @param {(state: Readonly<T>) => T | undefined} fn
   * @returns {Promise<UpdateResult>}
   */
  update(fn) { return this._write({ kind: 'update', fn }); }

  /**
   * Sends an ephemeral message to every other client, or to one (`to`: a client id). Returns
   * false when not connected (messages are not queued) or over the frame limit. `volatile: true`
   * (protocol P17) is for values where only the newest matters (cursors, pointers): they are
   * throttled per recipient (`volatileThrottleMs`, the newest waiting value wins), and a server
   * that is behind delivers only the newest of each sender.
   * @param {any} data
   * @param {{to?:string, volatile?:boolean}} [opts]
   * @returns {boolean}
   */
  broadcast(data, opts = {}) {
    const frame = opts.volatile ? { type: 'broadcast', volatile: true, data } : { type: 'broadcast', data };
    if (opts.to) frame.to = opts.to;
    const tooLarge = this._oversize(frame);
    if (tooLarge) { this._emit('error', tooLarge); return false; }
    return opts.volatile ? this._volatile.send(/** @type {any} */ (frame)) : this._conn.send(frame);
  }

  /**
   * Tries to connect again at once (starting over from WebSocket), after the SDK stopped
   * retrying (`error` `reconnect_failed`) or while it waits for the next attempt. No-op on a
   * closed session.
   */
  reconnect() { this._conn.reconnectNow(); }

  /** Closes the connection for good. Pending writes are rejected with `closed` (and stay stored). */
  close() {
    if (this.status === 'closed') return;
    this._shutdown(null);
  }

  /** Ends the session: no connection, every pending promise rejected, status 'closed'. */
  _shutdown(error) {
    this._closedBy = error;
    this._conn.stop();
    clearTimeout(this._flushTimer);
    this.presence.stop();
    this._volatile.stop();
    this._setStatus('closed');
    const err = error || new SyncError('closed', 'the session is closed');
    for (const w of this._waiters.values()) w.reject(err);
    this._waiters.clear();
    if (error) { // the session is gone: its writes can never apply
      this._sync.outbox.ops = [];
      this._sync.recompute();
      this._changed('rollback');
    }
    this._ready.reject(err);
    if (error) this._emit('error', error);
  }

  _scheduleFlush(ms) {
    clearTimeout(this._flushTimer);
    this._flushTimer = setTimeout(() => this._flush(), ms);
  }

  /** Sends every write that may go now on the open connection. */
  _flush() {
    if (!this._conn.open || this.status !== 'open') return;
    const epoch = this._conn.epoch;
    const { send, cancelled } = this._sync.takeSendable(epoch, this.options.maxInFlight);
    for (const op of cancelled) this._settle(op, op.error || { cancelled: true, version: this.version });
    if (cancelled.length) this._changed('rollback');
    if (send.some((op) => op.kind === 'update')) this._changed('rebase');
    let dropped = false;
    for (const op of send) {
      const frame = opFrame(op);
      const tooLarge = this._oversize(frame);
      if (tooLarge) { this._fail(op, tooLarge); dropped = true; continue; }
      if (this.transport === 'websocket') op.bytes = frameBytes(frame); // to name the culprit of a 1009
      if (!this._conn.send(frame)) { this._sync.outbox.unsend(op); break; }
    }
    if (dropped) this._flush(); // what waited behind it may go now
  }

  /**
   * The server closed with 1009 (P11): the largest write in flight on that connection is the
   * frame it refused. It settles with `message_too_large` and is never resent, and frames of
   * that size are refused locally from now on, so the reconnect cannot loop.
   */
  _dropTooLarge(epoch) {
    const sent = this._sync.outbox.ops.filter((o) => o.sentEpoch === epoch && o.ackedVersion === null && o.bytes);
    const culprit = sent.sort((a, b) => b.bytes - a.bytes)[0];
    if (!culprit) {
      this._emit('error', new SyncError('message_too_large', 'the server closed the connection (1009): a frame was over its limit'));
      return;
    }
    this._learnedMaxBytes = Math.min(this._learnedMaxBytes, culprit.bytes - 1);
    this._fail(culprit, new SyncError('message_too_large',
      `write of ${culprit.bytes} bytes is over the server's frame limit; it was not applied`, { bytes: culprit.bytes }));
  }
}
