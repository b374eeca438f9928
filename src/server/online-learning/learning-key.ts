/**
 * What online learning is kept by: a registered version, whichever alias serves it (a version
 * that learned as an experiment's `@candidate` goes on from there as `@champion`, and two
 * variants on one version learn from both's rewards), and a built-in policy by its name.
 */
import { parseModelRef } from '../../models/policy-artifacts.js';

/** The learning key of the policy `policy` at registry version `modelVersion` (null: a built-in). */
export function learningKey(policy: string, modelVersion: string | null): string {
  const ref = modelVersion === null ? null : parseModelRef(policy);
  return ref === null ? `${policy}\u0000${modelVersion ?? ''}` : `${ref.model}/${modelVersion}`;
}
