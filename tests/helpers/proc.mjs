// Finding processes under a wrangler dev process tree through /proc (Linux), for the crash test.
import { readFileSync, readdirSync } from 'node:fs';

/** The command line of `pid` with spaces between arguments ('' once the process is gone). */
export function cmdline(pid) {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim(); } catch { return ''; }
}

/** The direct children of `pid`, over all of its threads. */
export function children(pid) {
  let tasks;
  try { tasks = readdirSync(`/proc/${pid}/task`); } catch { return []; }
  const out = new Set();
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(/\s+/)) if (c) out.add(Number(c));
    } catch {}
  }
  return [...out];
}

/** Every process below `pid`, depth first. */
export function descendants(pid) {
  return children(pid).flatMap((c) => [c, ...descendants(c)]);
}

/**
 * The workerd process that runs the worker under a `startDevServer` instance. wrangler dev runs
 * two workerd: a proxy bound to the public port, and the runtime with the worker (bound to an
 * ephemeral port, with an inspector). Returns undefined while there is none (e.g. restarting).
 */
export function runtimeWorkerd(srv) {
  const workerds = descendants(srv.pid).filter((p) => /\bworkerd serve\b/.test(cmdline(p)));
  const proxy = new RegExp(`entry=127\\.0\\.0\\.1:${srv.port}\\b`);
  const runtime = workerds.filter((p) => !proxy.test(cmdline(p)));
  if (runtime.length > 1) throw new Error(`more than one runtime workerd: ${runtime.map((p) => `${p}: ${cmdline(p)}`).join('\n')}`);
  return runtime[0];
}
