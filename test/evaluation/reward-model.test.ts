import { describe, expect, it } from 'vitest';
import { isOoMlError } from '../../src/errors.js';
import type { LoggedBandit } from '../../src/evaluation/logged-bandit.js';
import { fitRidgeRewardModel, predictRewards } from '../../src/evaluation/reward-model.js';

// Arm 0: x = 0, 1, 2 with r = 1, 2, 4; arm 1: x = 1, 3 with r = 0, 1; arm 2: never logged.
// With an unpenalised intercept the ridge slope is Sxy / (Sxx + λ) on centred data:
//   arm 0: x̄ = 1, ȳ = 7/3, Sxy = 3, Sxx = 2 → λ = 1: slope 1, intercept 4/3
//   arm 1: x̄ = 2, ȳ = 1/2, Sxy = 1, Sxx = 2 → λ = 1: slope 1/3, intercept −1/6
const logs: LoggedBandit = {
  n: 5,
  k: 3,
  arm: Int32Array.from([0, 0, 0, 1, 1]),
  reward: Float64Array.from([1, 2, 4, 0, 1]),
  propensity: new Float64Array(5).fill(0.5),
  x: Float64Array.from([0, 1, 2, 1, 3]),
  d: 1,
};

describe('ridge reward model', () => {
  it('fits each arm by hand-checkable ridge with an unpenalised intercept', () => {
    const m = fitRidgeRewardModel(logs, { lambda: 1 });
    expect(m.coef[0]).toBeCloseTo(4 / 3, 12);
    expect(m.coef[1]).toBeCloseTo(1, 12);
    expect(m.coef[2]).toBeCloseTo(-1 / 6, 12);
    expect(m.coef[3]).toBeCloseTo(1 / 3, 12);
    expect(Array.from(m.armRows)).toEqual([3, 2, 0]);
    // The never-logged arm predicts the pooled mean reward 8/5.
    expect(m.unfittedArms).toEqual([2]);
    expect(m.coef[4]).toBeCloseTo(8 / 5, 12);
    const q = predictRewards(m, logs.x, logs.n);
    expect(q[0]).toBeCloseTo(4 / 3, 12); // row 0 (x = 0), arm 0
    expect(q[4 * 3 + 1]).toBeCloseTo(-1 / 6 + 1, 12); // row 4 (x = 3), arm 1
    expect(q[2 * 3 + 2]).toBeCloseTo(8 / 5, 12);
  });

  it('λ = 0 is least squares: arm 0 slope Sxy/Sxx = 1.5', () => {
    const m = fitRidgeRewardModel(logs, { lambda: 0 });
    expect(m.coef[1]).toBeCloseTo(1.5, 10);
    expect(m.coef[0]).toBeCloseTo(7 / 3 - 1.5, 10);
  });

  it('treats weights as frequency weights (a weight of 2 equals a duplicated row)', () => {
    const weighted = fitRidgeRewardModel(logs, { weights: Float64Array.from([2, 1, 1, 1, 0]) });
    const duplicated = fitRidgeRewardModel({
      ...logs,
      n: 5,
      arm: Int32Array.from([0, 0, 0, 0, 1]),
      reward: Float64Array.from([1, 1, 2, 4, 0]),
      x: Float64Array.from([0, 0, 1, 2, 1]),
    });
    for (let j = 0; j < 6; j++) expect(weighted.coef[j]).toBeCloseTo(duplicated.coef[j]!, 12);
  });

  it('without features it is the per-arm mean with variance s²/n_a (HC1)', () => {
    const m = fitRidgeRewardModel({ ...logs, x: undefined, d: undefined });
    expect(m.d).toBe(0);
    expect(m.coef[0]).toBeCloseTo(7 / 3, 12);
    expect(m.coef[1]).toBeCloseTo(1 / 2, 12);
    // arm 0: s² = ((1−7/3)² + (2−7/3)² + (4−7/3)²)/2 = 7/3; / 3 rows
    expect(m.coefCov![0]).toBeCloseTo(7 / 9, 12);
    // arm 1: s² = 1/2; / 2 rows
    expect(m.coefCov![1]).toBeCloseTo(1 / 4, 12);
    expect(m.coefCov![2]).toBe(0);
  });

  it('rejects a singular system and non-finite features, naming them', () => {
    const flat: LoggedBandit = { ...logs, x: Float64Array.from([1, 1, 1, 1, 3]) };
    let caught: unknown;
    try {
      fitRidgeRewardModel(flat, { lambda: 0 });
    } catch (e) {
      caught = e;
    }
    expect(isOoMlError(caught, 'invalid_input')).toBe(true);
    expect((caught as Error).message).toMatch(/ridge system for arm 0 is singular/);
    expect(() => fitRidgeRewardModel({ ...logs, x: Float64Array.from([0, 1, NaN, 1, 3]) })).toThrow(/logs.x row 2, feature 0 is not a finite number/);
  });
});
