/**
 * Importance-weight diagnostics from the pass sums, and the caveats they imply. A large max
 * weight or a small effective sample size warns that IPS-type intervals rest on few rows; mass on
 * never-logged arms is support deficiency, labelled rather than left to show up as a silent bias.
 */
import type { WeightDiagnostics } from './estimate.js';
import type { OpeSums } from './ope-sums.js';

/** Shared diagnostics of the importance weights w = π(a_i|x_i) / p_i. */
export function weightDiagnostics(s: OpeSums, unloggedArms: readonly number[], minLoggedPropensity: number): WeightDiagnostics {
  const massOnUnlogged = s.unloggedMass / s.n;
  return {
    n: s.n,
    // Kish (1965): the n of an unweighted sample with the same variance of a weighted mean.
    effectiveSampleSize: s.sumW2 > 0 ? (s.sumW * s.sumW) / s.sumW2 : 0,
    maxWeight: s.maxW,
    meanWeight: s.sumW / s.n,
    zeroMassShare: s.zeroMass / s.n,
    support: 1 - s.zeroMass / s.n,
    minLoggedPropensity,
    unloggedArms: [...unloggedArms],
    targetMassOnUnloggedArms: massOnUnlogged,
    supportDeficient: massOnUnlogged > 0,
  };
}

/**
 * Above this importance weight a logged propensity is below 1/10,000 of the target's probability:
 * far smaller than a bandit with an exploration floor logs, and the usual sign of a propensity
 * column that does not hold P(logged arm) (a score, a log probability, a per-mille value). Equal
 * huge weights leave the effective sample size whole, so that check cannot see it.
 */
const HUGE_WEIGHT = 10_000;

const pct = (v: number): string => `${(100 * v).toFixed(v < 0.001 ? 3 : 1)}%`;

/** Caveats for an importance-weighted estimator (IPS, SNIPS, the DR family). */
export function weightedNotes(diag: WeightDiagnostics): string[] {
  const notes: string[] = [];
  if (diag.supportDeficient) {
    notes.push(
      `support deficiency: the target puts ${pct(diag.targetMassOnUnloggedArms)} of its mass on arms never logged ` +
        `(${diag.unloggedArms.join(', ')}); importance weighting cannot see that mass`,
    );
  }
  if (diag.zeroMassShare > 0) {
    notes.push(`the target puts zero mass on the logged arm in ${pct(diag.zeroMassShare)} of rows (weight 0 there)`);
  }
  if (diag.maxWeight > HUGE_WEIGHT) {
    notes.push(
      `importance weights reach ${diag.maxWeight.toPrecision(3)} (smallest logged propensity ${diag.minLoggedPropensity.toPrecision(3)}): ` +
        `check that the propensity column is the probability the logging policy gave the logged arm; estimates scale with these weights`,
    );
  }
  if (diag.effectiveSampleSize < 0.01 * diag.n) {
    notes.push(`effective sample size ${diag.effectiveSampleSize.toFixed(1)} is under 1% of n: the interval rests on few rows`);
  }
  return notes;
}
