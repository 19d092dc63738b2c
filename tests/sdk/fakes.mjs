// Fake network for Session unit tests: a scripted WebSocket, EventSource and fetch, injected
// through the session's options (no globals). The test plays the server.

export const KEY = 'AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB';

/** A fake network: `net.WebSocket`, `net.EventSource`, `net.fetch` to pass in options. */
export function fakeNet() {
  const net = {
    sockets: [], streams: [], requests: [],
    /** fetch answers: (url, init) => Response; default 200 `{}` (the server is up). */
    answer: (url, init) => Response.json({ version: 1, state: {}, role: 'write' }),
    waiters: [],
  };
  const notify = () => { for (const w of net.waiters.splice(0)) w(); };
  /** Resolves when `pred()` holds (checked after every socket, stream and request). */
  net.until = (pred) => new Promise((resolve) => {
    const check = () => { const v = pred(); if (v) resolve(v); else net.waiters.push(check); };
    check();
  });
  net.nextSocket = (n = net.sockets.length + 1) => net.until(() => net.sockets[n - 1]);
  net.nextStream = (n = net.streams.length + 1) => net.until(() => net.streams[n - 1]);

  net.WebSocket = class FakeWS {
    constructor(url) {
      this.url = new URL(url);
      this.readyState = 1;
      this.sent = [];
      net.sockets.push(this);
      notify();
    }
    send(d) { this.sent.push(typeof d === 'string' && d !== 'ping' ? JSON.parse(d) : d); notify(); }
    close() { this.readyState = 3; }
    deliver(frame) { this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) }); }
    serverClose(code = 1006) { this.readyState = 3; this.onclose?.({ code }); }
    writes() { return this.sent.filter((f) => f.type === 'set' || f.type === 'patch'); }
  };

  net.EventSource = class FakeES {
    constructor(url) {
      this.url = new URL(url);
      this.listeners = new Map();
      this.closed = false;
      net.streams.push(this);
      notify();
    }
    addEventListener(t, fn) { this.listeners.set(t, fn); }
    close() { this.closed = true; }
    emit(type, frame) { this.listeners.get(type)?.({ type, data: JSON.stringify(frame) }); }
    fail() { this.onerror?.({}); }
  };

  net.fetch = async (url, init = {}) => {
    const req = { url: new URL(url), method: init.method || 'GET', headers: init.headers || {}, body: init.body };
    net.requests.push(req);
    notify();
    return net.answer(req.url, req);
  };
  return net;
}

/** A welcome frame at `version` with state `{n: version}` unless told. */
export const welcome = (version, extra = {}) => ({
  type: 'welcome', protocol: 1, clientId: 'c_me', role: 'write', version, resume: 'snapshot',
  state: { n: version }, presence: [], limits: { maxMessageBytes: 1 << 20, maxPresenceBytes: 2048 }, ...extra,
});

/** Resolves with the arguments of the next `type` event that passes `pred`. */
export const once = (session, type, pred = () => true) => new Promise((resolve) => {
  const off = session.on(type, (...args) => { if (pred(...args)) { off(); resolve(args); } });
});

/** Options for a test session on `net`: tiny fixed backoff, no durable storage unless given. */
export const opts = (net, extra = {}) => ({
  baseUrl: 'http://test', WebSocket: net.WebSocket, EventSource: net.EventSource, fetch: net.fetch,
  backoff: { initialMs: 1, maxMs: 4, jitter: 0 }, durableOutbox: false, ...extra,
});
