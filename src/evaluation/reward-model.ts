/**
 * The reward model of DM and DR: ridge regression per arm on z = [1, x], fitted on the logged
 * rows of that arm. The intercept is not penalised (so an arm's prediction shrinks toward its
 * own mean reward, not toward 0); the d feature weights are, by λ. With no feature vectors
 * (d = 0) the model is each arm's mean reward.
 *
 * The fit also returns the sandwich (heteroskedasticity-robust, HC1: White 1980, MacKinnon &
 * White 1985) covariance of each arm's coefficients,
 *   Cov(θ̂_a) = A⁻¹ (Σ e_i² z_i z_iᵀ) A⁻¹ · n_a / (n_a − p),  A = Σ z_i z_iᵀ + λ·diag(0, 1, …, 1),
 * which DM needs for an honest interval (direct-method.ts). Rewards are typically 0/1, so a
 * constant-variance formula would be wrong.
 *
 * Row weights (bootstrap multiplicities) enter as frequency weights.
 */
import { invalidInput, invalidUsage } from '../errors.js';
import type { LoggedBandit } from './logged-bandit.js';

/** λ when none is given: enough to keep every system well posed, negligible against n_a ≫ 1. */
export const DEFAULT_RIDGE_LAMBDA = 1;

/** Folds the pipelines (`oo-ml ope`, `train`, the promotion gate) cross-fit the reward model with. */
export const DEFAULT_FOLDS = 5;

/** A fitted per-arm ridge model. */
export interface RidgeRewardModel {
  k: number;
  /** Feature width; coefficients per arm are p = d + 1 (intercept first). */
  d: number;
  lambda: number;
  /** k × p coefficients, row-major. */
  coef: Float64Array;
  /** k blocks of p × p sandwich covariances; null when not computed. */
  coefCov: Float64Array | null;
  /** k blocks of A_a⁻¹ = (Σ z zᵀ + λ·diag(0, 1, …, 1))⁻¹, computed with the covariance. */
  gramInverse: Float64Array | null;
  /** (Weighted) rows per arm behind each fit. */
  armRows: Float64Array;
  /** Arms with no rows: they predict the pooled mean reward and have zero covariance. */
  unfittedArms: number[];
}

/** Options of `fitRidgeRewardModel`. */
export interface RidgeOptions {
  /** Penalty on the feature weights (≥ 0; default 1). */
  lambda?: number;
  /** Frequency weight per row (bootstrap); all 1 when absent. */
  weights?: Float64Array | null;
  /** Compute the sandwich covariance (one more pass); default true. */
  covariance?: boolean;
}

/** Fits the per-arm ridge reward model on `logs` (using `logs.x` when present). */
export function fitRidgeRewardModel(logs: LoggedBandit, options: RidgeOptions = {}): RidgeRewardModel {
  const lambda = options.lambda ?? DEFAULT_RIDGE_LAMBDA;
  if (!(lambda >= 0) || !Number.isFinite(lambda)) throw invalidUsage(`ridge lambda must be a finite number ≥ 0, got ${lambda}`);
  const weights = options.weights ?? null;
  const { n, k, arm, reward } = logs;
  const x = logs.x;
  const d = x === undefined ? 0 : (logs.d ?? 0);
  const p = d + 1;
  const pp = p * p;
  const A = new Float64Array(k * pp);
  const b = new Float64Array(k * p);
  const armRows = new Float64Array(k);
  let total = 0;
  let totalReward = 0;

  // Normal equations, lower triangle only (A is symmetric).
  for (let i = 0; i < n; i++) {
    const c = weights === null ? 1 : weights[i]!;
    if (c === 0) continue;
    const a = arm[i]!;
    const r = reward[i]!;
    const ao = a * pp;
    const bo = a * p;
    const xo = i * d;
    armRows[a]! += c;
    total += c;
    totalReward += c * r;
    A[ao]! += c;
    b[bo]! += c * r;
    for (let j = 0; j < d; j++) {
      const xj = x![xo + j]!;
      if (!Number.isFinite(xj)) throw invalidInput(`logs.x row ${i}, feature ${j} is not a finite number (${xj})`, { details: { row: i, feature: j } });
      const cxj = c * xj;
      const row = ao + (j + 1) * p;
      A[row]! += cxj;
      for (let l = 0; l <= j; l++) A[row + l + 1]! += cxj * x![xo + l]!;
      b[bo + j + 1]! += cxj * r;
    }
  }

  const coef = new Float64Array(k * p);
  const chol = new Float64Array(k * pp);
  const unfittedArms: number[] = [];
  const pooledMean = total > 0 ? totalReward / total : 0;
  for (let a = 0; a < k; a++) {
    if (armRows[a] === 0) {
      unfittedArms.push(a);
      coef[a * p] = pooledMean;
      continue;
    }
    const ao = a * pp;
    for (let j = 1; j < p; j++) A[ao + j * p + j]! += lambda;
    if (!choleskyInPlace(A, ao, p, chol)) {
      throw invalidInput(`the reward model's ridge system for arm ${a} is singular (${armRows[a]} rows, lambda ${lambda})`, {
        hint: 'use a positive ridge lambda or drop constant/duplicate feature columns',
        details: { arm: a },
      });
    }
    choleskySolve(chol, ao, p, b, a * p, coef, a * p);
  }

  const { coefCov, gramInverse } =
    options.covariance === false ? { coefCov: null, gramInverse: null } : sandwichCovariance(logs, weights, coef, chol, armRows, d);
  return { k, d, lambda, coef, coefCov, gramInverse, armRows, unfittedArms };
}

