import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dot, matVec, setScaledIdentity, shermanMorrisonUpdate, symmetricQuadraticForm } from '../../src/policies/linear-algebra.js';
import { createRng } from '../../src/random/rng.js';
import { addOuter, block, invert, maxAbs, maxAbsDiff, multiply, quadraticForm, scaledIdentity, type Matrix } from './reference-linear-algebra.js';

/** A random SPD matrix A = λI + Σ x xᵀ (m outer products of N(0, s²) vectors) and its inverse. */
function randomSpd(seed: number, d: number, m: number, scale: number): { a: Matrix; inverse: Matrix } {
  const rng = createRng(seed);
  const a = scaledIdentity(d, 1);
  for (let t = 0; t < m; t++) addOuter(a, Array.from({ length: d }, () => rng.normal() * scale));
  return { a, inverse: invert(a) };
}

const flat = (m: Matrix): Float64Array => Float64Array.from(m.flat());

describe('linear algebra on flat arrays', () => {
  it('matVec, dot and the symmetric quadratic form agree with the plain full-matrix versions', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 14 }), fc.integer({ min: 0, max: 30 }), (seed, d, m) => {
        const { inverse } = randomSpd(seed, d, m, 2);
        const rng = createRng(seed ^ 0x5bd1e995);
        const x = Float64Array.from({ length: d }, () => rng.normal() * 3);
        // Place the block at an offset, as the per-arm arrays do.
        const off = 2 * d * d;
        const storage = new Float64Array(off + d * d);
        storage.set(flat(inverse), off);
        const out = new Float64Array(d + 3);
        matVec(storage, off, d, x, 0, out, 3);
        const want = multiply(inverse, x);
        expect(maxAbsDiff(out.subarray(3), want)).toBeLessThanOrEqual(1e-13 * (maxAbs(want) + 1));
        expect(dot(out, 3, x, 0, d)).toBeCloseTo(want.reduce((s, v, i) => s + v * x[i]!, 0), 10);
        const q = quadraticForm(inverse, x);
        expect(Math.abs(symmetricQuadraticForm(storage, off, d, x) - q)).toBeLessThanOrEqual(1e-12 * Math.abs(q) + 1e-15);
      }),
      { seed: 1, numRuns: 200 },
    );
  });

  it('Sherman–Morrison gives the inverse of A + x xᵀ, exactly symmetric, and returns 1/(1 + xᵀA⁻¹x)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 12 }), fc.double({ min: 0.01, max: 100, noNaN: true }), (seed, d, scale) => {
        const { a, inverse } = randomSpd(seed, d, 5, 1);
        const rng = createRng(seed + 1);
        const x = Float64Array.from({ length: d }, () => rng.normal() * scale);
        const m = flat(inverse);
        const u = new Float64Array(d);
        const q = quadraticForm(inverse, x);
        const gain = shermanMorrisonUpdate(m, 0, d, x, u);
        expect(gain).toBeCloseTo(1 / (1 + q), 12);
        expect(maxAbsDiff(u, multiply(inverse, x))).toBeLessThanOrEqual(1e-12 * maxAbs(u));
        addOuter(a, x);
        const want = invert(a);
        expect(maxAbsDiff(m, want.flat())).toBeLessThanOrEqual(1e-9 * maxAbs(want.flat()));
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) expect(m[i * d + j]).toBe(m[j * d + i]);
      }),
      { seed: 2, numRuns: 200 },
    );
  });

  it('keeps A⁻¹ within 1e-9 of a direct inverse over 5000 rank-one updates', () => {
    const d = 12;
    const m = new Float64Array(d * d);
    setScaledIdentity(m, 0, d, 1);
    const a = scaledIdentity(d, 1);
    const u = new Float64Array(d);
    const rng = createRng(3);
    for (let t = 0; t < 5000; t++) {
      const x = Float64Array.from({ length: d }, (_, i) => (i === 0 ? 1 : rng.next() * 2));
      shermanMorrisonUpdate(m, 0, d, x, u);
      addOuter(a, x);
    }
    const want = invert(a).flat();
    expect(maxAbsDiff(m, want)).toBeLessThanOrEqual(1e-9 * maxAbs(want));
    expect(maxAbsDiff(block(m, 0, d).flat(), want)).toBeLessThan(1e-9);
  });

  it('clamps a negative quadratic form so the denominator never drops below 1', () => {
    // An indefinite "inverse" (what rounding could produce at the extreme): xᵀMx = −3 here.
    const m = Float64Array.from([-1, 0, 0, -2]);
    const u = new Float64Array(2);
    const gain = shermanMorrisonUpdate(m, 0, 2, Float64Array.from([1, 1]), u);
    expect(gain).toBe(1);
    expect(Array.from(m)).toEqual([-2, -2, -2, -6]);
  });
});
