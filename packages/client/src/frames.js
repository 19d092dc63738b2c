// Incoming frames of a Session: welcome (snapshot or resume), update(s), ack, reject, presence,
// broadcast, error. Session methods kept in their own file; `installFrames(Session)` adds them.
import { SyncError } from './errors.js';

/** Frame handling methods of {@link import('./session-sync.js').Session}. */
class Frames {
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
        if (f.code === 'message_too_large') break; // the 1009 close follows; _lost names the write
        this._emit('error', new SyncError(f.code, f.message));
        break;
      default: break;
    }
  }

  _onWelcome(f) {
    if (f.clientId !== undefined) this.clientId = f.clientId;
    if (f.limits) this.limits = f.limits;
    this._openedAt = Date.now();
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
}

/** Adds the frame handling methods to the Session class. @param {Function} cls */
export function installFrames(cls) {
  for (const name of Object.getOwnPropertyNames(Frames.prototype)) {
    if (name !== 'constructor') Object.defineProperty(cls.prototype, name, Object.getOwnPropertyDescriptor(Frames.prototype, name));
  }
}
