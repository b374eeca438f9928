/**
 * `npm run bench:cli-start` — how long an `oo-ml` command takes from exec to exit, run from the
 * CLI bundle (dist/bundle/oo-ml.js, what bin/oo-ml.js runs) and from the unbundled compiled
 * entry (dist/cli/main.js), alternated run by run so both see the same machine. Two commands:
 * `--help` (start-up alone) and `ope --policy uniform --estimators ips` on a small synthetic home
 * (start-up plus DuckDB reading a training set). Prints the median and spread of wall time and of
 * the child's CPU (user + system: the growth of this process's children's times in /proc/self/stat).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summary, timedNode } from './child-timing.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env['BENCH_RUNS'] ?? 9);
const ENTRIES = { bundle: join(ROOT, 'dist/bundle/oo-ml.js'), unbundled: join(ROOT, 'dist/cli/main.js') };
const timed = (entry: string, args: string[]): { wall: number; cpu: number } => timedNode([entry, ...args]);

const home = mkdtempSync(join(tmpdir(), 'oo-ml-bench-cli-'));
try {
  const prep = (args: string[]): void => void timed(ENTRIES.bundle, [...args, '--home', home]);
  prep(['data', 'synth', '--users', '150', '--days', '21', '--seed', '3']);
  prep(['features', 'build']);
  prep(['features', 'training-set']);
  const commands: Record<string, string[]> = {
    '--help': ['--help'],
    'ope uniform ips': ['ope', '--logs', join(home, 'data/training-set.parquet'), '--policy', 'uniform', '--estimators', 'ips', '--home', home],
  };
  console.log(`CLI start-up: ${RUNS} runs each, alternated; node ${process.version}`);
  for (const [name, args] of Object.entries(commands)) {
    const results: Record<string, { wall: number[]; cpu: number[] }> = { bundle: { wall: [], cpu: [] }, unbundled: { wall: [], cpu: [] } };
    for (let i = 0; i < RUNS; i++) {
      for (const [label, entry] of Object.entries(ENTRIES)) {
        const t = timed(entry, args);
        results[label]!.wall.push(t.wall);
        results[label]!.cpu.push(t.cpu);
      }
    }
    for (const [label, r] of Object.entries(results)) console.log(`${name.padEnd(16)} ${label.padEnd(10)} wall ${summary(r.wall)}  cpu ${summary(r.cpu)}`);
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}
