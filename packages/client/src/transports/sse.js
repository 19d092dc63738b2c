// The SSE transport: `GET .../events` (EventSource) for the frames, HTTP for writes
// (http-writes.js). Same surface as ws.js and longpoll.js (see transports/types.js).
import { createHttpWriter } from './http-writes.js';

/**
 * The server-sent event types the server sends, named by their frame's `type` (`updates`: P15
 * coalescing; `audience`: the viewer count; `error` arrives through onerror). EventSource
 * delivers only the event names it listens to, so a new frame type must be added here.
 */
const EVENTS = ['welcome', 'update', 'updates', 'broadcast', 'presence', 'audience'];

/**
 * Opens an SSE transport.
 * @param {import('./types.js').TransportContext} ctx
 * @returns {import('./types.js').Transport}
 */
export function openSse(ctx) {
  let closed = false;
  let url = `${ctx.httpBase}/sessions/${encodeURIComponent(ctx.key)}/events`;
  if (ctx.since !== null) url += `?since=${ctx.since}`;
  const writer = createHttpWriter(ctx, 'sse', () => !closed);
  const es = new ctx.deps.EventSource(url);
  const end = () => { closed = true; writer.close(); es.close(); };
  const handle = (ev) => {
    if (closed) return;
    let frame;
    try { frame = JSON.parse(ev.data); } catch { return; }
    if (frame && typeof frame === 'object' && !frame.type && ev.type !== 'message') frame.type = ev.type;
    ctx.onFrame(frame);
  };
  for (const t of EVENTS) es.addEventListener(t, handle);
  es.onerror = (ev) => {
    // The server's own `event: error` (session_ended, key_rotated) carries an error frame;
    // a connection error has no data.
    if (ev && typeof ev.data === 'string') { handle(ev); return; }
    if (closed) return;
    end();
    ctx.onLost({ reason: 'stream' });
  };
  return {
    kind: 'sse',
    send: (frame) => !closed && writer.send(frame),
    close: end,
  };
}
