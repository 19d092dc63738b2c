// Writes and broadcasts over plain HTTP, for the SSE and long-poll transports: PUT / PATCH with
// `Idempotency-Key: <opId>` (and `If-Match` for conditional writes), one request at a time.
import { apiBase } from '../defaults.js';
import { readError, isTransientStatus, SESSION_GONE_CODES } from '../errors.js';

/**
 * Sends a frame over HTTP: a broadcast as `POST .../messages`, presence as `POST .../presence`
 * (tied to the SSE stream's client id, or renewed before its TTL for long-poll). Ping cannot
 * go over HTTP (false).
 */
export function httpFrame(session, frame) {
  if (frame.type === 'presence') { httpPresence(session, frame.data); return true; }
  if (frame.type !== 'broadcast') return false;
  const body = { data: frame.data };
  if (frame.to) body.to = frame.to;
  const url = `${apiBase(session.options)}/sessions/${encodeURIComponent(session.key)}/messages`;
  fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
    .then(async (res) => { if (!res.ok) session._emit('error', await readError(res)); })
    .catch(() => {}); // offline: the connection notices on its own
  return true;
}

/** `POST .../presence`; a long-poll client learns its id and everyone present from the answer. */
function httpPresence(session, data) {
  const conn = session._conn;
  const body = { data };
  const id = conn && (conn.kind === 'sse' ? session.clientId : conn.presenceId);
  if (id) body.clientId = id;
  const url = `${apiBase(session.options)}/sessions/${encodeURIComponent(session.key)}/presence`;
  fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
    .then(async (res) => {
      if (!res.ok) {
        const err = await readError(res);
        if (err.code === 'unknown_client' && conn) conn.presenceId = null; // expired: join afresh next time
        session._emit('error', err);
        return;
      }
      const answer = await res.json();
      if (!conn || session._conn !== conn || conn.kind !== 'longpoll') return;
      conn.presenceId = answer.clientId;
      if (!session.clientId) session.clientId = answer.clientId;
      session.presence._replace(answer.presence);
      clearTimeout(conn.renewTimer);
      // Renew at half the TTL, so the entry never lapses while this client is here.
      if (answer.ttl) conn.renewTimer = setTimeout(() => session.presence._resend(), answer.ttl * 500);
    })
    .catch(() => {}); // offline: the connection notices on its own
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
