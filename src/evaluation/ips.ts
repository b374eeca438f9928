/**
 * Inverse propensity scoring (Horvitz & Thompson 1952; for contextual bandits see Dudík,
 * Langford & Li 2011, eq. 1): V̂ = (1/n) Σ w_i r_i with w_i = π(a_i|x_i) / p_i. Unbiased when
 * the logging policy gives every arm the target uses a positive probability. The interval is
 * the CLT one over the i.i.d. per-row terms w_i r_i.
 */
import { analyticEstimate, type Estimate, type EstimatorContext } from './estimate.js';
import { termMean, termStdErr, type OpeSums } from './ope-sums.js';
import { weightedNotes } from './weight-diagnostics.js';

/** The IPS value (1/n) Σ w_i r_i. */
export function ipsValue(s: OpeSums): number {
  return termMean(s.ips, s.n);
}

/** IPS with its analytic interval. */
export function ipsEstimate(s: OpeSums, ctx: EstimatorContext): Estimate {
  return analyticEstimate('ips', ipsValue(s), termStdErr(s.ips, s.n), { ...ctx.diagnostics }, weightedNotes(ctx.diagnostics));
}
