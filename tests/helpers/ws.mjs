// WebSocket helpers for the black-box suites: a queueing client on Node 24's global WebSocket,
// and a raw `net` client that performs the upgrade by hand (to see HTTP statuses and to drop
// the TCP connection without a close handshake).
import net from 'node:net';
import { randomBytes, createHash } from 'node:crypto';

function parse(data) {
  if (typeof data !== 'string') return { text: null, msg: data };
  try {
    const v = JSON.parse(data);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return { text: data, msg: v };
  } catch {}
  return { text: data, msg: data }; // plain text (chat line, "pong")
}

/** Queue of received frames with `next(predicate, timeoutMs)`; used by both clients. */
export class FrameQueue {
  constructor() {
    this.all = []; // every frame ever received: {msg, text, t}
    this.pending = []; // not yet consumed by next()
    this.waiters = [];
    this.closeInfo = null;
    this.closeWaiters = [];
  }
  /** Resolves with {code, reason} once closed (close frame or connection end); rejects after ms. */
  waitClose(ms = 5000) {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no close within ${ms} ms`)), ms);
      this.closeWaiters.push((i) => { clearTimeout(t); resolve(i); });
    });
  }
  push(frame) {
    this.all.push(frame);
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i];
      if (w.pred(frame.msg, frame)) {
        this.waiters.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve(w.full ? frame : frame.msg);
        return;
      }
    }
    this.pending.push(frame);
  }
  closed(info) {
    if (this.closeInfo) return; // the first of close frame / TCP end wins
    this.closeInfo = info;
    for (const r of this.closeWaiters.splice(0)) r(info);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error(`socket closed (${info.code} ${info.reason}) while waiting for ${w.desc}`));
    }
  }
  /** Resolves with the first unconsumed frame matching `pred` (a function, or a `type` string). */
  next(pred = () => true, timeoutMs = 5000, { full = false } = {}) {
    const desc = typeof pred === 'string' ? `type ${pred}` : (pred.name || String(pred)).slice(0, 120);
    if (typeof pred === 'string') { const t = pred; pred = (m) => m?.type === t; }
    const i = this.pending.findIndex((f) => pred(f.msg, f));
    if (i >= 0) { const [f] = this.pending.splice(i, 1); return Promise.resolve(full ? f : f.msg); }
    if (this.closeInfo) return Promise.reject(new Error(`socket already closed (${this.closeInfo.code}) waiting for ${desc}`));
    return new Promise((resolve, reject) => {
      const w = { pred, resolve, reject, full, desc };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        const seen = this.all.slice(-5).map((f) => f.text ?? String(f.msg)).join('\n  ');
        reject(new Error(`timeout after ${timeoutMs} ms waiting for ${desc}; last frames:\n  ${seen}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
  /** Drops every queued frame. */
  drain() { this.pending.length = 0; }
  // There is no "nothing arrives within N ms": a silent window proves nothing on a loaded
  // machine. Use a barrier frame instead (noneBefore, and quiet below).
  /**
   * Waits for the first frame matching `barrier` and resolves true when no unconsumed frame
   * that arrived before it matches `pred` (frames are ordered on one connection).
   */
  async noneBefore(pred, barrier, timeoutMs = 10_000) {
    if (typeof pred === 'string') { const t = pred; pred = (m) => m?.type === t; }
    const mark = await this.next(barrier, timeoutMs, { full: true });
    const at = this.all.indexOf(mark);
    return !this.pending.some((f) => this.all.indexOf(f) < at && pred(f.msg, f));
  }
}

/**
 * Resolves true when `c` (a `connect` or `rawConnect` client) has no unconsumed frame matching
 * `pred` up to the answer to a JSON `ping` sent now. The session answers frames in order, so
 * that `pong` comes after everything it sent this connection for earlier work: a condition,
 * not a duration. (The plain-text `ping` is answered by the runtime, out of that order.)
 */
export function quiet(c, pred, timeoutMs = 10_000) {
  c.send({ type: 'ping' });
  return c.q.noneBefore(pred, (m) => m?.type === 'pong', timeoutMs);
}

/**
 * The frames an `updates` frame (P15) carries, in the order a client applies them: its
 * updates, then its presence events, then its broadcasts. Any other frame is itself.
 */
export function unpack(msg) {
  if (msg?.type !== 'updates') return [msg];
  return [...(msg.updates ?? []), ...(msg.presence ?? []), ...(msg.broadcasts ?? [])];
}

/**
 * Opens a WebSocket and resolves once it is open. Frames are queued; `welcome` is the first.
 * An `updates` frame (P15) is queued as the frames it carries, unless `raw` (then as it came).
 * @returns {Promise<{ws, url, q, next, send, sendText, close, closed, frames, waitClose}>}
 */
export function connect(url, { timeoutMs = 10_000, raw = false } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const q = new FrameQueue();
    let closeResolve;
    const closed = new Promise((r) => { closeResolve = r; });
    let opened = false;
    const timer = setTimeout(() => { try { ws.close(); } catch {} reject(new Error(`connect ${url}: timeout`)); }, timeoutMs);
    ws.addEventListener('message', (ev) => {
      const { text, msg } = parse(ev.data);
      const t = performance.now();
      if (raw || msg?.type !== 'updates') return q.push({ msg, text, t });
      for (const inner of unpack(msg)) q.push({ msg: inner, text: JSON.stringify(inner), t });
    });
    ws.addEventListener('close', (ev) => {
      const info = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean };
      q.closed(info);
      closeResolve(info);
      if (!opened) { clearTimeout(timer); reject(new Error(`connect ${url}: closed before open (${ev.code})`)); }
    });
    ws.addEventListener('error', () => {});
    ws.addEventListener('open', () => {
      opened = true;
      clearTimeout(timer);
      resolve({
        ws, url, q, closed,
        frames: q.all,
        next: (pred, ms, o) => q.next(pred, ms, o),
        send: (obj) => ws.send(JSON.stringify(obj)),
        sendText: (s) => ws.send(s),
        close: (code = 1000, reason = '') => { try { ws.close(code, reason); } catch {} return closed; },
        /** Resolves with {code, reason} or rejects after ms. */
        waitClose: (ms = 5000) => Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error(`no close within ${ms} ms`)), ms))]),
        get readyState() { return ws.readyState; },
      });
    });
  });
}

