import { describe, expect, it } from 'vitest';
import { isOoMlError } from '../../src/errors.js';
import { evaluate, type EvaluateOptions } from '../../src/evaluation/evaluate.js';
import { checkLogs, type LoggedBandit } from '../../src/evaluation/logged-bandit.js';
import { createRng } from '../../src/random/rng.js';

const base = (): LoggedBandit => ({
  n: 3,
  k: 2,
  arm: Int32Array.from([0, 1, 0]),
  reward: Float64Array.from([1, 0, 1]),
  propensity: Float64Array.from([0.5, 0.5, 0.5]),
});
const uniform = () => new Float64Array(6).fill(0.5);

/** Runs `f`, expecting an OoMlError of `code` whose message matches `pattern`. */
function expectError(f: () => unknown, code: 'invalid_input' | 'invalid_usage', pattern: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(isOoMlError(caught, code), String(caught)).toBe(true);
  expect((caught as Error).message).toMatch(pattern);
}

describe('bad logs are invalid_input errors naming the problem and the row', () => {
  it.each([
    ['a propensity of 0', (l: LoggedBandit) => (l.propensity[1] = 0), /row 1: propensity 0 is outside \(0, 1\]/],
    ['a NaN (missing) propensity', (l: LoggedBandit) => (l.propensity[2] = NaN), /row 2: propensity is missing/],
    ['a propensity above 1', (l: LoggedBandit) => (l.propensity[0] = 1.2), /row 0: propensity 1.2 is outside/],
    ['a negative arm', (l: LoggedBandit) => (l.arm[1] = -1), /row 1: arm index -1 is outside \[0, 2\)/],
    ['an arm ≥ k', (l: LoggedBandit) => (l.arm[2] = 2), /row 2: arm index 2 is outside \[0, 2\)/],
    ['a NaN reward', (l: LoggedBandit) => (l.reward[0] = NaN), /row 0: reward NaN is not a finite number/],
  ])('%s', (_, spoil, pattern) => {
    const logs = base();
    spoil(logs);
    expectError(() => evaluate(logs, uniform()), 'invalid_input', pattern);
  });

  it('empty logs', () => {
    expectError(() => evaluate({ ...base(), n: 0, arm: new Int32Array(0), reward: new Float64Array(0), propensity: new Float64Array(0) }, new Float64Array(0)), 'invalid_input', /empty/);
  });

  it('mismatched lengths', () => {
    expectError(() => evaluate({ ...base(), reward: Float64Array.from([1, 0]) }, uniform()), 'invalid_input', /logs.reward has 2 rows, expected n = 3/);
    expectError(() => evaluate(base(), new Float64Array(5).fill(0.4)), 'invalid_input', /target has 5 values, expected n × k = 3 × 2 = 6/);
    expectError(() => evaluate(base(), uniform(), { qhat: new Float64Array(4) }), 'invalid_input', /qhat has 4 values/);
    expectError(() => evaluate({ ...base(), x: new Float64Array(5), d: 2 }, uniform()), 'invalid_input', /logs.x has 5 values, expected n × d = 3 × 2 = 6/);
    expectError(() => evaluate({ ...base(), x: new Float64Array(6) }, uniform()), 'invalid_input', /logs.d/);
    expectError(() => checkLogs({ ...base(), position: new Int32Array(1) }), 'invalid_input', /logs.position has 1 rows/);
  });
});

