/**
 * The built-in policies by name: the one place a name becomes an implementation (CLI `--policy`,
 * registered models, the simulator, the server). Names come from `POLICY_NAMES` in policy.ts.
 */
import { invalidInput } from '../errors.js';
import { egreedyV1, egreedyV2 } from './epsilon-greedy.js';
import { linUcb } from './linucb.js';
import { POLICY_NAMES, type Policy, type PolicyName, type SerializedPolicyState } from './policy.js';
import { parseSerializedState } from './state-codec.js';
import { linearThompson } from './thompson.js';

export { POLICY_NAMES, type PolicyName } from './policy.js';
export { POLICY_PARAMS } from './policy-params.js';

/** Every built-in policy, keyed by name (typed per policy). */
export const POLICIES = {
  'egreedy-v1': egreedyV1,
  'egreedy-v2': egreedyV2,
  linucb: linUcb,
  thompson: linearThompson,
} as const satisfies Record<PolicyName, Policy<unknown>>;

/** True when `name` is a built-in policy name. */
export function isPolicyName(name: string): name is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(name);
}

/**
 * The policy called `name`; throws `invalid_input` naming it and listing the valid names. (For a
 * state type known at compile time use `POLICIES[name]` or the policy's own export.)
 */
export function getPolicy(name: string): Policy<unknown> {
  if (!isPolicyName(name)) {
    throw invalidInput(`unknown policy "${name}"`, {
      hint: `valid policies: ${POLICY_NAMES.join(', ')}`,
      details: [{ path: '/policy', message: `must be one of ${POLICY_NAMES.join(', ')}` }],
    });
  }
  return POLICIES[name];
}

/** A stored state with its policy: picks the policy from the state's `policy` field and parses it. */
export function restorePolicyState(json: unknown): { policy: Policy<unknown>; state: unknown } {
  const parsed: SerializedPolicyState = parseSerializedState(json);
  const policy = getPolicy(parsed.policy);
  return { policy, state: policy.fromJSON(parsed) };
}
