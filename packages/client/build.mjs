// Builds the session-sync package: src/ -> dist/ (ES modules bundled by esbuild, declarations
// generated from the JSDoc by `tsc --emitDeclarationOnly`), and copies the browser bundle to
// www/sdk/session-sync.js, which the worker serves to pages with no build step. One source
// (src/), every other copy is a build product (gitignored).
//
//   node packages/client/build.mjs            # bundles + declarations + www/sdk copy
//   node packages/client/build.mjs --no-types # bundles only (what scripts/build.sh needs)
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST = join(HERE, 'dist');
const WWW_SDK = join(HERE, '..', '..', 'www', 'sdk');
const withTypes = !process.argv.includes('--no-types');

/** react.js imports the core as './index.js'; in dist/ that is the core bundle, kept external. */
const coreExternal = {
  name: 'core-external',
  setup(b) {
    b.onResolve({ filter: /^\.\/index\.js$/ }, (args) => (args.importer.endsWith('react.js') ? { path: './session-sync.js', external: true } : undefined));
  },
};

rmSync(DIST, { recursive: true, force: true });
await build({
  entryPoints: { 'session-sync': join(HERE, 'src', 'index.js'), react: join(HERE, 'src', 'react.js') },
  outdir: DIST,
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  external: ['react'],
  plugins: [coreExternal],
  legalComments: 'none',
  logLevel: 'warning',
});
mkdirSync(WWW_SDK, { recursive: true });
copyFileSync(join(DIST, 'session-sync.js'), join(WWW_SDK, 'session-sync.js'));

if (withTypes) {
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(HERE, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) { console.error('[sdk] tsc failed'); process.exit(1); }
  if (!existsSync(join(DIST, 'types', 'index.d.ts'))) { console.error('[sdk] no declarations emitted'); process.exit(1); }
}
console.log(`[sdk] dist/session-sync.js, dist/react.js${withTypes ? ', dist/types/' : ''}, www/sdk/session-sync.js`);
