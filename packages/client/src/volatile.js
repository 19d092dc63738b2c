// Volatile broadcasts (protocol P17): messages whose newest value is all that matters (cursors,
// pointers). Like presence, they are throttled per recipient (`volatileThrottleMs`): the first
// goes at once, later ones within the window wait and only the newest of them is sent. A server
// without P17 refuses the `volatile` key (`error` `invalid_frame` naming it); then the flag is
// left out until the next welcome and the newest refused message of each recipient is sent again.

/**
 * What the sender needs from its session.
 * @typedef {object} VolatileLink
 * @property {(frame:any) => boolean} send  sends a frame; false when not connected
 * @property {() => boolean} open           true while a connection is up
 * @property {number} throttleMs
 */

/** Throttles volatile broadcasts per recipient and copes with servers that do not know them. */
export class VolatileSender {
  /** @param {VolatileLink} link */
  constructor(link) {
    this._link = link;
    /** recipient ('' for all) -> {last: sent at, pending: frame waiting, timer, sent: newest frame sent} */
    this._by = new Map();
    /** True after the server refused the `volatile` key on this connection. */
    this.unsupported = false;
  }

  /**
   * Sends `{type:'broadcast', volatile:true, data, to?}` now or at the end of the throttle window.
   * Returns false when not connected (nothing is queued then).
   * @param {{type:'broadcast', volatile:true, data:any, to?:string}} frame @returns {boolean}
   */
  send(frame) {
    if (!this._link.open()) return false;
    const key = frame.to || '';
    let e = this._by.get(key);
    if (!e) this._by.set(key, e = { last: -Infinity, pending: null, timer: null, sent: null });
    const wait = e.last + this._link.throttleMs - Date.now();
    if (wait <= 0 && !e.timer) return this._go(e, frame);
    e.pending = frame; // replaces an older waiting value: only the newest matters
    if (!e.timer) e.timer = setTimeout(() => { e.timer = null; const f = e.pending; e.pending = null; if (f) this._go(e, f); }, Math.max(0, wait));
    return true;
  }

  _go(e, frame) {
    e.last = Date.now();
    e.sent = frame;
    return this._link.send(this.unsupported ? strip(frame) : frame);
  }

  /**
   * An `error` frame arrived: true when it is the server refusing the `volatile` key (then the
   * newest message of each recipient is sent again without it, and the error is not reported).
   * @param {{code?:string, message?:string}} f @returns {boolean}
   */
  refused(f) {
    if (f.code !== 'invalid_frame' || !/volatile/.test(f.message || '')) return false;
    if (this.unsupported) return true; // a later refusal of a frame sent before the first came back
    this.unsupported = true;
    for (const e of this._by.values()) if (e.sent && !e.timer) this._link.send(strip(e.sent));
    return true;
  }

  /** A new connection: try the flag again (the server may have been updated), forget the past. */
  reset() {
    this.stop();
    this.unsupported = false;
  }

  /** Drops every waiting message and its timer. */
  stop() {
    for (const e of this._by.values()) clearTimeout(e.timer);
    this._by.clear();
  }
}

/** The frame without `volatile` (for a server that does not know P17). */
function strip(frame) {
  const { volatile, ...rest } = frame;
  return rest;
}
