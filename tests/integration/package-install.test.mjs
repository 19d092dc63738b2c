// The SDK as a package (issue 15): `npm pack` of packages/client, installed from the tarball
// into a fresh project in a temporary folder, imported there under Node 24 as 'session-sync'
// (global WebSocket and fetch), and two clients share a counter through a real `wrangler dev`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readdirSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevServer } from '../helpers/devserver.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PKG = join(ROOT, 'packages', 'client');
let server;
let dir;

before(async () => {
  server = await startDevServer();
  dir = mkdtempSync(join(tmpdir(), 'session-sync-consumer-'));
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs a command (npm with the Node on PATH) and returns its output; throws with it on failure. */
function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' }, timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const CONSUMER = `
import { createSession, joinSession, DEFAULTS } from 'session-sync';
const baseUrl = process.argv[2];
const a = await createSession({ baseUrl, state: { count: 0 } });
const b = await joinSession(a.keys.write, { baseUrl });
// Settled: the count is n with no write of its own still waiting for its ack (an optimistic
// count of n can come before the last ack, when the confirmed version is still one short).
const reach = (s, n) => new Promise((resolve) => {
  const check = () => { if (s.state?.count === n && s.pendingCount === 0) resolve(); };
  s.subscribe(check);
  s.on('pending', check);
});
const done = Promise.all([reach(a, 10), reach(b, 10)]);
const inc = (s) => s.update((st) => ({ ...st, count: st.count + 1 }));
await Promise.all([0, 1, 2, 3, 4].flatMap(() => [inc(a), inc(b)]));
await done;
console.log(JSON.stringify({ a: a.state, b: b.state, version: b.version, transport: a.transport, node: process.version, defaults: typeof DEFAULTS.backoff }));
a.close();
b.close();
`;

test('npm pack -> npm install from the tarball in a fresh project -> a shared counter between two clients under Node 24', { timeout: 300_000 }, () => {
  const packOut = run('npm', ['pack', '--json', '--pack-destination', dir], PKG); // prepack builds first
  const packed = JSON.parse(packOut.slice(packOut.search(/^\[$/m)));
  const tarball = join(dir, packed[0].filename);
  const files = packed[0].files.map((f) => f.path);
  assert.ok(files.includes('dist/session-sync.js') && files.includes('dist/react.js'), `bundles in the tarball: ${files}`);
  assert.ok(files.includes('dist/types/index.d.ts') && files.includes('dist/types/react.d.ts'), 'declarations in the tarball');
  assert.ok(!files.some((f) => f.startsWith('src/')), 'sources stay out');
  const app = join(dir, 'app');
  run('mkdir', ['-p', app], dir);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], app);
  const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'session-sync', 'package.json'), 'utf8'));
  assert.equal(installed.name, 'session-sync');
  assert.ok(!existsSync(join(app, 'node_modules', 'react')), 'react is an optional peer: not installed for a Node app');
  writeFileSync(join(app, 'counter.mjs'), CONSUMER);
  const out = run(process.execPath, ['counter.mjs', server.url], app);
  const result = JSON.parse(out.trim().split('\n').at(-1));
  console.log(`[package] ${packed[0].filename}: ${packed[0].size} bytes packed, ${readdirSync(join(app, 'node_modules', 'session-sync', 'dist')).length} entries in dist/; ${out.trim()}`);
  assert.deepEqual(result.a, { count: 10 });
  assert.deepEqual(result.b, { count: 10 });
  assert.equal(result.version, 11, 'ten increments, each applied once');
  assert.equal(result.transport, 'websocket');
  assert.match(result.node, /^v24\./);
});
