/**
 * The exploration floor of a served policy: the policy mixed with uniform random,
 *
 *   π_γ(a|x) = (1 − γ)·π(a|x) + γ/K,
 *
 * so every arm keeps a propensity of at least γ/K. A greedy champion (LinUCB, Thompson sampling
 * once it is confident) otherwise serves with propensity ≈ 1 and its logs give zero weight to
 * most rows under any other policy: the floor keeps the logs it writes able to evaluate the next
 * candidate, at a cost in reward of at most γ·(best − uniform) per decision (bench:floor measures
 * it in simulation). The propensity logged is exactly π_γ of the arm drawn.
 *
 * γ is a property of a registered version (`train --exploration-floor`, an MLflow param recorded
 * in the card), applied wherever the version decides or is evaluated: serving, simulation, and
 * the off-policy estimates of train, ope and the promotion gate.
 */
import { invalidInput } from '../errors.js';
import type { Rng } from '../random/rng.js';
import type { Decision, Policy } from './policy.js';
import { assertArmCount } from './policy-params.js';

/** The floor a version gets unless told otherwise: 5 % of decisions uniform (a propensity of at least 0.05/K). */
export const DEFAULT_EXPLORATION_FLOOR = 0.05;

/** Checks a floor γ ∈ [0, 1), naming it when it is not one. */
export function checkExplorationFloor(floor: number): number {
  if (!(floor >= 0 && floor < 1)) throw invalidInput(`the exploration floor must be in [0, 1), got ${floor}`);
  return floor;
}

/** `policy` mixed with uniform over `k` arms at rate `floor` (the policy itself when the floor is 0). */
export function withExplorationFloor<S>(policy: Policy<S>, floor: number, k: number): Policy<S> {
  checkExplorationFloor(floor);
  // A bad arm count would make every probability NaN, found only far from here.
  assertArmCount(policy.name, k);
  if (floor === 0) return policy;
  const keep = 1 - floor;
  const spread = floor / k;
  let scratch = new Float64Array(k);
  /** The floor's uniform draw (its first uniform already taken), with the mixture's propensity. */
  const explore = (state: S, x: Float64Array, rng: Rng): Decision => {
    const arm = rng.int(k);
    if (scratch.length !== k) scratch = new Float64Array(k);
    return { arm, propensity: keep * policy.probabilities(state, x, scratch)[arm]! + spread };
  };
  return {
    ...policy,
    probabilities(state: S, x: Float64Array, out: Float64Array): Float64Array {
      policy.probabilities(state, x, out);
      for (let a = 0; a < out.length; a++) out[a] = keep * out[a]! + spread;
      return out;
    },
    choose(state: S, x: Float64Array, rng: Rng): Decision {
      if (rng.next() < floor) return explore(state, x, rng);
      const d = policy.choose(state, x, rng);
      return { arm: d.arm, propensity: keep * d.propensity + spread };
    },
    chooseScored(state: S, x: Float64Array, rng: Rng, out: Float64Array): Decision {
      if (rng.next() < floor) {
        const d = explore(state, x, rng);
        policy.score(state, x, out);
        return d;
      }
      const d = policy.chooseScored(state, x, rng, out);
      return { arm: d.arm, propensity: keep * d.propensity + spread };
    },
    chooseArm(state: S, x: Float64Array, rng: Rng): number {
      return rng.next() < floor ? rng.int(k) : policy.chooseArm(state, x, rng);
    },
  };
}