/** Checks a number of cross-fitting folds (an integer ≥ 1), naming it when it is not one. */
export function checkFolds(folds: number): number {
  if (!(Number.isSafeInteger(folds) && folds >= 1)) throw invalidUsage(`cross-fitting folds must be an integer ≥ 1, got ${String(folds)}`);
  return folds;
}

/**
 * The row weights of fold `f`'s model into `out`: 0 for the fold's own rows (row i is in fold
 * i mod `folds`; with one fold, none), else the bootstrap multiplicity (1 without `weights`).
 */
export function foldWeights(n: number, folds: number, f: number, weights: Float64Array | null, out: Float64Array): Float64Array {
  for (let i = 0; i < n; i++) out[i] = folds > 1 && i % folds === f ? 0 : weights === null ? 1 : weights[i]!;
  return out;
}

/**
 * Cross-fitted predictions: row i (in fold i mod `folds`) gets q̂ from a model fitted on the
 * other folds, so no row's prediction has seen its own reward (the Open Bandit Pipeline's
 * cross-fitting). `weights` are bootstrap multiplicities, as for the fit. Also returns the arms
 * some fold's model saw no rows of (they predict the pooled mean there).
 */
export function predictCrossFitted(
  logs: LoggedBandit,
  folds: number,
  options: { lambda?: number; weights?: Float64Array | null } = {},
  out?: Float64Array,
): { qhat: Float64Array; unfittedArms: number[] } {
  const { n, k } = logs;
  if (checkFolds(folds) < 2) throw invalidUsage(`cross-fitting needs at least 2 folds, got ${folds}`);
  const qhat = out ?? new Float64Array(n * k);
  const w = new Float64Array(n);
  const fold = new Float64Array(n * k);
  const unfitted = new Set<number>();
  const weights = options.weights ?? null;
  for (let f = 0; f < folds; f++) {
    const m = fitRidgeRewardModel(logs, { ...(options.lambda === undefined ? {} : { lambda: options.lambda }), weights: foldWeights(n, folds, f, weights, w), covariance: false });
    for (const a of m.unfittedArms) unfitted.add(a);
    predictRewards(m, logs.x, n, fold);
    for (let i = f; i < n; i += folds) qhat.set(fold.subarray(i * k, (i + 1) * k), i * k);
  }
  return { qhat, unfittedArms: [...unfitted].sort((a, b) => a - b) };
}

/** Predicted rewards q̂(x_i, a) for every row and arm, row-major n × k (into `out` when given). */
export function predictRewards(model: RidgeRewardModel, x: Float64Array | undefined, n: number, out?: Float64Array): Float64Array {
  const { k, d, coef } = model;
  const p = d + 1;
  if (d > 0 && (x === undefined || x.length !== n * d)) {
    throw invalidInput(`the reward model needs feature vectors of width ${d} for ${n} rows, got ${x === undefined ? 'none' : `${x.length} values`}`);
  }
  const q = out ?? new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const xo = i * d;
    const qo = i * k;
    for (let a = 0; a < k; a++) {
      const co = a * p;
      let v = coef[co]!;
      for (let j = 0; j < d; j++) v += coef[co + 1 + j]! * x![xo + j]!;
      q[qo + a] = v;
    }
  }
  return q;
}

