/**
 * The fused pass (ope-sums.ts) against a plain reference: per-row term arrays, two-pass means
 * and variances, and the model's variance share from explicit per-row influence terms.
 */
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/evaluation/evaluate.js';
import { accumulateOpeSums, pilotShifts } from '../../src/evaluation/ope-sums.js';
import type { LoggedBandit } from '../../src/evaluation/logged-bandit.js';
import { fitRidgeRewardModel, predictRewards, type RidgeRewardModel } from '../../src/evaluation/reward-model.js';
import { createRng } from '../../src/random/rng.js';
import { randomLogs } from './random-logs.js';

type Omega = (w: number) => number;
const OMEGA: Record<string, Omega> = {
  dm: () => 0,
  dr: (w) => w,
  'dr-clip': (w) => Math.min(w, 1.5),
  'switch-dr': (w) => (w <= 1.5 ? w : 0),
};

const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
const unbiasedVar = (xs: number[]) => {
  const m = mean(xs);
  return xs.reduce((s, v) => s + (v - m) ** 2, 0) / (xs.length - 1);
};

/** Plain per-row reference of every estimator. */
function reference(logs: LoggedBandit, target: Float64Array, qhat: Float64Array, model: RidgeRewardModel | null) {
  const { n, k, d = 0 } = logs;
  const p = d + 1;
  const w = Array.from({ length: n }, (_, i) => target[i * k + logs.arm[i]!]! / logs.propensity[i]!);
  const r = Array.from(logs.reward);
  const dm = Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let a = 0; a < k; a++) s += target[i * k + a]! * qhat[i * k + a]!;
    return s;
  });
  const e = Array.from({ length: n }, (_, i) => r[i]! - qhat[i * k + logs.arm[i]!]!);
  const z = (i: number) => [1, ...Array.from(logs.x!.subarray(i * d, i * d + d))];
  const out: Record<string, { value: number; stdErr: number }> = {};

  const ips = w.map((wi, i) => wi * r[i]!);
  out['ips'] = { value: mean(ips), stdErr: Math.sqrt(unbiasedVar(ips) / n) };
  const sw = w.reduce((s, v) => s + v, 0);
  const snips = ips.reduce((s, v) => s + v, 0) / sw;
  const ss = w.reduce((s, wi, i) => s + wi * wi * (r[i]! - snips) ** 2, 0);
  out['snips'] = { value: snips, stdErr: Math.sqrt((n / (n - 1)) * ss) / sw };

  for (const [name, omega] of Object.entries(OMEGA)) {
    const t = dm.map((m, i) => m + omega(w[i]!) * e[i]!);
    const v = mean(t);
    let variance = unbiasedVar(t) / n;
    if (model !== null) {
      // g_a = (1/n) Σ_i (π(a|x_i) − ω_i 1{a_i = a}) z_i
      const g = Array.from({ length: k }, () => new Array<number>(p).fill(0));
      for (let i = 0; i < n; i++) {
        const zi = z(i);
        for (let a = 0; a < k; a++) {
          const coef = target[i * k + a]! - (a === logs.arm[i] ? omega(w[i]!) : 0);
          for (let j = 0; j < p; j++) g[a]![j]! += (coef * zi[j]!) / n;
        }
      }
      // h_i = gᵀ A⁻¹ z_i (per row); var += Σ h² e² · HC1 + (2/n) Σ (t − V) h e
      const hc1 = Array.from(model.armRows, (na) => (na > p ? na / (na - p) : 1));
      let middle = 0;
      let cross = 0;
      for (let i = 0; i < n; i++) {
        const a = logs.arm[i]!;
        const zi = z(i);
        let h = 0;
        for (let r1 = 0; r1 < p; r1++) for (let c1 = 0; c1 < p; c1++) h += g[a]![r1]! * model.gramInverse![a * p * p + r1 * p + c1]! * zi[c1]!;
        middle += h * h * e[i]! * e[i]! * hc1[a]!;
        cross += (t[i]! - v) * h * e[i]!;
      }
      variance += middle + (2 / n) * cross;
    }
    out[name] = { value: v, stdErr: Math.sqrt(variance) };
  }
  return out;
}

const ALL = ['ips', 'snips', 'dm', 'dr', 'dr-clip', 'switch-dr'] as const;

