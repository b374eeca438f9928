/**
 * Numerical stability: 10⁶ updates with extreme contexts (|x| up to 1e3 next to 1e-3, 1e-300 and
 * exact zeros, nearly collinear directions) and 0/1 rewards leave a finite, symmetric, positive-
 * diagonal state that still serialises, loads and yields proper distributions.
 */
import { describe, expect, it } from 'vitest';
import { egreedyV1, egreedyV2 } from '../../src/policies/epsilon-greedy.js';
import type { LinearArmsState } from '../../src/policies/linear-arms.js';
import { linUcb } from '../../src/policies/linucb.js';
import type { Policy } from '../../src/policies/policy.js';
import { linearThompson } from '../../src/policies/thompson.js';
import { createRng, type Rng } from '../../src/random/rng.js';

const K = 8;
const UPDATES = 1_000_000;
const POOL = 4096;

/** One extreme coordinate: huge, small, denormal-tiny, zero or unit, with random sign. */
function extremeValue(rng: Rng): number {
  const sign = rng.next() < 0.5 ? -1 : 1;
  switch (rng.int(6)) {
    case 0:
      return sign * 1e3 * rng.next();
    case 1:
      return sign * 1e3;
    case 2:
      return sign * 1e-3 * rng.next();
    case 3:
      return sign * 1e-300 * rng.next();
    case 4:
      return 0;
    default:
      return sign;
  }
}

/** A pool of extreme contexts, a quarter of them nearly parallel to one huge direction. */
function extremeContexts(seed: number, d: number): Float64Array[] {
  const rng = createRng(seed);
  const direction = Float64Array.from({ length: d }, () => 1e3 * (rng.next() - 0.5));
  return Array.from({ length: POOL }, (_, n) =>
    n % 4 === 0
      ? Float64Array.from(direction, (v) => v * (1 + 1e-9 * rng.normal()))
      : Float64Array.from({ length: d }, () => extremeValue(rng)),
  );
}

function expectHealthy(state: LinearArmsState): void {
  const { k, d, aInv } = state;
  for (const array of [state.aInv, state.b, state.theta]) for (const v of array) expect(Number.isFinite(v)).toBe(true);
  for (let a = 0; a < k; a++) {
    for (let i = 0; i < d; i++) {
      expect(aInv[a * d * d + i * d + i]).toBeGreaterThan(0);
      for (let j = i + 1; j < d; j++) expect(aInv[a * d * d + i * d + j]).toBe(aInv[a * d * d + j * d + i]);
    }
  }
}

function expectDistributions<S>(policy: Policy<S>, state: S, contexts: Float64Array[]): void {
  const rng = createRng(3);
  const p = new Float64Array(K);
  for (const x of contexts) {
    policy.probabilities(state, x, p);
    let sum = 0;
    for (const v of p) {
      expect(Number.isFinite(v) && v >= 0).toBe(true);
      sum += v;
    }
    expect(Math.abs(sum - 1)).toBeLessThan(1e-12);
    const { arm, propensity } = policy.choose(state, x, rng);
    expect(propensity).toBe(p[arm]);
    for (const s of policy.score(state, x, p)) expect(Number.isFinite(s)).toBe(true);
  }
}

/** Runs UPDATES updates over the pool with seeded arms and rewards. */
function hammer<S extends LinearArmsState>(policy: Policy<S>, state: S, contexts: Float64Array[], seed: number): void {
  const rng = createRng(seed);
  for (let t = 0; t < UPDATES; t++) policy.update(state, contexts[t & (POOL - 1)]!, rng.int(K), rng.next() < 0.5 ? 1 : 0);
}

describe('numerical stability under 10⁶ extreme updates', () => {
  it('D=12 (linucb, thompson and egreedy-v2 share this model and the unrolled kernels)', () => {
    const contexts = extremeContexts(71, 12);
    const state = linUcb.init(K);
    hammer(linUcb, state, contexts, 72);
    expect(state.updates).toBe(UPDATES);
    expectHealthy(state);
    const json = linUcb.toJSON(state);
    const sample = contexts.slice(0, 40);
    expectDistributions(linUcb, linUcb.fromJSON(json), sample);
    expectDistributions(linearThompson, linearThompson.fromJSON({ ...json, policy: 'thompson', params: { v: 0.5, lambda: 1 } }), sample);
    expectDistributions(egreedyV2, egreedyV2.fromJSON({ ...json, policy: 'egreedy-v2', params: { epsilon: 0.1, lambda: 1 } }), sample);
  });

  it('D=7 (egreedy-v1, generic loops)', () => {
    const contexts = extremeContexts(73, 7);
    const state = egreedyV1.init(K);
    hammer(egreedyV1, state, contexts, 74);
    expectHealthy(state);
    expectDistributions(egreedyV1, egreedyV1.fromJSON(egreedyV1.toJSON(state)), contexts.slice(0, 40));
  });
});
