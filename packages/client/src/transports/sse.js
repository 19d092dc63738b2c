// The SSE transport: `GET .../events` (EventSource) for the frames, HTTP for writes.
import { httpFrame, httpOp } from './http-writes.js';

/** Opens an EventSource for `session` and installs it as `session._conn`. */
export function connectSse(session, epoch, httpBase) {
  let url = `${httpBase}/sessions/${encodeURIComponent(session.key)}/events`;
  if (session._sync.version > 0 && !session._needSnapshot) url += `?since=${session._sync.version}`;
  const es = new EventSource(url);
  const conn = { kind: 'sse', welcomed: false, es };
  conn.close = () => es.close();
  conn.send = (frame) => httpFrame(session, frame);
  conn.sendOp = (op) => httpOp(session, op, epoch);
  session._conn = conn;
  const timer = setTimeout(() => {
    if (epoch === session._epoch && !conn.welcomed) { es.close(); session._lost(epoch, { welcomed: false }); }
  }, session.options.connectTimeoutMs);
  const handle = (ev) => {
    if (epoch !== session._epoch) return;
    let frame;
    try { frame = JSON.parse(ev.data); } catch { return; }
    if (!frame.type && ev.type !== 'message') frame.type = ev.type;
    if (frame.type === 'welcome') { conn.welcomed = true; clearTimeout(timer); }
    session._onFrame(frame);
  };
  for (const t of ['welcome', 'update', 'broadcast', 'presence', 'message']) es.addEventListener(t, handle);
  es.onerror = (ev) => {
    // The server's own `event: error` (session_ended, key_rotated) carries an error frame;
    // a connection error has no data.
    if (ev && typeof ev.data === 'string') { handle(ev); return; }
    clearTimeout(timer);
    es.close();
    session._lost(epoch, { welcomed: conn.welcomed });
  };
}
