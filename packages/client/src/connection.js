// The connection lifecycle of a Session: open a transport (policy.js picks which), wait for its
// `welcome` (connectTimeoutMs), reassemble part frames (P16), and when it ends decide between
// the end of the session, a fallback and a reconnect with backoff (stopping when the same
// failure keeps repeating). The transports know nothing of sessions; the session knows nothing
// of transports: both talk to this class through the small interfaces below.
import { apiBase } from './defaults.js';
import { SyncError, FATAL_CLOSE, CLOSE_TOO_LARGE, readError, networkError } from './errors.js';
import { createBackoff, createFailureCounter } from './backoff.js';
import { createFallbackPolicy, TRANSPORTS } from './transports/policy.js';
import { PartAssembler } from './parts.js';

const g = /** @type {any} */ (globalThis);

/**
 * What the connection needs from its session.
 * @typedef {object} ConnectionHost
 * @property {string} key
 * @property {import('./defaults.js').Options} options
 * @property {import('./transports/types.js').TransportDeps} deps
 * @property {() => number|null} since        resume from this version (null: snapshot)
 * @property {() => number} version
 * @property {(opId:string) => boolean} isPending
 * @property {() => string|null} clientId
 * @property {() => string} status
 * @property {(status:string) => void} setStatus
 * @property {(frame:any) => void} frame      a whole server frame
 * @property {(line:string) => void} text     a chat line
 * @property {(epoch:number) => void} tooLarge the server refused a frame sent on `epoch` (1009)
 * @property {(err:SyncError) => void} fatal  the session cannot go on (4003, 4004, 404)
 * @property {(type:string, ...args:any[]) => void} emit
 */

/** One session's connection: at most one transport at a time. */
export class Connection {
  /** @param {ConnectionHost} host */
  constructor(host) {
    this.host = host;
    const o = host.options;
    this.policy = createFallbackPolicy(o);
    this.backoff = createBackoff(o.backoff);
    this.sameFailure = createFailureCounter(o.maxReconnectAttempts);
    /** Connection number: writes remember the one they were sent on. */
    this.epoch = 0;
    /** @type {import('./transports/types.js').Transport|null} */
    this.transport = null;
    this.welcomed = false;
    this.openedAt = 0;
    this.retryTimer = null;
    this.connectTimer = null;
    /** Why the SDK stopped reconnecting, if it did. @type {SyncError|null} */
    this.gaveUp = null;
  }

  /** The transport in use (or about to be): 'websocket', 'sse' or 'longpoll'. */
  get kind() { return this.policy.kind; }

  /** True while a transport is up and welcomed. */
  get open() { return !!this.transport && this.welcomed; }

  /** Starts: listens to the browser's online / offline / visibility and connects. */
  start() {
    this.bindWindow();
    this.connect();
  }

  /** Sends a frame on the open transport; false when there is none. @param {any} frame */
  send(frame) { return this.open ? this.transport.send(frame) : false; }

