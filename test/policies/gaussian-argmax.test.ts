import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { effectiveSigma, gaussianArgmaxProbabilities } from '../../src/policies/gaussian-argmax.js';
import { normalCdf } from '../../src/policies/normal-distribution.js';
import { createRng } from '../../src/random/rng.js';
import { maxAbsDiff } from './reference-linear-algebra.js';

const probs = (mu: number[], sigma: number[]): Float64Array =>
  gaussianArgmaxProbabilities(Float64Array.from(mu), Float64Array.from(sigma), mu.length, new Float64Array(mu.length));

// P(arm a is the largest), from mpmath's adaptive tanh-sinh quadrature at 30 digits (split at
// every arm's crossing point), printed to 17 digits and parsed to the nearest double.
const REFERENCE: { name: string; mu: number[]; sigma: number[]; p: string[] }[] = [
  {
    name: 'four arms of mixed widths',
    mu: [0, 0.3, -0.2, 0.1],
    sigma: [1, 0.5, 2, 0.05],
    p: ['0.25090168016329451', '0.30495683472581843', '0.33916779755403339', '0.10497368755685366'],
  },
  {
    name: 'eight overlapping arms',
    mu: [0.1, 0.12, 0.05, 0.2, 0.15, 0.11, 0.13, 0.14],
    sigma: [0.05, 0.06, 0.04, 0.08, 0.05, 0.05, 0.07, 0.06],
    p: ['0.023264963101847266', '0.07183937394560695', '0.00059064917507719386', '0.49383134740025346', '0.13024979747219754', '0.03416793104135241', '0.1218469551824529', '0.12420898268121228'],
  },
  {
    name: 'a point mass among continuous arms',
    mu: [0, 0.5, 0.2],
    sigma: [1, 0, 0.3],
    p: ['0.30041950015336644', '0.58175830889651427', '0.1178221909501193'],
  },
  {
    name: 'a narrow arm beside a wide one',
    mu: [0.3, 0.31, -1],
    sigma: [1e-3, 1, 0.5],
    p: ['0.49369862260183887', '0.5037025450881164', '0.0025988323100447334'],
  },
];

describe('Gaussian argmax probabilities (Thompson propensities)', () => {
  for (const c of REFERENCE) {
    it(`matches a 30-digit reference to 1e-12: ${c.name}`, () => {
      expect(maxAbsDiff(probs(c.mu, c.sigma), c.p.map(Number))).toBeLessThan(1e-12);
    });
  }

  it('matches the closed form for two arms, Φ((μ₀ − μ₁)/√(σ₀² + σ₁²)), across scales', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -10, max: 10, noNaN: true }),
        fc.double({ min: -10, max: 10, noNaN: true }),
        fc.double({ min: -6, max: 6, noNaN: true }),
        fc.double({ min: -6, max: 6, noNaN: true }),
        (m0, m1, l0, l1) => {
          const s0 = 10 ** l0;
          const s1 = 10 ** l1;
          const p = probs([m0, m1], [s0, s1]);
          expect(Math.abs(p[0]! - normalCdf((m0 - m1) / Math.hypot(s0, s1)))).toBeLessThan(1e-10);
        },
      ),
      { seed: 21, numRuns: 300 },
    );
  });

  it('gives 1/k to identical arms and is equivariant under permuting the arms', () => {
    for (const k of [2, 3, 8, 13]) {
      const p = probs(new Array<number>(k).fill(0.4), new Array<number>(k).fill(0.2));
      for (const v of p) expect(Math.abs(v - 1 / k)).toBeLessThan(1e-13);
    }
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const rng = createRng(seed);
        const mu = Array.from({ length: 8 }, () => rng.normal() * 0.3);
        const sigma = Array.from({ length: 8 }, () => 0.05 + rng.next() * 0.4);
        const order = [3, 1, 7, 0, 5, 2, 6, 4];
        const p = probs(mu, sigma);
        const q = probs(order.map((i) => mu[i]!), order.map((i) => sigma[i]!));
        order.forEach((i, j) => expect(Math.abs(q[j]! - p[i]!)).toBeLessThan(1e-12));
      }),
      { seed: 22, numRuns: 50 },
    );
  });

  it('returns a distribution (non-negative, sums to 1) for arbitrary means and widths, point masses included', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            mu: fc.double({ min: -1e3, max: 1e3, noNaN: true }),
            logSigma: fc.double({ min: -8, max: 3, noNaN: true }),
            pointMass: fc.boolean(),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        (arms) => {
          const p = probs(
            arms.map((a) => a.mu),
            arms.map((a) => (a.pointMass ? 0 : 10 ** a.logSigma)),
          );
          let sum = 0;
          for (const v of p) {
            expect(v).toBeGreaterThanOrEqual(0);
            sum += v;
          }
          expect(Math.abs(sum - 1)).toBeLessThan(1e-12);
        },
      ),
      { seed: 23, numRuns: 300 },
    );
  });

  it('splits evenly between tied point masses and gives lower point masses nothing', () => {
    expect(Array.from(probs([1, 2, 2, 0], [0, 0, 0, 0]))).toEqual([0, 0.5, 0.5, 0]);
    // Two tied point masses at 0.5 share P(continuous arm < 0.5) = Φ(0.5).
    const p = probs([0.5, 0, 0.5], [0, 1, 0]);
    expect(p[0]).toBeCloseTo(normalCdf(0.5) / 2, 14);
    expect(p[2]).toBe(p[0]);
    expect(p[1]).toBeCloseTo(1 - normalCdf(0.5), 14);
  });

  it('treats a density narrower than 2^-26·|μ| as a point mass', () => {
    // 2^-26 · 1000 ≈ 1.5e-5.
    expect(effectiveSigma(1000, 2e-5)).toBe(2e-5);
    expect(effectiveSigma(1000, 1e-5)).toBe(0);
    expect(effectiveSigma(0, 1e-300)).toBe(1e-300);
    expect(Array.from(probs([1000, 1000], [1e-9, 0]))).toEqual([0.5, 0.5]);
  });

  it('agrees with Monte Carlo frequencies of the argmax', () => {
    const cases = [
      { mu: [0, 0.1, 0.2, -0.1], sigma: [0.3, 0.2, 0.1, 0.5] },
      { mu: [1, 1, 1.2, 0.5, 0.9], sigma: [0.5, 0.01, 0.3, 1, 0.2] },
    ];
    const rng = createRng(24);
    const n = 100_000;
    for (const { mu, sigma } of cases) {
      const counts = new Array<number>(mu.length).fill(0);
      for (let t = 0; t < n; t++) {
        let best = -Infinity;
        let arm = 0;
        for (let a = 0; a < mu.length; a++) {
          const s = mu[a]! + sigma[a]! * rng.normal();
          if (s > best) [best, arm] = [s, a];
        }
        counts[arm]!++;
      }
      const p = probs(mu, sigma);
      for (let a = 0; a < mu.length; a++) {
        const se = Math.sqrt((p[a]! * (1 - p[a]!)) / n);
        expect(Math.abs(counts[a]! / n - p[a]!)).toBeLessThan(5 * se + 1e-4);
      }
    }
  });
});
