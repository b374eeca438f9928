import { describe, expect, it } from 'vitest';
import { percentileInterval, sampleStdDev } from '../../src/evaluation/bootstrap.js';
import { ESTIMATOR_NAMES } from '../../src/evaluation/estimate.js';
import { evaluate } from '../../src/evaluation/evaluate.js';
import { createRng, deriveSeed } from '../../src/random/rng.js';
import { randomLogs } from './random-logs.js';
import { sampleWorld, TRUE_TARGET_VALUE } from './synthetic-world.js';

const OPTIONS = { estimators: ESTIMATOR_NAMES, clip: 2, tau: 2, osLambda: 10, interval: 'bootstrap', resamples: 200 } as const;

describe('bootstrap intervals', () => {
  it('one seed gives one result, bit for bit; another seed gives another', () => {
    const { logs, target } = randomLogs(createRng(11), 500, 4, 2);
    const a = evaluate(logs, target, { ...OPTIONS, rng: createRng(7) });
    const b = evaluate(logs, target, { ...OPTIONS, rng: createRng(7) });
    const c = evaluate(logs, target, { ...OPTIONS, rng: createRng(8) });
    expect(b).toEqual(a);
    a.estimates.forEach((e, j) => {
      expect(Object.is(e.stdErr, b.estimates[j]!.stdErr)).toBe(true);
      expect(Object.is(e.ci95[0], b.estimates[j]!.ci95[0])).toBe(true);
      expect(Object.is(e.ci95[1], b.estimates[j]!.ci95[1])).toBe(true);
      expect(e.intervalMethod).toBe('bootstrap');
      expect(e.diagnostics.resamples).toBe(200);
      expect(c.estimates[j]!.ci95).not.toEqual(e.ci95);
    });
  });

  it('keeps the full-sample point estimate and agrees with the analytic standard errors', () => {
    const { logs, target } = sampleWorld(4000, createRng(12));
    const analytic = evaluate(logs, target, { estimators: ESTIMATOR_NAMES, clip: 5, tau: 5, osLambda: 10 });
    const boot = evaluate(logs, target, { estimators: ESTIMATOR_NAMES, clip: 5, tau: 5, osLambda: 10, interval: 'bootstrap', rng: createRng(3), resamples: 400 });
    boot.estimates.forEach((e, j) => {
      const an = analytic.estimates[j]!;
      expect(e.value).toBe(an.value);
      expect(e.stdErr / an.stdErr, e.estimator).toBeGreaterThan(0.85);
      expect(e.stdErr / an.stdErr, e.estimator).toBeLessThan(1.15);
    });
  });

  it('covers the true value at about 95% (model refitted on every resample)', () => {
    const reps = 100;
    const hits = new Map<string, number>();
    for (let rep = 0; rep < reps; rep++) {
      const { logs, target } = sampleWorld(1000, createRng(deriveSeed(31, rep)));
      const r = evaluate(logs, target, { estimators: ['ips', 'dm', 'switch-dr'], tau: 5, interval: 'bootstrap', rng: createRng(deriveSeed(32, rep)), resamples: 150 });
      for (const e of r.estimates) {
        if (e.ci95[0] <= TRUE_TARGET_VALUE && TRUE_TARGET_VALUE <= e.ci95[1]) hits.set(e.estimator, (hits.get(e.estimator) ?? 0) + 1);
      }
    }
    for (const name of ['ips', 'dm', 'switch-dr']) {
      expect((hits.get(name) ?? 0) / reps, name).toBeGreaterThanOrEqual(0.86);
      expect((hits.get(name) ?? 0) / reps, name).toBeLessThanOrEqual(0.99);
    }
  });

  it('notes that a given reward model is held fixed', () => {
    const { logs, target } = randomLogs(createRng(13), 200, 3, 1);
    const qhat = new Float64Array(logs.n * logs.k).fill(0.4);
    const r = evaluate(logs, target, { estimators: ['dm', 'dr'], qhat, interval: 'bootstrap', rng: createRng(1), resamples: 50 });
    for (const e of r.estimates) expect(e.notes).toContain('the interval holds the reward model fixed: its fitting error is not included');
  });

  it('percentile interval: type-7 quantiles of the sorted values', () => {
    const v = Float64Array.from({ length: 101 }, (_, i) => 100 - i); // 0..100, unsorted
    const [lo, hi] = percentileInterval(v);
    expect(lo).toBeCloseTo(2.5, 12);
    expect(hi).toBeCloseTo(97.5, 12);
    expect(percentileInterval(Float64Array.from([3, 1, 2]), 0.5)).toEqual([1.5, 2.5]);
    expect(sampleStdDev(Float64Array.from([1, 2, 3, 4]))).toBeCloseTo(Math.sqrt(5 / 3), 14);
  });
});
