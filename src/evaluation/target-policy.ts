/**
 * Building the target: the evaluation policy's full action distribution for every logged row,
 * row-major n × k. Evaluating the distribution (not a sampled arm) makes stochastic policies
 * exact and removes the sampling noise of drawing one arm per row.
 */
import { invalidInput } from '../errors.js';
import type { Policy } from '../policies/policy.js';
import type { LoggedBandit } from './logged-bandit.js';

/** The uniform policy over k arms for n rows (1/k everywhere). */
export function uniformTarget(n: number, k: number): Float64Array {
  return new Float64Array(n * k).fill(1 / k);
}

/** The deterministic policy that plays `arms[i]` in row i (one-hot rows). */
export function deterministicTarget(arms: Int32Array, k: number): Float64Array {
  const t = new Float64Array(arms.length * k);
  for (let i = 0; i < arms.length; i++) {
    const a = arms[i]!;
    if (a < 0 || a >= k) throw invalidInput(`target arm ${a} of row ${i} is outside [0, ${k})`, { details: { row: i } });
    t[i * k + a] = 1;
  }
  return t;
}

/** A policy's action distribution on every row of `logs` (its feature vectors `logs.x`). */
export function policyTarget<S>(policy: Policy<S>, state: S, logs: LoggedBandit): Float64Array {
  const { n, k } = logs;
  const d = logs.d ?? 0;
  if (logs.x === undefined) throw invalidInput(`policy ${policy.name} needs feature vectors, but the logs have none (logs.x)`);
  const target = new Float64Array(n * k);
  // One reusable context and output row: no allocation per logged row.
  const xi = new Float64Array(d);
  const row = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    xi.set(logs.x.subarray(i * d, i * d + d));
    policy.probabilities(state, xi, row);
    target.set(row, i * k);
  }
  return target;
}
