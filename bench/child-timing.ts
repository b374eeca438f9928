/** Timing a child process from exec to exit, wall and CPU, for the start-up benches (cli-start, library-import). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Runs `node …args`, failing loudly on a non-zero exit; returns wall and child CPU seconds. */
export function timedNode(args: string[], cwd?: string): { wall: number; cpu: number } {
  const cpuBefore = childCpu();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return { wall, cpu: childCpu() - cpuBefore };
}

/** CPU seconds of this process's waited-for children so far: cutime + cstime of /proc/self/stat, in 10 ms ticks. */
function childCpu(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** The median and the range of `xs`, formatted in seconds. */
export function summary(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[Math.floor(s.length / 2)]!.toFixed(3)} s (${s[0]!.toFixed(3)}–${s.at(-1)!.toFixed(3)})`;
}
