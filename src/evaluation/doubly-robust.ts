/**
 * Doubly robust estimation (Dudík, Langford & Li 2011, eq. 3): V̂ = (1/n) Σ_i [Σ_a π(a|x_i)
 * q̂(x_i, a) + w_i (r_i − q̂(x_i, a_i))]. Unbiased when either the propensities or the reward
 * model are right, and less variable than IPS the better the model. The model's own fitting
 * error enters only at second order (the correction term's expectation is zero whatever q̂ is);
 * the interval is the CLT over the per-row terms plus that small share (model-variance.ts).
 */
import { analyticEstimate, type Estimate, type EstimatorContext } from './estimate.js';
import { withModelVariance } from './model-variance.js';
import { termMean, termStdErr, type OpeSums } from './ope-sums.js';
import { weightedNotes } from './weight-diagnostics.js';

/** The DR value. */
export function drValue(s: OpeSums): number {
  return termMean(s.dr!, s.n);
}

/** DR with its analytic interval. */
export function drEstimate(s: OpeSums, ctx: EstimatorContext): Estimate {
  const stdErr = withModelVariance(termStdErr(s.dr!, s.n), ctx, 'dr');
  return analyticEstimate('dr', drValue(s), stdErr, { ...ctx.diagnostics }, [
    ...weightedNotes(ctx.diagnostics),
    ...ctx.modelNotes,
  ]);
}
