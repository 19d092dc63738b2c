// Test pages for the SDK's browser tests (react, durable outbox, large state): a page and its
// scripts are served from memory with Playwright's context.route under the dev server's
// origin (so the SDK talks to the server as an app on that origin would), and keep loading
// while the context is offline. Scripts are bundled with esbuild at test time.
import { build } from 'esbuild';
import { readFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'packages', 'client', 'src');
const OUT = join(ROOT, 'test-artifacts', 'sdk-pages');

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