/** Connects and waits for the welcome frame: returns [client, welcome]. */
export async function connectWelcome(url, opts) {
  const c = await connect(url, opts);
  const welcome = await c.next(() => true, opts?.welcomeTimeoutMs ?? 10_000);
  return [c, welcome];
}

/** Sends a write frame and waits for its ack or reject (matched by opId). */
export async function write(c, frame, timeoutMs = 10_000) {
  c.send(frame);
  return c.next((m) => (m?.type === 'ack' || m?.type === 'reject') && m.opId === frame.opId, timeoutMs);
}

/**
 * Raw WebSocket over `net`: does the HTTP upgrade by hand. Resolves with
 * {status, statusLine, headers, body, socket, q, next, sendText, destroy} once the response
 * head (and, when the status is not 101, the body) arrived.
 */
export function rawConnect(wsUrl, { headers = {}, timeoutMs = 10_000 } = {}) {
  const u = new URL(wsUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port), u.hostname);
    const key = randomBytes(16).toString('base64');
    const q = new FrameQueue();
    let buf = Buffer.alloc(0);
    let head = null;
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`raw connect ${wsUrl}: timeout`)); }, timeoutMs);
    const api = {
      socket, q,
      next: (pred, ms, o) => q.next(pred, ms, o),
      sendText: (s) => socket.write(frame(1, Buffer.from(s))),
      send: (obj) => socket.write(frame(1, Buffer.from(JSON.stringify(obj)))),
      frames: q.all,
      /** Drops the TCP connection with no close frame (abrupt disconnect). */
      destroy: () => socket.destroy(),
      /** Resolves with the server's close frame {code, reason} (or the TCP end, code 1006). */
      waitClose: (ms) => q.waitClose(ms),
      /** Sends a close frame, then drops the TCP connection once the frame is written out. */
      close: (code = 1000) => {
        const b = Buffer.alloc(2); b.writeUInt16BE(code);
        try { socket.write(frame(8, b), () => socket.destroy()); } catch { socket.destroy(); }
      },
    };
    socket.on('connect', () => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
    });
    socket.on('error', (e) => { if (!head) { clearTimeout(timer); reject(e); } });
    socket.on('close', () => {
      q.closed({ code: 1006, reason: 'tcp closed' });
      if (head && head.status !== 101 && !head.done) { head.done = true; clearTimeout(timer); resolve({ ...api, ...head, body: buf.toString() }); }
    });
    // a non-101 answer: resolve once the whole body is in (Content-Length or chunked)
    const finishHttp = () => {
      if (head.done) return;
      let body = null;
      const len = Number(head.headers['content-length']);
      if (Number.isFinite(len) && head.headers['content-length'] !== undefined) { if (buf.length >= len) body = buf.subarray(0, len).toString(); }
      else if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) {
        const parts = []; let off = 0;
        for (;;) {
          const eol = buf.indexOf('\r\n', off); if (eol < 0) break;
          const n = parseInt(buf.subarray(off, eol).toString(), 16);
          if (n === 0) { body = Buffer.concat(parts).toString(); break; }
          if (buf.length < eol + 2 + n + 2) break;
          parts.push(buf.subarray(eol + 2, eol + 2 + n)); off = eol + 2 + n + 2;
        }
      }
      if (body !== null) { head.done = true; clearTimeout(timer); resolve({ ...api, ...head, body }); socket.destroy(); }
    };
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (!head) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString().split('\r\n');
        const statusLine = lines[0];
        const status = Number(statusLine.split(' ')[1]);
        const hs = {};
        for (const l of lines.slice(1)) { const i = l.indexOf(':'); hs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
        head = { status, statusLine, headers: hs };
        buf = buf.subarray(end + 4);
        if (status === 101) {
          const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
          head.acceptOk = hs['sec-websocket-accept'] === accept;
          clearTimeout(timer);
          resolve({ ...api, ...head });
        } else {
          finishHttp();
          return;
        }
      }
      if (head.status !== 101) { finishHttp(); return; }
      // parse server frames (unmasked)
      for (;;) {
        if (buf.length < 2) return;
        const op = buf[0] & 0x0f;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (op === 1) { const { text, msg } = parse(payload.toString()); q.push({ msg, text, t: performance.now() }); }
        else if (op === 8) {
          const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          q.closed({ code, reason: payload.subarray(2).toString() });
          try { socket.write(frame(8, payload.subarray(0, 2))); } catch {}
        }
        else if (op === 9) socket.write(frame(10, payload));
      }
    });
  });
}

