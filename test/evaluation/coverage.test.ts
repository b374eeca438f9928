import { describe, expect, it } from 'vitest';
import { ESTIMATOR_NAMES, type Estimate } from '../../src/evaluation/estimate.js';
import { evaluate } from '../../src/evaluation/evaluate.js';
import { createRng, deriveSeed } from '../../src/random/rng.js';
import { LOGGING, sampleWorld, TRUE_LOGGING_VALUE, TRUE_TARGET_VALUE } from './synthetic-world.js';

const REPS = 400;
const ROWS = 2000;
const SEED = 20260301;

const covers = (e: Estimate, truth: number): boolean => e.ci95[0] <= truth && truth <= e.ci95[1];

// 400 independent logs of 2000 rows; every estimator on each.
const runs = Array.from({ length: REPS }, (_, rep) => {
  const { logs, target } = sampleWorld(ROWS, createRng(deriveSeed(SEED, rep)));
  return evaluate(logs, target, { estimators: ESTIMATOR_NAMES, clip: 5, tau: 5, osLambda: 10 });
});

describe('estimators on logs with a known truth (400 × 2000 rows)', () => {
  it('the world is what the tests assume', () => {
    expect(Math.min(...LOGGING.flat())).toBeGreaterThanOrEqual(0.05);
    expect(TRUE_TARGET_VALUE).toBeGreaterThan(TRUE_LOGGING_VALUE + 0.05);
    // The weight cap and switch threshold (5) bind in some rows, so those paths are exercised.
    const d = runs[0]!.estimates.find((e) => e.estimator === 'dr-clip')!.diagnostics;
    expect(d.clippedShare).toBeGreaterThan(0);
    expect(d.maxWeight).toBeGreaterThan(5);
  });

  it.each(ESTIMATOR_NAMES)('%s: the 95-percent interval covers the true value at about its nominal rate', (name) => {
    const hits = runs.filter((r) => covers(r.estimates.find((e) => e.estimator === name)!, TRUE_TARGET_VALUE)).length;
    const coverage = hits / REPS;
    expect(coverage).toBeGreaterThanOrEqual(0.88);
    expect(coverage).toBeLessThanOrEqual(0.99);
  });

  it('the logging policy’s interval covers its true value at about 95%', () => {
    const coverage = runs.filter((r) => covers(r.loggingPolicy, TRUE_LOGGING_VALUE)).length / REPS;
    expect(coverage).toBeGreaterThanOrEqual(0.88);
    expect(coverage).toBeLessThanOrEqual(0.99);
  });

  it.each(['ips', 'dr'] as const)('%s is unbiased: the mean error is within 3 standard errors of 0', (name) => {
    const errors = runs.map((r) => r.estimates.find((e) => e.estimator === name)!.value - TRUE_TARGET_VALUE);
    const mean = errors.reduce((s, v) => s + v, 0) / REPS;
    const sd = Math.sqrt(errors.reduce((s, v) => s + (v - mean) ** 2, 0) / (REPS - 1));
    expect(Math.abs(mean)).toBeLessThan((3 * sd) / Math.sqrt(REPS));
  });

  it('the analytic standard errors match the spread of the estimates across replications', () => {
    for (const name of ESTIMATOR_NAMES) {
      const values = runs.map((r) => r.estimates.find((e) => e.estimator === name)!.value);
      const mean = values.reduce((s, v) => s + v, 0) / REPS;
      const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (REPS - 1));
      const meanSe = runs.reduce((s, r) => s + r.estimates.find((e) => e.estimator === name)!.stdErr, 0) / REPS;
      expect(meanSe / sd, name).toBeGreaterThan(0.8);
      expect(meanSe / sd, name).toBeLessThan(1.25);
    }
  });
});

describe('doubly robust with a perfect reward model', () => {
  it('has lower variance than IPS, across replications and in every replication’s standard error', () => {
    const ips: number[] = [];
    const dr: number[] = [];
    for (let rep = 0; rep < 60; rep++) {
      const { logs, target, trueQ } = sampleWorld(ROWS, createRng(deriveSeed(SEED + 1, rep)));
      const r = evaluate(logs, target, { estimators: ['ips', 'dr'], qhat: trueQ });
      const [i, d] = r.estimates;
      expect(d!.stdErr).toBeLessThan(i!.stdErr);
      ips.push(i!.value);
      dr.push(d!.value);
    }
    const variance = (xs: number[]) => {
      const m = xs.reduce((s, v) => s + v, 0) / xs.length;
      return xs.reduce((s, v) => s + (v - m) ** 2, 0) / (xs.length - 1);
    };
    expect(variance(dr)).toBeLessThan(0.5 * variance(ips));
  });
});
