// The runtime floor for the fan-out benchmark: a Durable Object that does nothing but send
// every message it receives, unchanged, to every WebSocket it holds (the sender included).
// No parsing, no storage, no presence: the fastest fan-out workerd allows, to compare the
// Rust service's fan-out p99 against (issue 12). Sockets use the hibernation API.
//
// Routes (under /floor, see ../entry.js), shaped like the service's so the load generator's
// create/connect helpers work with the prefix "/floor":
//   POST /floor/api/v1/sessions               -> 201 {sessionId, keys:{admin,write,read}} (a fresh name)
//   GET  /floor/api/v1/sessions/{name}/ws     -> 101 WebSocket on the object named {name};
//                                                first frame: {"type":"welcome","version":0}
//   GET  /floor/api/v1/health                 -> 200 {ok:true}
// The load generator's writer must send frames that already look like updates, e.g.
//   {"type":"update","version":1,"opId":"w0","author":"floor","merge":{"s":0,"p":"xx"}}
// with version = seq + 1 (the welcome says version 0): subscribers get them verbatim.
import { DurableObject } from 'cloudflare:workers';

const WELCOME = '{"type":"welcome","protocol":1,"clientId":"floor","role":"write","version":0,"resume":"ops","ops":[],"presence":[]}';
const NAME_RE = /^\/floor\/api\/v1\/sessions\/([A-Za-z0-9_-]{1,64})\/ws$/;

function json(status, body) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** The worker side: hands out names and forwards WebSocket upgrades to the named object. */
export async function handleFloor(request, env) {
  const path = new URL(request.url).pathname;
  if (path === '/floor/api/v1/health') return json(200, { ok: true });
  if (path === '/floor/api/v1/sessions' && request.method === 'POST') {
    const name = crypto.randomUUID();
    return json(201, { sessionId: name, keys: { admin: name, write: name, read: name } });
  }
  const m = NAME_RE.exec(path);
  if (!m) return json(404, { error: { code: 'not_found', message: 'no such route' } });
  if (request.headers.get('upgrade') !== 'websocket') {
    return json(426, { error: { code: 'upgrade_required', message: 'WebSocket upgrade required' } });
  }
  return env.FLOOR.get(env.FLOOR.idFromName(m[1])).fetch(request);
}

export class FloorSession extends DurableObject {
  fetch() {
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    pair[1].send(WELCOME);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  webSocketMessage(_ws, message) {
    for (const s of this.ctx.getWebSockets()) {
      try {
        s.send(message);
      } catch {
        // closing: it misses this one
      }
    }
  }

  webSocketClose(ws, code) {
    // Complete the closing handshake; 1005/1006 cannot be sent back.
    try {
      ws.close(code >= 3000 && code <= 4999 ? code : 1000, 'bye');
    } catch {
      // already closed
    }
  }

  webSocketError() {}
}
