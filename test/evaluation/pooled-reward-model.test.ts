import { describe, expect, it } from 'vitest';
import type { LoggedBandit } from '../../src/evaluation/logged-bandit.js';
import { predictPooled } from '../../src/evaluation/pooled-reward-model.js';
import { createRng } from '../../src/random/rng.js';

describe('reward model pooled over the arms', () => {
  // Reward 0.1 + 0.6·c_a, exactly, with the arms' feature c = 0, 0.5, 1; arm 2 is never logged.
  const c = Float64Array.from([0, 0.5, 1]);
  const rng = createRng(4);
  const n = 300;
  const logs: LoggedBandit = { n, k: 3, arm: new Int32Array(n), reward: new Float64Array(n), propensity: new Float64Array(n).fill(0.5) };
  for (let i = 0; i < n; i++) {
    logs.arm[i] = rng.int(2);
    logs.reward[i] = 0.1 + 0.6 * c[logs.arm[i]!]!;
  }

  it('learns from the arms’ features what an arm never logged would earn (in-sample and cross-fitted)', () => {
    for (const folds of [1, 5]) {
      const q = predictPooled(logs, c, 1, { lambda: 0, folds });
      for (let i = 0; i < n; i++) {
        expect(q[i * 3]).toBeCloseTo(0.1, 10);
        expect(q[i * 3 + 1]).toBeCloseTo(0.4, 10);
        expect(q[i * 3 + 2]).toBeCloseTo(0.7, 10);
      }
    }
  });

  it('combines the rows’ own features with the arms’', () => {
    const x = new Float64Array(n).map((_, i) => (i % 3) / 2);
    const withX: LoggedBandit = { ...logs, x, d: 1, reward: logs.reward.map((r, i) => r + 0.2 * x[i]!) };
    const q = predictPooled(withX, c, 1, { lambda: 0, folds: 5 });
    for (let i = 0; i < n; i++) expect(q[i * 3 + 2]).toBeCloseTo(0.7 + 0.2 * x[i]!, 10);
    expect(() => predictPooled(logs, c, 2, { folds: 1 })).toThrow(/arm features hold 3 values, expected k × d = 3 × 2/);
    expect(() => predictPooled(logs, c, 1, { folds: 0 })).toThrow(/folds must be an integer ≥ 1, got 0/);
  });
});
