/**
 * Turning policy specs into simulation entrants. A spec is serialisable (it crosses to worker
 * threads): a built-in policy name starting from a fresh state, or a registered version's
 * serialised state (MODEL@ALIAS, loaded by the caller from the registry).
 */
import { ARM_COUNT } from '../features/arms.js';
import { getPolicy } from '../policies/catalog.js';
import { withExplorationFloor } from '../policies/exploration-floor.js';
import type { SerializedPolicyState } from '../policies/policy.js';
import type { SimEntrant } from './runner.js';

/** A policy entered in a simulation, in serialisable form. */
export interface EntrantSpec {
  /** Display name: the policy name or MODEL@ALIAS. */
  name: string;
  /** Built-in policy implementing it. */
  policy: string;
  /** Starting state (a registered version); fresh when absent. */
  state?: SerializedPolicyState;
  /** The exploration floor it decides with (a registered version's; 0 when absent). */
  explorationFloor?: number;
}

/** Builds the entrant of a spec; unknown policy names fail with invalid_input from the catalog. */
export function toEntrant(spec: EntrantSpec): SimEntrant {
  const policy = withExplorationFloor(getPolicy(spec.policy), spec.explorationFloor ?? 0, ARM_COUNT);
  const start = spec.state;
  return {
    name: spec.name,
    policy,
    initialState: start === undefined ? () => policy.init(ARM_COUNT) : () => policy.fromJSON(start),
  };
}
