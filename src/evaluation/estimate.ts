/**
 * What every estimator returns, and the normal-approximation interval they share.
 */
import type { ModelTerm } from './ope-sums.js';

/** The off-policy estimators `evaluate` can run, in their canonical order. */
export const ESTIMATOR_NAMES = ['ips', 'snips', 'dm', 'dr', 'dr-clip', 'switch-dr', 'dr-os', 'sndr'] as const;
/** An off-policy estimator name. */
export type EstimatorName = (typeof ESTIMATOR_NAMES)[number];

/** True when `name` is one of `ESTIMATOR_NAMES`. */
export function isEstimatorName(name: string): name is EstimatorName {
  return (ESTIMATOR_NAMES as readonly string[]).includes(name);
}

/**
 * z_{0.975} = Φ⁻¹(0.975) = 1.959963984540054, the two-sided 95% standard-normal quantile
 * (to double precision). Estimates here are means over thousands of rows, where the CLT's
 * normal quantile is the right one; replication intervals with few seeds use t (t-interval.ts).
 */
export const Z95 = 1.959963984540054;

/** How an interval was obtained; `+score` when rare rewards widened it to a score interval (rare-rewards.ts). */
export type IntervalMethod = 'analytic' | 'bootstrap' | 'analytic+score' | 'bootstrap+score';

/** Importance-weight diagnostics, w = π(a_i|x_i) / p_i over the logged rows. */
export interface WeightDiagnostics {
  /** Logged rows. */
  n: number;
  /** Kish's effective sample size (Σw)² / Σw²: n when w ≡ 1, small when a few rows dominate. */
  effectiveSampleSize: number;
  maxWeight: number;
  meanWeight: number;
  /** Share of rows where the target puts zero mass on the logged arm (those rows get w = 0). */
  zeroMassShare: number;
  /** Support: the share of logged rows the target can use (positive mass on the logged arm), 1 − zeroMassShare. */
  support: number;
  /** The smallest logged propensity (how far the logging policy explored: 1/max weight it can give a uniform target is K·this). */
  minLoggedPropensity: number;
  /** Arms never logged (no row with positive propensity). */
  unloggedArms: number[];
  /** Target mass on never-logged arms, averaged over rows: what importance weighting cannot see. */
  targetMassOnUnloggedArms: number;
  /**
   * True when the target puts mass on arms the logs never show: IPS, SNIPS and DR then miss
   * that part of the value (Sachdeva et al. 2020, "Off-policy bandits with deficient support")
   * and DM extrapolates the reward model there.
   */
  supportDeficient: boolean;
}

/** Diagnostics of one estimate: the shared weights plus what this estimator did. */
export interface EstimateDiagnostics extends WeightDiagnostics {
  /** dr-clip: the weight cap and the share of rows whose weight it cut. */
  clip?: number;
  clippedShare?: number;
  /** switch-dr: the threshold and the share of rows that fell back to the reward model alone. */
  tau?: number;
  switchedShare?: number;
  /** dr-os: the shrinkage λ. */
  osLambda?: number;
  /** bootstrap: number of resamples behind the interval. */
  resamples?: number;
}

/** One off-policy estimate with its uncertainty. */
export interface Estimate {
  /** Which estimator, or `logging-policy` for the on-policy value of the logs. */
  estimator: EstimatorName | 'logging-policy';
  /** Estimated expected reward per decision under the target policy. */
  value: number;
  /** Standard error of `value`. */
  stdErr: number;
  /** Two-sided 95% interval. */
  ci95: [number, number];
  intervalMethod: IntervalMethod;
  diagnostics: EstimateDiagnostics;
  /** Plain-language caveats (support deficiency, fixed reward model, …); empty when none. */
  notes: string[];
}

/** Where an interval lies against a value: wholly below it, wholly above it, or around it (the two not told apart). */
export function intervalSide(ci95: readonly [number, number], value: number): 'below' | 'above' | 'includes' {
  if (ci95[1] < value) return 'below';
  if (ci95[0] > value) return 'above';
  return 'includes';
}

/** The analytic 95% interval value ± z·stdErr. */
export function normalInterval(value: number, stdErr: number): [number, number] {
  return [value - Z95 * stdErr, value + Z95 * stdErr];
}

/** What an estimator's `estimate` needs besides the pass sums. */
export interface EstimatorContext {
  diagnostics: WeightDiagnostics;
  /** Caveats about the reward model, added to the model-based estimators' notes. */
  modelNotes: string[];
  /**
   * The variance a model-based term inherits from the reward model's fitted coefficients
   * (model-variance.ts); null when q̂ is given as fixed predictions.
   */
  modelVariance: ((term: ModelTerm) => number) | null;
  clip: number | null;
  tau: number | null;
  /** Shrinkage λ of DR-os, when requested. */
  osLambda: number | null;
  /** SNDR's delta-method standard error (one more pass over the rows), when requested. */
  sndrStdErr: number | null;
}

/** An estimate with the analytic interval value ± z·stdErr. */
export function analyticEstimate(
  estimator: Estimate['estimator'],
  value: number,
  stdErr: number,
  diagnostics: EstimateDiagnostics,
  notes: string[],
): Estimate {
  return { estimator, value, stdErr, ci95: normalInterval(value, stdErr), intervalMethod: 'analytic', diagnostics, notes };
}
