/**
 * The doubly robust estimate of the DIFFERENCE in value between two target policies on the same
 * logs, with its interval. DR's per-row term is linear in the target,
 *   ψ_i(π) = Σ_a π(a|x_i) q̂(x_i, a) + π(a_i|x_i) / p_i · (r_i − q̂(x_i, a_i))   (Dudík et al. 2011),
 * so the paired difference is the mean of ψ_i(π₁) − ψ_i(π₂); its standard error comes from those
 * per-row differences, which is far tighter than comparing two separate intervals because the
 * shared noise cancels. The promotion gate uses it for "not worse off-policy".
 */
import { invalidInput } from '../errors.js';
import { Z95 } from './estimate.js';
import { checkLogs, type LoggedBandit } from './logged-bandit.js';
import { DEFAULT_FOLDS, fitRidgeRewardModel, predictCrossFitted, predictRewards } from './reward-model.js';

/** A paired difference with its 95% interval. */
export interface PairedDifference {
  value: number;
  stdErr: number;
  ci95: [number, number];
  n: number;
}

/**
 * DR(π₁) − DR(π₂) on `logs`, with q̂ from a per-arm ridge model cross-fitted over `folds` folds
 * of the logs (default DEFAULT_FOLDS; 1 fits it on all of them).
 */
export function pairedDrDifference(logs: LoggedBandit, target1: Float64Array, target2: Float64Array, folds = DEFAULT_FOLDS): PairedDifference {
  checkLogs(logs);
  const { n, k, arm, reward, propensity } = logs;
  if (target1.length !== n * k || target2.length !== n * k) {
    throw invalidInput(`targets must hold n × k = ${n * k} probabilities, got ${target1.length} and ${target2.length}`);
  }
  const qhat = rewardModel(logs, folds);
  return meanOfRows(n, (i) => {
    const o = i * k;
    let direct = 0;
    for (let a = 0; a < k; a++) direct += (target1[o + a]! - target2[o + a]!) * qhat[o + a]!;
    const a = arm[i]!;
    return direct + ((target1[o + a]! - target2[o + a]!) / propensity[i]!) * (reward[i]! - qhat[o + a]!);
  });
}

/**
 * DR(π) minus the logging policy's own value (the mean logged reward) on `logs`, with its 95%
 * interval from the per-row differences ψᵢ(π) − rᵢ: the same rows carry both, so the noise they
 * share cancels, where setting DR's interval against the logged mean as a fixed number ignores
 * that mean's own uncertainty.
 */
export function drOverLogged(logs: LoggedBandit, target: Float64Array, folds = DEFAULT_FOLDS): PairedDifference {
  checkLogs(logs);
  const { n, k, arm, reward, propensity } = logs;
  if (target.length !== n * k) throw invalidInput(`target must hold n × k = ${n * k} probabilities, got ${target.length}`);
  const qhat = rewardModel(logs, folds);
  return meanOfRows(n, (i) => {
    const o = i * k;
    let direct = 0;
    for (let a = 0; a < k; a++) direct += target[o + a]! * qhat[o + a]!;
    const a = arm[i]!;
    return direct + (target[o + a]! / propensity[i]!) * (reward[i]! - qhat[o + a]!) - reward[i]!;
  });
}

/** q̂ of `logs`: a per-arm ridge model cross-fitted over `folds` folds (1: fitted on all rows). */
function rewardModel(logs: LoggedBandit, folds: number): Float64Array {
  return folds === 1 ? predictRewards(fitRidgeRewardModel(logs, { covariance: false }), logs.x, logs.n) : predictCrossFitted(logs, folds).qhat;
}

/** The mean of `row(i)` over n rows with its standard error and normal 95% interval. */
function meanOfRows(n: number, row: (i: number) => number): PairedDifference {
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const d = row(i);
    sum += d;
    sumSq += d * d;
  }
  const mean = sum / n;
  const variance = n > 1 ? (sumSq - n * mean * mean) / (n - 1) : 0;
  const stdErr = Math.sqrt(Math.max(variance, 0) / n);
  return { value: mean, stdErr, ci95: [mean - Z95 * stdErr, mean + Z95 * stdErr], n };
}
