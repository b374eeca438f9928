/**
 * Disjoint per-arm ridge regression, the model under ε-greedy, LinUCB and linear Thompson
 * sampling: for each arm a, A_a = λI + Σ x xᵀ and b_a = Σ r x over the (x, r) it was updated
 * with, and the estimate θ_a = A_a⁻¹ b_a (Li et al. 2010, Algorithm 1, "disjoint" model).
 *
 * Only A⁻¹ is kept, updated per observation by Sherman–Morrison in O(d²) (no inversion), and θ
 * follows in O(d) by the recursive-least-squares identity θ' = θ + A'⁻¹x (r − θ·x), where
 * A'⁻¹x = u/(1 + xᵀA⁻¹x) comes free from the Sherman–Morrison step (u = A⁻¹x). The identity is
 * exact algebra (A'θ' = Aθ + xxᵀθ + x(r − xᵀθ) = b + rx), and it does not amplify rounding
 * errors: the residual r − θ·x is taken from the current θ, so an existing error in θ is
 * multiplied by I − A'⁻¹xxᵀ, whose eigenvalues are 1 and 1/(1 + xᵀA⁻¹x) ≤ 1. The tests hold θ to
 * a direct solve of Aθ = b within 1e-9 after thousands of updates.
 * Storage is flat: arm a's A⁻¹ is aInv[a·d² …] row-major, its b and θ are b[a·d …], theta[a·d …].
 *
 * Numerical stability (test/policies/stability.test.ts: 10⁶ updates with |x| up to 1e3 beside
 * 1e-300 and zeros, and near-collinear contexts): each update keeps A⁻¹ exactly symmetric and
 * clamps the Sherman–Morrison denominator to ≥ 1 (see linear-algebra.ts), and variances are
 * clamped at 0. Rank-one updates only add positive semi-definite terms to A, so A⁻¹ stays well
 * behaved: in that test the computed xᵀA⁻¹x never went below 4e-11 and the clamps never fired;
 * they are a safety net, not a correction applied in normal operation.
 *
 * Hot path: `writeArmStats` and `updateLinearArms` work on per-arm subarray views (`armViews`,
 * cached per state) and dispatch on d; for d = 12 they run the hand-unrolled kernels of
 * unrolled-d12.ts, which compute exactly what the generic loops here do.
 */
import { invalidInput } from '../errors.js';
import { dot, setScaledIdentity, shermanMorrisonUpdate, symmetricQuadraticForm } from './linear-algebra.js';
import type { PolicyName, SerializedPolicyState } from './policy.js';
import { LAMBDA_PARAM, assertArmCount, resolveParams, type ParamSpec } from './policy-params.js';
import { STATE_VERSION, decodeFloat64, encodeFloat64, parseSerializedState } from './state-codec.js';
import { UNROLLED_DIM, armStatsD12, updateArmD12 } from './unrolled-d12.js';

/** The per-arm ridge models: plain data, mutated in place by `updateLinearArms`. */
export interface LinearArmsState {
  /** Number of arms. */
  readonly k: number;
  /** Context dimension. */
  readonly d: number;
  /** Ridge penalty λ (A starts at λI). */
  readonly lambda: number;
  /** A_a⁻¹ for every arm, k·d·d, row-major, arm a at a·d². */
  readonly aInv: Float64Array;
  /** b_a = Σ r x, k·d. */
  readonly b: Float64Array;
  /** θ_a = A_a⁻¹ b_a, k·d. */
  readonly theta: Float64Array;
  /** Number of updates applied (all arms). */
  updates: number;
}

/** Names of the arrays a serialised linear state carries. */
const ARRAY_NAMES = ['aInv', 'b', 'theta'] as const;

/** Fresh models for k arms in dimension d: A⁻¹ = I/λ, b = θ = 0. */
export function createLinearArms(k: number, d: number, lambda: number): LinearArmsState {
  const aInv = new Float64Array(k * d * d);
  for (let a = 0; a < k; a++) setScaledIdentity(aInv, a * d * d, d, 1 / lambda);
  return { k, d, lambda, aInv, b: new Float64Array(k * d), theta: new Float64Array(k * d), updates: 0 };
}

/** Throws `invalid_input` unless x has length d and only finite values. */
export function assertContext(policy: PolicyName, x: Float64Array, d: number): void {
  if (x.length !== d) {
    throw invalidInput(`context vector for policy ${policy} has length ${x.length}, expected ${d}`, {
      hint: `build it with writeVector for the policy's layout (D=${d})`,
    });
  }
  for (let i = 0; i < d; i++) {
    if (!Number.isFinite(x[i]!)) {
      throw invalidInput(`context vector for policy ${policy} has a non-finite value (${x[i]}) at index ${i}`, {
        hint: 'feature values must be finite numbers',
      });
    }
  }
}

