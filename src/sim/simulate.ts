/**
 * A whole simulation in this thread: K replications, each a fresh scenario that every policy
 * replays from its own fresh state (common random numbers), then the summary. The parallel
 * version (sim/parallel.ts) runs the same `simulateReplication` on worker threads; both give
 * byte-identical results because every stream is derived from (seed, rep, policy).
 */
import { PERSONA_NAMES } from './personas.js';
import { simulateReplication } from './replication.js';
import type { PolicyRun, SimEntrant } from './runner.js';
import { validateSimOptions, type SimOptions } from './scenario.js';
import { summarize, type SimResults } from './summary.js';

/** The options block of the results, with every default made explicit. */
export function resultOptions(options: SimOptions, reps: number): SimResults['options'] {
  const personas = validateSimOptions(options).map((i) => PERSONA_NAMES[i]!);
  return {
    users: options.users,
    rounds: options.rounds,
    seed: options.seed,
    reps,
    personas,
    driftAtRound: options.driftAtRound ?? null,
    delayRounds: options.delayRounds ?? 0,
  };
}

/** Runs `reps` replications in this thread and summarises them against entrant `baseline`. */
export function simulate(
  options: SimOptions,
  reps: number,
  entrants: readonly SimEntrant[],
  baseline = 0,
  onReplication?: (done: number, total: number) => void,
): SimResults {
  const resolved = resultOptions(options, reps);
  const runs: PolicyRun[][] = [];
  for (let rep = 0; rep < reps; rep++) {
    runs.push(simulateReplication(options, rep, entrants));
    onReplication?.(rep + 1, reps);
  }
  return summarize(resolved, runs, baseline);
}
