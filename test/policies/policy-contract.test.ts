/**
 * The Policy contract, run on every built-in policy: propensities form a distribution and match
 * choose(), chooseArm() is choose() without the propensity, chooseScored() is choose() that also
 * writes score()'s values, one seed gives one decision sequence, states round-trip exactly and
 * bad states and inputs are rejected with invalid_input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isOoMlError } from '../../src/errors.js';
import { vectorDim } from '../../src/features/vectors.js';
import { POLICY_NAMES, getPolicy, restorePolicyState } from '../../src/policies/catalog.js';
import type { Decision, Policy, SerializedPolicyState } from '../../src/policies/policy.js';
import { decodeFloat64, encodeFloat64 } from '../../src/policies/state-codec.js';
import { createRng, type Rng } from '../../src/random/rng.js';
import { randomContext } from './synthetic-bandit.js';

const K = 8;

/** Expects `fn` to throw an invalid_input OoMlError whose message matches `pattern`. */
function expectInvalid(fn: () => unknown, pattern: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(isOoMlError(thrown, 'invalid_input'), `expected invalid_input, got ${String(thrown)}`).toBe(true);
  expect((thrown as Error).message).toMatch(pattern);
}

/** A state after n seeded updates with random contexts, arms and 0/1 rewards. */
function trained(policy: Policy<unknown>, seed: number, n: number): unknown {
  const d = vectorDim(policy.layout);
  const state = policy.init(K);
  const rng = createRng(seed);
  for (let t = 0; t < n; t++) policy.update(state, randomContext(rng, d), rng.int(K), rng.next() < 0.4 ? 1 : 0);
  return state;
}

/** n choose+update steps from `state` with a seeded rng and a fixed environment. */
function run(policy: Policy<unknown>, state: unknown, seed: number, n: number): Decision[] {
  const d = vectorDim(policy.layout);
  const rng = createRng(seed);
  const env = createRng(1234);
  const out: Decision[] = [];
  for (let t = 0; t < n; t++) {
    const x = randomContext(env, d);
    const decision = policy.choose(state, x, rng);
    out.push(decision);
    policy.update(state, x, decision.arm, env.next() < 0.2 + 0.1 * decision.arm * x[1]! ? 1 : 0);
  }
  return out;
}

/**
 * Calls `check` with two rngs of one seed (20 seeds) on the zero context, where every arm ties and
 * the tie-break draws: for a trained state of K arms, and a fresh one of 40 (more arms than the
 * policies' first scratch buffers hold, 16).
 */
function forTiedDraws(policy: Policy<unknown>, check: (k: number, state: unknown, zero: Float64Array, a: Rng, b: Rng) => void): void {
  const zero = new Float64Array(vectorDim(policy.layout));
  for (const [k, state] of [
    [K, trained(policy, 2, 50)],
    [40, policy.init(40)],
  ] as const) {
    for (let s = 0; s < 20; s++) check(k, state, zero, createRng(s), createRng(s));
  }
}

/** A context arbitrary of dimension d: finite values over several magnitudes, zeros included. */
const contextArb = (d: number) =>
  fc
    .array(fc.oneof(fc.double({ min: -3, max: 3, noNaN: true }), fc.constant(0), fc.double({ min: -1e3, max: 1e3, noNaN: true })), {
      minLength: d,
      maxLength: d,
    })
    .map((v) => Float64Array.from(v));

