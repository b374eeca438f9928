/**
 * The direct method (Dudík, Langford & Li 2011, §2): V̂ = (1/n) Σ_i Σ_a π(a|x_i) q̂(x_i, a), the
 * reward model's prediction averaged under the target. No importance weights, so low variance,
 * but biased wherever the model is wrong.
 *
 * Its variance has two parts: the spread of the per-row terms over contexts (CLT), and the
 * error of the fitted model itself (model-variance.ts). Without the second the interval would be
 * far too narrow: with a few hundred rows per arm the coefficients' error dominates.
 */
import { analyticEstimate, type Estimate, type EstimatorContext } from './estimate.js';
import { withModelVariance } from './model-variance.js';
import { termMean, termStdErr, type OpeSums } from './ope-sums.js';
import { weightedNotes } from './weight-diagnostics.js';

/** The caveat of an interval that treats q̂ as known. */
export const FIXED_MODEL_NOTE = 'the interval holds the reward model fixed: its fitting error is not included';

/**
 * Caveats of a DR variant whose rows may fall back on the model alone (clipped, switch): the
 * weights' notes, the model's, and FIXED_MODEL_NOTE when the model's fitting error is not counted.
 */
export function modelFallbackNotes(ctx: EstimatorContext): string[] {
  const notes = [...weightedNotes(ctx.diagnostics), ...ctx.modelNotes];
  if (ctx.modelVariance === null) notes.push(FIXED_MODEL_NOTE);
  return notes;
}

/** The DM value (1/n) Σ_i Σ_a π(a|x_i) q̂(x_i, a). */
export function dmValue(s: OpeSums): number {
  return termMean(s.dm!, s.n);
}

/** DM with its analytic interval (per-row CLT plus, when known, the model's own variance). */
export function dmEstimate(s: OpeSums, ctx: EstimatorContext): Estimate {
  const se = termStdErr(s.dm!, s.n);
  const notes = [...ctx.modelNotes];
  if (ctx.diagnostics.supportDeficient) {
    notes.push(`support deficiency: DM extrapolates the reward model to arms never logged (${ctx.diagnostics.unloggedArms.join(', ')})`);
  }
  if (ctx.modelVariance === null) notes.push(FIXED_MODEL_NOTE);
  return analyticEstimate('dm', dmValue(s), withModelVariance(se, ctx, 'dm'), { ...ctx.diagnostics }, notes);
}
