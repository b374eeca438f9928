/**
 * Linear Thompson sampling (Agrawal & Goyal 2013, "Thompson sampling for contextual bandits with
 * linear payoffs", Algorithm 1), disjoint per arm, on the v2 layout (D=12). Each arm's posterior
 * is θ_a ~ N(θ̂_a, v² A_a⁻¹), so its sampled score along the context is
 *
 *   S_a = θ_a·x ~ N(θ̂_a·x, v² xᵀA_a⁻¹x),   independent across arms,
 *
 * and the policy plays argmax_a S_a. Drawing S_a directly (one normal per arm) has the same
 * distribution as drawing θ_a and costs O(d²) instead of a d×d Cholesky per arm.
 *
 * `probabilities` is the exact distribution of that argmax, P(a) = ∫ φ_a Π_{b≠a} Φ_b, computed by
 * the deterministic quadrature of gaussian-argmax.ts; `choose` computes the same vector after
 * sampling and returns its entry for the chosen arm, so the propensity equals
 * probabilities(x)[arm] bit for bit. `score` is the posterior mean θ̂_a·x.
 *
 * Parameters: v (posterior scale, default 0.5, ≥ 0; v = 0 is greedy); lambda (ridge, default 1).
 */
import { vectorDim } from '../features/vectors.js';
import type { Rng } from '../random/rng.js';
import { collectArgmax } from './argmax.js';
import { effectiveSigma, gaussianArgmaxProbabilities } from './gaussian-argmax.js';
import {
  assertContext,
  assertFeedback,
  cloneLinearArms,
  createLinearArms,
  linearArmsFromJSON,
  linearArmsToJSON,
  updateLinearArms,
  writeArmMeans,
  writeArmStats,
  type LinearArmsState,
} from './linear-arms.js';
import type { Decision, Policy } from './policy.js';
import { THOMPSON_PARAMS, assertArmCount, resolveParams } from './policy-params.js';

/** Linear Thompson state: the ridge models plus the posterior scale v. */
export interface ThompsonState extends LinearArmsState {
  readonly v: number;
}

const NAME = 'thompson';
const LAYOUT = 'v2';
const D = vectorDim(LAYOUT);

let means = new Float64Array(16);
let variances = new Float64Array(16);
let sigmas = new Float64Array(16);
let draws = new Float64Array(16);
let probs = new Float64Array(16);
let ties = new Int32Array(16);

function ensureScratch(k: number): void {
  if (means.length < k) {
    means = new Float64Array(2 * k);
    variances = new Float64Array(2 * k);
    sigmas = new Float64Array(2 * k);
    draws = new Float64Array(2 * k);
    probs = new Float64Array(2 * k);
    ties = new Int32Array(2 * k);
  }
}

/** Each arm's score distribution along x: mean θ̂_a·x and σ_a = v√(xᵀA_a⁻¹x) (see effectiveSigma). */
function writePosterior(state: ThompsonState, x: Float64Array): void {
  writeArmStats(state, x, means, variances);
  for (let a = 0; a < state.k; a++) sigmas[a] = effectiveSigma(means[a]!, state.v * Math.sqrt(variances[a]!));
}

/**
 * One posterior draw per arm and their argmax. Leaves this x's posterior in `means`/`sigmas`,
 * which choose's propensity reads.
 */
function drawArm(state: ThompsonState, x: Float64Array, rng: Rng): number {
  const { k } = state;
  ensureScratch(k);
  writePosterior(state, x);
  // One normal per arm, always (point masses too), so the stream position depends only on k.
  for (let a = 0; a < k; a++) draws[a] = means[a]! + sigmas[a]! * rng.normal();
  // Ties happen only between point masses (σ = 0) with equal means; broken uniformly.
  const n = collectArgmax(draws, k, ties);
  return n > 1 ? ties[rng.int(n)]! : ties[0]!;
}

/** Linear Thompson sampling on the v2 layout. */
export const linearThompson: Policy<ThompsonState> = {
  name: NAME,
  layout: LAYOUT,
  init(k: number, params?: Record<string, number>): ThompsonState {
    assertArmCount(NAME, k);
    const p = resolveParams(NAME, THOMPSON_PARAMS, params);
    return { ...createLinearArms(k, D, p['lambda']!), v: p['v']! };
  },
  score(state, x, out) {
    assertContext(NAME, x, D);
    return writeArmMeans(state, x, out);
  },
  probabilities(state, x, out) {
    assertContext(NAME, x, D);
    ensureScratch(state.k);
    writePosterior(state, x);
    return gaussianArgmaxProbabilities(means, sigmas, state.k, out);
  },
  choose(state: ThompsonState, x: Float64Array, rng: Rng): Decision {
    assertContext(NAME, x, D);
    const arm = drawArm(state, x, rng);
    return { arm, propensity: gaussianArgmaxProbabilities(means, sigmas, state.k, probs)[arm]! };
  },
  chooseArm(state: ThompsonState, x: Float64Array, rng: Rng): number {
    assertContext(NAME, x, D);
    return drawArm(state, x, rng);
  },
  // The scores are the posterior means; beside choose's quadrature they cost next to nothing.
  chooseScored(state: ThompsonState, x: Float64Array, rng: Rng, out: Float64Array): Decision {
    const decision = linearThompson.choose(state, x, rng);
    writeArmMeans(state, x, out);
    return decision;
  },
  update(state, x, arm, reward) {
    assertContext(NAME, x, D);
    assertFeedback(NAME, state.k, arm, reward);
    updateLinearArms(state, x, arm, reward);
  },
  cloneState: (state) => cloneLinearArms(state),
  toJSON: (state) => linearArmsToJSON(NAME, state, { v: state.v, lambda: state.lambda }),
  fromJSON(json) {
    const { arms, params } = linearArmsFromJSON(NAME, D, THOMPSON_PARAMS, json);
    return { ...arms, v: params['v']! };
  },
};