for (const name of POLICY_NAMES) {
  const policy = getPolicy(name);
  const d = vectorDim(policy.layout);
  // Thompson's quadrature costs ~100× a linear policy's decision; fewer runs keep the suite fast.
  const runs = name === 'thompson' ? 25 : 100;

  describe(`policy contract: ${name}`, () => {
    it('has the layout dimension and a fresh state that treats every arm alike', () => {
      const state = policy.init(K);
      const x = randomContext(createRng(1), d);
      const p = policy.probabilities(state, x, new Float64Array(K));
      for (const v of p) expect(v).toBeCloseTo(1 / K, 12);
      expect(policy.toJSON(state)).toMatchObject({ policy: name, k: K, d, updates: 0, stateVersion: 1 });
    });

    it('gives propensities that sum to 1, and choose() returns exactly probabilities()[arm]', () => {
      fc.assert(
        fc.property(fc.integer(), fc.integer({ min: 0, max: 200 }), contextArb(d), fc.integer(), (seed, n, x, drawSeed) => {
          const state = trained(policy, seed, n);
          const p = policy.probabilities(state, x, new Float64Array(K));
          let sum = 0;
          for (const v of p) {
            expect(v).toBeGreaterThanOrEqual(0);
            expect(v).toBeLessThanOrEqual(1);
            sum += v;
          }
          expect(Math.abs(sum - 1)).toBeLessThan(1e-12);
          const decision = policy.choose(state, x, createRng(drawSeed));
          expect(Number.isInteger(decision.arm) && decision.arm >= 0 && decision.arm < K).toBe(true);
          expect(decision.propensity).toBe(p[decision.arm]);
          expect(decision.propensity).toBeGreaterThan(0);
        }),
        { seed: 31, numRuns: runs },
      );
    });

    it('chooseArm() draws the arm choose() draws and leaves the rng where choose() leaves it', () => {
      fc.assert(
        fc.property(fc.integer(), fc.integer({ min: 0, max: 200 }), contextArb(d), fc.integer(), (seed, n, x, drawSeed) => {
          const state = trained(policy, seed, n);
          const a = createRng(drawSeed);
          const b = createRng(drawSeed);
          expect(policy.chooseArm(state, x, a)).toBe(policy.choose(state, x, b).arm);
          expect(a.state()).toEqual(b.state());
        }),
        { seed: 37, numRuns: runs },
      );
      forTiedDraws(policy, (k, state, zero, a, b) => {
        const arm = policy.chooseArm(state, zero, a);
        const decision = policy.choose(state, zero, b);
        expect(arm).toBe(decision.arm);
        expect(a.state()).toEqual(b.state());
        expect(decision.propensity).toBe(policy.probabilities(state, zero, new Float64Array(k))[arm]);
      });
    });

    it('chooseScored() makes the decision choose() makes, leaves the rng where choose() leaves it and writes what score() writes', () => {
      fc.assert(
        fc.property(fc.integer(), fc.integer({ min: 0, max: 200 }), contextArb(d), fc.integer(), (seed, n, x, drawSeed) => {
          const state = trained(policy, seed, n);
          const a = createRng(drawSeed);
          const b = createRng(drawSeed);
          const out = new Float64Array(K).fill(NaN);
          expect(policy.chooseScored(state, x, a, out)).toEqual(policy.choose(state, x, b));
          expect(a.state()).toEqual(b.state());
          expect([...out]).toEqual([...policy.score(state, x, new Float64Array(K))]);
        }),
        { seed: 41, numRuns: runs },
      );
      forTiedDraws(policy, (k, state, zero, a, b) => {
        const out = new Float64Array(k).fill(NaN);
        expect(policy.chooseScored(state, zero, a, out)).toEqual(policy.choose(state, zero, b));
        expect(a.state()).toEqual(b.state());
        expect([...out]).toEqual([...policy.score(state, zero, new Float64Array(k))]);
      });
    });

    it('handles the zero context (every arm tied or a point mass)', () => {
      const state = trained(policy, 2, 50);
      const p = policy.probabilities(state, new Float64Array(d), new Float64Array(K));
      const decision = policy.choose(state, new Float64Array(d), createRng(3));
      expect(decision.propensity).toBe(p[decision.arm]);
      // Every mean is 0 and every variance 0: all arms tie (ε-greedy's split adds up to 1/K too).
      for (const v of p) expect(v).toBeCloseTo(1 / K, 14);
    });

    it('makes the same decisions, bit for bit, from the same seed and different ones from another', () => {
      const a = run(policy, policy.init(K), 5, 300);
      const b = run(policy, policy.init(K), 5, 300);
      const c = run(policy, policy.init(K), 6, 300);
      expect(b).toEqual(a);
      expect(c).not.toEqual(a);
    });

    it('round-trips its state exactly: same arrays, scores, probabilities and later decisions', () => {
      fc.assert(
        fc.property(fc.integer(), fc.integer({ min: 0, max: 150 }), contextArb(d), (seed, n, x) => {
          const state = trained(policy, seed, n);
          const json = policy.toJSON(state);
          // Through text, as a state is stored on disk or in a registry.
          const restored = policy.fromJSON(JSON.parse(JSON.stringify(json)) as SerializedPolicyState);
          expect(policy.toJSON(restored)).toEqual(json);
          expect(policy.score(restored, x, new Float64Array(K))).toEqual(policy.score(state, x, new Float64Array(K)));
          expect(policy.probabilities(restored, x, new Float64Array(K))).toEqual(policy.probabilities(state, x, new Float64Array(K)));
          expect(run(policy, restored, seed, 8)).toEqual(run(policy, state, seed, 8));
          expect(policy.toJSON(restored)).toEqual(policy.toJSON(state));
        }),
        { seed: 32, numRuns: runs },
      );
    });

    it('clones deeply: updating the clone leaves the original untouched', () => {
      const state = trained(policy, 4, 20);
      const before = policy.toJSON(state);
      const copy = policy.cloneState(state);
      policy.update(copy, randomContext(createRng(5), d), 1, 1);
      expect(policy.toJSON(state)).toEqual(before);
      expect(policy.toJSON(copy).updates).toBe(21);
    });

    it('rejects malformed serialised states with invalid_input naming the problem', () => {
      const good = policy.toJSON(trained(policy, 6, 30));
      const edit = (change: (s: SerializedPolicyState) => void): SerializedPolicyState => {
        const s = structuredClone(good);
        change(s);
        return s;
      };
      const other = POLICY_NAMES.find((n) => n !== name)!;
      const nan = '000000000000f87f';
      const aInv = decodeFloat64(good.arrays['aInv']!, K * d * d, 'aInv');
      const asymmetric = aInv.slice();
      asymmetric[1] = asymmetric[1]! + 1e-9;
      const negativeDiagonal = aInv.slice();
      negativeDiagonal[0] = -1;
      const cases: [SerializedPolicyState | unknown, RegExp][] = [
        [edit((s) => (s.policy = other)), new RegExp(`is for policy ${other}, not ${name}`)],
        [edit((s) => ((s as { policy: string }).policy = 'bogus')), /\/policy/],
        [edit((s) => (s.stateVersion = 2)), /stateVersion 2/],
        [edit((s) => (s.k = 0)), /\/k/],
        [edit((s) => (s.k = 1.5)), /\/k/],
        [edit((s) => (s.k = 9)), new RegExp(`array "aInv" must be ${9 * d * d} doubles \\(${9 * d * d * 16} lowercase hex digits\\), got ${K * d * d * 16} characters`)],
        [edit((s) => (s.d = d + 1)), new RegExp(`dimension d=${d + 1}, expected ${d}`)],
        [edit((s) => delete s.params['lambda']), /parameter "lambda" .* is missing/],
        [edit((s) => (s.params['lambda'] = 0)), /parameter "lambda" .* must be a finite number > 0, got 0/],
        [edit((s) => (s.params['gamma'] = 1)), /unknown parameter "gamma"/],
        [edit((s) => delete s.arrays['theta']), /missing the array "theta"/],
        [edit((s) => (s.arrays['extra'] = '')), /unknown array "extra"/],
        [edit((s) => (s.arrays['b'] = s.arrays['b']!.slice(16))), new RegExp(`array "b" must be ${K * d} doubles`)],
        [edit((s) => (s.arrays['b'] = s.arrays['b']!.toUpperCase())), /\/arrays\/b/],
        [edit((s) => (s.arrays['theta'] = nan + s.arrays['theta']!.slice(16))), /"theta" holds a non-finite value \(NaN\) at index 0/],
        [edit((s) => (s.arrays['aInv'] = encodeFloat64(asymmetric))), /not symmetric at \(0, 1\)/],
        [edit((s) => (s.arrays['aInv'] = encodeFloat64(negativeDiagonal))), /non-positive diagonal entry at \(0, 0\)/],
        [edit((s) => ((s as unknown as Record<string, unknown>)['extra'] = 1)), /unknown field\(s\): extra/],
        [edit((s) => (s.updates = -1)), /\/updates/],
        [null, /policy state is invalid/],
        ['{}', /policy state is invalid/],
      ];
      for (const [bad, pattern] of cases) expectInvalid(() => policy.fromJSON(bad as SerializedPolicyState), pattern);
    });

    it('rejects bad parameters, contexts, arms and rewards with invalid_input', () => {
      expectInvalid(() => policy.init(0), /integer number of arms between 1 and 4096, got 0/);
      expectInvalid(() => policy.init(K, { nope: 1 }), new RegExp(`unknown parameter "nope" for policy ${name}`));
      expectInvalid(() => policy.init(K, { lambda: -1 }), /"lambda" .* got -1/);
      const state = policy.init(K);
      const x = randomContext(createRng(7), d);
      expectInvalid(() => policy.choose(state, new Float64Array(d + 1), createRng(1)), new RegExp(`has length ${d + 1}, expected ${d}`));
      const bad = x.slice();
      bad[2] = NaN;
      expectInvalid(() => policy.probabilities(state, bad, new Float64Array(K)), /non-finite value \(NaN\) at index 2/);
      expectInvalid(() => policy.update(state, x, K, 1), new RegExp(`arm ${K} is not an arm`));
      expectInvalid(() => policy.update(state, x, 0, Infinity), /reward Infinity/);
      expect(policy.toJSON(state).updates).toBe(0);
    });

    it('is found by name and restored from a state by its policy field', () => {
      const state = trained(policy, 8, 10);
      const { policy: found, state: restored } = restorePolicyState(JSON.parse(JSON.stringify(policy.toJSON(state))));
      expect(found).toBe(policy);
      expect(found.toJSON(restored)).toEqual(policy.toJSON(state));
    });
  });
}

describe('policy catalog', () => {
  it('rejects an unknown policy name with invalid_input listing the valid names', () => {
    let thrown: unknown;
    try {
      getPolicy('ucb2');
    } catch (e) {
      thrown = e;
    }
    expect(isOoMlError(thrown, 'invalid_input')).toBe(true);
    expect((thrown as Error).message).toBe('unknown policy "ucb2"');
    expect((thrown as { hint: string }).hint).toBe('valid policies: egreedy-v1, egreedy-v2, linucb, thompson');
    expectInvalid(() => restorePolicyState({ policy: 'ucb2' }), /policy state is invalid/);
  });
});