/** Throws `invalid_input` unless `arm` is an arm index < k and `reward` is finite. */
export function assertFeedback(policy: PolicyName, k: number, arm: number, reward: number): void {
  if (!Number.isInteger(arm) || arm < 0 || arm >= k) {
    throw invalidInput(`arm ${arm} is not an arm of policy ${policy} (expected an integer in 0..${k - 1})`, {
      hint: 'pass the arm index that choose() returned',
    });
  }
  if (!Number.isFinite(reward)) {
    throw invalidInput(`reward ${reward} for policy ${policy} is not a finite number`, {
      hint: 'rewards are numbers in [0, 1] (see events/reward.ts)',
    });
  }
}

/**
 * Per-arm statistics along x for arms a < k: means[a] = θ_a·x, variances[a] = max(0, xᵀA_a⁻¹x).
 * `aInv[a]` and `theta[a]` are arm a's blocks (see `armViews`).
 */
export type ArmStatsKernel = (
  aInv: readonly Float64Array[],
  theta: readonly Float64Array[],
  k: number,
  x: Float64Array,
  means: Float64Array,
  variances: Float64Array,
) => void;

/** One observation (x, reward) for one arm, given its A⁻¹, b and θ blocks: Sherman–Morrison, b += r·x, the RLS step for θ. */
export type UpdateKernel = (aInv: Float64Array, b: Float64Array, theta: Float64Array, x: Float64Array, reward: number) => void;

/** Each arm's blocks of a state's arrays, as subarray views sharing their memory. */
export interface ArmViews {
  readonly aInv: readonly Float64Array[];
  readonly b: readonly Float64Array[];
  readonly theta: readonly Float64Array[];
}

interface CachedViews extends ArmViews {
  readonly sources: readonly [Float64Array, Float64Array, Float64Array];
}

// Views per state, built once: kernels index one arm's block with constant offsets, which is
// what makes them fast (unrolled-d12.ts). Keyed weakly by the state, and rebuilt if its arrays
// were replaced, so the state itself stays plain data.
const viewCache = new WeakMap<LinearArmsState, CachedViews>();

/** The per-arm views of `state` (cached; they alias the state's arrays). */
export function armViews(state: LinearArmsState): ArmViews {
  const cached = viewCache.get(state);
  if (cached !== undefined && cached.sources[0] === state.aInv && cached.sources[1] === state.b && cached.sources[2] === state.theta) {
    return cached;
  }
  const { k, d } = state;
  const blocks = (array: Float64Array, size: number): Float64Array[] =>
    Array.from({ length: k }, (_, a) => array.subarray(a * size, (a + 1) * size));
  const views: CachedViews = {
    aInv: blocks(state.aInv, d * d),
    b: blocks(state.b, d),
    theta: blocks(state.theta, d),
    sources: [state.aInv, state.b, state.theta],
  };
  viewCache.set(state, views);
  return views;
}

/** The generic per-arm statistics for dimension d (plain loops over linear-algebra.ts). */
export function armStatsGeneric(d: number): ArmStatsKernel {
  return (aInv, theta, k, x, means, variances) => {
    for (let a = 0; a < k; a++) {
      means[a] = dot(theta[a]!, 0, x, 0, d);
      const q = symmetricQuadraticForm(aInv[a]!, 0, d, x);
      variances[a] = q > 0 ? q : 0;
    }
  };
}

// Scratch for u = A⁻¹x in generic updates, grown on demand (the hot path does not allocate).
let scratch = new Float64Array(16);

/** The generic update for dimension d (plain loops over linear-algebra.ts). */
export function updateGeneric(d: number): UpdateKernel {
  return (m, b, theta, x, reward) => {
    if (scratch.length < d) scratch = new Float64Array(2 * d);
    const u = scratch;
    const inv = shermanMorrisonUpdate(m, 0, d, x, u);
    const g = (reward - dot(theta, 0, x, 0, d)) * inv;
    for (let i = 0; i < d; i++) {
      b[i] = b[i]! + reward * x[i]!;
      theta[i] = theta[i]! + g * u[i]!;
    }
  };
}

const statsKernels = new Map<number, ArmStatsKernel>([[UNROLLED_DIM, armStatsD12]]);
const updateKernels = new Map<number, UpdateKernel>([[UNROLLED_DIM, updateArmD12]]);

/** The per-arm statistics kernel used for dimension d (the unrolled one for d = 12). */
export function armStatsKernel(d: number): ArmStatsKernel {
  let kernel = statsKernels.get(d);
  if (kernel === undefined) statsKernels.set(d, (kernel = armStatsGeneric(d)));
  return kernel;
}

/** The update kernel used for dimension d (the unrolled one for d = 12). */
export function updateKernel(d: number): UpdateKernel {
  let kernel = updateKernels.get(d);
  if (kernel === undefined) updateKernels.set(d, (kernel = updateGeneric(d)));
  return kernel;
}

/** Writes θ_a·x, each arm's estimated mean reward, into out[a] for every arm; returns `out`. */
export function writeArmMeans(state: LinearArmsState, x: Float64Array, out: Float64Array): Float64Array {
  const d = state.d;
  for (let a = 0; a < state.k; a++) out[a] = dot(state.theta, a * d, x, 0, d);
  return out;
}

