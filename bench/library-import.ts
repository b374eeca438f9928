/**
 * `npm run bench:library-import` — how long a program's `import('oo-ml')` takes (the package
 * entry, dist/index.js, resolved by name from a folder where it is installed), from exec to exit
 * of a child that does only that, alternated run by run with the same import followed by the chart
 * renderer's packages (Vega, Vega-Lite, resvg): what the import cost while the entry loaded them
 * (src/charts/render.ts now loads them when a chart is drawn). Also `require('oo-ml')`. Prints the
 * median and spread of wall time and of the child's CPU.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summary, timedNode } from './child-timing.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env['BENCH_RUNS'] ?? 9);

const dir = mkdtempSync(join(tmpdir(), 'oo-ml-bench-import-'));
try {
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'oo-ml'), 'dir');
  // The chart packages beside it, the same installs oo-ml's modules import (through their ESM entries).
  mkdirSync(join(dir, 'node_modules', '@resvg'));
  for (const p of ['@resvg/resvg-js', 'vega', 'vega-lite']) symlinkSync(join(ROOT, 'node_modules', p), join(dir, 'node_modules', p), 'dir');
  writeFileSync(join(dir, 'package.json'), '{"type":"module","private":true}');
  const variants: Record<string, string[]> = {
    'import oo-ml': ['--input-type=module', '-e', "await import('oo-ml')"],
    'import oo-ml, then the chart packages': ['--input-type=module', '-e', "await import('oo-ml'); await Promise.all([import('@resvg/resvg-js'), import('vega'), import('vega-lite')])"],
    "require('oo-ml')": ['--input-type=commonjs', '-e', "require('oo-ml')"],
  };
  console.log(`Library import: ${RUNS} runs each, alternated; node ${process.version}`);
  const results = Object.fromEntries(Object.keys(variants).map((k) => [k, { wall: [] as number[], cpu: [] as number[] }]));
  for (let i = 0; i < RUNS; i++) {
    for (const [name, args] of Object.entries(variants)) {
      const t = timedNode(args, dir);
      results[name]!.wall.push(t.wall);
      results[name]!.cpu.push(t.cpu);
    }
  }
  for (const [name, r] of Object.entries(results)) console.log(`${name.padEnd(40)} wall ${summary(r.wall)}  cpu ${summary(r.cpu)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