/** HC1 sandwich covariance of every fitted arm's coefficients, and A⁻¹ (zeros for unfitted arms). */
function sandwichCovariance(
  logs: LoggedBandit,
  weights: Float64Array | null,
  coef: Float64Array,
  chol: Float64Array,
  armRows: Float64Array,
  d: number,
): { coefCov: Float64Array; gramInverse: Float64Array } {
  const { n, k, arm, reward } = logs;
  const x = logs.x;
  const p = d + 1;
  const pp = p * p;
  const meat = new Float64Array(k * pp);
  for (let i = 0; i < n; i++) {
    const c = weights === null ? 1 : weights[i]!;
    if (c === 0) continue;
    const a = arm[i]!;
    const xo = i * d;
    const co = a * p;
    let pred = coef[co]!;
    for (let j = 0; j < d; j++) pred += coef[co + 1 + j]! * x![xo + j]!;
    const e = reward[i]! - pred;
    const ce2 = c * e * e;
    const mo = a * pp;
    meat[mo]! += ce2;
    for (let j = 0; j < d; j++) {
      const v = ce2 * x![xo + j]!;
      const row = mo + (j + 1) * p;
      meat[row]! += v;
      for (let l = 0; l <= j; l++) meat[row + l + 1]! += v * x![xo + l]!;
    }
  }
  const cov = new Float64Array(k * pp);
  const gramInverse = new Float64Array(k * pp);
  const unit = new Float64Array(p);
  const col = new Float64Array(p);
  const tmp = new Float64Array(pp);
  for (let a = 0; a < k; a++) {
    const na = armRows[a]!;
    if (na === 0) continue;
    const o = a * pp;
    // A⁻¹ column by column from the Cholesky factor.
    for (let j = 0; j < p; j++) {
      unit.fill(0);
      unit[j] = 1;
      choleskySolve(chol, o, p, unit, 0, col, 0);
      for (let l = 0; l < p; l++) gramInverse[o + l * p + j] = col[l]!;
    }
    const inv = gramInverse.subarray(o, o + pp);
    symmetrise(meat, o, p);
    // tmp = M A⁻¹, then cov = A⁻¹ tmp.
    for (let r = 0; r < p; r++) {
      for (let c = 0; c < p; c++) {
        let s = 0;
        for (let l = 0; l < p; l++) s += meat[o + r * p + l]! * inv[l * p + c]!;
        tmp[r * p + c] = s;
      }
    }
    const hc1 = na > p ? na / (na - p) : 1;
    for (let r = 0; r < p; r++) {
      for (let c = 0; c < p; c++) {
        let s = 0;
        for (let l = 0; l < p; l++) s += inv[r * p + l]! * tmp[l * p + c]!;
        cov[o + r * p + c] = s * hc1;
      }
    }
  }
  return { coefCov: cov, gramInverse };
}

/** Copies the lower triangle of the p × p block at `o` onto its upper triangle. */
function symmetrise(m: Float64Array, o: number, p: number): void {
  for (let r = 0; r < p; r++) for (let c = r + 1; c < p; c++) m[o + r * p + c] = m[o + c * p + r]!;
}

/**
 * Cholesky factor L (lower) of the symmetric block of `a` at `o` (lower triangle read) into
 * `l` at `o`. False when the block is not numerically positive definite: a pivot at or below
 * 1e-12 of its diagonal entry means the system is singular to working precision.
 */
function choleskyInPlace(a: Float64Array, o: number, p: number, l: Float64Array): boolean {
  for (let j = 0; j < p; j++) {
    let s = a[o + j * p + j]!;
    for (let m = 0; m < j; m++) s -= l[o + j * p + m]! ** 2;
    if (!(s > 1e-12 * Math.max(a[o + j * p + j]!, 1e-300))) return false;
    const ljj = Math.sqrt(s);
    l[o + j * p + j] = ljj;
    for (let i = j + 1; i < p; i++) {
      let t = a[o + i * p + j]!;
      for (let m = 0; m < j; m++) t -= l[o + i * p + m]! * l[o + j * p + m]!;
      l[o + i * p + j] = t / ljj;
    }
  }
  return true;
}

/** Solves L Lᵀ θ = b (L at `lo`, b at `bo`) into `out` at `oo`. */
function choleskySolve(l: Float64Array, lo: number, p: number, b: Float64Array, bo: number, out: Float64Array, oo: number): void {
  for (let i = 0; i < p; i++) {
    let s = b[bo + i]!;
    for (let m = 0; m < i; m++) s -= l[lo + i * p + m]! * out[oo + m]!;
    out[oo + i] = s / l[lo + i * p + i]!;
  }
  for (let i = p - 1; i >= 0; i--) {
    let s = out[oo + i]!;
    for (let m = i + 1; m < p; m++) s -= l[lo + m * p + i]! * out[oo + m]!;
    out[oo + i] = s / l[lo + i * p + i]!;
  }
}
