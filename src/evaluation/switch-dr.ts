/**
 * Switch-DR (Wang, Agarwal & Dudík 2017, "Optimal and adaptive off-policy evaluation in
 * contextual bandits"): trust the importance-weighted correction only where the weight is at
 * most τ and fall back to the reward model elsewhere. The paper switches per action using the
 * logging probabilities of every arm; logs record only the logged arm's propensity, so, as in
 * the Open Bandit Pipeline (Saito et al. 2021), the switch applies to the logged arm's weight:
 * V̂ = (1/n) Σ_i [Σ_a π(a|x_i) q̂(x_i, a) + 1{w_i ≤ τ} w_i (r_i − q̂(x_i, a_i))].
 * τ = ∞ is DR; τ = 0 is DM. The interval is the CLT over the per-row terms plus the model's
 * share of the variance, which the switched rows inherit in full (model-variance.ts).
 */
import { analyticEstimate, type Estimate, type EstimatorContext } from './estimate.js';
import { modelFallbackNotes } from './direct-method.js';
import { withModelVariance } from './model-variance.js';
import { termMean, termStdErr, type OpeSums } from './ope-sums.js';

/** The switch-DR value. */
export function switchDrValue(s: OpeSums): number {
  return termMean(s.switchDr!, s.n);
}

/** Switch-DR with its analytic interval and the share of rows that used the model alone. */
export function switchDrEstimate(s: OpeSums, ctx: EstimatorContext): Estimate {
  const switchedShare = s.switched / s.n;
  const notes = modelFallbackNotes(ctx);
  if (switchedShare > 0) notes.push(`weights above τ = ${ctx.tau} switched ${(100 * switchedShare).toFixed(1)}% of rows to the reward model alone`);
  return analyticEstimate(
    'switch-dr',
    switchDrValue(s),
    withModelVariance(termStdErr(s.switchDr!, s.n), ctx, 'switchDr'),
    { ...ctx.diagnostics, tau: ctx.tau ?? Infinity, switchedShare },
    notes,
  );
}
