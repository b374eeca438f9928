/** The load: varied bodies, wrk pinned to its core, its figures. */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';

import { join } from 'node:path';

import { ARM_COUNT, ARM_IDS } from '../../src/features/arms.js';
import { createRng } from '../../src/random/rng.js';

import { AS_OF, CLIENT_CPUS, CONNECTIONS, USERS } from './settings.js';
import type { LoopDelay } from './servers.js';

// ---- load ------------------------------------------------------------------------------------

/** Varied, valid /score bodies (seeded). */
export function bodies(n: number): string[] {
  const rng = createRng(99);
  const now = AS_OF.getTime() + 6 * 3_600_000;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const user = rng.next() < 0.05 ? `new-user-${i}` : `u${rng.int(USERS)}`;
    const body: Record<string, unknown> = { user_id: user };
    const tasks = Array.from({ length: rng.int(16) }, (_, t) => ({
      id: `t${t}`,
      ...(rng.next() < 0.6 ? { due: new Date(now + (rng.next() - 0.4) * 3 * 86_400_000).toISOString() } : {}),
    }));
    const c = rng.next();
    if (c < 0.7) body['context'] = { hour_of_day: rng.int(24), day_of_week: rng.int(7), tasks };
    else if (c < 0.9) body['context'] = { ts: new Date(now - rng.int(3600) * 1000).toISOString(), tasks };
    if (rng.next() < 0.2) body['arms'] = ARM_IDS.filter(() => rng.next() < 0.5).concat(ARM_IDS[rng.int(ARM_COUNT)]!);
    if (rng.next() < 0.05) body['profile_features'] = rng.next() < 0.5 ? null : { completion_rate: rng.next(), tip_volume: rng.int(30) };
    out.push(JSON.stringify(body));
  }
  return out;
}

export interface Round {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  total: number;
  errors: number;
  /** wrk's own split of `errors` (connect, read, write, timeout), when it printed one. */
  errorKinds?: string;
  non2xx: number;
  /** Server process CPU time per request (µs): robust to other load on the machine. */
  cpuUs: number;
  /** Of `cpuUs`, the server's main thread (the event loop: JavaScript, the HTTP parser, socket syscalls). */
  mainUs: number;
  /** Write-like syscalls (writev of answers, writes to the journal or the broker) per request. */
  writesPerReq: number;
  loop: LoopDelay;
  /** The run's own nats-server's CPU time per request (µs), when it started one (serve.ts). */
  brokerUs?: number;
}

/**
 * A wrk Lua script that cycles through `payloads` (POST) or sends plain GETs. With `rate`
 * (req/s over all connections), each connection waits an exponentially distributed time (mean
 * CONNECTIONS / rate, whole ms: wrk's timers) before each request, so the load is paced near
 * `rate` instead of saturating the server; wrk times a request from its send, not its delay.
 * Its `done` prints p99.9 (µs), which wrk's own summary leaves out.
 */
export async function wrkScript(dir: string, method: 'GET' | 'POST', payloads: string[], rate: number | null = null): Promise<string> {
  const path = join(dir, `wrk-${method.toLowerCase()}${rate === null ? '' : '-paced'}.lua`);
  const bodies = payloads.map((p) => `[====[${p}]====]`).join(',\n');
  const send =
    method === 'GET'
      ? 'wrk.method = "GET"\n'
      : `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nlocal bodies = {\n${bodies}\n}\nlocal i = 0\nrequest = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n`;
  const pace =
    rate === null
      ? ''
      : // Exponential think times make the connections' sends close to a Poisson stream (seeded: the same schedule every run).
        `math.randomseed(15)\nlocal mean_ms = ${(CONNECTIONS * 1000) / rate}\ndelay = function()\n  return math.floor(-math.log(1 - math.random()) * mean_ms + 0.5)\nend\n`;
  const done = 'done = function(summary, latency, requests)\n  io.write(string.format("p99.9 %d\\n", latency:percentile(99.9)))\nend\n';
  await writeFile(path, send + pace + done);
  return path;
}

/** wrk's latency figure (`512.00us`, `1.23ms`, `2.01s`) in ms. */
export function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (m === null) throw new Error(`wrk printed a latency I cannot read: "${text}"`);
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

let scriptDir = '';

/** Where wrk's Lua scripts are written (the run's temp folder). */
export function setScriptDir(dir: string): void {
  scriptDir = dir;
}

/** What wrk measures of one load (the server's CPU and loop delay are read beside it). */
export type LoadFigures = Omit<Round, 'cpuUs' | 'mainUs' | 'writesPerReq' | 'loop'>;

/** Loads `url` with wrk (one thread, CONNECTIONS connections, pinned to CLIENT_CPUS) for `duration` s; paced near `rate` req/s when given (wrkScript). */
export async function load(url: string, method: 'GET' | 'POST', payloads: string[], duration: number, rate: number | null = null): Promise<LoadFigures> {
  const script = await wrkScript(scriptDir, method, payloads, rate);
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${duration}s`, '--latency', '-s', script, url];
  const [cmd, argv] = CLIENT_CPUS === null ? ['wrk', args] : ['taskset', ['-c', CLIENT_CPUS, 'wrk', ...args]];
  const out = await new Promise<string>((resolve, reject) =>
    execFile(cmd, argv, { maxBuffer: 1 << 20 }, (e, stdout, stderr) => (e === null ? resolve(stdout) : reject(new Error(`${cmd} ${argv.join(' ')} failed (install Debian's wrk): ${e.message}\n${stderr}`)))),
  );
  const pick = (re: RegExp): RegExpExecArray => {
    const m = re.exec(out);
    if (m === null) throw new Error(`wrk output without ${re}:\n${out}`);
    return m;
  };
  const latency = pick(/Latency\s+(\S+)\s+(\S+)\s+(\S+)/);
  const pct = (p: number): number => wrkMs(pick(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm'))[1]!);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(pick(/Requests\/sec:\s+([\d.]+)/)[1]),
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    p999: Number(pick(/^p99\.9 (\d+)$/m)[1]) / 1000,
    max: wrkMs(latency[3]!),
    total: Number(pick(/(\d+) requests in/)[1]),
    errors: socket === null ? 0 : socket.slice(1).reduce((a, x) => a + Number(x), 0),
    ...(socket === null ? {} : { errorKinds: socket[0].replace('Socket errors: ', '') }),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

/**
 * Round `r`'s order of `xs`: each round starts one item later, so over the rounds every target
 * takes every place in the order. The first scorer loaded after the bare route had the longest
 * paced tails whatever it ran (BENCHMARKS.md, "One core"): a fixed order charged them to the
 * champion in every run.
 */
export function rotated<T>(xs: readonly T[], r: number): T[] {
  const k = xs.length === 0 ? 0 : r % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

