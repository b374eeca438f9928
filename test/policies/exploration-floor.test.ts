/** The exploration floor mixes a policy with uniform random and logs the exact propensity. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { POLICIES } from '../../src/policies/catalog.js';
import { withExplorationFloor } from '../../src/policies/exploration-floor.js';
import { linUcb } from '../../src/policies/linucb.js';
import type { Policy } from '../../src/policies/policy.js';
import { vectorDim } from '../../src/features/vectors.js';
import { createRng } from '../../src/random/rng.js';
import { randomContext, randomObservations } from './synthetic-bandit.js';

const K = 8;

function trained(policy: Policy<unknown>, seed: number): unknown {
  const d = vectorDim(policy.layout);
  const state = policy.init(K);
  for (const { x, arm, reward } of randomObservations(seed, 200, K, d)) policy.update(state, x, arm, reward);
  return state;
}

describe('exploration floor', () => {
  it('gives every arm at least γ/K, sums to 1, and logs exactly the probability of the arm drawn (every policy)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...(Object.keys(POLICIES) as (keyof typeof POLICIES)[])),
        fc.double({ min: 0.001, max: 0.9, noNaN: true }),
        fc.integer({ min: 1, max: 1_000_000 }),
        (name, floor, seed) => {
          const base = POLICIES[name] as Policy<unknown>;
          const policy = withExplorationFloor(base, floor, K);
          const state = trained(base, seed % 997);
          const x = randomContext(createRng(seed), vectorDim(base.layout));
          const p = policy.probabilities(state, x, new Float64Array(K));
          const raw = base.probabilities(state, x, new Float64Array(K));
          let sum = 0;
          for (let a = 0; a < K; a++) {
            expect(p[a]!).toBeGreaterThanOrEqual(floor / K - 1e-15);
            expect(p[a]!).toBeCloseTo((1 - floor) * raw[a]! + floor / K, 12);
            sum += p[a]!;
          }
          expect(sum).toBeCloseTo(1, 12);
          const rng = createRng(seed + 1);
          for (let t = 0; t < 20; t++) {
            const d = policy.choose(state, x, rng);
            expect(d.propensity).toBeCloseTo(p[d.arm]!, 9);
          }
          // chooseScored: choose's decision from the same draws (both branches of the floor), and the base policy's scores.
          const a = createRng(seed + 2);
          const b = createRng(seed + 2);
          const scores = base.score(state, x, new Float64Array(K));
          for (let t = 0; t < 20; t++) {
            const out = new Float64Array(K).fill(NaN);
            expect(policy.chooseScored(state, x, a, out)).toEqual(policy.choose(state, x, b));
            expect([...out]).toEqual([...scores]);
          }
          expect(a.state()).toEqual(b.state());
        },
      ),
      { seed: 16, numRuns: 60 },
    );
  });

  it('draws arms with the mixed probabilities (LinUCB, greedy without a floor)', () => {
    const floor = 0.2;
    const policy = withExplorationFloor(linUcb as Policy<unknown>, floor, K);
    const state = trained(linUcb as Policy<unknown>, 3);
    const x = randomContext(createRng(4), vectorDim(linUcb.layout));
    const raw = linUcb.probabilities(state as never, x, new Float64Array(K));
    expect(raw.filter((v) => v === 1)).toHaveLength(1);
    const p = policy.probabilities(state, x, new Float64Array(K));
    const n = 40_000;
    const rng = createRng(5);
    const counts = new Array<number>(K).fill(0);
    for (let t = 0; t < n; t++) counts[policy.choose(state, x, rng).arm]!++;
    p.forEach((v, a) => expect(Math.abs(counts[a]! / n - v)).toBeLessThan(5 * Math.sqrt((v * (1 - v)) / n)));
    // chooseArm, which the simulator uses, draws from the same distribution.
    const arms = new Array<number>(K).fill(0);
    const rng2 = createRng(6);
    for (let t = 0; t < n; t++) arms[policy.chooseArm(state, x, rng2)]!++;
    p.forEach((v, a) => expect(Math.abs(arms[a]! / n - v)).toBeLessThan(5 * Math.sqrt((v * (1 - v)) / n)));
  });

  it('is the policy itself at 0, and refuses a floor outside [0, 1)', () => {
    expect(withExplorationFloor(linUcb, 0, K)).toBe(linUcb);
    expect(() => withExplorationFloor(linUcb, 1, K)).toThrow(/exploration floor must be in \[0, 1\), got 1/);
    expect(() => withExplorationFloor(linUcb, -0.1, K)).toThrow(/got -0.1/);
    expect(() => withExplorationFloor(linUcb, Number.NaN, K)).toThrow(/got NaN/);
  });
});
