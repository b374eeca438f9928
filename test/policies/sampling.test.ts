/** The randomised policies draw arms with the probabilities they report. */
import { describe, expect, it } from 'vitest';
import { egreedyV1, egreedyV2 } from '../../src/policies/epsilon-greedy.js';
import { linearThompson } from '../../src/policies/thompson.js';
import type { Policy } from '../../src/policies/policy.js';
import { createRng } from '../../src/random/rng.js';
import { randomContext, randomObservations } from './synthetic-bandit.js';

const K = 8;

/** Empirical choice frequencies at one (state, x) over n draws from one seeded rng. */
function frequencies<S>(policy: Policy<S>, state: S, x: Float64Array, n: number, seed: number): number[] {
  const rng = createRng(seed);
  const counts = new Array<number>(K).fill(0);
  for (let t = 0; t < n; t++) counts[policy.choose(state, x, rng).arm]!++;
  return counts.map((c) => c / n);
}

describe('sampling matches the reported probabilities', () => {
  it('ε-greedy: ε/K everywhere plus (1 − ε)/|ties| on the greedy arms', () => {
    const state = egreedyV1.init(K, { epsilon: 0.3 });
    for (const { x, arm, reward } of randomObservations(51, 400, K, 7)) egreedyV1.update(state, x, arm, reward);
    const x = randomContext(createRng(52), 7);
    const p = egreedyV1.probabilities(state, x, new Float64Array(K));
    const means = egreedyV1.score(state, x, new Float64Array(K));
    const best = means.indexOf(Math.max(...means));
    p.forEach((v, a) => expect(v).toBeCloseTo(a === best ? 0.3 / K + 0.7 : 0.3 / K, 15));
    const f = frequencies(egreedyV1, state, x, 40_000, 53);
    p.forEach((v, a) => expect(Math.abs(f[a]! - v)).toBeLessThan(5 * Math.sqrt((v * (1 - v)) / 40_000)));
  });

  it('ε-greedy: ε = 0 is greedy and ε = 1 is uniform', () => {
    const greedy = egreedyV2.init(K, { epsilon: 0 });
    const uniform = egreedyV2.init(K, { epsilon: 1 });
    for (const { x, arm, reward } of randomObservations(54, 300, K, 12)) {
      egreedyV2.update(greedy, x, arm, reward);
      egreedyV2.update(uniform, x, arm, reward);
    }
    const x = randomContext(createRng(55), 12);
    const p = egreedyV2.probabilities(greedy, x, new Float64Array(K));
    expect(p.filter((v) => v === 1)).toHaveLength(1);
    expect(Array.from(egreedyV2.probabilities(uniform, x, new Float64Array(K)))).toEqual(new Array<number>(K).fill(1 / K));
  });

  it('Thompson: the arms drawn by choose() follow the quadrature probabilities', () => {
    const state = linearThompson.init(K, { v: 0.5 });
    for (const { x, arm, reward } of randomObservations(56, 150, K, 12)) linearThompson.update(state, x, arm, reward);
    const x = randomContext(createRng(57), 12);
    const p = linearThompson.probabilities(state, x, new Float64Array(K));
    // A spread-out distribution, so the comparison says something about several arms.
    expect(p.filter((v) => v > 0.05).length).toBeGreaterThanOrEqual(3);
    const n = 3000;
    const f = frequencies(linearThompson, state, x, n, 58);
    p.forEach((v, a) => expect(Math.abs(f[a]! - v)).toBeLessThan(5 * Math.sqrt((v * (1 - v)) / n) + 1e-3));
  });

  it('Thompson: v = 0 plays the posterior-mean argmax with propensity 1', () => {
    const state = linearThompson.init(K, { v: 0 });
    for (const { x, arm, reward } of randomObservations(59, 300, K, 12)) linearThompson.update(state, x, arm, reward);
    const x = randomContext(createRng(60), 12);
    const means = linearThompson.score(state, x, new Float64Array(K));
    const best = means.indexOf(Math.max(...means));
    expect(linearThompson.choose(state, x, createRng(1))).toEqual({ arm: best, propensity: 1 });
  });
});
