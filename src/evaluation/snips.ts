/**
 * Self-normalised IPS (Swaminathan & Joachims 2015, "The self-normalized estimator for
 * counterfactual learning"): V̂ = Σ w_i r_i / Σ w_i. Slightly biased, usually far less variable
 * than IPS, and invariant to a common scale of the propensities.
 *
 * Interval by the delta method on the ratio of means: the influence of row i is
 * w_i (r_i − V̂) / w̄, so Var(V̂) ≈ n/(n−1) · Σ w_i² (r_i − V̂)² / (Σ w_i)² (the n/(n−1) matching
 * the unbiased variances of the other estimators).
 */
import { analyticEstimate, type Estimate, type EstimatorContext } from './estimate.js';
import type { OpeSums } from './ope-sums.js';
import { weightedNotes } from './weight-diagnostics.js';

/** The SNIPS value Σ w_i r_i / Σ w_i (0 for a bootstrap resample with no weight at all). */
export function snipsValue(s: OpeSums): number {
  return s.sumW > 0 ? s.ips.sum / s.sumW : 0;
}

/** The delta-method standard error of SNIPS. */
export function snipsStdErr(s: OpeSums): number {
  if (s.n <= 1 || s.sumW === 0) return 0;
  // Σ w²(r − V)² expanded around the pass's shift K: with u = r − K and δ = V − K,
  // Σ w²(u − δ)² = Σ w²u² − 2δ Σ w²u + δ² Σ w².
  const delta = snipsValue(s) - s.snips.shift;
  const ss = Math.max(0, s.snips.w2u2 - 2 * delta * s.snips.w2u + delta * delta * s.sumW2);
  return Math.sqrt((s.n / (s.n - 1)) * ss) / s.sumW;
}

/** SNIPS with its delta-method interval. */
export function snipsEstimate(s: OpeSums, ctx: EstimatorContext): Estimate {
  return analyticEstimate('snips', snipsValue(s), snipsStdErr(s), { ...ctx.diagnostics }, weightedNotes(ctx.diagnostics));
}
