/**
 * One replication: a fresh scenario that every entrant replays from its own fresh state (common
 * random numbers). Its own module so the worker threads load only the simulation, not the
 * summary's statistics (sim/summary.ts pulls @stdlib's t quantile: ~90 ms of a worker's start).
 */
import { createRng, deriveSeed } from '../random/rng.js';
import { runPolicy, type PolicyRun, type SimEntrant } from './runner.js';
import { createScenario, type SimOptions } from './scenario.js';

/** Runs replication `rep` for every entrant. */
export function simulateReplication(options: SimOptions, rep: number, entrants: readonly SimEntrant[]): PolicyRun[] {
  const scenario = createScenario(options, rep);
  return entrants.map((e, p) => runPolicy(scenario, e, e.initialState(), options, createRng(deriveSeed(options.seed, rep, 0x7011c7, p))));
}
