/**
 * Logged bandit feedback in columnar form: one typed array per field, row i of every array is
 * decision i. No per-row objects, so millions of rows cost a few flat buffers and the
 * estimators run as tight loops over them.
 */
import { invalidInput } from '../errors.js';

/** Logged decisions of a logging (behaviour) policy, column by column. */
export interface LoggedBandit {
  /** Number of logged decisions (rows). */
  n: number;
  /** Number of arms; arm indices are 0..k-1. */
  k: number;
  /** The arm the logging policy chose, per row. */
  arm: Int32Array;
  /** The observed reward of that arm, per row. */
  reward: Float64Array;
  /** The logging policy's probability of the logged arm, per row, in (0, 1]. */
  propensity: Float64Array;
  /** Feature vectors for reward models, row-major n × d (optional). */
  x?: Float64Array;
  /** Width of a feature vector in `x`. */
  d?: number;
  /** Slot of the decision when a log holds several positions per impression (OBD), 0-based. */
  position?: Int32Array;
}

/** What a pass over the logged columns learns besides their validity. */
export interface LogsSummary {
  /** Rows per arm. */
  armRows: Float64Array;
  /** Arms with no logged row: the logs say nothing about their rewards. */
  unloggedArms: number[];
  /** The smallest logged propensity: how far the logging policy explored. */
  minPropensity: number;
  /** Every reward lies in [0, 1] (proportion-like rewards: clicks, completions). */
  rewardsInUnit: boolean;
  /** Every reward is 0 or 1. */
  rewardsBinary: boolean;
}

const isCount = (v: number): boolean => Number.isSafeInteger(v) && v >= 0;

/** Checks the shape of `logs` (lengths, n, k, d) and throws `invalid_input` naming the mismatch. */
export function checkLogsShape(logs: LoggedBandit): void {
  const { n, k } = logs;
  if (!isCount(n)) throw invalidInput(`logs.n must be a non-negative integer, got ${n}`);
  if (n === 0) throw invalidInput('logs are empty (n = 0): there is nothing to evaluate', { hint: 'check the log file or the date range' });
  if (!isCount(k) || k < 1) throw invalidInput(`logs.k (number of arms) must be a positive integer, got ${k}`);
  const lengths: [string, { length: number } | undefined][] = [
    ['arm', logs.arm],
    ['reward', logs.reward],
    ['propensity', logs.propensity],
  ];
  for (const [name, column] of lengths) {
    if (column === undefined) throw invalidInput(`logs.${name} is missing`);
    if (column.length !== n) throw invalidInput(`logs.${name} has ${column.length} rows, expected n = ${n}`);
  }
  if (logs.position !== undefined && logs.position.length !== n) {
    throw invalidInput(`logs.position has ${logs.position.length} rows, expected n = ${n}`);
  }
  if (logs.x !== undefined) {
    const d = logs.d;
    if (d === undefined || !isCount(d)) throw invalidInput(`logs.x is given but logs.d is ${String(d)}; set d to the feature width`);
    if (logs.x.length !== n * d) throw invalidInput(`logs.x has ${logs.x.length} values, expected n × d = ${n} × ${d} = ${n * d}`);
  }
}

/**
 * Validates every logged row (arm in [0, k), propensity in (0, 1], finite reward), throwing
 * `invalid_input` naming the first bad row, and counts rows per arm. One pass over three columns.
 */
export function checkLogs(logs: LoggedBandit): LogsSummary {
  checkLogsShape(logs);
  const { n, k, arm, reward, propensity } = logs;
  const armRows = new Float64Array(k);
  let minPropensity = 1;
  let rewardsInUnit = true;
  let rewardsBinary = true;
  for (let i = 0; i < n; i++) {
    const a = arm[i]!;
    const p = propensity[i]!;
    const r = reward[i]!;
    // `!(p > 0 && p <= 1)` is also true for NaN, which is how a missing propensity arrives.
    if (a < 0 || a >= k || !(p > 0 && p <= 1) || !Number.isFinite(r)) throw badRow(logs, i);
    armRows[a]! += 1;
    if (p < minPropensity) minPropensity = p;
    if (r < 0 || r > 1) rewardsInUnit = false;
    if (r !== 0 && r !== 1) rewardsBinary = false;
  }
  const unloggedArms: number[] = [];
  for (let a = 0; a < k; a++) if (armRows[a] === 0) unloggedArms.push(a);
  return { armRows, unloggedArms, minPropensity, rewardsInUnit, rewardsBinary };
}

/** The error for row `i`, built off the hot loop. */
function badRow(logs: LoggedBandit, i: number): Error {
  const a = logs.arm[i]!;
  const p = logs.propensity[i]!;
  const details = { row: i };
  if (a < 0 || a >= logs.k) {
    return invalidInput(`logs row ${i}: arm index ${a} is outside [0, ${logs.k})`, { details });
  }
  if (Number.isNaN(p)) {
    return invalidInput(`logs row ${i}: propensity is missing (NaN)`, {
      hint: 'every logged decision needs the logging policy’s probability of the chosen arm',
      details,
    });
  }
  if (!(p > 0 && p <= 1)) {
    return invalidInput(`logs row ${i}: propensity ${p} is outside (0, 1]`, {
      hint: p === 0 ? 'a logged arm cannot have probability 0; check how propensities were recorded' : undefined,
      details,
    });
  }
  return invalidInput(`logs row ${i}: reward ${logs.reward[i]} is not a finite number`, { details });
}
