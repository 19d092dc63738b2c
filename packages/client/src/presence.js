// Presence of a session: who is connected and the small JSON value each one shares.
import { clone } from './patch.js';
import { oversize } from './errors.js';

/** Presence of a session: who is connected and the small JSON value each one shares. */
export class Presence {
  /** @param {import('./session-sync.js').Session} session */
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
   * Over SSE and long-poll it is sent with `POST .../presence` (long-poll renews it before its
   * TTL and learns who is present from each answer). Returns false
   * (and emits `error` `presence_too_large`) when the value is over the server's limit.
   * @param {any} data
   * @returns {boolean}
   */
  set(data) {
    const limit = this._session.limits && this._session.limits.maxPresenceBytes;
    const err = oversize(data, limit, 'presence');
    if (err) { this._session._emit('error', err); return false; }
    this.data = clone(data);
    if (this.self) this.clients.set(this.self, this.data);
    this._dirty = true;
    this._schedule();
    this._session._emit('presence', { event: 'self', clientId: this.self, data: this.data, list: this.list() });
    return true;
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

  /**
   * Replaces the list with what the server answered a long-poll client's presence (no resend).
   * @param {Array<{clientId:string, data:unknown}>} list
   */
  _replace(list) {
    this.clients = new Map((list || []).map((c) => [c.clientId, c.data]));
    if (this.self && this.data !== null) this.clients.set(this.self, this.data);
    this._session._emit('presence', { event: 'sync', list: this.list() });
  }

  /** Sends this client's value again (a long-poll client renewing its presence). */
  _resend() {
    if (this.data === null) return;
    this._dirty = true;
    this._flush();
  }

  /** @param {{event:string, clientId:string, data:unknown}} f */
  _apply(f) {
    if (f.event === 'leave') this.clients.delete(f.clientId);
    else this.clients.set(f.clientId, f.data);
    this._session._emit('presence', { event: f.event, clientId: f.clientId, data: f.data, list: this.list() });
  }
}