describe('the fused pass', () => {
  it('matches the plain reference with fixed predictions', () => {
    for (const seed of [1, 2, 3]) {
      const { logs, target } = randomLogs(createRng(seed), 700, 5, 3);
      const qhat = predictRewards(fitRidgeRewardModel(logs), logs.x, logs.n);
      const report = evaluate(logs, target, { estimators: ALL, qhat, clip: 1.5, tau: 1.5, osLambda: 10 });
      const ref = reference(logs, target, qhat, null);
      for (const e of report.estimates) {
        expect(e.value, e.estimator).toBeCloseTo(ref[e.estimator]!.value, 12);
        expect(e.stdErr, e.estimator).toBeCloseTo(ref[e.estimator]!.stdErr, 12);
      }
    }
  });

  it('matches the plain reference, model variance included, when it fits the model itself', () => {
    for (const seed of [4, 5]) {
      const { logs, target } = randomLogs(createRng(seed), 600, 4, 2);
      const model = fitRidgeRewardModel(logs);
      const report = evaluate(logs, target, { estimators: ALL, clip: 1.5, tau: 1.5, osLambda: 10 });
      const ref = reference(logs, target, predictRewards(model, logs.x, logs.n), model);
      for (const e of report.estimates) {
        expect(e.value, e.estimator).toBeCloseTo(ref[e.estimator]!.value, 12);
        expect(e.stdErr, e.estimator).toBeCloseTo(ref[e.estimator]!.stdErr, 12);
      }
      // The model's share is real: DM's interval is wider than the per-row CLT alone.
      const fixed = evaluate(logs, target, { estimators: ['dm'], qhat: predictRewards(model, logs.x, logs.n) }).estimates[0]!;
      expect(report.estimates[2]!.stdErr).toBeGreaterThan(fixed.stdErr);
    }
  });

  it('keeps its variances accurate when rewards sit far from zero (shifted sums)', () => {
    const { logs, target } = randomLogs(createRng(9), 500, 3, 1);
    const shifted = { ...logs, reward: logs.reward.map((r) => 1e6 + r) };
    const qhat = new Float64Array(logs.n * logs.k).fill(1e6 + 0.5);
    const report = evaluate(shifted, target, { estimators: ['ips', 'snips', 'dr'], qhat });
    const ref = reference(shifted, target, qhat, null);
    for (const e of report.estimates) {
      expect(e.stdErr / ref[e.estimator]!.stdErr, e.estimator).toBeCloseTo(1, 9);
    }
  });

  it('matches the plain reference over 150,000 rows (three blocks of the hot loop)', () => {
    const { logs, target } = randomLogs(createRng(10), 150_000, 3, 1);
    const qhat = predictRewards(fitRidgeRewardModel(logs), logs.x, logs.n);
    const report = evaluate(logs, target, { estimators: ALL, qhat, clip: 1.5, tau: 1.5, osLambda: 10 });
    const ref = reference(logs, target, qhat, null);
    for (const e of report.estimates) {
      expect(e.value / ref[e.estimator]!.value, e.estimator).toBeCloseTo(1, 11);
      expect(e.stdErr / ref[e.estimator]!.stdErr, e.estimator).toBeCloseTo(1, 9);
    }
    const inp = { logs, target, qhat, clip: null, tau: null, osLambda: null, unloggedArms: [], modelDim: null };
    const pass = accumulateOpeSums(inp, pilotShifts(inp), 0, logs.n, null, true);
    expect(pass.n).toBe(150_000);
    expect(pass.maxW).toBe(Array.from(logs.arm, (a, i) => target[i * 3 + a]! / logs.propensity[i]!).reduce((m, w) => Math.max(m, w), 0));
  });

  it('uses a given ridge model’s covariance (fitted on other rows: no cross term), also one without features', () => {
    const train = randomLogs(createRng(21), 800, 3, 2).logs;
    const { logs, target } = randomLogs(createRng(22), 500, 3, 2);
    const model = fitRidgeRewardModel(train);
    const given = evaluate(logs, target, { estimators: ['dm', 'dr'], rewardModel: model });
    const fixed = evaluate(logs, target, { estimators: ['dm', 'dr'], qhat: predictRewards(model, logs.x, logs.n) });
    expect(given.rewardModel?.source).toBe('given-model');
    expect(given.estimates[0]!.value).toBe(fixed.estimates[0]!.value);
    expect(given.estimates[0]!.stdErr).toBeGreaterThan(fixed.estimates[0]!.stdErr);
    expect(given.estimates[0]!.notes).not.toContain('the interval holds the reward model fixed: its fitting error is not included');
    expect(fixed.estimates[0]!.notes).toContain('the interval holds the reward model fixed: its fitting error is not included');

    const means = fitRidgeRewardModel({ ...train, x: undefined, d: undefined });
    const r = evaluate(logs, target, { estimators: ['dm'], rewardModel: means });
    let expected = 0;
    for (let i = 0; i < logs.n; i++) for (let a = 0; a < 3; a++) expected += (target[i * 3 + a]! * means.coef[a]!) / logs.n;
    expect(r.estimates[0]!.value).toBeCloseTo(expected, 12);
    expect(r.estimates[0]!.stdErr).toBeGreaterThan(0);
    expect(() => evaluate(logs, target, { estimators: ['dm'], rewardModel: fitRidgeRewardModel(randomLogs(createRng(23), 100, 3, 4).logs) })).toThrow(
      /the reward model has 4 features, the logs 2/,
    );
  });
});
