/**
 * oo-ml as its users' programs meet it: a folder with `oo-ml` installed (a link to this checkout,
 * resolved through package.json's `exports` as npm's install would be), a TypeScript program that
 * imports the package name, type-checked against the built declarations and run with node.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { homePaths } from '../../src/config.js';
import { loadTrainingSet } from '../../src/pipelines/training-set.js';
import { tempDir } from '../helpers/temp-home.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/library-consumer/consumer.ts', import.meta.url));
const run = promisify(execFile);

/** What `tsc -p` printed and how it exited (it exits 2 when a file has errors, and still emits). */
async function tsc(cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { cwd });
    return { code: 0, output: stdout };
  } catch (e) {
    const failed = e as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

describe('the package as npm packs it', () => {
  it('ships the entry and its declarations, the CLI, the license and every source file the README names, not build state', async () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const { stdout } = await run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    const files = new Set((JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
    for (const f of ['LICENSE', 'README.md', 'CHANGELOG.md', 'BENCHMARKS.md', 'package.json', 'bin/oo-ml.js', 'dist/index.js', 'dist/index.d.ts', 'dist/bundle/oo-ml.js']) expect(files.has(f), f).toBe(true);
    expect([...files].filter((f) => f.includes('tsbuildinfo') || f.endsWith('.built-at'))).toEqual([]);
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const named = [...readme.matchAll(/`(src\/[^`\s]*\.(?:ts|md))`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(5);
    for (const f of named) expect(files.has(f), f).toBe(true);
  });
});

describe('the package entry (import from "oo-ml")', () => {
  let dir = '';
  let compiled: { code: number; output: string };

  beforeAll(async () => {
    dir = await tempDir('oo-ml-consumer-');
    await mkdir(join(dir, 'node_modules', '@types'), { recursive: true });
    await symlink(ROOT, join(dir, 'node_modules', 'oo-ml'), 'dir');
    await symlink(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, outDir: 'out', types: ['node'] },
        files: ['consumer.ts', 'wrong-call.ts'],
      }),
    );
    await copyFile(FIXTURE, join(dir, 'consumer.ts'));
    // A call the declarations must refuse: were they missing or `any`, it would compile.
    await writeFile(join(dir, 'wrong-call.ts'), "import { getPolicy } from 'oo-ml';\ngetPolicy(42);\n");
    compiled = await tsc(dir);
  });

  it('gives a TypeScript program the library its types: the program compiles, a wrong argument does not', () => {
    const errors = compiled.output.split('\n').filter((l) => /error TS\d+/.test(l));
    expect(errors, compiled.output).toHaveLength(1);
    expect(errors[0]).toMatch(/^wrong-call\.ts\(2,11\): error TS2345: Argument of type 'number' is not assignable to parameter of type 'string'/);
  });

  it('runs the offline jobs, the pure policy and estimator calls and the server from the package name', async () => {
    const home = await mkdtemp(join(dir, 'home-'));
    const { stdout } = await run(process.execPath, [join(dir, 'out', 'consumer.js'), home], { cwd: dir });
    const out = JSON.parse(stdout.trim()) as {
      events: number;
      users: number;
      rows: number;
      snapshotRows: number;
      version: number;
      model: { name: string; aliases: Record<string, number>; versions: number[] }[];
      decisions: { arm: number; propensity: number }[];
      estimates: { estimator: string; value: number }[];
      refused: string | null;
      healthz: number;
      readyz: number;
      signalHandlersAdded: number[];
      draining: string;
      registered: { mine: number[]; ope: number[] };
    };
    expect(out.users).toBe(40);
    expect(out.snapshotRows).toBe(40);
    expect(out.events).toBeGreaterThan(0);
    expect(out.model).toEqual([{ name: 'library-model', aliases: { candidate: 1 }, versions: [1] }]);
    expect(out.version).toBe(1);
    // One seed, one decision.
    expect(out.decisions[1]).toEqual(out.decisions[0]);
    expect(out.refused).toBe('invalid_input');
    // Answering, but not ready: no version is @champion.
    expect([out.healthz, out.readyz]).toEqual([200, 503]);
    // The program's signals stay its own: the server installs no handler unless asked to.
    expect(out.signalHandlersAdded).toEqual([0, 0, 0]);
    // A registered version evaluated through the exported calls as README says equals `oo-ml ope`'s estimates.
    expect(out.registered.ope).toHaveLength(2);
    out.registered.ope.forEach((v, i) => expect(out.registered.mine[i]).toBeCloseTo(v, 12));
    expect(out.draining).toContain('shutting down (the program is done): answering for 60 s more');

    // The training set the program wrote, read here through the sources, and the uniform policy's
    // IPS estimate by its formula: mean of r · (1/k) / p.
    const data = await loadTrainingSet(homePaths(home).trainingSet);
    expect(out.rows).toBe(data.n);
    let sum = 0;
    for (let i = 0; i < data.n; i++) sum += (data.reward[i]! * (1 / data.k)) / data.propensity[i]!;
    const ips = out.estimates.find((e) => e.estimator === 'ips');
    expect(ips?.value).toBeCloseTo(sum / data.n, 12);
  });

  it('keeps the internal modules out of reach', async () => {
    const probe = "import('oo-ml/dist/cli/main.js').then(() => console.log('imported'), (e) => console.log(e.code))";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: dir });
    expect(stdout.trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('loads from require() too, where Node loads ES modules from it (nothing in the entry waits at the top level)', async () => {
    const { stdout } = await run(process.execPath, ['--input-type=commonjs', '-e', "console.log(typeof require('oo-ml').trainPolicy)"], { cwd: dir });
    expect(stdout.trim()).toBe('function');
  });
});
