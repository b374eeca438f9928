/**
 * DR with clipped weights (weight clipping as the simplest shrinkage of Su, Dimakopoulou,
 * Krishnamurthy & Dudík 2020, "Doubly robust off-policy evaluation with shrinkage"):
 * V̂ = (1/n) Σ_i [Σ_a π(a|x_i) q̂(x_i, a) + min(w_i, c)(r_i − q̂(x_i, a_i))]. Capping w at c
 * bounds each row's influence; the price is a bias E[(w − c)₊ (r − q̂)], small where the model is
 * good. The interval is the CLT over the per-row terms plus the model's share of the variance,
 * which matters here because the capped part of each correction is left to the model
 * (model-variance.ts).
 */
import { analyticEstimate, type Estimate, type EstimatorContext } from './estimate.js';
import { modelFallbackNotes } from './direct-method.js';
import { withModelVariance } from './model-variance.js';
import { termMean, termStdErr, type OpeSums } from './ope-sums.js';

/** The clipped-DR value. */
export function clippedDrValue(s: OpeSums): number {
  return termMean(s.drClip!, s.n);
}

/** Clipped DR with its analytic interval and the share of rows the cap touched. */
export function clippedDrEstimate(s: OpeSums, ctx: EstimatorContext): Estimate {
  const clippedShare = s.clipped / s.n;
  const notes = modelFallbackNotes(ctx);
  if (clippedShare > 0) notes.push(`weights above ${ctx.clip} were capped in ${(100 * clippedShare).toFixed(1)}% of rows (biased toward the reward model there)`);
  return analyticEstimate(
    'dr-clip',
    clippedDrValue(s),
    withModelVariance(termStdErr(s.drClip!, s.n), ctx, 'drClip'),
    { ...ctx.diagnostics, clip: ctx.clip ?? Infinity, clippedShare },
    notes,
  );
}
