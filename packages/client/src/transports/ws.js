// The WebSocket transport: one socket per connection attempt, frames of docs/protocol.md both
// ways, plain-text chat lines (P12), and the keep-alive: a plain-text `ping` after
// `heartbeatMs` of silence, the connection reported lost when nothing answers within
// `heartbeatTimeoutMs`. Same surface as sse.js and longpoll.js (see transports/types.js).

/**
 * The WebSocket URL of a session; `since` resumes from that version, `batch` asks for P15.
 * @param {string} httpBase @param {string} key @param {number|null} since @param {boolean} batch
 * @returns {string}
 */
export function wsUrl(httpBase, key, since, batch) {
  const url = new URL(`${httpBase.replace(/^http/, 'ws')}/sessions/${encodeURIComponent(key)}/ws`);
  if (since !== null) url.searchParams.set('since', String(since));
  if (batch) url.searchParams.set('batch', '1');
  return url.href;
}

/**
 * Opens a WebSocket transport.
 * @param {import('./types.js').TransportContext} ctx
 * @returns {import('./types.js').Transport}
 */
export function openWs(ctx) {
  const { options } = ctx;
  const WS = ctx.deps.WebSocket;
  let ws;
  let idle = null;
  let deadline = null;
  let closed = false;
  const stopTimers = () => { clearTimeout(idle); clearTimeout(deadline); idle = deadline = null; };
  const lost = (info) => {
    if (closed) return;
    closed = true;
    stopTimers();
    if (ws) { ws.onclose = ws.onmessage = ws.onerror = null; try { ws.close(1000); } catch {} }
    ctx.onLost(info);
  };
  /** Anything arrived: the link is alive; ping again after `heartbeatMs` of silence. */
  const alive = () => {
    clearTimeout(deadline);
    deadline = null;
    clearTimeout(idle);
    idle = setTimeout(probe, options.heartbeatMs);
  };
  const probe = () => {
    if (closed || deadline || !ws || ws.readyState !== 1) return;
    ws.send('ping');
    deadline = setTimeout(() => lost({ reason: 'heartbeat' }), options.heartbeatTimeoutMs);
  };
  const transport = {
    kind: /** @type {const} */ ('websocket'),
    send(frame) {
      if (closed || !ws || ws.readyState !== 1) return false;
      ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
      return true;
    },
    close() {
      closed = true;
      stopTimers();
      if (ws) { ws.onclose = ws.onmessage = ws.onerror = null; try { ws.close(1000); } catch {} }
    },
    probe,
  };
  try { ws = new WS(wsUrl(ctx.httpBase, ctx.key, ctx.since, options.batch)); } catch (e) {
    queueMicrotask(() => lost({ reason: 'connect', error: e }));
    return transport;
  }
  ws.onmessage = (ev) => {
    if (closed) return;
    alive();
    if (typeof ev.data !== 'string' || ev.data === 'pong') return;
    let frame;
    try { frame = JSON.parse(ev.data); } catch { ctx.onText(ev.data); return; }
    ctx.onFrame(frame);
    // P11: `message_too_large` comes just before the 1009 close. Act on the frame: some proxies
    // (wrangler dev's among them) hold the socket open after a server-initiated close (P14).
    if (frame && frame.type === 'error' && frame.code === 'message_too_large') lost({ code: 1009 });
  };
  ws.onclose = (ev) => lost({ code: ev.code });
  return transport;
}
