// The long-poll transport: `GET .../{key}` once (the snapshot, reported as a `welcome`), then
// `?after=<version>&wait=<s>` in a loop (each newer state reported as a `snapshot` frame);
// writes over HTTP (http-writes.js). Same surface as ws.js and sse.js (see transports/types.js).
import { readError, networkError } from '../errors.js';
import { createHttpWriter } from './http-writes.js';

/**
 * Opens a long-poll transport.
 * @param {import('./types.js').TransportContext} ctx
 * @returns {import('./types.js').Transport}
 */
export function openLongPoll(ctx) {
  let closed = false;
  const ctrl = new AbortController();
  const writer = createHttpWriter(ctx, 'longpoll', () => !closed);
  const base = `${ctx.httpBase}/sessions/${encodeURIComponent(ctx.key)}`;
  const end = () => { closed = true; writer.close(); ctrl.abort(); };
  const loop = async () => {
    let first = true;
    while (!closed) {
      const url = first ? base : `${base}?after=${ctx.version()}&wait=${ctx.options.longPollWaitSeconds}`;
      const res = await ctx.deps.fetch(url, { cache: 'no-store', signal: ctrl.signal });
      if (closed) return;
      if (res.status === 304) continue;
      if (!res.ok) {
        const err = await readError(res);
        if (closed) return;
        if (res.status === 404 || res.status === 400) { end(); ctx.onLost({ fatal: err }); return; }
        throw err;
      }
      const body = await res.json();
      if (closed) return;
      if (first) {
        first = false;
        ctx.onFrame({ type: 'welcome', role: body.role, clientId: null, version: body.version, resume: 'snapshot', state: body.state, presence: [] });
      } else if (body.version > ctx.version()) {
        ctx.onFrame({ type: 'snapshot', state: body.state, version: body.version });
      }
    }
  };
  loop().catch((e) => {
    if (closed) return;
    end();
    ctx.onLost({ reason: 'poll', error: e && e.code ? e : networkError(e) });
  });
  return {
    kind: 'longpoll',
    send: (frame) => !closed && writer.send(frame),
    close: end,
  };
}