/** Writes θ_a·x into means[a] and max(0, xᵀA_a⁻¹x) (variance along x, in noise units) into variances[a]. */
export function writeArmStats(state: LinearArmsState, x: Float64Array, means: Float64Array, variances: Float64Array): void {
  const views = armViews(state);
  // The d = 12 branch skips the Map lookup on the hot path; armStatsKernel(12) is the same function.
  const kernel = state.d === UNROLLED_DIM ? armStatsD12 : armStatsKernel(state.d);
  kernel(views.aInv, views.theta, state.k, x, means, variances);
}

/** Learns one observation: A_arm ← A_arm + x xᵀ (via Sherman–Morrison on A⁻¹), b_arm += r x, θ_arm = A_arm⁻¹ b_arm. */
export function updateLinearArms(state: LinearArmsState, x: Float64Array, arm: number, reward: number): void {
  const views = armViews(state);
  const kernel = state.d === UNROLLED_DIM ? updateArmD12 : updateKernel(state.d);
  kernel(views.aInv[arm]!, views.b[arm]!, views.theta[arm]!, x, reward);
  state.updates++;
}

/** Deep copy of a linear state, keeping any policy-specific fields. */
export function cloneLinearArms<S extends LinearArmsState>(state: S): S {
  return { ...state, aInv: state.aInv.slice(), b: state.b.slice(), theta: state.theta.slice() };
}

/** The serialised form of a linear state with its hyper-parameters. */
export function linearArmsToJSON(policy: PolicyName, state: LinearArmsState, params: Record<string, number>): SerializedPolicyState {
  return {
    policy,
    stateVersion: STATE_VERSION,
    k: state.k,
    d: state.d,
    params: { ...params },
    arrays: { aInv: encodeFloat64(state.aInv), b: encodeFloat64(state.b), theta: encodeFloat64(state.theta) },
    updates: state.updates,
  };
}

/**
 * Parses and checks a serialised linear state of `policy` in dimension `d`: shape, policy name,
 * version, arm count, parameters (`specs`, all required), array names and lengths, finite
 * values, and each A⁻¹ block symmetric with a positive diagonal. Throws `invalid_input` naming
 * the first problem.
 */
export function linearArmsFromJSON(
  policy: PolicyName,
  d: number,
  specs: readonly ParamSpec[],
  json: unknown,
): { arms: LinearArmsState; params: Record<string, number> } {
  const s = parseSerializedState(json);
  const hint = `export a state of policy ${policy} with toJSON, or start from init()`;
  if (s.policy !== policy) {
    throw invalidInput(`policy state is for policy ${s.policy}, not ${policy}`, { hint: `load it with getPolicy('${s.policy}')` });
  }
  if (s.stateVersion !== STATE_VERSION) {
    throw invalidInput(`policy state of ${policy} has stateVersion ${s.stateVersion}; this build reads version ${STATE_VERSION}`, { hint });
  }
  assertArmCount(policy, s.k);
  if (s.d !== d) {
    throw invalidInput(`policy state of ${policy} has dimension d=${s.d}, expected ${d}`, { hint });
  }
  const params = resolveParams(policy, specs, s.params, true);
  for (const key of Object.keys(s.arrays)) {
    if (!(ARRAY_NAMES as readonly string[]).includes(key)) {
      throw invalidInput(`policy state of ${policy} has an unknown array "${key}"`, { hint: `expected arrays: ${ARRAY_NAMES.join(', ')}` });
    }
  }
  const get = (name: (typeof ARRAY_NAMES)[number]): string => {
    const hex = s.arrays[name];
    if (hex === undefined) {
      throw invalidInput(`policy state of ${policy} is missing the array "${name}"`, { hint: `expected arrays: ${ARRAY_NAMES.join(', ')}` });
    }
    return hex;
  };
  const { k } = s;
  const aInv = decodeFloat64(get('aInv'), k * d * d, 'aInv');
  const b = decodeFloat64(get('b'), k * d, 'b');
  const theta = decodeFloat64(get('theta'), k * d, 'theta');
  for (let a = 0; a < k; a++) {
    const off = a * d * d;
    for (let i = 0; i < d; i++) {
      if (!(aInv[off + i * d + i]! > 0)) {
        throw invalidInput(`policy state of ${policy}: aInv of arm ${a} has a non-positive diagonal entry at (${i}, ${i})`, { hint });
      }
      for (let j = i + 1; j < d; j++) {
        if (aInv[off + i * d + j] !== aInv[off + j * d + i]) {
          throw invalidInput(`policy state of ${policy}: aInv of arm ${a} is not symmetric at (${i}, ${j})`, { hint });
        }
      }
    }
  }
  const lambda = params[LAMBDA_PARAM.name]!;
  return { arms: { k, d, lambda, aInv, b, theta, updates: s.updates }, params };
}
