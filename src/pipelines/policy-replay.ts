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

/** The policy's action distribution on rows [from, to), row-major ((to − from) × ARM_COUNT). */
export function distributionOn<S>(policy: Policy<S>, state: S, x: Float64Array, d: number, from: number, to: number): Float64Array {
  const out = new Float64Array((to - from) * ARM_COUNT);
  for (let i = from; i < to; i++) {
    policy.probabilities(state, x.subarray(i * d, (i + 1) * d), out.subarray((i - from) * ARM_COUNT, (i - from + 1) * ARM_COUNT));
  }
  return out;
}
