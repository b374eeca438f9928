/**
 * A reward model pooled over the arms: one ridge regression on z = [1, x_i, c_a], where c_a are
 * the arm's own features (an Open Bandit item's context), so arms share what their features have
 * in common. The per-arm model of reward-model.ts cannot use c_a (constant within an arm, it is
 * absorbed by the arm's intercept). Fitted with reward-model.ts's ridge as a one-arm model on
 * the logged (row, arm) pairs, and cross-fitted like it: row i's predictions come from a model
 * fitted on the other folds. The predictions go to `evaluate` as given q̂ (their own variance is
 * then not in DM's interval, and the estimate says so).
 */
import { invalidInput } from '../errors.js';
import type { LoggedBandit } from './logged-bandit.js';
import { checkFolds, foldWeights, fitRidgeRewardModel } from './reward-model.js';

/** Options of `predictPooled`. */
export interface PooledOptions {
  /** Ridge penalty (default reward-model.ts's). */
  lambda?: number;
  /** Cross-fitting folds (1: fitted on all rows). */
  folds: number;
}

/** q̂(x_i, a) for every row and arm, row-major n × k, from a pooled ridge over [x_i, armX[a]]. */
export function predictPooled(logs: LoggedBandit, armX: Float64Array, armD: number, options: PooledOptions): Float64Array {
  const { n, k, arm, reward, propensity } = logs;
  const folds = checkFolds(options.folds);
  const d = logs.x === undefined ? 0 : (logs.d ?? 0);
  if (armX.length !== k * armD) throw invalidInput(`arm features hold ${armX.length} values, expected k × d = ${k} × ${armD}`);
  const width = d + armD;
  const logged = new Float64Array(n * width);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) logged[i * width + j] = logs.x![i * d + j]!;
    for (let j = 0; j < armD; j++) logged[i * width + d + j] = armX[arm[i]! * armD + j]!;
  }
  const pooled: LoggedBandit = { n, k: 1, arm: new Int32Array(n), reward, propensity, x: logged, d: width };
  const qhat = new Float64Array(n * k);
  const weights = new Float64Array(n);
  const armPart = new Float64Array(k);
  for (let f = 0; f < folds; f++) {
    const model = fitRidgeRewardModel(pooled, { ...(options.lambda === undefined ? {} : { lambda: options.lambda }), weights: foldWeights(n, folds, f, null, weights), covariance: false });
    // q̂(i, a) = θ₀ + x_i·θ_x + c_a·θ_c: one part per row and one per arm, never an n × k × width matrix.
    const theta = model.coef;
    for (let a = 0; a < k; a++) {
      let s = 0;
      for (let j = 0; j < armD; j++) s += armX[a * armD + j]! * theta[1 + d + j]!;
      armPart[a] = s;
    }
    for (let i = folds > 1 ? f : 0; i < n; i += folds) {
      let s = theta[0]!;
      for (let j = 0; j < d; j++) s += logs.x![i * d + j]! * theta[1 + j]!;
      for (let a = 0; a < k; a++) qhat[i * k + a] = s + armPart[a]!;
    }
  }
  return qhat;
}