describe('bad targets are invalid_input errors naming the row', () => {
  it.each([
    ['a row that does not sum to 1', [0.5, 0.5, 0.5, 0.6, 0.5, 0.5], /target row 1 sums to 1.1, not 1/],
    ['negative mass', [0.5, 0.5, 1.5, -0.5, 0.5, 0.5], /target row 1 puts negative mass -0.5 on arm 1/],
    ['a NaN probability', [0.5, 0.5, 0.5, 0.5, NaN, 0.5], /target row 2 has a NaN probability/],
    ['a row with no mass', [0.5, 0.5, 0, 0, 0.5, 0.5], /target row 1 has no mass on any arm/],
  ])('%s', (_, row, pattern) => {
    expectError(() => evaluate(base(), Float64Array.from(row)), 'invalid_input', pattern);
  });

  it('accepts rows within ±1e-6 of 1', () => {
    expect(() => evaluate(base(), Float64Array.from([0.5, 0.5 + 9e-7, 0.5, 0.5, 0.5 - 9e-7, 0.5]))).not.toThrow();
  });

  it('a target with no mass on any logged arm cannot be importance-weighted, but DM still runs', () => {
    // Logged arms are 0, 1, 0; the target plays 1, 0, 1.
    const t = Float64Array.from([0, 1, 1, 0, 0, 1]);
    expectError(() => evaluate(base(), t, { estimators: ['ips', 'dm'] }), 'invalid_input', /zero mass on the logged arm in every row: ips cannot be estimated/);
    // Arm means: arm 0 → 1 (rows 0, 2), arm 1 → 0 (row 1); DM = (0 + 1 + 0) / 3.
    expect(evaluate(base(), t, { estimators: ['dm'] }).estimates[0]!.value).toBeCloseTo(1 / 3, 12);
  });

  it('fits the reward model with no more folds than rows: one row is its own model, not a model of nothing', () => {
    const one: LoggedBandit = { n: 1, k: 2, arm: Int32Array.from([0]), reward: Float64Array.from([1]), propensity: Float64Array.from([0.5]) };
    const dm = evaluate(one, Float64Array.from([0.5, 0.5]), { estimators: ['dm'], folds: 5 }).estimates[0]!;
    // Arm 0's mean is 1, and unseen arm 1 gets the pooled mean, 1.
    expect(dm.value).toBe(1);
    expect(dm.notes.join(' ')).toContain('one row: the reward model is fitted on the row it evaluates, not cross-fitted over 5 folds');
    const three = evaluate(base(), uniform(), { estimators: ['dm'], folds: 5 });
    expect(three.rewardModel?.folds).toBe(3);
  });

  it('warns of importance weights too large for a logged propensity, which an equal-weight effective sample size cannot see', () => {
    const tiny: LoggedBandit = { ...base(), propensity: Float64Array.from([1e-12, 1e-12, 1e-12]) };
    const ips = evaluate(tiny, uniform(), { estimators: ['ips'] }).estimates[0]!;
    expect(ips.notes.join(' ')).toContain('importance weights reach 5.00e+11 (smallest logged propensity 1.00e-12): check that the propensity column');
    expect(evaluate(base(), uniform(), { estimators: ['ips'] }).estimates[0]!.notes.join(' ')).not.toContain('importance weights reach');
  });

  it('a non-finite prediction in qhat', () => {
    const qhat = Float64Array.from([0.1, 0.2, 0.3, Infinity, 0.1, 0.2]);
    expectError(() => evaluate(base(), uniform(), { estimators: ['dr'], qhat }), 'invalid_input', /qhat row 1/);
  });
});

describe('bad options are invalid_usage errors', () => {
  it.each<[string, EvaluateOptions, RegExp]>([
    ['an unknown estimator', { estimators: ['ips', 'magic' as 'ips'] }, /unknown estimator\(s\): magic/],
    ['no estimator', { estimators: [] }, /no estimator requested/],
    ['dr-clip without a cap', { estimators: ['dr-clip'] }, /dr-clip needs a weight cap clip > 0/],
    ['switch-dr with a negative threshold', { estimators: ['switch-dr'], tau: -1 }, /switch-dr needs a weight threshold tau ≥ 0/],
    ['a bootstrap without an rng', { interval: 'bootstrap' }, /the bootstrap needs a seeded rng/],
    ['a bootstrap of one resample', { interval: 'bootstrap', rng: createRng(1), resamples: 1 }, /resamples must be an integer ≥ 2/],
    ['a negative ridge lambda', { estimators: ['dm'], lambda: -1 }, /ridge lambda must be a finite number ≥ 0/],
  ])('%s', (_, options, pattern) => {
    expectError(() => evaluate(base(), uniform(), options), 'invalid_usage', pattern);
  });
});

describe('support deficiency is a labelled diagnostic, not a NaN', () => {
  it('flags target mass on arms the logs never show', () => {
    // k = 3, arm 2 is never logged; the target gives it 0.2 everywhere.
    const logs: LoggedBandit = { ...base(), k: 3 };
    const t = Float64Array.from([0.4, 0.4, 0.2, 0.4, 0.4, 0.2, 0.4, 0.4, 0.2]);
    const r = evaluate(logs, t, { estimators: ['ips', 'snips', 'dm', 'dr'] });
    expect(r.diagnostics.supportDeficient).toBe(true);
    expect(r.diagnostics.unloggedArms).toEqual([2]);
    expect(r.diagnostics.targetMassOnUnloggedArms).toBeCloseTo(0.2, 12);
    for (const e of r.estimates) {
      expect(Number.isFinite(e.value)).toBe(true);
      expect(e.diagnostics.supportDeficient).toBe(true);
      expect(e.notes.join(' ')).toMatch(/support deficiency/);
    }
    expect(r.rewardModel!.unfittedArms).toEqual([2]);
    expect(r.estimates[2]!.notes.join(' ')).toMatch(/predicts the pooled mean reward/);
  });
});
