// Presence of a session: who is connected and the small JSON value each one shares. It talks to
// its session only through the `PresenceLink` it is given (send a frame, emit an event, the
// client's id and the server's limit), and the session feeds it frames with reset / apply /
// replace; nothing here reaches into the session.
import { clone } from './patch.js';
import { oversize } from './errors.js';

/**
 * What Presence needs from its session.
 * @typedef {object} PresenceLink
 * @property {(frame:any) => boolean} send     sends a frame; false when not connected
 * @property {(event:PresenceEvent) => void} emit  the session's `presence` event
 * @property {(err:Error) => void} error       the session's `error` event
 * @property {() => string|null} selfId        this client's id
 * @property {() => number|null|undefined} maxBytes the server's `maxPresenceBytes`, once known
 * @property {number} throttleMs
 */

/**
 * A presence event: `join`, `update`, `leave` (one client), `sync` (the whole list, after a
 * (re)connect) or `self` (this client's own value changed).
 * @typedef {{event:'join'|'update'|'leave'|'sync'|'self', clientId?:string|null, data?:any, list:PresenceClient[]}} PresenceEvent
 */
/** @typedef {{clientId:string, data:any, self:boolean}} PresenceClient */

/** Presence of a session: who is connected and the small JSON value each one shares. */
export class Presence {
  /** @param {PresenceLink} link */
  constructor(link) {
    this._link = link;
    /** @type {Map<string, unknown>} */
    this.clients = new Map();
    /** This client's own presence value (re-sent after every reconnect). @type {any} */
    this.data = null;
    this._timer = null;
    this._lastSent = 0;
    this._dirty = false;
  }

  /** This client's id (null before the first welcome). @returns {string|null} */
  get self() { return this._link.selfId(); }

  /** Every connected client, this one included (flagged `self`). @returns {PresenceClient[]} */
  list() {
    return [...this.clients].map(([clientId, data]) => ({ clientId, data, self: clientId === this.self }));
  }

  /** The other connected clients. @returns {PresenceClient[]} */
  others() { return this.list().filter((c) => !c.self); }

  /** Presence value of one client. @param {string} clientId @returns {any} */
  get(clientId) { return this.clients.get(clientId); }

  /** Number of connected clients. @returns {number} */
  get size() { return this.clients.size; }

  /**
   * Sets this client's presence value (at most `maxPresenceBytes` of JSON) and shares it with
   * the others. Calls are throttled (`presenceThrottleMs`); the latest value is always sent.
   * Over SSE and long-poll it is sent with `POST .../presence`. Returns false (and emits
   * `error` `presence_too_large`) when the value is over the server's limit.
   * @param {any} data
   * @returns {boolean}
   */
  set(data) {
    const err = oversize(data, this._link.maxBytes(), 'presence');
    if (err) { this._link.error(err); return false; }
    this.data = clone(data);
    if (this.self) this.clients.set(this.self, this.data);
    this._dirty = true;
    this._schedule();
    this._link.emit({ event: 'self', clientId: this.self, data: this.data, list: this.list() });
    return true;
  }

  _schedule() {
    if (this._timer) return;
    const wait = Math.max(0, this._lastSent + this._link.throttleMs - Date.now());
    this._timer = setTimeout(() => { this._timer = null; this._flush(); }, wait);
  }

  _flush() {
    if (!this._dirty) return;
    if (this._link.send({ type: 'presence', data: this.data })) {
      this._dirty = false;
      this._lastSent = Date.now();
    }
  }

  /**
   * A (re)connect: the server's full list; this client's value is sent again.
   * @param {Array<{clientId:string, data:unknown}>} [list]
   */
  reset(list) {
    this.clients = new Map((list || []).map((c) => [c.clientId, c.data]));
    if (this.self && this.data !== null) {
      this.clients.set(this.self, this.data);
      this._dirty = true;
      this._flush();
    }
    this._link.emit({ event: 'sync', list: this.list() });
  }

  /**
   * Replaces the list with what the server answered a long-poll client's presence (no resend).
   * @param {Array<{clientId:string, data:unknown}>} [list]
   */
  replace(list) {
    this.clients = new Map((list || []).map((c) => [c.clientId, c.data]));
    if (this.self && this.data !== null) this.clients.set(this.self, this.data);
    this._link.emit({ event: 'sync', list: this.list() });
  }

  /** One `presence` frame: join, update or leave. @param {{event:string, clientId:string, data:unknown}} f */
  apply(f) {
    if (f.event === 'leave') this.clients.delete(f.clientId);
    else this.clients.set(f.clientId, f.data);
    this._link.emit({ event: /** @type {any} */ (f.event), clientId: f.clientId, data: f.data, list: this.list() });
  }

  /** Stops the throttle timer (the session closed). */
  stop() { clearTimeout(this._timer); this._timer = null; }
}
