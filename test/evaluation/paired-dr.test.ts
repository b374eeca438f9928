import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/evaluation/evaluate.js';
import type { LoggedBandit } from '../../src/evaluation/logged-bandit.js';
import { drOverLogged, pairedDrDifference } from '../../src/evaluation/paired-dr.js';
import { createRng } from '../../src/random/rng.js';

function logs(seed: number, n = 3000, k = 4, d = 3): LoggedBandit {
  const rng = createRng(seed);
  const l: LoggedBandit = { n, k, arm: new Int32Array(n), reward: new Float64Array(n), propensity: new Float64Array(n), x: new Float64Array(n * d), d };
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) l.x![i * d + j] = rng.normal();
    const a = rng.int(k);
    l.arm[i] = a;
    l.propensity[i] = 1 / k;
    l.reward[i] = rng.next() < 0.2 + 0.1 * a + 0.05 * l.x![i * d]! ? 1 : 0;
  }
  return l;
}

function policyTarget(seed: number, n: number, k: number): Float64Array {
  const rng = createRng(seed);
  const t = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let a = 0; a < k; a++) s += t[i * k + a] = rng.next() + 0.01;
    for (let a = 0; a < k; a++) t[i * k + a]! /= s;
  }
  return t;
}

describe('paired DR difference', () => {
  it('equals DR(π1) − DR(π2) from evaluate, with a tighter interval than either alone', () => {
    const l = logs(1);
    const t1 = policyTarget(2, l.n, l.k);
    const t2 = policyTarget(3, l.n, l.k);
    const d1 = evaluate(l, t1, { estimators: ['dr'], folds: 5 }).estimates[0]!;
    const d2 = evaluate(l, t2, { estimators: ['dr'], folds: 5 }).estimates[0]!;
    const diff = pairedDrDifference(l, t1, t2);
    expect(diff.value).toBeCloseTo(d1.value - d2.value, 10);
    // In-sample, as evaluate's default: the same identity.
    const inSample = evaluate(l, t1, { estimators: ['dr'] }).estimates[0]!.value - evaluate(l, t2, { estimators: ['dr'] }).estimates[0]!.value;
    expect(pairedDrDifference(l, t1, t2, 1).value).toBeCloseTo(inSample, 10);
    expect(diff.stdErr).toBeLessThan(Math.hypot(d1.stdErr, d2.stdErr));
    expect(diff.ci95[0]).toBeLessThan(diff.value);
  });

  it('DR over the logged mean: equals DR(π) from evaluate minus the mean reward, differences of two targets are their paired difference, and its interval is tighter than DR\'s own', () => {
    const l = logs(6);
    const t1 = policyTarget(7, l.n, l.k);
    const t2 = policyTarget(8, l.n, l.k);
    const meanReward = l.reward.reduce((a, b) => a + b, 0) / l.n;
    const dr = evaluate(l, t1, { estimators: ['dr'], folds: 5 }).estimates[0]!;
    const over = drOverLogged(l, t1);
    expect(over.value).toBeCloseTo(dr.value - meanReward, 10);
    expect(over.value - drOverLogged(l, t2).value).toBeCloseTo(pairedDrDifference(l, t1, t2).value, 10);
    // The logged rewards carry both sides, so the noise they share cancels.
    expect(over.stdErr).toBeLessThan(dr.stdErr);
    expect(() => drOverLogged(l, t1.subarray(4))).toThrow(/target must hold/);
  });

  it('DR over the logged mean is zero when the target is the logging policy itself and it logged every arm for sure', () => {
    const l = logs(9, 400);
    l.propensity.fill(1);
    const logged = new Float64Array(l.n * l.k);
    for (let i = 0; i < l.n; i++) logged[i * l.k + l.arm[i]!] = 1;
    const over = drOverLogged(l, logged);
    expect(over.value).toBeCloseTo(0, 12);
    expect(over.stdErr).toBeCloseTo(0, 12);
  });

  it('is exactly zero for the same policy, and rejects mismatched targets', () => {
    const l = logs(4, 500);
    const t = policyTarget(5, l.n, l.k);
    expect(pairedDrDifference(l, t, t)).toMatchObject({ value: 0, stdErr: 0 });
    expect(() => pairedDrDifference(l, t, t.subarray(4))).toThrow(/targets must hold/);
  });
});
