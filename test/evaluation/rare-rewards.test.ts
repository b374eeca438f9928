/** Intervals when few rewarded rows carry weight: rare clicks under a greedy target on many arms. */
import { describe, expect, it } from 'vitest';
import { evaluate, type OpeReport } from '../../src/evaluation/evaluate.js';
import type { LoggedBandit } from '../../src/evaluation/logged-bandit.js';
import { createRng, deriveSeed, type Rng } from '../../src/random/rng.js';

const K = 46;
const N = 3000;
const SEEDS = 200;
// Click rates between 0.3 % and 0.7 % (0.5 % on average), one per arm.
const RATE = Array.from({ length: K }, (_, a) => 0.003 + (0.004 * a) / (K - 1));

/** Uniform logs; the greedy target plays arm (i · 7) mod K in row i. Truth: the mean click rate of the arms it plays. */
function rareClicks(rng: Rng): { logs: LoggedBandit; target: Float64Array; truth: number } {
  const logs: LoggedBandit = { n: N, k: K, arm: new Int32Array(N), reward: new Float64Array(N), propensity: new Float64Array(N).fill(1 / K) };
  const target = new Float64Array(N * K);
  let truth = 0;
  for (let i = 0; i < N; i++) {
    const a = rng.int(K);
    logs.arm[i] = a;
    logs.reward[i] = rng.next() < RATE[a]! ? 1 : 0;
    const t = (i * 7) % K;
    target[i * K + t] = 1;
    truth += RATE[t]!;
  }
  return { logs, target, truth: truth / N };
}

const runs: { report: OpeReport; truth: number }[] = Array.from({ length: SEEDS }, (_, s) => {
  const { logs, target, truth } = rareClicks(createRng(deriveSeed(20261205, s)));
  return { report: evaluate(logs, target, { estimators: ['ips', 'snips', 'dr'], folds: 5 }), truth };
});

describe(`rare rewards (K = ${K}, n = ${N}, click rate ~0.5 %, greedy target, ${SEEDS} seeds)`, () => {
  it('is the scenario of the issue: most logs have no rewarded row the target can use', () => {
    const none = runs.filter((r) => r.report.estimates[0]!.value === 0).length;
    expect(none / SEEDS).toBeGreaterThan(0.5);
  });

  it.each(['ips', 'snips', 'dr'] as const)('%s: the 95%% interval covers the truth at least 93%% of the time, and is never [0, 0]', (name) => {
    const est = runs.map((r) => ({ e: r.report.estimates.find((x) => x.estimator === name)!, truth: r.truth }));
    const covered = est.filter(({ e, truth }) => e.ci95[0] <= truth && truth <= e.ci95[1]).length;
    expect(covered / SEEDS).toBeGreaterThanOrEqual(0.93);
    expect(est.filter(({ e }) => e.ci95[1] - e.ci95[0] <= 0)).toEqual([]);
    // And says why the interval is not the CLT one, in its notes and, where the score interval moved it, its method.
    for (const { e } of est) expect(e.notes.join(' ')).toMatch(/effective positive-weight rewards \(under 10\)/);
    expect(est.some(({ e }) => e.intervalMethod === 'analytic+score')).toBe(true);
    expect(est.every(({ e }) => e.intervalMethod === 'analytic' || e.intervalMethod === 'analytic+score')).toBe(true);
  });

  it('keeps widened intervals inside [0, 1], where the value of any policy lies, for a few rows of tiny propensity', () => {
    // 60 rows, 3 arms: three clicked rows logged with propensity 0.01, the rest at 1/3 with a
    // click on every tenth; the uniform target weighs the three rows 33 times.
    const n = 60;
    const logs: LoggedBandit = { n, k: 3, arm: new Int32Array(n), reward: new Float64Array(n), propensity: new Float64Array(n) };
    for (let i = 0; i < n; i++) {
      logs.arm[i] = i % 3;
      logs.propensity[i] = i < 3 ? 0.01 : 1 / 3;
      logs.reward[i] = i < 3 || i % 10 === 0 ? 1 : 0;
    }
    const uniform = new Float64Array(n * 3).fill(1 / 3);
    const report = evaluate(logs, uniform, { estimators: ['ips', 'snips', 'dr', 'dr-clip', 'switch-dr', 'dr-os', 'sndr'], folds: 2, clip: 3, tau: 3, osLambda: 10 });
    for (const e of report.estimates) {
      expect(e.notes.join(' '), e.estimator).toMatch(/effective positive-weight rewards/);
      // Widened, never past [0, 1]; an estimator's own CLT interval may be (DR-type values can).
      const own: [number, number] = [e.value - 1.959963984540054 * e.stdErr, e.value + 1.959963984540054 * e.stdErr];
      expect(e.ci95[0], e.estimator).toBeGreaterThanOrEqual(Math.min(0, own[0]) - 1e-12);
      expect(e.ci95[1], e.estimator).toBeLessThanOrEqual(Math.max(1, own[1]) + 1e-12);
    }
    const snips = report.estimates.find((e) => e.estimator === 'snips')!;
    expect(snips.ci95[1]).toBeLessThanOrEqual(1);
  });

  it('widens the interval of a log whose every reward is 1 as it widens one whose every reward is 0, mirrored', () => {
    const n = 30;
    const log = (reward: number): LoggedBandit => ({ n, k: 3, arm: Int32Array.from({ length: n }, (_, i) => i % 3), reward: new Float64Array(n).fill(reward), propensity: new Float64Array(n).fill(1 / 3) });
    const uniform = new Float64Array(n * 3).fill(1 / 3);
    const ones = evaluate(log(1), uniform, { estimators: ['ips', 'snips'] }).estimates;
    const zeros = evaluate(log(0), uniform, { estimators: ['ips', 'snips'] }).estimates;
    for (const [i, e] of ones.entries()) {
      // [1, 1] with a standard error of 0 before; now the mirror of the all-zero log's [0, h].
      expect(e.ci95[1], e.estimator).toBe(1);
      expect(e.ci95[0], e.estimator).toBeCloseTo(1 - zeros[i]!.ci95[1], 12);
      expect(e.ci95[0], e.estimator).toBeLessThan(0.95);
      expect(e.notes.join(' ')).toMatch(/effective positive-weight misses \(under 10\)/);
    }
    // Rewards strictly between 0 and 1 are not counted as misses (the sums count 0/1 rewards exactly).
    const halves = evaluate(log(0.5), uniform, { estimators: ['ips'] }).estimates[0]!;
    expect(halves.notes.join(' ')).not.toMatch(/misses/);
  });

  it('leaves intervals alone when rewards are plentiful', () => {
    const rng = createRng(7);
    const { logs, target } = rareClicks(rng);
    for (let i = 0; i < N; i++) logs.reward[i] = rng.next() < 0.4 ? 1 : 0;
    const plain = evaluate(logs, target, { estimators: ['ips'] }).estimates[0]!;
    expect(plain.notes.join(' ')).not.toMatch(/positive-weight rewards/);
    expect(plain.intervalMethod).toBe('analytic');
    expect(plain.ci95[0]).toBeCloseTo(plain.value - 1.959963984540054 * plain.stdErr, 12);
  });
});
