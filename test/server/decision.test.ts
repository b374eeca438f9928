/**
 * `decide` (server/decision.ts): the served draw and the chosen arm's score, with and without an
 * allowed-arm mask, each arm scored once per decision.
 */
import { describe, expect, it } from 'vitest';
import { ARM_COUNT } from '../../src/features/arms.js';
import { vectorDim } from '../../src/features/vectors.js';
import { linUcb } from '../../src/policies/linucb.js';
import type { Policy } from '../../src/policies/policy.js';
import { createRng } from '../../src/random/rng.js';
import { createScratch, decide } from '../../src/server/decision.js';
import { randomContext, randomObservations } from '../policies/synthetic-bandit.js';

/** LinUCB with its score() and chooseScored() calls counted. */
function counted(): { policy: Policy<unknown>; calls: { score: number; chooseScored: number } } {
  const base = linUcb as Policy<unknown>;
  const calls = { score: 0, chooseScored: 0 };
  const policy: Policy<unknown> = {
    ...base,
    score(state, x, out) {
      calls.score++;
      return base.score(state, x, out);
    },
    chooseScored(state, x, rng, out) {
      calls.chooseScored++;
      return base.chooseScored(state, x, rng, out);
    },
  };
  return { policy, calls };
}

const D = vectorDim(linUcb.layout);

function trainedState(): unknown {
  const state = linUcb.init(ARM_COUNT);
  for (const { x, arm, reward } of randomObservations(3, 300, ARM_COUNT, D)) linUcb.update(state, x, arm, reward);
  return state;
}

describe('decide', () => {
  it("without a mask: choose's draw, the chosen arm's score, the arms scored once", () => {
    const state = trainedState();
    const env = createRng(8);
    for (let t = 0; t < 50; t++) {
      const x = randomContext(env, D);
      const { policy, calls } = counted();
      const d = decide(policy, state, x, null, createRng(t), createScratch());
      expect({ arm: d.arm, propensity: d.propensity }).toEqual(linUcb.choose(state as never, x, createRng(t)));
      expect(d.score).toBe(linUcb.score(state as never, x, new Float64Array(ARM_COUNT))[d.arm]);
      expect(calls).toEqual({ score: 0, chooseScored: 1 });
    }
  });

  it('with a mask: an allowed arm, the propensity renormalised over the allowed arms, or the best allowed arm when the policy gives them no mass', () => {
    const state = trainedState();
    const x = randomContext(createRng(9), D);
    const scores = linUcb.score(state as never, x, new Float64Array(ARM_COUNT));
    const greedy = scores.indexOf(Math.max(...scores));
    // Allowing the greedy arm: LinUCB puts all its mass there.
    const withGreedy = new Uint8Array(ARM_COUNT);
    withGreedy[greedy] = 1;
    withGreedy[(greedy + 1) % ARM_COUNT] = 1;
    const a = decide(linUcb as Policy<unknown>, state, x, withGreedy, createRng(1), createScratch());
    expect(a).toEqual({ arm: greedy, propensity: 1, score: scores[greedy] });
    // Excluding it: no mass on any allowed arm, so the best-scoring allowed arm, scored once.
    const without = new Uint8Array(ARM_COUNT).fill(1);
    without[greedy] = 0;
    const { policy, calls } = counted();
    const b = decide(policy, state, x, without, createRng(1), createScratch());
    const rest = [...scores].map((s, i) => (i === greedy ? -Infinity : s));
    const best = rest.indexOf(Math.max(...rest));
    expect(b).toEqual({ arm: best, propensity: 1, score: scores[best] });
    expect(calls.score).toBe(1);
  });
});
