// Optimistic state with rebase: a confirmed server state + the outbox of pending local ops.
// The visible state ("view") is always the pending ops re-applied, in order, on top of the
// confirmed state. Server updates move the confirmed state forward; a reject removes its op
// (rollback) or, for update(fn), re-runs fn on the newer state (rebase and retry). Pure logic.
import { applyWrite, applyJsonPatch, applyMergePatch, deepFreeze, PatchError } from './patch.js';
import { Outbox, makeOp } from './outbox.js';
import { TRANSIENT_CODES } from './errors.js';

export { TRANSIENT_CODES };

/**
 * Applies one pending op on top of `state` for the optimistic view. Returns `undefined` when the
 * op has no effect locally (an update whose fn returned undefined, or a JSON Patch that fails).
 * @param {unknown} state
 * @param {import('./outbox.js').PendingOp} op
 * @param {number} version the confirmed version (a sent update is only reused at its base)
 * @returns {{state: unknown}|undefined}
 */
export function applyPending(state, op, version) {
  try {
    switch (op.kind) {
      case 'set': return { state: op.set };
      case 'merge': return { state: applyMergePatch(state, op.merge) };
      case 'ops': return { state: applyJsonPatch(state, op.ops) };
      case 'update': {
        if (op.set !== undefined && (op.ackedVersion !== null || op.baseVersion === version)) return { state: op.set };
        const next = op.fn(state); // no copy: fn must not mutate it (the `dev` option freezes states)
        return next === undefined ? undefined : { state: next };
      }
      default: return undefined;
    }
  } catch (e) {
    if (e instanceof PatchError || op.kind === 'update') return undefined;
    throw e;
  }
}

/** Confirmed state, version and the outbox of pending local ops. */
export class SyncState {
  /**
   * @param {unknown} [state] confirmed state
   * @param {number} [version] confirmed version (0: nothing received yet)
   */
  constructor(state = undefined, version = 0, { freeze = false } = {}) {
    /** Deep-freeze every state (the `dev` option): a mutation throws instead of corrupting it. */
    this.freeze = freeze;
    this.confirmed = freeze ? deepFreeze(state) : state;
    this.version = version;
    this.outbox = new Outbox();
    this.view = this.confirmed;
  }

  /** Recomputes the optimistic view from the confirmed state and the outbox. @returns {unknown} */
  recompute() {
    if (this.freeze) deepFreeze(this.confirmed);
    let s = this.confirmed;
    for (const op of this.outbox.ops) {
      const r = applyPending(s, op, this.version);
      if (r) s = this.freeze ? deepFreeze(r.state) : r.state;
    }
    this.view = s;
    return s;
  }

  /**
   * Queues a local write and applies it optimistically.
   * @param {string} opId
   * @param {Parameters<typeof makeOp>[1]} write
   * @returns {import('./outbox.js').PendingOp}
   */
  addLocal(opId, write) {
    const op = this.outbox.push(makeOp(opId, write));
    this.recompute();
    return op;
  }

  /**
   * Applies an `update` frame from the server to the confirmed state.
   * `stale`: already included (ignored); `gap`: versions are missing (resync needed);
   * `applied`: done, and `confirmed` lists the local ops that it (or its version) confirmed.
   * @param {{version:number, opId?:string|null, set?:unknown, merge?:unknown, ops?:any[]}} update
   * @returns {{status:'applied'|'stale'|'gap', confirmed: import('./outbox.js').PendingOp[]}}
   */
  applyRemote(update) {
    if (update.version <= this.version) return { status: 'stale', confirmed: [] };
    if (update.version !== this.version + 1) return { status: 'gap', confirmed: [] };
    let next;
    try { next = applyWrite(this.confirmed, update); } catch { return { status: 'gap', confirmed: [] }; }
    this.confirmed = next;
    this.version = update.version;
    const confirmed = [];
    if (update.opId) {
      const own = this.outbox.remove(update.opId);
      if (own) confirmed.push(own);
    }
    confirmed.push(...this.outbox.confirmUpTo(this.version));
    this.recompute();
    return { status: 'applied', confirmed };
  }

