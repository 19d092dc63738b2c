// The connection lifecycle of a Session: connect, lose, reconnect with backoff (and stop when the
// same failure keeps repeating), fall back to SSE / long-poll, heartbeat, shut down. These are
// Session methods kept in their own file; `installConnection(Session)` adds them to the class.
import { apiBase } from './defaults.js';
import { SyncError, FATAL_CLOSE, CLOSE_TOO_LARGE, readError } from './errors.js';
import { connectWs } from './transports/ws.js';
import { connectSse } from './transports/sse.js';
import { connectLongPoll } from './transports/longpoll.js';

const g = /** @type {any} */ (globalThis);

/** Connection methods of {@link import('./session-sync.js').Session}. */
class Connection {
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
    const http = apiBase(this.options);
    const base = http.startsWith('http') ? http : new URL(http, g.location.href).href;
    if (this.transport === 'websocket') connectWs(this, epoch, base);
    else if (this.transport === 'sse') connectSse(this, epoch, base);
    else connectLongPoll(this, epoch, base);
  }

  _reconnectNow() {
    if (this.status !== 'offline') return; // open, closed, or an attempt is under way
    this.reconnect();
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
    if (info.welcomed && Date.now() - this._openedAt >= this.options.stableConnectionMs) this._sameFailure.reset();
    if (info.code === CLOSE_TOO_LARGE) this._dropTooLarge(epoch);
    this._setStatus('offline');
    const cause = info.code ? `closed with ${info.code}` : info.welcomed ? 'connection lost' : 'could not connect';
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
    if (this._retryTimer !== null || this.status === 'closed') return;
    const { count, giveUp } = this._sameFailure.record(`${this.transport} ${cause}`);
    if (giveUp) this._giveUp(`${this.transport} ${cause}`, count);
    else this._scheduleReconnect();
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

  /** Stops retrying a failure that keeps repeating, and says so. Pending writes stay queued. */
  _giveUp(cause, count) {
    this.error = new SyncError('reconnect_failed',
      `stopped reconnecting after ${count} attempts in a row failed the same way (${cause}); writes stay queued: call session.reconnect(), or come back online, to try again`,
      { cause });
    this._emit('error', this.error);
  }

  _switchTransport(kind) {
    this.transport = kind;
    this._failures = 0;
    this._sameFailure.reset();
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
    this._sync.outbox.ops = []; // every write has settled: nothing is pending any more
    this._sync.recompute();
    this._changed('rollback');
    this._ready.reject(err);
    if (error) this._emit('error', error);
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
}

/** Adds the connection methods to the Session class. @param {Function} cls */
export function installConnection(cls) {
  for (const name of Object.getOwnPropertyNames(Connection.prototype)) {
    if (name !== 'constructor') Object.defineProperty(cls.prototype, name, Object.getOwnPropertyDescriptor(Connection.prototype, name));
  }
}
