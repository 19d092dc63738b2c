// The WebSocket transport: one socket per connection attempt (`epoch`), frames of
// docs/protocol.md both ways, plain-text `ping` / `pong` keep-alive and chat lines.
import { opFrame } from '../outbox.js';
import { frameBytes } from '../errors.js';

/** The WebSocket URL of a session, resuming from the session's version when it has one. */
export function wsUrl(session, base) {
  const url = new URL(`${base.replace(/^http/, 'ws')}/sessions/${encodeURIComponent(session.key)}/ws`);
  if (session._sync.version > 0 && !session._needSnapshot) url.searchParams.set('since', String(session._sync.version));
  if (session.options.batch) url.searchParams.set('batch', '1');
  return url.href;
}

/**
 * Opens a WebSocket for `session` and installs it as `session._conn`. Reports frames to
 * `session._onFrame` and the end of the socket to `session._lost(epoch, {code, welcomed})`.
 * @param {import('../session-sync.js').Session} session @param {number} epoch @param {string} httpBase
 */
export function connectWs(session, epoch, httpBase) {
  let ws;
  try { ws = new WebSocket(wsUrl(session, httpBase)); } catch { session._lost(epoch, { welcomed: false }); return; }
  const conn = { kind: 'websocket', welcomed: false, ws };
  conn.close = () => { ws.onclose = ws.onmessage = ws.onerror = null; try { ws.close(1000); } catch {} };
  conn.send = (frame) => {
    if (ws.readyState !== 1) return false;
    ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    return true;
  };
  conn.sendOp = (op) => {
    const frame = opFrame(op);
    op.bytes = frameBytes(frame); // to find the culprit if the server closes with 1009
    return conn.send(frame);
  };
  session._conn = conn;
  const timer = setTimeout(() => {
    if (epoch === session._epoch && !conn.welcomed) { conn.close(); session._lost(epoch, { welcomed: false }); }
  }, session.options.connectTimeoutMs);
  ws.onmessage = (ev) => {
    if (epoch !== session._epoch) return;
    session._alive();
    if (typeof ev.data !== 'string' || ev.data === 'pong') return;
    let frame;
    try { frame = JSON.parse(ev.data); } catch { session._emit('text', ev.data); return; }
    if (frame && frame.type === 'welcome') { conn.welcomed = true; clearTimeout(timer); }
    session._onFrame(frame);
    // P11: `message_too_large` comes just before the 1009 close. Act on the frame: some proxies
    // (wrangler dev's among them) hold the socket open after a server-initiated close (P14).
    if (frame && frame.type === 'error' && frame.code === 'message_too_large' && epoch === session._epoch) {
      clearTimeout(timer);
      conn.close();
      session._lost(epoch, { code: 1009, welcomed: conn.welcomed });
    }
  };
  ws.onclose = (ev) => {
    clearTimeout(timer);
    session._lost(epoch, { code: ev.code, welcomed: conn.welcomed });
  };
}