  /**
   * Replaces the confirmed state with a full snapshot (welcome, long-poll, HTTP GET).
   * Ops acknowledged at or below `version` are confirmed; the rest stay pending on top.
   * @param {unknown} state @param {number} version
   * @returns {import('./outbox.js').PendingOp[]} the ops this confirmed
   */
  applySnapshot(state, version) {
    this.confirmed = state;
    this.version = version;
    const done = this.outbox.confirmUpTo(version);
    this.recompute();
    return done;
  }

  /**
   * Records an ack. Returns the op and whether the local state already includes it.
   * @param {string} opId @param {number} version
   * @returns {{op?: import('./outbox.js').PendingOp, confirmed: boolean}}
   */
  ack(opId, version) {
    const op = this.outbox.ack(opId, version);
    if (!op) return { confirmed: false };
    const done = this.outbox.confirmUpTo(this.version);
    if (done.length) this.recompute();
    return { op, confirmed: done.includes(op) };
  }

  /**
   * Removes an op for good (a write the server can never accept) and rolls the view back.
   * @param {string} opId @returns {import('./outbox.js').PendingOp|undefined}
   */
  drop(opId) {
    const op = this.outbox.remove(opId);
    if (op) this.recompute();
    return op;
  }

  /**
   * Handles a reject. `retry`: a conditional update starts over on newer state (new op id);
   * `resend`: a transient failure, the op is sent again as it is; `dropped`: the op is
   * removed and the view rolls back.
   * @param {string} opId @param {string} code @param {number} [currentVersion]
   * @param {number} [maxAttempts]
   * @returns {{action:'retry'|'resend'|'dropped'|'unknown', op?: import('./outbox.js').PendingOp}}
   */
  reject(opId, code, currentVersion, maxAttempts = Infinity) {
    const op = this.outbox.get(opId);
    if (!op) return { action: 'unknown' };
    if (code === 'version_conflict' && op.kind === 'update' && op.attempts < maxAttempts) {
      // Without the server's version, at least the next one: the base was already stale.
      this.outbox.retry(op, currentVersion ?? (typeof op.baseVersion === 'number' ? op.baseVersion + 1 : this.version));
      this.recompute();
      return { action: 'retry', op };
    }
    if (TRANSIENT_CODES.has(code)) {
      this.outbox.unsend(op);
      return { action: 'resend', op };
    }
    this.outbox.remove(opId);
    this.recompute();
    return { action: 'dropped', op };
  }

  /**
   * Prepares the ops to send on connection `epoch`: an `update` at the head of the queue gets
   * its state computed from the confirmed state and `baseVersion` = the confirmed version; if
   * its fn returns undefined it is cancelled (removed, listed in `cancelled`).
   * @param {number} epoch @param {number} [maxInFlight]
   * @returns {{send: import('./outbox.js').PendingOp[], cancelled: import('./outbox.js').PendingOp[]}}
   */
  takeSendable(epoch, maxInFlight = Infinity) {
    const cancelled = [];
    for (;;) {
      const send = this.outbox.sendable(epoch, this.version, maxInFlight);
      const head = send[0];
      if (!head || head.kind !== 'update' || head.set !== undefined && head.baseVersion === this.version) {
        for (const op of send) this.outbox.markSent(op, epoch);
        if (cancelled.length) this.recompute();
        return { send, cancelled };
      }
      let next;
      try { next = head.fn(this.confirmed); } catch (e) { next = undefined; head.error = e; }
      if (next === undefined) {
        this.outbox.remove(head.opId);
        cancelled.push(head);
        continue;
      }
      head.set = next;
      head.baseVersion = this.version;
      this.outbox.markSent(head, epoch);
      this.recompute();
      return { send: [head], cancelled };
    }
  }
}
