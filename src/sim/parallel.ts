/**
 * Replications on worker threads. Each replication is independent (its streams derive from
 * (seed, rep, policy)), so running them on N workers gives byte-identical results to running
 * them here, only sooner. From TypeScript sources (tests under vitest) the worker script cannot
 * be loaded, so `workers` falls back to 0 there; the built CLI always can.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { internal, OoMlError, type ErrorCode } from '../errors.js';
import { toEntrant, type EntrantSpec } from './entrants.js';
import type { PolicyRun } from './runner.js';
import type { SimOptions } from './scenario.js';
import { simulateReplication } from './replication.js';
import { resultOptions } from './simulate.js';
import { summarize, type SimResults } from './summary.js';
import type { ReplicationJob } from './replication-worker.js';

/** Progress callback: a replication finished, on worker `worker` (0-based; -1: this thread). */
export type ReplicationListener = (rep: number, runs: readonly PolicyRun[], worker: number) => void;

/** Workers used by default: one per core, at most the number of replications. */
export function defaultWorkers(reps: number): number {
  return Math.max(1, Math.min(availableParallelism(), reps));
}

const workerUrl = new URL('./replication-worker.js', import.meta.url);
const canUseWorkers = !import.meta.url.endsWith('.ts');

/** Runs `reps` replications of `specs`, on `workers` threads (0 = this thread), and summarises them. */
export async function simulateParallel(
  options: SimOptions,
  reps: number,
  specs: readonly EntrantSpec[],
  workers: number,
  baseline = 0,
  onReplication?: ReplicationListener,
): Promise<SimResults> {
  const resolved = resultOptions(options, reps);
  // Fail fast on unknown policies before starting any thread.
  const entrants = specs.map(toEntrant);
  const runs: PolicyRun[][] = new Array<PolicyRun[]>(reps);
  if (workers <= 0 || !canUseWorkers || reps === 1) {
    for (let rep = 0; rep < reps; rep++) {
      runs[rep] = simulateReplication(options, rep, entrants);
      onReplication?.(rep, runs[rep]!, -1);
    }
    return summarize(resolved, runs, baseline);
  }
  let next = 0;
  const pool = Array.from({ length: Math.min(workers, reps) }, () => new Worker(workerUrl));
  try {
    await Promise.all(
      pool.map(
        (worker, index) =>
          new Promise<void>((resolve, reject) => {
            const dispatch = (): void => {
              if (next >= reps) return resolve();
              const job: ReplicationJob = { options, rep: next++, specs: [...specs] };
              worker.postMessage(job);
            };
            worker.on('message', (msg: { rep: number; runs?: PolicyRun[]; error?: { message: string; code?: string } }) => {
              if (msg.error !== undefined) {
                reject(msg.error.code !== undefined ? new OoMlError(msg.error.code as ErrorCode, msg.error.message) : internal(msg.error.message));
                return;
              }
              runs[msg.rep] = msg.runs!;
              onReplication?.(msg.rep, msg.runs!, index);
              dispatch();
            });
            worker.on('error', reject);
            dispatch();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return summarize(resolved, runs, baseline);
}