function frame(opcode, payload) {
  const mask = randomBytes(4);
  let hdr;
  if (payload.length < 126) { hdr = Buffer.from([0x80 | opcode, 0x80 | payload.length]); }
  else if (payload.length < 65536) { hdr = Buffer.alloc(4); hdr[0] = 0x80 | opcode; hdr[1] = 0x80 | 126; hdr.writeUInt16BE(payload.length, 2); }
  else { hdr = Buffer.alloc(10); hdr[0] = 0x80 | opcode; hdr[1] = 0x80 | 127; hdr.writeBigUInt64BE(BigInt(payload.length), 2); }
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i & 3];
  return Buffer.concat([hdr, mask, masked]);
}

/** ws:// URL of a session socket. */
export const wsPath = (wsUrl, key, since) => `${wsUrl}/api/v1/sessions/${key}/ws${since !== undefined ? `?since=${since}` : ''}`;

/**
 * Opens a Server-Sent Events stream with fetch and parses text/event-stream by hand.
 * Resolves once the response head arrived with {status, headers, q, next, close, events}.
 * Each event is queued as `msg` = {event, id, data, json} (json = parsed data or undefined);
 * comment lines are collected in `comments`.
 */
export async function openSSE(url, { headers = {}, timeoutMs = 10_000 } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(new Error('SSE connect timeout')), timeoutMs);
  let res;
  try {
    res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ctrl.signal });
  } finally { clearTimeout(timer); }
  const q = new FrameQueue();
  const comments = [];
  const out = {
    status: res.status, headers: res.headers, res, q, comments,
    events: q.all,
    next: (pred, ms, o) => q.next(pred, ms, o),
    close: () => { try { ctrl.abort(); } catch {} },
  };
  if (res.status !== 200 || !res.body) { out.text = await res.text().catch(() => ''); return out; }
  (async () => {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let ev = { event: 'message', id: undefined, data: [] };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + (buf.startsWith('\r\n', i) ? 2 : 1));
          if (line === '') {
            if (ev.data.length) {
              const data = ev.data.join('\n');
              let json; try { json = JSON.parse(data); } catch {}
              if (ev.event === 'updates' && json) {
                // P15: the frames it carries, as the events they would have been alone.
                for (const inner of unpack(json)) {
                  const text = JSON.stringify(inner);
                  const id = inner.type === 'update' ? String(inner.version) : undefined;
                  q.push({ msg: { event: inner.type, id, data: text, json: inner }, text, t: performance.now() });
                }
              } else {
                const msg = { event: ev.event, id: ev.id, data, json };
                q.push({ msg, text: data, t: performance.now() });
              }
            }
            ev = { event: 'message', id: undefined, data: [] };
          } else if (line.startsWith(':')) comments.push(line);
          else {
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            let val = c < 0 ? '' : line.slice(c + 1);
            if (val.startsWith(' ')) val = val.slice(1);
            if (field === 'event') ev.event = val;
            else if (field === 'data') ev.data.push(val);
            else if (field === 'id') ev.id = val;
          }
        }
      }
      q.closed({ code: 0, reason: 'stream ended' });
    } catch (e) {
      q.closed({ code: -1, reason: String(e?.message ?? e) });
    }
  })();
  return out;
}

/** Raw-socket client (see rawConnect) that asserts the 101 and waits for the welcome: [client, welcome]. */
export async function rawWelcome(url, opts) {
  const c = await rawConnect(url, opts);
  if (c.status !== 101) throw new Error(`upgrade answered ${c.statusLine}: ${c.body}`);
  const welcome = await c.next(() => true, 10_000);
  return [c, welcome];
}
