/**
 * `npm run bench:cli-start` — how long an `oo-ml` command takes from exec to exit, run from the
 * CLI bundle (dist/bundle/oo-ml.js, what bin/oo-ml.js runs) and from the unbundled compiled
 * entry (dist/cli/main.js), alternated run by run so both see the same machine. Two commands:
 * `--help` (start-up alone) and `ope --policy uniform --estimators ips` on a small synthetic home
 * (start-up plus DuckDB reading a training set). Prints the median and spread of wall time and of
 * the child's CPU (user + system: the growth of this process's children's times in /proc/self/stat).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env['BENCH_RUNS'] ?? 9);
const ENTRIES = { bundle: join(ROOT, 'dist/bundle/oo-ml.js'), unbundled: join(ROOT, 'dist/cli/main.js') };

/** Runs `node entry …args`, failing loudly on a non-zero exit; returns wall and child CPU seconds. */
function timed(entry: string, args: string[]): { wall: number; cpu: number } {
  const cpuBefore = childCpu();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [entry, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${entry} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return { wall, cpu: childCpu() - cpuBefore };
}

/** CPU seconds of this process's waited-for children so far: cutime + cstime of /proc/self/stat, in 10 ms ticks. */
function childCpu(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** The median and the range of `xs`, formatted in seconds. */
function summary(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[Math.floor(s.length / 2)]!.toFixed(3)} s (${s[0]!.toFixed(3)}–${s.at(-1)!.toFixed(3)})`;
}

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
