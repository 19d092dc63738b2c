// The long-poll transport: `GET .../{key}` once, then `?after=<version>&wait=<s>` in a loop;
// writes over HTTP.
import { readError } from '../errors.js';
import { httpFrame, httpOp } from './http-writes.js';

/** Starts the long-poll loop for `session` and installs it as `session._conn`. */
export function connectLongPoll(session, epoch, httpBase) {
  const ctrl = new AbortController();
  const conn = { kind: 'longpoll', welcomed: false };
  conn.close = () => { ctrl.abort(); clearTimeout(conn.renewTimer); };
  conn.send = (frame) => httpFrame(session, frame);
  conn.sendOp = (op) => httpOp(session, op, epoch);
  session._conn = conn;
  const base = `${httpBase}/sessions/${encodeURIComponent(session.key)}`;
  const loop = async () => {
    try {
      let first = true;
      while (epoch === session._epoch) {
        const url = first ? base : `${base}?after=${session._sync.version}&wait=${session.options.longPollWaitSeconds}`;
        const res = await fetch(url, { cache: 'no-store', signal: ctrl.signal });
        if (epoch !== session._epoch) return;
        if (res.status === 304) continue;
        if (!res.ok) {
          const err = await readError(res);
          if (res.status === 404 || res.status === 400) { session._shutdown(err); return; }
          throw err;
        }
        const body = await res.json();
        if (epoch !== session._epoch) return;
        if (first) {
          first = false;
          conn.welcomed = true;
          session._onFrame({ type: 'welcome', role: body.role, clientId: null, version: body.version, resume: 'snapshot', state: body.state, presence: [] });
        } else if (body.version > session._sync.version) {
          session._snapshot(body.state, body.version, 'remote');
        }
      }
    } catch {
      if (epoch === session._epoch) session._lost(epoch, { welcomed: conn.welcomed });
    }
  };
  loop();
}
