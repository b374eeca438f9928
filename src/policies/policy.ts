/**
 * The policy contract. A policy is pure code over a plain, serialisable state: no I/O, no clock,
 * all randomness from the `Rng` passed in. States are mutated in place by `update` (the hot
 * path must not allocate per decision); use `cloneState` where an untouched copy is needed.
 */
import type { VectorLayoutName } from '../features/vectors.js';
import type { Rng } from '../random/rng.js';

/** Names of the built-in policies. */
export const POLICY_NAMES = ['egreedy-v1', 'egreedy-v2', 'linucb', 'thompson'] as const;
/** A built-in policy name. */
export type PolicyName = (typeof POLICY_NAMES)[number];

/** A decision: the arm index and the exact probability the policy had of choosing it. */
export interface Decision {
  arm: number;
  propensity: number;
}

/** Serialised state: JSON-safe, versioned, round-trips exactly (`fromJSON(toJSON(s))` ≡ s). */
export interface SerializedPolicyState {
  policy: PolicyName;
  stateVersion: number;
  k: number;
  d: number;
  params: Record<string, number>;
  /** Numeric arrays, encoded so every double round-trips bit for bit. */
  arrays: Record<string, string>;
  updates: number;
}

/** One policy: how to make, use, learn and persist its state `S`. */
export interface Policy<S> {
  readonly name: PolicyName;
  /** Feature layout its vectors use (`v1` or `v2`). */
  readonly layout: VectorLayoutName;
  /** Fresh state for `k` arms with optional hyper-parameters (defaults documented per policy). */
  init(k: number, params?: Record<string, number>): S;
  /** Per-arm scores for context `x` written into `out` (length k); returns `out`. */
  score(state: S, x: Float64Array, out: Float64Array): Float64Array;
  /** The full action distribution for `x` written into `out` (sums to 1); returns `out`. */
  probabilities(state: S, x: Float64Array, out: Float64Array): Float64Array;
  /** Draws an arm for `x` using `rng`; the propensity equals probabilities(x)[arm]. */
  choose(state: S, x: Float64Array, rng: Rng): Decision;
  /**
   * The arm `choose` would draw, using `rng` exactly as it does, without the propensity: for
   * callers that never log one (the simulator), and for Thompson sampling that skips the
   * quadrature that is nearly all of its `choose`.
   */
  chooseArm(state: S, x: Float64Array, rng: Rng): number;
  /**
   * `choose`, using `rng` exactly as it does, that also writes the per-arm scores `score` gives
   * into `out` (length ≥ k: LinUCB and ε-greedy pick the arm from it): for callers that report
   * the chosen arm's score (the server), which would otherwise have the policy compute them a
   * second time.
   */
  chooseScored(state: S, x: Float64Array, rng: Rng, out: Float64Array): Decision;
  /** Learns from one (x, arm, reward) in place. */
  update(state: S, x: Float64Array, arm: number, reward: number): void;
  /** Deep copy. */
  cloneState(state: S): S;
  toJSON(state: S): SerializedPolicyState;
  /** Parses a serialised state, throwing `invalid_input` when it is not this policy's. */
  fromJSON(json: SerializedPolicyState): S;
}
