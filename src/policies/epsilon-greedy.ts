/**
 * ε-greedy over per-arm ridge regressions (`egreedy-v1` on the v1 layout, D=7; `egreedy-v2` on
 * v2, D=12). With probability 1 − ε it plays an arm of highest estimate θ_a·x (ties uniformly),
 * otherwise a uniformly random arm, so
 *
 *   P(a) = ε/K + (1 − ε)/|G|·[a ∈ G],   G = argmax_a θ_a·x.
 *
 * Parameters: epsilon (default 0.1, in [0, 1]); lambda (ridge penalty, default 1).
 */
import { vectorDim, type VectorLayoutName } from '../features/vectors.js';
import type { Rng } from '../random/rng.js';
import { collectArgmax, isTied } from './argmax.js';
import {
  assertContext,
  assertFeedback,
  cloneLinearArms,
  createLinearArms,
  linearArmsFromJSON,
  linearArmsToJSON,
  updateLinearArms,
  writeArmMeans,
  type LinearArmsState,
} from './linear-arms.js';
import type { Decision, Policy, PolicyName } from './policy.js';
import { EPSILON_GREEDY_PARAMS, assertArmCount, resolveParams } from './policy-params.js';

/** ε-greedy state: the ridge models plus ε. */
export interface EpsilonGreedyState extends LinearArmsState {
  readonly epsilon: number;
}

let scores = new Float64Array(16);
let ties = new Int32Array(16);

function ensureScratch(k: number): void {
  if (scores.length < k) {
    scores = new Float64Array(2 * k);
    ties = new Int32Array(2 * k);
  }
}

/** Size of the greedy tie set of the last drawArm (choose's propensity needs it). */
let tieCount = 0;

/** One uniform decides explore vs exploit; a second picks the arm when there is a choice. The means go into `out`, else the scratch. */
function drawArm(state: EpsilonGreedyState, x: Float64Array, rng: Rng, out: Float64Array | null): number {
  const { k, epsilon } = state;
  ensureScratch(k);
  const n = collectArgmax(writeArmMeans(state, x, out ?? scores), k, ties);
  tieCount = n;
  return rng.next() < epsilon ? rng.int(k) : n > 1 ? ties[rng.int(n)]! : ties[0]!;
}

/** The decision of the last drawArm: `arm` with its propensity (the greedy tie set's share plus ε's). */
function decided(state: EpsilonGreedyState, arm: number): Decision {
  const { k, epsilon } = state;
  return { arm, propensity: epsilon / k + (isTied(ties, tieCount, arm) ? (1 - epsilon) / tieCount : 0) };
}

/** The ε-greedy policy `name` on vector layout `layout`. */
function createEpsilonGreedy(name: PolicyName, layout: VectorLayoutName): Policy<EpsilonGreedyState> {
  const d = vectorDim(layout);
  return {
    name,
    layout,
    init(k: number, params?: Record<string, number>): EpsilonGreedyState {
      assertArmCount(name, k);
      const p = resolveParams(name, EPSILON_GREEDY_PARAMS, params);
      return { ...createLinearArms(k, d, p['lambda']!), epsilon: p['epsilon']! };
    },
    score(state, x, out) {
      assertContext(name, x, d);
      return writeArmMeans(state, x, out);
    },
    probabilities(state, x, out) {
      assertContext(name, x, d);
      const { k, epsilon } = state;
      ensureScratch(k);
      const n = collectArgmax(writeArmMeans(state, x, scores), k, ties);
      // The same expression as in choose, so propensities match bit for bit.
      for (let a = 0; a < k; a++) out[a] = epsilon / k + (isTied(ties, n, a) ? (1 - epsilon) / n : 0);
      return out;
    },
    choose(state: EpsilonGreedyState, x: Float64Array, rng: Rng): Decision {
      assertContext(name, x, d);
      return decided(state, drawArm(state, x, rng, null));
    },
    chooseArm(state: EpsilonGreedyState, x: Float64Array, rng: Rng): number {
      assertContext(name, x, d);
      return drawArm(state, x, rng, null);
    },
    chooseScored(state: EpsilonGreedyState, x: Float64Array, rng: Rng, out: Float64Array): Decision {
      assertContext(name, x, d);
      return decided(state, drawArm(state, x, rng, out));
    },
    update(state, x, arm, reward) {
      assertContext(name, x, d);
      assertFeedback(name, state.k, arm, reward);
      updateLinearArms(state, x, arm, reward);
    },
    cloneState: (state) => cloneLinearArms(state),
    toJSON: (state) => linearArmsToJSON(name, state, { epsilon: state.epsilon, lambda: state.lambda }),
    fromJSON(json) {
      const { arms, params } = linearArmsFromJSON(name, d, EPSILON_GREEDY_PARAMS, json);
      return { ...arms, epsilon: params['epsilon']! };
    },
  };
}

/** ε-greedy on the v1 layout (D=7). */
export const egreedyV1: Policy<EpsilonGreedyState> = createEpsilonGreedy('egreedy-v1', 'v1');
/** ε-greedy on the v2 layout (D=12). */
export const egreedyV2: Policy<EpsilonGreedyState> = createEpsilonGreedy('egreedy-v2', 'v2');
