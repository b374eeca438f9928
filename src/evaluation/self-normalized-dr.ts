/**
 * Self-normalised DR, SNDR (as in the Open Bandit Pipeline, Saito et al. 2021; the weights
 * normalised as in SNIPS, Swaminathan & Joachims 2015):
 *   V̂ = (1/n) Σ_i Σ_a π(a|x_i) q̂(x_i, a) + Σ_i w_i (r_i − q̂(x_i, a_i)) / Σ_i w_i.
 * The correction is a weighted mean of the residuals, so it stays within their range however
 * large the weights; consistent, not unbiased. Its value comes from the pass sums (the DR sum
 * minus the DM sum is Σ w·e), so the bootstrap needs nothing more; the analytic interval is the
 * delta method's, from the linearised per-row terms
 *   ψ_i = (D_i − D̄) + (w_i / w̄)(e_i − ē_w),  ē_w = Σ w e / Σ w  (they sum to 0),
 * over one more pass over the rows (`sndrStdErr`). The reward model's own share of the variance
 * is not added (it enters at second order, as for DR).
 */
import { analyticEstimate, type Estimate, type EstimatorContext } from './estimate.js';
import { modelFallbackNotes } from './direct-method.js';
import type { OpeInputs, OpeSums } from './ope-sums.js';

/** The SNDR value. */
export function sndrValue(s: OpeSums): number {
  return s.dm!.sum / s.n + (s.sumW > 0 ? (s.dr!.sum - s.dm!.sum) / s.sumW : 0);
}

/** The delta method's standard error of SNDR, from a pass over the rows (unweighted). */
export function sndrStdErr(inp: OpeInputs, s: OpeSums): number {
  const { n, k, arm, reward, propensity } = inp.logs;
  const { target } = inp;
  const qhat = inp.qhat!;
  if (n <= 1 || !(s.sumW > 0)) return 0;
  const meanW = s.sumW / n;
  const eBar = (s.dr!.sum - s.dm!.sum) / s.sumW;
  const dBar = s.dm!.sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let d = 0;
    for (let a = 0; a < k; a++) d += target[o + a]! * qhat[o + a]!;
    const a = arm[i]!;
    const w = target[o + a]! / propensity[i]!;
    const psi = d - dBar + (w / meanW) * (reward[i]! - qhat[o + a]! - eBar);
    ss += psi * psi;
  }
  return Math.sqrt(ss / (n - 1) / n);
}

/** SNDR with its analytic interval. */
export function sndrEstimate(s: OpeSums, ctx: EstimatorContext): Estimate {
  return analyticEstimate('sndr', sndrValue(s), ctx.sndrStdErr ?? 0, { ...ctx.diagnostics }, modelFallbackNotes(ctx));
}
