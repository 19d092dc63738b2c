// Writes, presence and broadcasts over plain HTTP, for the SSE and long-poll transports. Each
// answer becomes the frame a WebSocket would have carried (`ack`, `reject`, `error`, a
// presence `sync`), so the session handles every transport the same way. Writes are PUT /
// PATCH with `Idempotency-Key: <opId>` (and `If-Match` for conditional writes), one at a time.
import { readError, networkError, SESSION_GONE_CODES } from '../errors.js';

/** Body and headers of a write frame (`set` or `patch`) as an HTTP request. */
function writeRequest(frame) {
  const headers = { 'Idempotency-Key': frame.opId, 'Content-Type': 'application/json' };
  if (typeof frame.baseVersion === 'number') headers['If-Match'] = `"${frame.baseVersion}"`;
  if (frame.type === 'set') return { method: 'PUT', headers, body: JSON.stringify(frame.state) };
  if (frame.merge !== undefined) return { method: 'PATCH', headers: { ...headers, 'Content-Type': 'application/merge-patch+json' }, body: JSON.stringify(frame.merge) };
  return { method: 'PATCH', headers: { ...headers, 'Content-Type': 'application/json-patch+json' }, body: JSON.stringify(frame.ops) };
}

/**
 * The HTTP side of a transport: `send(frame)` for `set` / `patch` / `presence` / `broadcast`.
 * `kind` 'longpoll' also keeps this client's presence entry alive (renewed at half its TTL) and
 * reports who is present from each answer; over SSE the stream itself is the presence.
 * @param {import('./types.js').TransportContext} ctx
 * @param {'sse'|'longpoll'} kind
 * @param {() => boolean} isOpen false once the transport ended (late answers are dropped)
 * @returns {{send:(frame:any) => boolean, close:() => void}}
 */
export function createHttpWriter(ctx, kind, isOpen) {
  const base = `${ctx.httpBase}/sessions/${encodeURIComponent(ctx.key)}`;
  const post = (path, body) => ctx.deps.fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  let chain = Promise.resolve();
  let presenceId = null;
  let renewTimer = null;
  let lastPresence;

  const fail = async (res) => {
    const err = await readError(res);
    if (isOpen()) ctx.onFrame({ type: 'error', code: err.code, message: err.message });
    return err;
  };

  async function write(frame) {
    if (!isOpen() || !ctx.isPending(frame.opId)) return; // confirmed or dropped meanwhile
    let res;
    try { res = await ctx.deps.fetch(base, writeRequest(frame)); } catch (e) {
      if (isOpen()) ctx.onLost({ reason: 'network', error: networkError(e) }); // resent after the reconnect
      return;
    }
    if (!isOpen()) return;
    if (res.ok) {
      const data = await res.json().catch(() => ({}));
      ctx.onFrame({ type: 'ack', opId: frame.opId, version: data.version, duplicate: !!data.duplicate });
      return;
    }
    const err = await readError(res);
    if (SESSION_GONE_CODES.has(err.code)) { ctx.onLost({ fatal: err }); return; }
    ctx.onFrame({ type: 'reject', opId: frame.opId, code: err.code, message: err.message, version: err.currentVersion, retryAfterMs: err.retryAfterMs });
  }

  function presence(data) {
    lastPresence = data;
    const body = { data };
    const id = kind === 'sse' ? ctx.clientId() : presenceId;
    if (id) body.clientId = id;
    post('/presence', body).then(async (res) => {
      if (!res.ok) {
        const err = await fail(res);
        if (err.code === 'unknown_client') presenceId = null; // expired: join afresh next time
        return;
      }
      const answer = await res.json();
      if (kind !== 'longpoll' || !isOpen()) return;
      presenceId = answer.clientId;
      ctx.onFrame({ type: 'presence', event: 'sync', clientId: answer.clientId, list: answer.presence });
      clearTimeout(renewTimer);
      // Renew at half the TTL, so the entry never lapses while this client is here.
      if (answer.ttl) renewTimer = setTimeout(() => { if (isOpen()) presence(lastPresence); }, answer.ttl * 500);
    }).catch(() => {}); // offline: the transport notices on its own
  }

  return {
    send(frame) {
      if (!frame || typeof frame !== 'object') return false; // a ping cannot go over HTTP
      if (frame.type === 'set' || frame.type === 'patch') { chain = chain.then(() => write(frame)); return true; }
      if (frame.type === 'presence') { presence(frame.data); return true; }
      if (frame.type !== 'broadcast') return false;
      // No `volatile` here: `POST .../messages` refuses unknown keys (src/core/http.rs
      // `MessageBody`), so a volatile broadcast goes as a plain one (still throttled by the SDK).
      const body = { data: frame.data };
      if (frame.to) body.to = frame.to;
      post('/messages', body).then((res) => { if (!res.ok) return fail(res); }).catch(() => {});
      return true;
    },
    close() { clearTimeout(renewTimer); },
  };
}
