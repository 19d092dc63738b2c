// Types that follow the state (issue 15): declarations are generated from the SDK's JSDoc
// (tsc --emitDeclarationOnly, as the package build does), then a fixture that uses them is
// compiled with tsc --noEmit. Its `// @ts-expect-error` lines (patch({count: 'x'}) on a
// {count: number} state, ...) must be errors: an unused one fails the compile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const OUT = join(ROOT, 'test-artifacts', 'sdk-types');

const tsc = (...args) => spawnSync(process.execPath, [TSC, ...args], { cwd: ROOT, encoding: 'utf8' });

test('generated declarations carry the state type: the fixture compiles and its @ts-expect-error lines are errors', { timeout: 120_000 }, () => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const emit = tsc('-p', join(ROOT, 'packages', 'client', 'tsconfig.json'), '--outDir', join(OUT, 'types'));
  assert.equal(emit.status, 0, `declaration emit failed:\n${emit.stdout}${emit.stderr}`);
  const session = readFileSync(join(OUT, 'types', 'session.d.ts'), 'utf8');
  assert.match(session, /patch\(patch: MergePatch<T> \| JsonPatchOp\[\]/);
  assert.match(session, /broadcast\(data: any, opts\?: \{\s*to\?: string;\s*volatile\?: boolean;?\s*\}\): boolean/);
  writeFileSync(join(OUT, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022',
      lib: ['es2022', 'dom'], skipLibCheck: false, types: [],
      paths: { 'session-sync': ['./types/index.d.ts'], 'session-sync/react': ['./types/react.d.ts'] },
    },
    files: [join(ROOT, 'tests', 'sdk', 'types', 'fixture.ts')],
  }, null, 2));
  const check = tsc('-p', join(OUT, 'tsconfig.json'));
  assert.equal(check.status, 0, `the fixture does not type-check:\n${check.stdout}${check.stderr}`);
  // And the check has teeth: without the expect-error marks, exactly those lines fail.
  const fixture = readFileSync(join(ROOT, 'tests', 'sdk', 'types', 'fixture.ts'), 'utf8');
  const marks = fixture.split('\n').filter((l) => l.includes('@ts-expect-error')).length;
  writeFileSync(join(OUT, 'unmarked.ts'), fixture.replaceAll('// @ts-expect-error', '// (expected error)'));
  writeFileSync(join(OUT, 'tsconfig.unmarked.json'), readFileSync(join(OUT, 'tsconfig.json'), 'utf8').replace(join(ROOT, 'tests', 'sdk', 'types', 'fixture.ts'), join(OUT, 'unmarked.ts')));
  const unmarked = tsc('-p', join(OUT, 'tsconfig.unmarked.json'));
  const errors = (unmarked.stdout.match(/error TS\d+/g) || []).length;
  assert.equal(errors, marks, `expected ${marks} errors without the marks, got:\n${unmarked.stdout}`);
  assert.match(unmarked.stdout, /Type 'string' is not assignable to type 'number'/);
});
