/**
 * Worker-thread entry: runs one replication for every entrant and posts the runs back (typed
 * arrays are transferred, not copied). Only loaded by sim/parallel.ts.
 */
import { parentPort } from 'node:worker_threads';
import { toEntrant, type EntrantSpec } from './entrants.js';
import type { SimOptions } from './scenario.js';
import { simulateReplication } from './replication.js';

/** A job for one replication. */
export interface ReplicationJob {
  options: SimOptions;
  rep: number;
  specs: EntrantSpec[];
}

parentPort?.on('message', (job: ReplicationJob) => {
  try {
    const runs = simulateReplication(job.options, job.rep, job.specs.map(toEntrant));
    const transfer = runs.flatMap((r) => [r.cumReward.buffer, r.cumRegret.buffer, r.personaDecisions.buffer, r.personaReward.buffer]);
    parentPort!.postMessage({ rep: job.rep, runs }, transfer as ArrayBuffer[]);
  } catch (e) {
    parentPort!.postMessage({ rep: job.rep, error: e instanceof Error ? { message: e.message, code: (e as { code?: string }).code } : { message: String(e) } });
  }
});
