import { describe, expect, it } from 'vitest';
import { Z95 } from '../../src/evaluation/estimate.js';
import { evaluate } from '../../src/evaluation/evaluate.js';
import type { LoggedBandit } from '../../src/evaluation/logged-bandit.js';
import { estimateLoggingPolicy } from '../../src/evaluation/logging-policy.js';

// Four logged rows, k = 2, worked by hand.
//
// row | arm | p    | r | π(0), π(1) | q̂(0), q̂(1) | w = π(arm)/p
//  0  |  0  | 0.5  | 1 | 0.8, 0.2   | 0.6, 0.3    | 1.6
//  1  |  1  | 0.25 | 0 | 0.5, 0.5   | 0.5, 0.2    | 2
//  2  |  0  | 0.8  | 0 | 0,   1     | 0.4, 0.1    | 0      (zero mass on the logged arm)
//  3  |  1  | 0.5  | 1 | 0,   1     | 0.2, 0.7    | 2
const logs: LoggedBandit = {
  n: 4,
  k: 2,
  arm: Int32Array.from([0, 1, 0, 1]),
  propensity: Float64Array.from([0.5, 0.25, 0.8, 0.5]),
  reward: Float64Array.from([1, 0, 0, 1]),
};
const target = Float64Array.from([0.8, 0.2, 0.5, 0.5, 0, 1, 0, 1]);
const qhat = Float64Array.from([0.6, 0.3, 0.5, 0.2, 0.4, 0.1, 0.2, 0.7]);

const report = evaluate(logs, target, {
  estimators: ['ips', 'snips', 'dm', 'dr', 'dr-clip', 'switch-dr'],
  qhat,
  clip: 1.5,
  tau: 1.8,
});
const get = (name: string) => report.estimates.find((e) => e.estimator === name)!;

