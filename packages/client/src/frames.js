// Incoming frames of a Session: welcome (snapshot or resume), update(s), ack, reject, presence,
// broadcast, audience, error, and the long-poll transport's `snapshot`. Whole frames only: part frames
// (P16) are reassembled by the connection first, so a partial welcome never gets here.
import { SyncError, TRANSIENT_CODES } from './errors.js';

/**
 * Handles one server frame.
 * @param {import('./session.js').Session} s @param {any} f
 */
export function handleFrame(s, f) {
  if (!f || typeof f !== 'object') return;
  switch (f.type) {
    case 'welcome': onWelcome(s, f); break;
    case 'update': onUpdate(s, f); break;
    case 'updates': onUpdates(s, f); break;
    case 'snapshot': snapshot(s, f.state, f.version, 'remote'); break;
    case 'ack': {
      const op = s._sync.outbox.get(f.opId);
      if (!op) break;
      s._settle(op, { version: f.version, opId: f.opId, duplicate: !!f.duplicate });
      s._sync.ack(f.opId, f.version);
      s._changed('ack');
      s._flush();
      break;
    }
    case 'reject': onReject(s, f); break;
    case 'presence': onPresence(s, f); break;
    case 'broadcast': s._emit('message', f.data, { from: f.from }); break;
    case 'audience': if (isCount(f.viewers)) setAudience(s, f.viewers); break;
    case 'error':
      // P14: the server says why before it closes (4004 / 4003); some proxies delay the
      // close event itself, so end the session on the frame.
      if (f.code === 'session_ended') { s._shutdown(new SyncError('session_not_found', f.message)); break; }
      if (f.code === 'key_rotated') { s._shutdown(new SyncError('key_rotated', f.message)); break; }
      if (f.code === 'message_too_large') break; // the 1009 close follows; the session names the write
      if (s._volatile.refused(f)) break; // a server without P17: volatile broadcasts go without the flag
      s._emit('error', new SyncError(f.code, f.message));
      break;
    default: break;
  }
}

/** A viewer count as the server sends it: a non-negative integer. @param {unknown} n */
const isCount = (n) => Number.isSafeInteger(n) && /** @type {number} */ (n) >= 0;

/**
 * The session's read-key viewers, direct and behind relay objects (`welcome.audience`, then
 * `audience` frames, at most about one a second): `session.audience`, and the event `audience`
 * when the count changed.
 * @param {import('./session.js').Session} s @param {number} n
 */
function setAudience(s, n) {
  if (s.audience === n) return;
  s.audience = n;
  s._emit('audience', n);
}

/** One presence frame (join, update, leave; `sync` from the long-poll transport). */
function onPresence(s, f) {
  if (f.event === 'sync') { // long-poll: the answer to its presence POST (its id may be new after a reconnect)
    if (f.clientId) s.clientId = f.clientId;
    s.presence.replace(f.list);
  } else s.presence.apply(f);
}

/** Replaces the confirmed state with a full snapshot. */
function snapshot(s, state, version, source) {
  for (const op of s._sync.applySnapshot(state, version)) s._settle(op, { version: op.ackedVersion ?? version, opId: op.opId });
  s._changed(source);
  s._flush();
}

/**
 * Applies one update; returns false after a gap (a resync was started: a resume from the
 * current version, or a snapshot when a resume itself did not fit).
 */
function applyUpdate(s, u, snapshotOnGap = false) {
  const r = s._sync.applyRemote(u);
  if (r.status === 'gap') { if (snapshotOnGap) s._needSnapshot = true; resync(s); return false; }
  for (const op of r.confirmed) s._settle(op, { version: op.ackedVersion ?? u.version, opId: op.opId });
  return true;
}

function onUpdate(s, f) {
  if (!applyUpdate(s, f)) return;
  s._changed(f.author && f.author === s.clientId ? 'ack' : 'remote');
  s._flush();
}

/**
 * A coalesced frame (protocol P15): its updates in order (one `change` for all of them), then
 * its presence events, then its broadcasts, each as if it had arrived alone. A gap in the
 * updates starts a resync and ends the frame there, as the dropped connection would have.
 */
function onUpdates(s, f) {
  const updates = Array.isArray(f.updates) ? f.updates : [];
  let own = true;
  let applied = 0;
  for (const u of updates) {
    if (!applyUpdate(s, u)) break;
    own = own && !!u.author && u.author === s.clientId;
    applied++;
  }
  if (applied) s._changed(own ? 'ack' : 'remote');
  if (applied < updates.length) return; // a gap: resyncing
  if (applied) s._flush();
  for (const p of f.presence ?? []) onPresence(s, p);
  for (const b of f.broadcasts ?? []) s._emit('message', b.data, { from: b.from });
}

function onReject(s, f) {
  const r = s._sync.reject(f.opId, f.code, f.version, s.options.maxUpdateAttempts);
  if (r.action === 'dropped' && r.op) {
    const err = new SyncError(f.code, f.message, { opId: f.opId, currentVersion: f.version });
    s._settle(r.op, err);
    s._changed('rollback');
    s._emit('reject', err);
  } else if (r.action === 'retry') {
    s._changed('rebase');
  }
  if (r.action === 'resend') {
    const delay = Math.max(s.options.resendDelayMs, f.retryAfterMs || 0);
    if (TRANSIENT_CODES.has(f.code)) s._emit('retry', new SyncError(f.code, f.message, { opId: f.opId, retryInMs: delay, retryAfterMs: f.retryAfterMs }));
    s._scheduleFlush(delay);
  } else s._flush();
}

function onWelcome(s, f) {
  if (f.clientId !== undefined) s.clientId = f.clientId;
  if (f.limits) s.limits = f.limits;
  if (f.role) s.role = f.role;
  if (f.resume === 'ops' && Array.isArray(f.ops)) {
    for (const u of f.ops) if (!applyUpdate(s, u, true)) return;
    if (f.version !== s._sync.version) { s._needSnapshot = true; resync(s); return; }
    s._changed('resume');
  } else {
    snapshot(s, f.state, f.version, 'snapshot');
  }
  s._needSnapshot = false;
  s._setStatus('open');
  s.presence.reset(f.presence);
  s._volatile.reset();
  setAudience(s, isCount(f.audience) ? f.audience : 0); // a server without audiences omits it: unknown, 0
  s._emit('welcome', f);
  s._ready.resolve(s);
  if (s.role === 'read') rejectAllPending(s, new SyncError('read_only', 'this key is read-only'));
  s._flush();
}

function rejectAllPending(s, err) {
  for (const op of [...s._sync.outbox.ops]) {
    s._sync.outbox.remove(op.opId);
    s._settle(op, err);
  }
  s._sync.recompute();
  s._changed('rollback');
}

/** Versions are missing or do not apply: reconnect and resume (or take a snapshot). */
function resync(s) {
  s._conn.drop(false);
  s._conn.connect();
}
