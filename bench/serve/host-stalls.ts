/**
 * How often the servers' core is taken away from whatever runs on it: a floor under any
 * server's tail latency on this machine, whatever its code does. One process spins on the
 * servers' core reading the clock, while another keeps the client's core busy (as wrk does
 * under load); every gap between two readings longer than STALL_MS is time the core ran
 * something else (the hypervisor, the kernel, other jobs).
 */
import { execFile } from 'node:child_process';

/** Gaps shorter than this are the loop's own jitter, not a stall (ms). */
const STALL_MS = 0.2;

/** What the spinner on the servers' core saw. */
export interface HostStalls {
  seconds: number;
  /** Stalls longer than 1 ms and 5 ms. */
  over1ms: number;
  over5ms: number;
  longestMs: number;
  /** Share of the time the spinner did not run. */
  lostShare: number;
}

// Runs in a child of its own: its loop must not share an event loop or a core with anything else of ours.
const SPINNER = `
const { performance } = require('node:perf_hooks');
const end = performance.now() + Number(process.argv[1]) * 1000;
let last = performance.now(), over1 = 0, over5 = 0, longest = 0, lost = 0;
for (let t = last; t < end; t = performance.now()) {
  const gap = t - last;
  if (gap > ${STALL_MS}) { lost += gap; if (gap > 1) over1++; if (gap > 5) over5++; if (gap > longest) longest = gap; }
  last = t;
}
process.stdout.write(JSON.stringify({ over1, over5, longest, lost }));
`;
const BUSY = `const end = Date.now() + Number(process.argv[1]) * 1000; let x = 0; while (Date.now() < end) x++;`;

function nodeOn(cpus: string | null, script: string, seconds: number): Promise<string> {
  const args = ['-e', script, String(seconds)];
  const [cmd, argv] = cpus === null ? [process.execPath, args] : ['taskset', ['-c', cpus, process.execPath, ...args]];
  return new Promise((resolve, reject) => execFile(cmd, argv, (e, stdout, stderr) => (e === null ? resolve(stdout) : reject(new Error(`${cmd} failed: ${e.message}\n${stderr}`)))));
}

/** Spins `seconds` on `serverCpus` with `clientCpus` kept busy alongside (when both are pinned), and counts the stalls. */
export async function measureHostStalls(serverCpus: string | null, clientCpus: string | null, seconds: number): Promise<HostStalls> {
  // Unpinned, a busy process could share the spinner's core and its gaps would be our own.
  const [out] = await Promise.all([nodeOn(serverCpus, SPINNER, seconds), ...(serverCpus === null || clientCpus === null ? [] : [nodeOn(clientCpus, BUSY, seconds)])]);
  const r = JSON.parse(out) as { over1: number; over5: number; longest: number; lost: number };
  return { seconds, over1ms: r.over1, over5ms: r.over5, longestMs: r.longest, lostShare: r.lost / (seconds * 1000) };
}
