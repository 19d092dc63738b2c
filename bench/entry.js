// Benchmark entry: one workerd process serves the Rust worker and the JavaScript baseline.
// - every export of the worker-build output, from bench/build/: a snapshot of ../build/ that
//   scripts/bench.sh copies (a rebuild of build/ under a running `wrangler dev` reloads it
//   mid-write and kills the run), so its SessionObject Durable Object
//   class is bound as SESSIONS exactly as in ../wrangler.toml;
// - the JS baseline Durable Object class JsSession (bound as JS_SESSIONS);
// - the runtime floor FloorSession (bound as FLOOR), which only relays (bench/floor/);
// - a default fetch handler that sends /js/* to the baseline, /floor/* to the floor and
//   everything else to the Rust worker's own default export, unchanged.
import { WorkerEntrypoint } from 'cloudflare:workers';
import RustWorker from './build/index.js';
import { handleJs } from './js-baseline/session.js';
import { handleFloor } from './floor/floor.js';

export * from './build/index.js';
export { JsSession } from './js-baseline/session.js';
export { FloorSession } from './floor/floor.js';

export default class BenchEntry extends WorkerEntrypoint {
  fetch(request) {
    const url = request.url;
    // pathname starts after "http://host"; a cheap prefix test instead of new URL()
    const p = url.indexOf('/', url.indexOf('//') + 2);
    if (url.startsWith('/js/', p)) return handleJs(request, this.env);
    if (url.startsWith('/floor/', p)) return handleFloor(request, this.env);
    return new RustWorker(this.ctx, this.env).fetch(request);
  }
}
