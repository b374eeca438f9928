/** bench:serve's settings, from the environment (see bench/serve.ts). */
import { execFileSync } from 'node:child_process';

import { cpus } from 'node:os';

export const DURATION = Number(process.env['BENCH_DURATION'] ?? 30);
export const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 50);
export const USERS = Number(process.env['BENCH_USERS'] ?? 1_000_000);
export const SHADOW = process.env['BENCH_SHADOW'] === 'thompson' ? 'thompson' : 'linucb';
export const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (DURATION >= 15 ? 3 : 1));
export const WARMUP = Math.min(5, Math.max(2, Math.round(DURATION / 5)));
/** Seconds of the extra, profiled load per target that splits its CPU into parts. */
export const PROFILE_S = Math.min(10, Math.max(3, Math.round(DURATION / 3)));
export const AS_OF = new Date('2026-02-05T00:00:00Z');
export const HOST = '127.0.0.1';
export const mib = (b: number): number => Math.round(b / 1024 / 1024);
/**
 * BENCH_DIST_B=<folder>: a second build (a copy of an earlier dist/ inside the repository, so its
 * imports resolve) whose champion app runs beside this one's as the targets `constant-b` and
 * `champion-b`, in the same interleaved rounds: two builds compared side by side in one run
 * (with BENCH_NATS_APP=champion both on NATS, each on a nats-server of the run's own; else the
 * second on the embedded bus).
 */
export const DIST_B = process.env['BENCH_DIST_B'] || null;
/** BENCH_NODE_FLAGS_B: space-separated Node or V8 flags for BENCH_DIST_B's child alone (BENCH_DIST_B=dist compares one build under two sets of flags). */
export const NODE_FLAGS_B = (process.env['BENCH_NODE_FLAGS_B'] ?? '').split(' ').filter(Boolean);
/** The app whose events go on NATS when BENCH_NATS_APP is set (champion or shadow), else null. */
export const NATS_APP = natsApp(process.env['BENCH_NATS_APP']);

function natsApp(v: string | undefined): 'champion' | 'shadow' | null {
  if (v === undefined) return null;
  if (v !== 'champion' && v !== 'shadow') throw new Error(`BENCH_NATS_APP must be champion or shadow, got "${v}"`);
  return v;
}

/**
 * BENCH_SERVER_CPUS / BENCH_CLIENT_CPUS (taskset lists, e.g. `0` and `1-3`): pin the server
 * children and wrk to separate cores, all threads included — what the
 * ratio targets need on a machine with more than 2 cores, so the client's work and wake-ups are
 * not billed to the server. Unset: no pinning.
 */
// wrk on one core, every server on the other (issue #15): each server has a whole core, and the
// client (wrk, in C, drives well over 25,000 req/s from one core) is never what limits it.
export const SERVER_CPUS = cpuList('BENCH_SERVER_CPUS') ?? (cpus().length >= 2 ? '1' : null);
export const CLIENT_CPUS = cpuList('BENCH_CLIENT_CPUS') ?? (cpus().length >= 2 ? '0' : null);

/** Cores of the servers' CPU list (all of this machine's without pinning). */
export const SERVER_CORES = SERVER_CPUS === null ? cpus().length : coresIn(SERVER_CPUS);

/** How many CPUs a taskset list names ("1" → 1, "1-3" → 3, "0,2" → 2). */
export function coresIn(list: string): number {
  return list.split(',').reduce((n, part) => {
    const [a, b] = part.split('-').map(Number);
    return n + (b === undefined ? 1 : b - a! + 1);
  }, 0);
}

/**
 * BENCH_BROKER_CPUS: where the run's own nats-server runs (default: with the servers, where the
 * ratio targets count it). On a machine with a core to spare, a core of its own measures the
 * app's share alone.
 */
export const BROKER_CPUS = cpuList('BENCH_BROKER_CPUS') ?? SERVER_CPUS;

/** The CPU list in the environment variable `name` (a taskset list), or null when unset. */
export function cpuList(name: string): string | null {
  const v = process.env[name];
  if (v === undefined || v === '') return null;
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) throw new Error(`${name}="${v}" is not a CPU list like 0 or 1-3 or 0,2`);
  return v;
}

/** Pins every thread of `pid` to `cpus` (taskset from util-linux). */
export function pin(pid: number, cpus: string): void {
  try {
    execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });
  } catch (e) {
    throw new Error(`taskset -a -cp ${cpus} ${pid} failed (is util-linux installed, and are CPUs ${cpus} online?): ${(e as Error).message}`);
  }
}

/**
 * BENCH_PACED (comma list of fractions, default 0.5,0.75; `none` skips): after the saturating
 * rounds, the bare route, the champion and the champion + shadow are loaded again at paced
 * rates, each fraction of the bare POST route's median req/s in this run (the same offered load
 * for each), for their latency below saturation. With BENCH_ONLY, paced loads run only when
 * BENCH_PACED is set, for every target BENCH_ONLY names (bare-post among them).
 */
export const PACED = pacedFractions(process.env['BENCH_PACED']);
/** Whether BENCH_PACED was given (with BENCH_ONLY, only then do paced loads run). */
export const PACED_SET = (process.env['BENCH_PACED'] ?? '') !== '';

function pacedFractions(v: string | undefined): number[] {
  if (v === undefined || v === '') return [0.5, 0.75];
  if (v === 'none') return [];
  const fs = v.split(',').map(Number);
  if (fs.some((f) => !(f > 0 && f < 1))) throw new Error(`BENCH_PACED="${v}" must be a comma list of fractions between 0 and 1 (e.g. 0.5,0.75), or none`);
  return fs;
}
