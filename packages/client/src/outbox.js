// The outbox: local writes that the server has not confirmed yet, in the order they were made.
// Pure bookkeeping (no network): which ops may be sent on the current connection, which are in
// flight, which were acknowledged. Op ids make resending after a reconnect safe: the server
// answers an op id it already applied with `duplicate: true` instead of applying it again.

/**
 * @typedef {object} PendingOp
 * @property {string} id          stable id of the write (the first op id)
 * @property {string} opId        op id of the current attempt (`id`, then `id.2`, `id.3`... after conflicts)
 * @property {'set'|'merge'|'ops'|'update'} kind
 * @property {unknown} [set]      new state (`set`, and `update` once computed)
 * @property {unknown} [merge]    merge patch
 * @property {any[]} [ops]        JSON Patch
 * @property {(state:any)=>any} [fn] read-modify-write function of an `update`
 * @property {number} [baseVersion] the write only applies at this version (conditional)
 * @property {boolean} conditional true for `update` ops and writes made with a baseVersion
 * @property {number} attempts    how many times a conflict made it start over (1 at first)
 * @property {number|null} sentEpoch  connection number it was last sent on, or null
 * @property {number|null} ackedVersion version the server acknowledged, or null
 * @property {number} minVersion  a conditional op waits until the local version reaches this
 */

/**
 * Builds a pending op from a write. `kind` `update` needs `fn`; the others need their payload.
 * @param {string} opId
 * @param {{kind:'set'|'merge'|'ops'|'update', set?:unknown, merge?:unknown, ops?:any[], fn?:(s:any)=>any, baseVersion?:number}} write
 * @returns {PendingOp}
 */
export function makeOp(opId, write) {
  const op = {
    id: opId, opId, kind: write.kind, attempts: 1, sentEpoch: null, ackedVersion: null, minVersion: 0,
    conditional: write.kind === 'update' || typeof write.baseVersion === 'number',
  };
  if (write.kind === 'set') op.set = write.set;
  if (write.kind === 'merge') op.merge = write.merge;
  if (write.kind === 'ops') op.ops = write.ops;
  if (write.kind === 'update') op.fn = write.fn;
  if (typeof write.baseVersion === 'number') op.baseVersion = write.baseVersion;
  return /** @type {PendingOp} */ (op);
}

/** An ordered queue of {@link PendingOp}s. */
export class Outbox {
  constructor() {
    /** @type {PendingOp[]} */
    this.ops = [];
  }

  /** Number of unconfirmed ops. @returns {number} */
  get size() { return this.ops.length; }

  /** Appends an op. @param {PendingOp} op @returns {PendingOp} */
  push(op) { this.ops.push(op); return op; }

  /** The op whose current attempt has this op id, if any. @param {string} opId @returns {PendingOp|undefined} */
  get(opId) { return this.ops.find((o) => o.opId === opId); }

  /** Removes and returns the op with this op id. @param {string} opId @returns {PendingOp|undefined} */
  remove(opId) {
    const i = this.ops.findIndex((o) => o.opId === opId);
    return i < 0 ? undefined : this.ops.splice(i, 1)[0];
  }

  /**
   * Records the server's ack of an op id. The op stays queued until the local state reaches
   * that version (see {@link Outbox#confirmUpTo}), so the optimistic view never flickers.
   * @param {string} opId @param {number} version @returns {PendingOp|undefined}
   */
  ack(opId, version) {
    const op = this.get(opId);
    if (op) op.ackedVersion = version;
    return op;
  }

  /**
   * Removes every acknowledged op whose version the local state now includes.
   * @param {number} version the local confirmed version
   * @returns {PendingOp[]} the removed ops
   */
  confirmUpTo(version) {
    const done = this.ops.filter((o) => o.ackedVersion !== null && o.ackedVersion <= version);
    if (done.length) this.ops = this.ops.filter((o) => !done.includes(o));
    return done;
  }

  /** Number of ops sent on connection `epoch` and not acknowledged yet. @param {number} epoch @returns {number} */
  inFlight(epoch) {
    return this.ops.filter((o) => o.sentEpoch === epoch && o.ackedVersion === null).length;
  }

  /**
   * The ops that may be sent now on connection `epoch`, in order. Ops already sent on this
   * connection or acknowledged are skipped. A conditional op is only sent when every earlier op
   * is confirmed (it is first in the queue) and the local version has reached its `minVersion`;
   * nothing after an unconfirmed conditional op is sent (writes keep their order).
   * At most `maxInFlight` ops are in flight at once.
   * @param {number} epoch
   * @param {number} version the local confirmed version
   * @param {number} [maxInFlight]
   * @returns {PendingOp[]}
   */
  sendable(epoch, version, maxInFlight = Infinity) {
    const out = [];
    let budget = maxInFlight - this.inFlight(epoch);
    for (let i = 0; i < this.ops.length && budget > 0; i++) {
      const op = this.ops[i];
      if (op.conditional) {
        if (i === 0 && op.sentEpoch !== epoch && op.ackedVersion === null && version >= op.minVersion) out.push(op);
        break; // later ops wait until this one is confirmed
      }
      if (op.ackedVersion !== null || op.sentEpoch === epoch) continue;
      out.push(op);
      budget--;
    }
    return out;
  }

  /** Marks an op as sent on connection `epoch`. @param {PendingOp} op @param {number} epoch */
  markSent(op, epoch) { op.sentEpoch = epoch; }

  /**
   * Makes an op sendable again on the current connection (after `rate_limited`, or a failed
   * HTTP request) without changing its op id.
   * @param {PendingOp} op
   */
  unsend(op) { op.sentEpoch = null; }

  /**
   * Starts a conditional op over after a `version_conflict`: new attempt, new op id, and it waits
   * until the local version reaches `currentVersion` (the server's version in the reject).
   * @param {PendingOp} op @param {number} currentVersion
   */
  retry(op, currentVersion) {
    op.attempts += 1;
    op.opId = `${op.id}.${op.attempts}`;
    op.sentEpoch = null;
    op.ackedVersion = null;
    op.minVersion = currentVersion || 0;
    if (op.kind === 'update') { delete op.set; delete op.baseVersion; }
  }
}

/** The protocol frame of a pending op (`set` or `patch`, protocol docs/protocol.md). @param {PendingOp} op */
export function opFrame(op) {
  const f = { type: op.kind === 'set' || op.kind === 'update' ? 'set' : 'patch', opId: op.opId };
  if (typeof op.baseVersion === 'number') f.baseVersion = op.baseVersion;
  if (f.type === 'set') f.state = op.set;
  else if (op.kind === 'merge') f.merge = op.merge;
  else f.ops = op.ops;
  return f;
}
