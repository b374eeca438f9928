/**
 * Disjoint LinUCB (Li, Chu, Langford, Schapire 2010, "A contextual-bandit approach to
 * personalized news article recommendation", Algorithm 1) on the v2 layout (D=12):
 *
 *   score_a = θ_a·x + α √(xᵀ A_a⁻¹ x),   θ_a = A_a⁻¹ b_a,  A_a = λI + Σ x xᵀ.
 *
 * The decision is the argmax, deterministic except for exact ties, which are broken uniformly
 * with the rng; so P(a) = 1/|G| for a in the tie set G and 0 otherwise.
 *
 * Parameters: alpha (exploration width, default 1, ≥ 0); lambda (ridge penalty, default 1).
 */
import { vectorDim } from '../features/vectors.js';
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
  writeArmStats,
  type LinearArmsState,
} from './linear-arms.js';
import type { Decision, Policy } from './policy.js';
import { LINUCB_PARAMS, assertArmCount, resolveParams } from './policy-params.js';

/** LinUCB state: the ridge models plus α. */
export interface LinUcbState extends LinearArmsState {
  readonly alpha: number;
}

const NAME = 'linucb';
const LAYOUT = 'v2';
const D = vectorDim(LAYOUT);

let scores = new Float64Array(16);
let means = new Float64Array(16);
let variances = new Float64Array(16);
let ties = new Int32Array(16);
/** Size of the tie set of the last drawArm (its propensity is 1 / tieCount). */
let tieCount = 0;

function ensureScratch(k: number): void {
  if (scores.length < k) {
    scores = new Float64Array(2 * k);
    means = new Float64Array(2 * k);
    variances = new Float64Array(2 * k);
    ties = new Int32Array(2 * k);
  }
}

/** Upper confidence bounds θ_a·x + α√(xᵀA_a⁻¹x) for every arm into `out`. */
function writeUcb(state: LinUcbState, x: Float64Array, out: Float64Array): Float64Array {
  ensureScratch(state.k);
  writeArmStats(state, x, means, variances);
  const alpha = state.alpha;
  for (let a = 0; a < state.k; a++) out[a] = means[a]! + alpha * Math.sqrt(variances[a]!);
  return out;
}

/** The argmax of the bounds (written into `out`, else the scratch), ties broken uniformly (the rng is drawn only on a tie). */
function drawArm(state: LinUcbState, x: Float64Array, rng: Rng, out: Float64Array | null): number {
  // Grown before `scores` and `ties` are read as arguments (writeUcb grows them too late for that).
  ensureScratch(state.k);
  const n = collectArgmax(writeUcb(state, x, out ?? scores), state.k, ties);
  tieCount = n;
  return n > 1 ? ties[rng.int(n)]! : ties[0]!;
}

/** Disjoint LinUCB on the v2 layout. */
export const linUcb: Policy<LinUcbState> = {
  name: NAME,
  layout: LAYOUT,
  init(k: number, params?: Record<string, number>): LinUcbState {
    assertArmCount(NAME, k);
    const p = resolveParams(NAME, LINUCB_PARAMS, params);
    return { ...createLinearArms(k, D, p['lambda']!), alpha: p['alpha']! };
  },
  score(state, x, out) {
    assertContext(NAME, x, D);
    return writeUcb(state, x, out);
  },
  probabilities(state, x, out) {
    assertContext(NAME, x, D);
    const { k } = state;
    ensureScratch(k);
    const n = collectArgmax(writeUcb(state, x, scores), k, ties);
    for (let a = 0; a < k; a++) out[a] = isTied(ties, n, a) ? 1 / n : 0;
    return out;
  },
  choose(state: LinUcbState, x: Float64Array, rng: Rng): Decision {
    assertContext(NAME, x, D);
    const arm = drawArm(state, x, rng, null);
    return { arm, propensity: 1 / tieCount };
  },
  chooseArm(state: LinUcbState, x: Float64Array, rng: Rng): number {
    assertContext(NAME, x, D);
    return drawArm(state, x, rng, null);
  },
  chooseScored(state: LinUcbState, x: Float64Array, rng: Rng, out: Float64Array): Decision {
    assertContext(NAME, x, D);
    const arm = drawArm(state, x, rng, out);
    return { arm, propensity: 1 / tieCount };
  },
  update(state, x, arm, reward) {
    assertContext(NAME, x, D);
    assertFeedback(NAME, state.k, arm, reward);
    updateLinearArms(state, x, arm, reward);
  },
  cloneState: (state) => cloneLinearArms(state),
  toJSON: (state) => linearArmsToJSON(NAME, state, { alpha: state.alpha, lambda: state.lambda }),
  fromJSON(json) {
    const { arms, params } = linearArmsFromJSON(NAME, D, LINUCB_PARAMS, json);
    return { ...arms, alpha: params['alpha']! };
  },
};
