// The JS side of src/edge/sse.rs: an SSE response stream with its keep-alive timer and queue bound.
const enc = new TextEncoder();
export function sseOpen(first, keepAliveMs, maxQueuedBytes, alive) {
  const h = { closed: false, controller: null, timer: null };
  h.stream = new ReadableStream({
    start(c) { h.controller = c; if (first) c.enqueue(enc.encode(first)); },
    cancel() { h.closed = true; clearInterval(h.timer); },
  }, { highWaterMark: maxQueuedBytes, size: (chunk) => chunk.byteLength });
  h.timer = setInterval(() => {
    let ok = false;
    try { ok = alive(); } catch (_) { ok = false; }
    if (!ok) { sseEnd(h); return; }
    ssePush(h, ': keep-alive\n\n');
  }, keepAliveMs);
  return h;
}
export function ssePush(h, text) {
  if (h.closed) return false;
  try { h.controller.enqueue(enc.encode(text)); } catch (_) { h.closed = true; clearInterval(h.timer); return false; }
  if (h.controller.desiredSize < 0) { sseEnd(h); return false; }
  return true;
}
export function sseEnd(h) {
  if (h.closed) return;
  h.closed = true;
  clearInterval(h.timer);
  try { h.controller.close(); } catch (_) { /* already errored */ }
}
export function sseStream(h) { return h.stream; }
export function sseClosed(h) { return h.closed; }
