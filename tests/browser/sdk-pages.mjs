// Test pages for the SDK's browser tests (react, durable outbox, large state): a page and its
// scripts are served from memory with Playwright's context.route under the dev server's
// origin (so the SDK talks to the server as an app on that origin would), and keep loading
// while the context is offline. Scripts are bundled with esbuild at test time.
import { before, after } from 'node:test';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { startDevServer } from '../helpers/devserver.mjs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'packages', 'client', 'src');
const OUT = join(ROOT, 'test-artifacts', 'sdk-pages');

/**
 * Like helpers/browser.mjs's browserSuite (one `wrangler dev`, one Chromium, read as
 * `suite.server` / `suite.browser`), with Chromium's Local Network Access checks off: a page
 * fulfilled by context.route has no IP address space of its own, so Chromium treats it as
 * public and blocks its WebSockets to 127.0.0.1 (net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS;
 * fetch still works, so the SDK would quietly fall back to SSE).
 * @param {object} [serverOpts] options of startDevServer
 */
export function routedPagesSuite(serverOpts) {
  const suite = { server: null, browser: null };
  before(async () => {
    [suite.server, suite.browser] = await Promise.all([startDevServer(serverOpts), chromium.launch({
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-features=LocalNetworkAccessChecks'],
    })]);
  });
  after(async () => {
    await suite.browser?.close();
    await suite.server?.stop();
  });
  return suite;
}

/**
 * Bundles `source` (an ES module's text; it may import 'session-sync', 'session-sync/react',
 * 'react', 'react-dom/client') to one browser script; returns its text. A copy is left in
 * test-artifacts/sdk-pages/<name>.js for a look.
 * @param {string} name @param {string} source @returns {Promise<string>}
 */
export async function bundle(name, source) {
  mkdirSync(OUT, { recursive: true });
  const r = await build({
    stdin: { contents: source, resolveDir: OUT, sourcefile: `${name}.entry.js`, loader: 'js' },
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false,
    outfile: join(OUT, `${name}.js`), logLevel: 'warning',
    alias: { 'session-sync/react': join(SRC, 'react.js'), 'session-sync': join(SRC, 'index.js') },
    define: { 'process.env.NODE_ENV': '"development"' },
    nodePaths: [join(ROOT, 'node_modules')],
  });
  return r.outputFiles[0].text;
}

/** The SDK bundle the worker serves at /sdk/session-sync.js (built by scripts/build.sh). */
export const sdkBundle = () => readFileSync(join(ROOT, 'www', 'sdk', 'session-sync.js'), 'utf8');

/**
 * Serves `files` ({'/path': {type, body}}) on `origin` in `context`, from memory.
 * @param {import('playwright-core').BrowserContext} context @param {string} origin
 * @param {Record<string, {type:string, body:string}>} files
 */
export async function serveFiles(context, origin, files) {
  for (const [path, f] of Object.entries(files)) {
    await context.route(`${origin}${path}`, (route) => route.fulfill({ contentType: f.type, body: f.body, headers: { 'Cache-Control': 'no-store' } }));
  }
}

/** A page that runs one module script. @param {string} script path of the script */
export const html = (script, body = '<div id="root"></div>') => ({ type: 'text/html', body: `<!doctype html><meta charset="utf-8"><title>sdk test</title>${body}<script type="module" src="${script}"></script>` });

/** A JavaScript file. @param {string} body */
export const js = (body) => ({ type: 'text/javascript', body });
