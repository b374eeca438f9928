/**
 * A tiny test policy (not one of the built-ins): per-arm mean reward with one pseudo-count at
 * 0.5, and a softmax over the means at temperature `t`. It ignores the context, which keeps
 * its scores exact in assertions (score of an arm = (sum + 0.5) / (count + 1)).
 */
import type { Policy, PolicyName, SerializedPolicyState } from '../../src/policies/policy.js';
import { weightedIndex } from '../../src/random/rng.js';

/** The state: counts and sums per arm, and the temperature. */
export interface MeanSoftmaxState {
  k: number;
  t: number;
  counts: Float64Array;
  sums: Float64Array;
}

// Not in POLICY_NAMES on purpose: the server treats policy names as opaque.
const NAME = 'mean-softmax' as PolicyName;

/** The test policy. */
export const meanSoftmax: Policy<MeanSoftmaxState> = {
  name: NAME,
  layout: 'v2',
  init(k, params = {}) {
    return { k, t: params['t'] ?? 0.25, counts: new Float64Array(k), sums: new Float64Array(k) };
  },
  score(s, _x, out) {
    for (let i = 0; i < s.k; i++) out[i] = (s.sums[i]! + 0.5) / (s.counts[i]! + 1);
    return out;
  },
  probabilities(s, x, out) {
    this.score(s, x, out);
    let max = -Infinity;
    for (let i = 0; i < s.k; i++) max = Math.max(max, out[i]!);
    let total = 0;
    for (let i = 0; i < s.k; i++) total += out[i] = Math.exp((out[i]! - max) / s.t);
    for (let i = 0; i < s.k; i++) out[i] = out[i]! / total;
    return out;
  },
  choose(s, x, rng) {
    const p = this.probabilities(s, x, new Float64Array(s.k));
    const arm = weightedIndex(rng, p);
    return { arm, propensity: p[arm]! };
  },
  chooseArm(s, x, rng) {
    return this.choose(s, x, rng).arm;
  },
  chooseScored(s, x, rng, out) {
    const decision = this.choose(s, x, rng);
    this.score(s, x, out);
    return decision;
  },
  update(s, _x, arm, reward) {
    s.counts[arm] = s.counts[arm]! + 1;
    s.sums[arm] = s.sums[arm]! + reward;
  },
  cloneState(s) {
    return { k: s.k, t: s.t, counts: s.counts.slice(), sums: s.sums.slice() };
  },
  toJSON(s): SerializedPolicyState {
    return {
      policy: NAME,
      stateVersion: 1,
      k: s.k,
      d: 12,
      params: { t: s.t },
      arrays: { counts: JSON.stringify([...s.counts]), sums: JSON.stringify([...s.sums]) },
      updates: s.counts.reduce((a, b) => a + b, 0),
    };
  },
  fromJSON(json) {
    if (json.policy !== NAME) throw new Error(`not a ${NAME} state: ${json.policy}`);
    return {
      k: json.k,
      t: json.params['t'] ?? 0.25,
      counts: Float64Array.from(JSON.parse(json.arrays['counts']!) as number[]),
      sums: Float64Array.from(JSON.parse(json.arrays['sums']!) as number[]),
    };
  },
};

/** The test policy with its state type erased, as the server holds policies. */
export const meanSoftmaxPolicy = meanSoftmax as unknown as Policy<unknown>;

/** A catalog knowing only the test policy (the registry provider's `catalog` parameter). */
export function testCatalog(name: string): Policy<unknown> {
  if (name === NAME) return meanSoftmaxPolicy;
  throw new Error(`unknown policy "${name}"`);
}
