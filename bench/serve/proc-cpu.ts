/** CPU time and syscall counts of a process or of one thread, from /proc. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (getconf CLK_TCK; 100 where it cannot say), asked once, when first needed. */
let clockTicks: number | null = null;
function clockTicksPerS(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time (µs, user + system, at the clock tick's resolution) of the process or thread whose `stat` file is `statPath`. */
export function procCpuUs(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  // The fields after the command name (which may hold spaces, in parentheses): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / clockTicksPerS()) * 1e6;
}

/** Read- and write-like syscalls (read, readv, write, writev… on files and sockets alike) the process has made, from /proc/self/io. */
export function ownSyscalls(): { reads: number; writes: number } {
  const io = readFileSync('/proc/self/io', 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? NaN);
  return { reads: field('syscr'), writes: field('syscw') };
}