  /** Opens a new transport now (closing the current one). */
  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.host.status() === 'closed') return;
    this.closeTransport();
    if (g.navigator && g.navigator.onLine === false) { this.host.setStatus('offline'); return; }
    const epoch = this.epoch;
    this.host.setStatus('connecting');
    const http = apiBase(this.host.options);
    const httpBase = http.startsWith('http') || !g.location ? http : new URL(http, g.location.href).href;
    const parts = new PartAssembler();
    const live = () => epoch === this.epoch;
    /** @type {import('./transports/types.js').TransportContext} */
    const ctx = {
      httpBase, key: this.host.key, since: this.host.since(), options: this.host.options, deps: this.host.deps,
      version: this.host.version, isPending: this.host.isPending, clientId: this.host.clientId,
      onText: (line) => { if (live()) this.host.text(line); },
      onLost: (info) => { if (live()) this.lost(info); },
      onFrame: (raw) => {
        if (!live()) return;
        let frame;
        try { frame = parts.push(raw); } catch (e) {
          this.host.emit('error', e);
          this.lost({ reason: 'protocol' }); // resumes from the last whole version
          return;
        }
        if (!frame) return;
        if (frame.type === 'welcome') this.onWelcome();
        this.host.frame(frame);
      },
    };
    this.connectTimer = setTimeout(() => { if (live() && !this.welcomed) this.lost({ reason: 'timeout' }); }, this.host.options.connectTimeoutMs);
    this.transport = TRANSPORTS[this.kind](ctx);
  }

  onWelcome() {
    clearTimeout(this.connectTimer);
    this.welcomed = true;
    this.openedAt = Date.now();
    this.policy.succeeded();
    this.backoff.reset();
  }

  /** Ends the current transport without a report; later callbacks of it are ignored. */
  closeTransport() {
    clearTimeout(this.connectTimer);
    const t = this.transport;
    this.transport = null;
    this.welcomed = false;
    this.epoch++;
    if (t) { try { t.close(); } catch {} }
  }

  /** Abandons the connection (offline, or a resync); `retry` schedules a reconnect with backoff. */
  drop(retry) {
    this.closeTransport();
    if (this.host.status() === 'closed') return;
    this.host.setStatus('offline');
    if (retry) this.schedule(new SyncError('connection_lost', 'connection dropped'));
  }

  /** Tries again at once, starting over from WebSocket: `session.reconnect()`, back online. */
  reconnectNow() {
    if (this.host.status() === 'closed') return;
    this.gaveUp = null;
    this.sameFailure.reset();
    this.backoff.reset();
    const changed = this.policy.reset();
    if (changed) this.host.emit('transport', changed);
    this.connect();
  }

  /** Sends a ping on a WebSocket now (the page became visible: is the link still alive?). */
  probe() { if (this.open && this.transport.probe) this.transport.probe(); }

  /** Stops for good: no transport, no timers, no window listeners. */
  stop() {
    this.closeTransport();
    clearTimeout(this.retryTimer);
    this.unbindWindow();
  }

  /** Schedules the next attempt and says when (event `retry` with a SyncError: code, `retryInMs`). */
  schedule(err) {
    clearTimeout(this.retryTimer);
    const delay = Math.max(this.backoff.next(), err.retryAfterMs || 0);
    err.retryInMs = delay;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.host.emit('retry', err);
  }

  /**
   * The transport ended. Decides between the end of the session, a fallback and a reconnect.
   * @param {import('./transports/types.js').LostInfo} info
   */
  async lost(info) {
    const welcomed = this.welcomed;
    const kind = this.kind;
    this.closeTransport();
    if (this.host.status() === 'closed') return;
    if (info.fatal) { this.host.fatal(info.fatal); return; }
    if (info.code && FATAL_CLOSE[info.code]) {
      this.host.fatal(new SyncError(FATAL_CLOSE[info.code], `connection closed with ${info.code}`));
      return;
    }
    if (welcomed && Date.now() - this.openedAt >= this.host.options.stableConnectionMs) this.sameFailure.reset();
    if (info.code === CLOSE_TOO_LARGE) this.host.tooLarge(this.epoch - 1);
    this.host.setStatus('offline');
    const epoch = this.epoch;
    let cause = info.code ? `closed with ${info.code}` : welcomed ? 'connection lost' : 'could not connect';
    let err = new SyncError(welcomed ? 'connection_lost' : 'connect_failed', `${kind} ${cause}`);
    if (welcomed) {
      const back = this.policy.dropped();
      if (back) this.host.emit('transport', back);
    } else {
      // The browser hides why a WebSocket / EventSource failed: ask plain HTTP.
      const probe = await this.probeHttp();
      if (this.host.status() === 'closed' || this.epoch !== epoch) return; // reconnected meanwhile
      if (probe.fatal) { this.host.fatal(probe.fatal); return; }
      if (probe.error) { err = probe.error; cause = err.code; }
      const next = this.policy.failed(!!probe.ok);
      if (next) { this.sameFailure.reset(); this.backoff.reset(); this.host.emit('transport', next); }
    }
    if (this.retryTimer !== null) return;
    const { count, giveUp } = this.sameFailure.record(`${this.kind} ${cause}`);
    if (giveUp) this.giveUp(`${this.kind} ${cause}`, count);
    else this.schedule(err);
  }

  /** Stops retrying a failure that keeps repeating, and says so. Pending writes stay queued. */
  giveUp(cause, count) {
    this.gaveUp = new SyncError('reconnect_failed',
      `stopped reconnecting after ${count} attempts in a row failed the same way (${cause}); writes stay queued: call session.reconnect(), or come back online, to try again`,
      { cause });
    this.host.emit('error', this.gaveUp);
  }

  /** `GET` the session: fatal (404 / 400), ok, or the transient error (429, 5xx, no answer). */
  async probeHttp() {
    try {
      const res = await this.host.deps.fetch(`${apiBase(this.host.options)}/sessions/${encodeURIComponent(this.host.key)}`, { method: 'GET', cache: 'no-store' });
      if (res.status === 404 || res.status === 400) return { fatal: await readError(res) };
      return res.ok ? { ok: true } : { error: await readError(res) };
    } catch (e) {
      return { error: networkError(e) };
    }
  }

  bindWindow() {
    if (typeof g.addEventListener !== 'function') return;
    this.onOnline = () => { if (this.host.status() === 'offline') this.reconnectNow(); };
    this.onOffline = () => this.drop(false);
    this.onVisible = () => {
      if (g.document && g.document.visibilityState !== 'visible') return;
      if (this.open) this.probe();
      else if (this.host.status() === 'offline') this.reconnectNow();
    };
    g.addEventListener('online', this.onOnline);
    g.addEventListener('offline', this.onOffline);
    if (this.host.options.reconnectOnVisible && g.document) g.document.addEventListener('visibilitychange', this.onVisible);
  }

  unbindWindow() {
    if (typeof g.removeEventListener !== 'function' || !this.onOnline) return;
    g.removeEventListener('online', this.onOnline);
    g.removeEventListener('offline', this.onOffline);
    if (g.document) g.document.removeEventListener('visibilitychange', this.onVisible);
  }
}
