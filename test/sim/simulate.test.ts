import { describe, expect, it } from 'vitest';
import { ARM_COUNT } from '../../src/features/arms.js';
import type { Policy, SerializedPolicyState } from '../../src/policies/policy.js';
import { createScenario } from '../../src/sim/scenario.js';
import { simulate } from '../../src/sim/simulate.js';
import type { SimEntrant } from '../../src/sim/runner.js';

/** A fixed-arm policy and a uniform one: enough to test the environment without learning. */
function fixedArm(arm: number): Policy<{ n: number }> {
  const probs = (out: Float64Array) => {
    out.fill(0);
    out[arm] = 1;
    return out;
  };
  return {
    name: 'egreedy-v1',
    layout: 'v1',
    init: () => ({ n: 0 }),
    score: (_s, _x, out) => probs(out),
    probabilities: (_s, _x, out) => probs(out),
    choose: () => ({ arm, propensity: 1 }),
    chooseArm: () => arm,
    chooseScored: (_s, _x, _rng, out) => {
      probs(out);
      return { arm, propensity: 1 };
    },
    update: (s) => {
      s.n++;
    },
    cloneState: (s) => ({ ...s }),
    toJSON: (): SerializedPolicyState => ({ policy: 'egreedy-v1', stateVersion: 1, k: ARM_COUNT, d: 7, params: {}, arrays: {}, updates: 0 }),
    fromJSON: () => ({ n: 0 }),
  };
}

const uniform: Policy<{ n: number }> = {
  ...fixedArm(0),
  layout: 'v2',
  choose: (_s, _x, rng) => ({ arm: rng.int(ARM_COUNT), propensity: 1 / ARM_COUNT }),
  chooseArm: (_s, _x, rng) => rng.int(ARM_COUNT),
  chooseScored: (_s, _x, rng, out) => {
    out.fill(0);
    return { arm: rng.int(ARM_COUNT), propensity: 1 / ARM_COUNT };
  },
};

const entrant = (name: string, policy: Policy<{ n: number }>): SimEntrant => ({
  name,
  policy: policy as Policy<unknown>,
  initialState: () => policy.init(ARM_COUNT),
});

const OPTIONS = { users: 60, rounds: 24 * 7, seed: 5 };

describe('persona simulation', () => {
  it('builds the same scenario for the same (seed, rep) and a different one otherwise', () => {
    const a = createScenario(OPTIONS, 0);
    expect(a.n).toBeGreaterThan(500);
    expect(createScenario(OPTIONS, 0)).toEqual(a);
    expect(createScenario(OPTIONS, 1).u).not.toEqual(a.u);
    for (let i = 1; i < a.n; i++) expect(a.round[i]!).toBeGreaterThanOrEqual(a.round[i - 1]!);
  });

  it('gives byte-identical results for one seed, with intervals, regret and per-persona breakdown', () => {
    const entrants = [entrant('uniform', uniform), entrant('always-split', fixedArm(0)), entrant('always-plan', fixedArm(5))];
    const r1 = simulate(OPTIONS, 3, entrants);
    const r2 = simulate(OPTIONS, 3, entrants);
    expect(JSON.stringify(r2)).toBe(JSON.stringify(r1));
    expect(r1.baseline).toBe('uniform');
    const [u, split] = r1.policies;
    expect(u!.vsBaseline).toBeNull();
    expect(split!.vsBaseline!.n).toBe(3);
    for (const p of r1.policies) {
      expect(p.cumulativeRegret.mean).toBeGreaterThan(0);
      expect(p.meanReward.ci95[0]).toBeLessThanOrEqual(p.meanReward.mean);
      expect(p.meanReward.ci95[1]).toBeGreaterThanOrEqual(p.meanReward.mean);
      expect(Object.keys(p.perPersona).length).toBeGreaterThanOrEqual(4);
      expect(p.meanReward.mean).toBeLessThan(r1.oracleMeanReward.mean);
    }
    const regret = r1.curves.cumRegret['uniform']!;
    for (let i = 1; i < regret.length; i++) expect(regret[i]!).toBeGreaterThanOrEqual(regret[i - 1]!);
    expect(r1.curves.rounds.at(-1)).toBe(OPTIONS.rounds - 1);
    expect(JSON.stringify(simulate({ ...OPTIONS, seed: 6 }, 3, entrants))).not.toBe(JSON.stringify(r1));
  });

  it('uses common random numbers: two copies of one deterministic policy tie exactly', () => {
    const r = simulate(OPTIONS, 2, [entrant('a', fixedArm(2)), entrant('b', fixedArm(2))]);
    expect(r.policies[1]!.vsBaseline!.mean).toBe(0);
    expect(r.policies[1]!.cumulativeReward).toEqual(r.policies[0]!.cumulativeReward);
  });

  it('changes which arm is best when preferences drift', () => {
    const plain = simulate(OPTIONS, 2, [entrant('fixed', fixedArm(4))]);
    const drift = simulate({ ...OPTIONS, driftAtRound: 24 }, 2, [entrant('fixed', fixedArm(4))]);
    expect(drift.policies[0]!.cumulativeRegret.mean).not.toBeCloseTo(plain.policies[0]!.cumulativeRegret.mean, 3);
    const delayed = simulate({ ...OPTIONS, delayRounds: 6 }, 2, [entrant('fixed', fixedArm(4))]);
    expect(delayed.options.delayRounds).toBe(6);
  });

  it('rejects zero users or rounds and unknown personas, naming them', () => {
    const e = [entrant('u', uniform)];
    expect(() => simulate({ ...OPTIONS, users: 0 }, 1, e)).toThrow(/--users must be a positive integer/);
    expect(() => simulate({ ...OPTIONS, rounds: 0 }, 1, e)).toThrow(/--rounds/);
    expect(() => simulate({ ...OPTIONS, personas: ['night_owl', 'vampire'] }, 1, e)).toThrow(/unknown persona\(s\): vampire/);
    expect(() => simulate({ ...OPTIONS, personas: ['night_owl', 'night_owl'] }, 1, e)).toThrow('--personas names night_owl more than once');
    // Past the simulated hours, drift and feedback would never happen.
    expect(() => simulate({ ...OPTIONS, driftAtRound: OPTIONS.rounds }, 1, e)).toThrow(/--drift-at .* preferences would never drift/);
    expect(() => simulate({ ...OPTIONS, delayRounds: OPTIONS.rounds }, 1, e)).toThrow(/--delay .* no reaction would reach the policies/);
    expect(simulate({ ...OPTIONS, driftAtRound: OPTIONS.rounds - 1, delayRounds: OPTIONS.rounds - 1 }, 1, e).options.driftAtRound).toBe(OPTIONS.rounds - 1);
    const owls = simulate({ ...OPTIONS, personas: ['night_owl'] }, 1, e);
    expect(Object.keys(owls.policies[0]!.perPersona)).toEqual(['night_owl']);
  });
});
