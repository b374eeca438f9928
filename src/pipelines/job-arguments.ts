/**
 * The jobs' arguments: their ranges, written once for the CLI's flags and the jobs' own checks,
 * and those checks, for programs that call the jobs directly (the library). The CLI checks its
 * flags first and names them, so these name the job's fields. An argument that would make a job
 * do something other than asked (0 users, 2.5 days, an invalid Date) is `invalid_usage`, as a bad
 * flag is. Light on purpose: the CLI reads the ranges when it registers its commands.
 */
import { invalidUsage } from '../errors.js';
import { MAX_BATCH } from '../events/transport.js';

/** An inclusive integer range. */
export type IntRange = readonly [min: number, max: number];

/** Seeds are 32-bit signed integers (the generator's state is seeded from one). */
export const SEED_RANGE: IntRange = [-2147483648, 2147483647];

/** `synthesize`'s (and `oo-ml data synth`'s) users and days. */
export const SYNTH_RANGES = { users: [1, 10_000_000], days: [1, 3650] } as const satisfies Record<string, IntRange>;

/** `runSimulation`'s (and `oo-ml sim`'s): replications (one has no spread: its "interval" would be the point itself), workers, and the simulated world. */
export const SIM_RANGES = { reps: [2, 1000], workers: [0, 64], users: [1, 1_000_000], rounds: [1, 1_000_000], delayRounds: [0, 10_000], driftAtRound: [0, 1_000_000] } as const satisfies Record<string, IntRange>;

/** `ingestEvents`'s (and `oo-ml ingest`'s) batch and waits. */
export const INGEST_RANGES = { batchSize: [1, MAX_BATCH], maxWaitMs: [0, 600_000], idleMs: [0, 86_400_000] } as const satisfies Record<string, IntRange>;
/** `importEvents`'s events per append (one file per type and day each). */
export const IMPORT_RANGES = { batchSize: [1, 10_000_000] } as const satisfies Record<string, IntRange>;
/** What `ingestEvents` (and `oo-ml ingest`) uses for what it is not told. */
export const INGEST_DEFAULTS = { batchSize: MAX_BATCH, maxWaitMs: 1000, untilIdle: false, idleMs: 2000 } as const;

/** `value`, checked to be an integer in [min, max]; `what` names it (e.g. `users`). */
export function requireInteger(what: string, value: number, [min, max]: IntRange): number {
  if (!Number.isInteger(value) || value < min || value > max) throw invalidUsage(`${what} must be an integer between ${min} and ${max}, got ${String(value)}`);
  return value;
}

/** `value`, checked to be a valid Date (not `new Date('nonsense')`); `what` names it (e.g. `asOf`). */
export function requireDate(what: string, value: Date): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalidUsage(`${what} must be a valid Date, got ${String(value)}`);
  return value;
}
