/**
 * Vitest global setup.
 *
 * - The CLI tests run the built CLI (bin/oo-ml.js → dist/bundle/), so dist/ and the bundle are
 *   rebuilt here when any source (or the bundler, or package.json) is newer than them, or the bundle is missing:
 *   `npm test` and a `vitest run` on its own never test stale code, and a fresh install (whose
 *   `prepare` built both) costs one walk of the two trees.
 * - Every temp folder of the run (tests', their servers' and CLI children's) is made under one
 *   folder of its own, removed when the run ends: with `isolate: false` a helper's `afterAll`
 *   runs once per worker, not once per file, and folders of later files were left behind.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time of the files under `dir` whose names end with one of `exts` (0 when none). */
function newest(dir: string, ...exts: string[]): number {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && exts.some((ext) => entry.name.endsWith(ext))) latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

export default function setup(): () => void {
  build();
  // Set before the workers start, so they and every process they spawn inherit it.
  const runTmp = mkdtempSync(join(tmpdir(), 'oo-ml-tests-'));
  process.env['TMPDIR'] = runTmp;
  return () => {
    // A process that outlived its test may still be writing there (a server a test stopped,
    // finishing its shutdown): rmSync tries again while it ends (100, 200, … 900 ms apart, ~4.5 s
    // in all), and a folder still left names what is in it, but does not fail a run whose tests passed.
    try {
      rmSync(runTmp, { recursive: true, force: true, maxRetries: 9, retryDelay: 100 });
    } catch (e) {
      const left = existsSync(runTmp) ? readdirSync(runTmp, { recursive: true }).slice(0, 20).join(', ') : '(nothing)';
      process.stderr.write(`could not remove the run's temp folder ${runTmp}: ${e instanceof Error ? e.message : String(e)}; left in it: ${left}\n`);
    }
  };
}

/** Builds dist/ and the CLI bundle when they are older than the sources (see the module doc). */
function build(): void {
  const bundler = join(ROOT, 'scripts', 'bundle-cli.mjs');
  // package.json too: the bundle carries its version as a constant.
  const sources = Math.max(newest(join(ROOT, 'src'), '.ts', '.tsx'), ...[join(ROOT, 'tsconfig.build.json'), join(ROOT, 'package.json'), bundler].map((f) => statSync(f).mtimeMs));
  // An incremental build leaves unchanged outputs alone: the stamp says when dist/ was last checked.
  const stamp = join(ROOT, 'dist', '.built-at');
  const built = Math.max(newest(join(ROOT, 'dist'), '.js'), existsSync(stamp) ? statSync(stamp).mtimeMs : 0);
  if (built >= sources && existsSync(join(ROOT, 'dist', 'bundle', 'oo-ml.js'))) return;
  process.stderr.write('dist/ is older than src/: building it and the CLI bundle for the CLI tests\n');
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, [bundler], { cwd: ROOT, stdio: 'inherit' });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}
