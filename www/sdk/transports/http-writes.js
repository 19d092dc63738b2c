// Writes and broadcasts over plain HTTP, for the SSE and long-poll transports: PUT / PATCH with
// `Idempotency-Key: <opId>` (and `If-Match` for conditional writes), one request at a time.
import { apiBase } from '../defaults.js';
import { readError, isTransientStatus, SESSION_GONE_CODES } from '../errors.js';

/** Sends a broadcast as `POST .../messages`; presence and ping cannot go over HTTP (false). */
export function httpFrame(session, frame) {
  if (frame.type !== 'broadcast') return false;
  const body = { data: frame.data };
  if (frame.to) body.to = frame.to;
  const url = `${apiBase(session.options)}/sessions/${encodeURIComponent(session.key)}/messages`;
  fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
    .then(async (res) => { if (!res.ok) session._emit('error', await readError(res)); })
    .catch(() => {}); // offline: the connection notices on its own
  return true;
}

/** Queues one write; HTTP writes go one at a time, in order. Always true (queued). */
export function httpOp(session, op, epoch) {
  session._httpChain = (session._httpChain || Promise.resolve()).then(() => httpOpNow(session, op, epoch));
  return true;
}

async function httpOpNow(session, op, epoch) {
  if (!session._sync.outbox.get(op.opId)) return; // confirmed or dropped meanwhile
  const headers = { 'Idempotency-Key': op.opId };
  if (typeof op.baseVersion === 'number') headers['If-Match'] = `"${op.baseVersion}"`;
  let method = 'PUT';
  let body = op.set;
  headers['Content-Type'] = 'application/json';
  if (op.kind === 'merge') { method = 'PATCH'; body = op.merge; headers['Content-Type'] = 'application/merge-patch+json'; }
  if (op.kind === 'ops') { method = 'PATCH'; body = op.ops; headers['Content-Type'] = 'application/json-patch+json'; }
  let res;
  try {
    res = await fetch(`${apiBase(session.options)}/sessions/${encodeURIComponent(session.key)}`, { method, headers, body: JSON.stringify(body) });
  } catch {
    session._sync.outbox.unsend(op);
    if (epoch === session._epoch) session._lost(epoch, { welcomed: true });
    return;
  }
  if (res.ok) {
    const data = await res.json().catch(() => ({}));
    session._onFrame({ type: 'ack', opId: op.opId, version: data.version, duplicate: !!data.duplicate });
    return;
  }
  const err = await readError(res);
  if (SESSION_GONE_CODES.has(err.code)) { session._shutdown(err); return; }
  if (isTransientStatus(res.status)) {
    session._onFrame({ type: 'reject', opId: op.opId, code: 'rate_limited', message: err.message });
    return;
  }
  session._onFrame({ type: 'reject', opId: op.opId, code: err.code, message: err.message, version: err.currentVersion });
}
