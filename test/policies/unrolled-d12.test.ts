import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { armStatsGeneric, armStatsKernel, armViews, createLinearArms, updateGeneric, updateKernel, type LinearArmsState, type UpdateKernel } from '../../src/policies/linear-arms.js';
import { linUcb } from '../../src/policies/linucb.js';
import { UNROLLED_DIM, armStatsD12, updateArmD12 } from '../../src/policies/unrolled-d12.js';
import { createRng, type Rng } from '../../src/random/rng.js';
import { addOuter, block, invert, maxAbs, maxAbsDiff, scaledIdentity, solve } from './reference-linear-algebra.js';

const D = 12;
const K = 8;

/** Contexts from several regimes: unit-scale, huge, tiny, sparse with exact zeros, negative. */
function context(rng: Rng): Float64Array {
  const regime = rng.int(5);
  return Float64Array.from({ length: D }, (_, i) => {
    if (regime === 0) return i === 0 ? 1 : rng.next();
    if (regime === 1) return (rng.next() - 0.5) * 2e3;
    if (regime === 2) return rng.normal() * 1e-6;
    if (regime === 3) return rng.next() < 0.5 ? 0 : rng.normal();
    return -rng.next() * 5;
  });
}

/** Applies `kernel` to arm `arm` of `state` through its per-arm views. */
function apply(kernel: UpdateKernel, state: LinearArmsState, arm: number, x: Float64Array, reward: number): void {
  const v = armViews(state);
  kernel(v.aInv[arm]!, v.b[arm]!, v.theta[arm]!, x, reward);
}

describe('unrolled D=12 kernels (differential against the generic loops)', () => {
  it('are the kernels the linear policies dispatch to for d = 12, and only for d = 12', () => {
    expect(UNROLLED_DIM).toBe(D);
    expect(armStatsKernel(D)).toBe(armStatsD12);
    expect(updateKernel(D)).toBe(updateArmD12);
    expect(armStatsKernel(7)).not.toBe(armStatsD12);
    expect(updateKernel(7)).not.toBe(updateArmD12);
    // linucb runs on v2, so its decisions go through them.
    expect(linUcb.layout).toBe('v2');
  });

  it('see each arm through views that alias the state, rebuilt when an array is replaced', () => {
    const state = createLinearArms(K, D, 1);
    const views = armViews(state);
    expect(armViews(state)).toBe(views);
    expect(views.aInv[3]!.buffer).toBe(state.aInv.buffer);
    expect(views.aInv[3]!.byteOffset).toBe(3 * D * D * 8);
    views.theta[2]![5] = 7;
    expect(state.theta[2 * D + 5]).toBe(7);
    const replaced = { ...state, theta: new Float64Array(K * D) };
    expect(armViews(replaced).theta[2]![5]).toBe(0);
  });

  it('update exactly as the generic loops do, over long mixed-regime sequences', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 400 }), (seed, n) => {
        const fast = createLinearArms(K, D, 1);
        const plain = createLinearArms(K, D, 1);
        const generic = updateGeneric(D);
        const rng = createRng(seed);
        for (let t = 0; t < n; t++) {
          const x = context(rng);
          const arm = rng.int(K);
          const reward = rng.next() < 0.5 ? 1 : 0;
          apply(updateArmD12, fast, arm, x, reward);
          apply(generic, plain, arm, x, reward);
        }
        expect(maxAbsDiff(fast.aInv, plain.aInv)).toBe(0);
        expect(maxAbsDiff(fast.b, plain.b)).toBe(0);
        expect(maxAbsDiff(fast.theta, plain.theta)).toBe(0);
      }),
      { seed: 7, numRuns: 60 },
    );
  });

  it('compute exactly the generic per-arm means and variances', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 300 }), (seed, n) => {
        const state = createLinearArms(K, D, 0.5);
        const generic = updateGeneric(D);
        const rng = createRng(seed);
        for (let t = 0; t < n; t++) apply(generic, state, rng.int(K), context(rng), rng.next());
        const stats = armStatsGeneric(D);
        const { aInv, theta } = armViews(state);
        for (let r = 0; r < 5; r++) {
          const x = context(rng);
          const [m1, v1, m2, v2] = [new Float64Array(K), new Float64Array(K), new Float64Array(K), new Float64Array(K)];
          armStatsD12(aInv, theta, K, x, m1, v1);
          stats(aInv, theta, K, x, m2, v2);
          expect(maxAbsDiff(m1, m2)).toBe(0);
          expect(maxAbsDiff(v1, v2)).toBe(0);
          for (const v of v1) expect(v).toBeGreaterThanOrEqual(0);
        }
      }),
      { seed: 8, numRuns: 60 },
    );
  });

  it('agree with the textbook model (direct inverse and solve) after 3000 updates', () => {
    const state = createLinearArms(K, D, 1);
    const a = Array.from({ length: K }, () => scaledIdentity(D, 1));
    const b = Array.from({ length: K }, () => new Array<number>(D).fill(0));
    const rng = createRng(9);
    for (let t = 0; t < 3000; t++) {
      const x = Float64Array.from({ length: D }, (_, i) => (i === 0 ? 1 : rng.next()));
      const arm = rng.int(K);
      const reward = rng.next() < 0.3 ? 1 : 0;
      apply(updateArmD12, state, arm, x, reward);
      addOuter(a[arm]!, x);
      for (let i = 0; i < D; i++) b[arm]![i]! += reward * x[i]!;
    }
    for (let arm = 0; arm < K; arm++) {
      const inverse = invert(a[arm]!).flat();
      expect(maxAbsDiff(block(state.aInv, arm, D).flat(), inverse)).toBeLessThanOrEqual(1e-9 * maxAbs(inverse));
      const theta = solve(a[arm]!, b[arm]!);
      expect(maxAbsDiff(state.theta.subarray(arm * D, (arm + 1) * D), theta)).toBeLessThan(1e-9);
    }
  });
});