describe('estimators on a hand-computed case', () => {
  it('IPS: mean of w·r = (1.6 + 0 + 0 + 2) / 4', () => {
    const e = get('ips');
    expect(e.value).toBeCloseTo(0.9, 14);
    // terms 1.6, 0, 0, 2: deviations .7, −.9, −.9, 1.1, SS = 3.32, se = √(3.32 / 3 / 4)
    expect(e.stdErr).toBeCloseTo(0.5259911279353167, 14);
    expect(e.ci95[0]).toBeCloseTo(0.9 - Z95 * 0.5259911279353167, 14);
    expect(e.ci95[1]).toBeCloseTo(0.9 + Z95 * 0.5259911279353167, 14);
    expect(e.intervalMethod).toBe('analytic');
  });

  it('SNIPS: Σw·r / Σw = 3.6 / 5.6 with the delta-method standard error', () => {
    const e = get('snips');
    expect(e.value).toBeCloseTo(9 / 14, 14);
    // Σ w²(r − 9/14)² = 2.56·(5/14)² + 4·(9/14)² + 0 + 4·(5/14)² = 488/196; se = √(4/3 · 488/196) / 5.6
    expect(e.stdErr).toBeCloseTo(Math.sqrt((4 / 3) * (488 / 196)) / 5.6, 14);
  });

  it('DM: mean of Σ_a π·q̂ = (0.54 + 0.35 + 0.1 + 0.7) / 4, model held fixed', () => {
    const e = get('dm');
    expect(e.value).toBeCloseTo(0.4225, 14);
    expect(e.stdErr).toBeCloseTo(0.12912364875059357, 14);
    expect(e.notes.join(' ')).toContain('holds the reward model fixed');
  });

  it('DR: DM term + w(r − q̂(arm)) = 1.18, −0.05, 0.1, 1.3', () => {
    const e = get('dr');
    expect(e.value).toBeCloseTo(0.6325, 14);
    expect(e.stdErr).toBeCloseTo(0.35292527537709734, 14);
  });

  it('clipped DR (c = 1.5): weights 1.6, 2, 0, 2 → 1.5, 1.5, 0, 1.5; terms 1.14, 0.05, 0.1, 1.15', () => {
    const e = get('dr-clip');
    expect(e.value).toBeCloseTo(0.61, 14);
    expect(e.stdErr).toBeCloseTo(0.30905770766422674, 14);
    expect(e.diagnostics.clip).toBe(1.5);
    expect(e.diagnostics.clippedShare).toBe(0.75);
  });

  it('switch-DR (τ = 1.8): rows 1 and 3 (w = 2) fall back to DM; terms 1.18, 0.35, 0.1, 0.7', () => {
    const e = get('switch-dr');
    expect(e.value).toBeCloseTo(0.5825, 14);
    expect(e.stdErr).toBeCloseTo(0.23410734717218937, 14);
    expect(e.diagnostics.switchedShare).toBe(0.5);
  });

  it('weight diagnostics: ESS = 5.6² / 10.56, max 2, mean 1.4, a quarter of rows with zero mass', () => {
    const d = report.diagnostics;
    expect(d.n).toBe(4);
    expect(d.effectiveSampleSize).toBeCloseTo(31.36 / 10.56, 14);
    expect(d.maxWeight).toBe(2);
    expect(d.meanWeight).toBeCloseTo(1.4, 14);
    expect(d.zeroMassShare).toBe(0.25);
    expect(d.supportDeficient).toBe(false);
    expect(get('ips').diagnostics.effectiveSampleSize).toBe(d.effectiveSampleSize);
    expect(get('ips').notes.join(' ')).toContain('zero mass on the logged arm in 25.0% of rows');
  });

  it('the logging policy: mean reward 0.5 with se √(1/12)', () => {
    expect(report.loggingPolicy.value).toBe(0.5);
    expect(report.loggingPolicy.stdErr).toBeCloseTo(Math.sqrt(1 / 12), 14);
    expect(report.loggingPolicy.estimator).toBe('logging-policy');
    expect(estimateLoggingPolicy(logs)).toEqual(report.loggingPolicy);
  });

  it('DM with a fitted per-arm-mean model adds the coefficients’ variance', () => {
    // No x: q̂ is each arm's mean reward, 0.5 for both (arm 0: 1, 0; arm 1: 0, 1), so every
    // DM term is 0.5 and the per-row spread is 0. HC1 variance of an arm mean: s²/n_a = 0.5/2.
    // g_0 = mean π(0) = (0.8 + 0.5)/4 = 0.325, g_1 = 0.675: Var = 0.25·(0.325² + 0.675²).
    const e = evaluate(logs, target, { estimators: ['dm'] });
    expect(e.estimates[0]!.value).toBeCloseTo(0.5, 14);
    expect(e.estimates[0]!.stdErr).toBeCloseTo(Math.sqrt(0.25 * (0.325 ** 2 + 0.675 ** 2)), 14);
    expect(e.rewardModel).toEqual({ source: 'fitted', folds: 1, d: 0, lambda: 1, unfittedArms: [] });
  });

  it('reports estimates in the requested order, once each', () => {
    const r = evaluate(logs, target, { estimators: ['dr', 'ips', 'dr'], qhat });
    expect(r.estimates.map((e) => e.estimator)).toEqual(['dr', 'ips']);
    expect(r.rewardModel?.source).toBe('given-qhat');
  });
});

