import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ESTIMATOR_NAMES } from '../../src/evaluation/estimate.js';
import { evaluate } from '../../src/evaluation/evaluate.js';
import { estimateLoggingPolicy } from '../../src/evaluation/logging-policy.js';
import { createRng } from '../../src/random/rng.js';
import { randomLogs } from './random-logs.js';

const shape = fc.record({
  seed: fc.integer(),
  n: fc.integer({ min: 2, max: 120 }),
  k: fc.integer({ min: 1, max: 6 }),
  d: fc.integer({ min: 0, max: 3 }),
});
const RUNS = { seed: 424242, numRuns: 150 };

describe('estimator properties', () => {
  it('IPS equals the on-policy mean reward when logging = target, bit for bit', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, k, d }) => {
        const { logs, logging } = randomLogs(createRng(seed), n, k, d);
        const r = evaluate(logs, logging, { estimators: ['ips', 'snips'] });
        const onPolicy = estimateLoggingPolicy(logs);
        expect(r.estimates[0]!.value).toBe(logs.reward.reduce((s, v) => s + v, 0) / n);
        expect(r.estimates[0]!.value).toBe(onPolicy.value);
        expect(r.estimates[0]!.stdErr).toBeCloseTo(onPolicy.stdErr, 12);
        expect(r.estimates[1]!.value).toBe(onPolicy.value);
        expect(r.diagnostics.effectiveSampleSize).toBe(n);
        expect(r.diagnostics.maxWeight).toBe(1);
      }),
      RUNS,
    );
  });

  it('SNIPS is invariant to scaling every propensity by one factor (IPS is not)', () => {
    fc.assert(
      fc.property(shape, fc.double({ min: 0.05, max: 1, noNaN: true }), ({ seed, n, k, d }, scale) => {
        const { logs, target } = randomLogs(createRng(seed), n, k, d);
        const scaled = { ...logs, propensity: logs.propensity.map((p) => p * scale) };
        const a = evaluate(logs, target, { estimators: ['snips', 'ips'] }).estimates;
        const b = evaluate(scaled, target, { estimators: ['snips', 'ips'] }).estimates;
        expect(b[0]!.value).toBeCloseTo(a[0]!.value, 12);
        expect(b[0]!.stdErr).toBeCloseTo(a[0]!.stdErr, 12);
        expect(b[1]!.value).toBeCloseTo(a[1]!.value / scale, 9);
      }),
      RUNS,
    );
  });

  it('every estimate is finite with its interval around it, and reordering rows changes nothing', () => {
    fc.assert(
      fc.property(shape, ({ seed, n, k, d }) => {
        const { logs, target } = randomLogs(createRng(seed), n, k, d);
        const options = { estimators: ESTIMATOR_NAMES, clip: 2, tau: 2, osLambda: 10 };
        const r = evaluate(logs, target, options);
        for (const e of r.estimates) {
          expect(Number.isFinite(e.value) && Number.isFinite(e.stdErr), e.estimator).toBe(true);
          expect(e.stdErr).toBeGreaterThanOrEqual(0);
          expect(e.ci95[0]).toBeLessThanOrEqual(e.value);
          expect(e.ci95[1]).toBeGreaterThanOrEqual(e.value);
        }
        // Reverse the rows: same logs, same estimates (up to summation order).
        const rev = <T extends Int32Array | Float64Array>(col: T, width: number): T => {
          const out = col.slice() as T;
          for (let i = 0; i < n; i++) out.set(col.subarray((n - 1 - i) * width, (n - i) * width), i * width);
          return out;
        };
        const reversed = evaluate(
          { ...logs, arm: rev(logs.arm, 1), reward: rev(logs.reward, 1), propensity: rev(logs.propensity, 1), x: rev(logs.x!, d) },
          rev(target, k),
          options,
        );
        reversed.estimates.forEach((e, j) => {
          expect(e.value).toBeCloseTo(r.estimates[j]!.value, 9);
          expect(e.stdErr).toBeCloseTo(r.estimates[j]!.stdErr, 9);
        });
      }),
      { ...RUNS, numRuns: 80 },
    );
  });

  it('switch-DR is DR at τ = ∞ and DM at τ = 0; clipped DR is DR with a cap above every weight', () => {
    const { logs, target } = randomLogs(createRng(77), 400, 4, 2);
    const all = (tau: number, clip: number) => evaluate(logs, target, { estimators: ESTIMATOR_NAMES, tau, clip, osLambda: 10 }).estimates;
    const [, , dm, dr, clip, sw] = all(Infinity, 1e9);
    expect(sw!.value).toBe(dr!.value);
    expect(clip!.value).toBe(dr!.value);
    const atZero = all(0, 1e9);
    expect(atZero[5]!.value).toBe(dm!.value);
    expect(atZero[5]!.diagnostics.switchedShare).toBe(1);
  });
});
