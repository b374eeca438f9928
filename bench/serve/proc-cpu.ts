/** CPU time of a process or of one thread, and the process's write syscalls, from /proc. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Clock ticks per second of /proc's CPU times (getconf CLK_TCK; 100 where it cannot say), asked
 * when the module loads: asked at the first reading, a server child spawned getconf inside its
 * first measured round.
 */
const CLOCK_TICKS = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (µs, user + system, at the clock tick's resolution) of the process or thread whose `stat` file is `statPath`. */
export function procCpuUs(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  // The fields after the command name (which may hold spaces, in parentheses): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1e6;
}

/** Write-like syscalls (write, writev… on files and sockets alike) the process has made, from /proc/self/io. */
export function ownWrites(): number {
  return Number(/^syscw: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN);
}
