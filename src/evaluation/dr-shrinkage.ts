/**
 * DR with optimistic shrinkage, DRos (Su, Dimakopoulou, Krishnamurthy & Dudík 2020, "Doubly
 * robust off-policy evaluation with shrinkage", eq. 10): each weight shrunk to
 *   ŵ_i = λ·w_i / (w_i² + λ),
 * V̂ = (1/n) Σ_i [Σ_a π(a|x_i) q̂(x_i, a) + ŵ_i (r_i − q̂(x_i, a_i))]. Large weights are shrunk
 * most, so a few rows cannot dominate, at the price of a bias toward the reward model where the
 * weights are large. The interval is the CLT over the per-row terms plus
 * the model's share of the variance (model-variance.ts), as for the other DR variants.
 */
import { analyticEstimate, type Estimate, type EstimatorContext } from './estimate.js';
import { modelFallbackNotes } from './direct-method.js';
import { withModelVariance } from './model-variance.js';
import { termMean, termStdErr, type OpeSums } from './ope-sums.js';

/** The DRos value. */
export function drOsValue(s: OpeSums): number {
  return termMean(s.drOs!, s.n);
}

/** DRos with its analytic interval. */
export function drOsEstimate(s: OpeSums, ctx: EstimatorContext): Estimate {
  return analyticEstimate('dr-os', drOsValue(s), withModelVariance(termStdErr(s.drOs!, s.n), ctx, 'drOs'), { ...ctx.diagnostics, osLambda: ctx.osLambda ?? Infinity }, modelFallbackNotes(ctx));
}