// Cross-fitting, by hand: six rows of uniform logs (p = 0.5), k = 2, no features (the reward
// model is each arm's mean), the target always plays arm 0. Folds of 2: row i in fold i mod 2.
//
// row | arm | r | fold | q̂ from the other fold: arm 0, arm 1 | DR term q̂(0) + π(a)/p·(r − q̂(a))
//  0  |  0  | 1 |  0   | rows 1, 3, 5 → 0.5, 1.0              | 0.5 + 2·(1 − 0.5) = 1.5
//  1  |  0  | 0 |  1   | rows 0, 2, 4 → 1.0, 0.5              | 1.0 + 2·(0 − 1.0) = −1.0
//  2  |  1  | 1 |  0   | 0.5, 1.0                             | 0.5
//  3  |  0  | 1 |  1   | 1.0, 0.5                             | 1.0 + 2·(1 − 1.0) = 1.0
//  4  |  1  | 0 |  0   | 0.5, 1.0                             | 0.5
//  5  |  1  | 1 |  1   | 1.0, 0.5                             | 1.0
// DM = (3·0.5 + 3·1.0) / 6 = 0.75; DR = 3.5 / 6. Fitted in-sample, both arms' mean is 2/3 and
// DR = DM = 2/3 exactly: the residuals of each arm sum to zero and the weights are constant.
describe('cross-fitted reward model on a hand-computed case', () => {
  const uniform: LoggedBandit = {
    n: 6,
    k: 2,
    arm: Int32Array.from([0, 0, 1, 0, 1, 1]),
    propensity: new Float64Array(6).fill(0.5),
    reward: Float64Array.from([1, 0, 1, 1, 0, 1]),
  };
  const armZero = Float64Array.from([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);

  it('gives each row q̂ from the other folds: DM 0.75, DR 3.5/6', () => {
    const r = evaluate(uniform, armZero, { estimators: ['dm', 'dr'], folds: 2 });
    expect(r.estimates[0]!.value).toBeCloseTo(0.75, 14);
    expect(r.estimates[1]!.value).toBeCloseTo(3.5 / 6, 14);
    expect(r.rewardModel).toMatchObject({ source: 'fitted', folds: 2 });
    // DR's interval comes from its per-row terms 1.5, −1, 0.5, 1, 0.5, 1.
    const terms = [1.5, -1, 0.5, 1, 0.5, 1];
    const mean = 3.5 / 6;
    const sd = Math.sqrt(terms.reduce((s, t) => s + (t - mean) ** 2, 0) / 5);
    expect(r.estimates[1]!.stdErr).toBeCloseTo(sd / Math.sqrt(6), 12);
  });

  it('in-sample (one fold) DR collapses onto DM on uniform logs', () => {
    const r = evaluate(uniform, armZero, { estimators: ['dm', 'dr'] });
    expect(r.estimates[0]!.value).toBeCloseTo(2 / 3, 14);
    expect(r.estimates[1]!.value).toBeCloseTo(2 / 3, 14);
    expect(r.rewardModel).toMatchObject({ folds: 1 });
  });

  it('refuses folds that are not a positive integer', () => {
    for (const folds of [0, 1.5, Number.NaN]) expect(() => evaluate(uniform, armZero, { estimators: ['dr'], folds })).toThrow(/folds must be an integer ≥ 1/);
  });
});

// The same four rows for DRos (λ = 4) and SNDR. Per row: D = Σ_a π q̂ = 0.54, 0.35, 0.1, 0.7;
// residual e = r − q̂(logged arm) = 0.4, −0.2, −0.4, 0.3; w = 1.6, 2, 0, 2.
describe('DR with shrinkage and self-normalised DR on the hand-computed case', () => {
  const r = evaluate(logs, target, { estimators: ['dr-os', 'sndr'], qhat, osLambda: 4 });
  it('DRos: each weight shrunk to λw/(w² + λ) = 6.4/6.56, 1, 0, 1', () => {
    const shrunk = [6.4 / 6.56, 1, 0, 1];
    const terms = [0.54 + shrunk[0]! * 0.4, 0.35 - 0.2, 0.1, 0.7 + 0.3];
    const mean = terms.reduce((a, b) => a + b, 0) / 4;
    expect(r.estimates[0]!.value).toBeCloseTo(mean, 14);
    expect(mean).toBeCloseTo(0.5450609756097561, 14);
    const sd = Math.sqrt(terms.reduce((s, t) => s + (t - mean) ** 2, 0) / 3);
    // Given predictions: no model share in the variance.
    expect(r.estimates[0]!.stdErr).toBeCloseTo(sd / 2, 14);
    expect(r.estimates[0]!.diagnostics.osLambda).toBe(4);
  });

  it('SNDR: mean D + Σ w·e / Σ w = 0.4225 + 0.84 / 5.6, with the delta-method standard error', () => {
    expect(r.estimates[1]!.value).toBeCloseTo(0.4225 + 0.15, 14);
    // Influence per row: (D − D̄) + (w / w̄)(e − ē), w̄ = 1.4, ē = 0.15.
    const psi = [0.54 - 0.4225 + (1.6 / 1.4) * 0.25, 0.35 - 0.4225 + (2 / 1.4) * -0.35, 0.1 - 0.4225, 0.7 - 0.4225 + (2 / 1.4) * 0.15];
    expect(psi.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 14);
    expect(r.estimates[1]!.stdErr).toBeCloseTo(Math.sqrt(psi.reduce((s, v) => s + v * v, 0) / 3 / 4), 14);
  });

  it('DRos needs its λ: refused by name without one', () => {
    expect(() => evaluate(logs, target, { estimators: ['dr-os'], qhat })).toThrow(/dr-os needs a shrinkage λ > 0 \(osLambda; --os-lambda on the command line\), got undefined/);
  });
});
