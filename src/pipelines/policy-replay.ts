/**
 * Replaying logged rows through a policy: fitting a state on a span of the training set, and
 * the policy's action distribution on a span. Training evaluates on a time split with these,
 * and the promotion gate compares versions on rows they did not learn from.
 */
import { ARM_COUNT } from '../features/arms.js';
import type { Policy } from '../policies/policy.js';
import type { TrainingData } from './training-set.js';

/** Replays rows [from, to) of the logs through `policy.update`, in time order; returns `state`. */
export function fitRows<S>(policy: Policy<S>, state: S, data: TrainingData, x: Float64Array, d: number, from: number, to: number): S {
  for (let i = from; i < to; i++) policy.update(state, x.subarray(i * d, (i + 1) * d), data.arm[i]!, data.reward[i]!);
  return state;
}

/** A learning curve: the running value at each step (rows seen). */
export interface LearningCurve {
  steps: number[];
  ips: number[];
  snips: number[];
}

/**
 * Fits like `fitRows` over rows [0, n) and records the prequential (test-then-train) value of
 * the policy as it learns: before learning from row i, the weight w_i = π(a_i|x_i) / p_i of its
 * current distribution, so the running IPS (Σ w r / i) and SNIPS (Σ w r / Σ w) after i rows
 * estimate what it would have earned had it been serving while it learned. Sampled at about
 * `points` steps (always the last row).
 */
export function fitWithCurve<S>(policy: Policy<S>, state: S, data: TrainingData, x: Float64Array, d: number, points = 100): { state: S; curve: LearningCurve } {
  const n = data.n;
  const every = Math.max(1, Math.ceil(n / points));
  const p = new Float64Array(ARM_COUNT);
  const curve: LearningCurve = { steps: [], ips: [], snips: [] };
  let sumWr = 0;
  let sumW = 0;
  for (let i = 0; i < n; i++) {
    const xi = x.subarray(i * d, (i + 1) * d);
    const w = policy.probabilities(state, xi, p)[data.arm[i]!]! / data.propensity[i]!;
    sumW += w;
    sumWr += w * data.reward[i]!;
    policy.update(state, xi, data.arm[i]!, data.reward[i]!);
    if ((i + 1) % every === 0 || i === n - 1) {
      curve.steps.push(i + 1);
      curve.ips.push(sumWr / (i + 1));
      curve.snips.push(sumW > 0 ? sumWr / sumW : 0);
    }
  }
  return { state, curve };
}

/** The policy's action distribution on rows [from, to), row-major ((to − from) × ARM_COUNT). */
export function distributionOn<S>(policy: Policy<S>, state: S, x: Float64Array, d: number, from: number, to: number): Float64Array {
  const out = new Float64Array((to - from) * ARM_COUNT);
  for (let i = from; i < to; i++) {
    policy.probabilities(state, x.subarray(i * d, (i + 1) * d), out.subarray((i - from) * ARM_COUNT, (i - from + 1) * ARM_COUNT));
  }
  return out;
}
