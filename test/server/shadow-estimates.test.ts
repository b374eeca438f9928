import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/random/rng.js';
import { Z95 } from '../../src/evaluation/estimate.js';
import { MAX_SHADOWS, ShadowEstimates, shadowEstimateOf } from '../../src/server/shadow-estimates.js';

interface Serve {
  propensity: number;
  /** Per shadow: did it choose the served arm. */
  agreed: boolean[];
  /** The serve's reward, or null when none came. */
  reward: number | null;
}

const SHADOWS = 3;

const serves = fc.array(
  fc.record({
    propensity: fc.double({ min: 0.01, max: 1, noNaN: true }),
    agreed: fc.array(fc.boolean(), { minLength: SHADOWS, maxLength: SHADOWS }),
    reward: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
  }),
  { minLength: 1, maxLength: 60 },
);

type Op = { kind: 'decision'; serve: number; shadow: number } | { kind: 'reward'; serve: number };

/** Every decision and reward of `list`, in an order drawn from `keys` (rewards may come before decisions). */
function opsOf(list: readonly Serve[], keys: readonly number[]): Op[] {
  const ops: Op[] = [];
  list.forEach((s, i) => {
    for (let k = 0; k < SHADOWS; k++) ops.push({ kind: 'decision', serve: i, shadow: k });
    if (s.reward !== null) ops.push({ kind: 'reward', serve: i });
  });
  return ops.map((op, i) => ({ op, key: keys[i % keys.length]! })).sort((a, b) => a.key - b.key).map((x) => x.op);
}

describe('ShadowEstimates', () => {
  it('equals IPS and SNIPS computed from the whole log, whatever order decisions and rewards arrive in', () => {
    fc.assert(
      fc.property(serves, fc.array(fc.nat(), { minLength: 1, maxLength: 300 }), fc.nat(1000), (list, keys, offset) => {
        const est = new ShadowEstimates(64);
        const rows = Array.from({ length: SHADOWS }, () => est.addRow());
        for (const op of opsOf(list, keys)) {
          const s = list[op.serve]!;
          if (op.kind === 'decision') est.decision(rows[op.shadow]!, offset + op.serve, s.propensity, s.agreed[op.shadow]!);
          else est.reward(offset + op.serve, s.reward!);
        }
        for (let k = 0; k < SHADOWS; k++) {
          const xs = list.map((s) => (s.agreed[k] && s.reward !== null ? s.reward / s.propensity : 0));
          const weight = list.reduce((a, s) => a + (s.agreed[k] ? 1 / s.propensity : 0), 0);
          const ips = xs.reduce((a, x) => a + x, 0) / list.length;
          const e = est.estimate(rows[k]!)!;
          expect(e.decisions).toBe(list.length);
          expect(e.rewarded).toBe(list.filter((s) => s.agreed[k] && s.reward !== null).length);
          expect(e.ips).toBeCloseTo(ips, 9);
          if (weight === 0) expect(e.snips).toBeNull();
          else expect(e.snips!).toBeCloseTo(xs.reduce((a, x) => a + x, 0) / weight, 9);
          expect(e.late).toBe(0);
        }
      }),
      { numRuns: 300, seed: 1205 },
    );
  });

  it('is unbiased for a randomised shadow: its true value lies in the interval, and SNIPS is close', () => {
    // Two arms. The logging policy serves arm 1 with probability 0.3; the shadow chooses arm 1
    // with probability 0.8 from its own stream. Rewards are Bernoulli(0.2) on arm 0, (0.6) on arm 1.
    const rng = createRng(7);
    const est = new ShadowEstimates(1 << 16);
    const row = est.addRow();
    const served = [0.7, 0.3];
    const means = [0.2, 0.6];
    const truth = 0.2 * means[0]! + 0.8 * means[1]!;
    const onPolicy = served[0]! * means[0]! + served[1]! * means[1]!;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const arm = rng.next() < served[1]! ? 1 : 0;
      const shadow = rng.next() < 0.8 ? 1 : 0;
      est.decision(row, i, served[arm]!, shadow === arm);
      est.reward(i, rng.next() < means[arm]! ? 1 : 0);
    }
    const e = est.estimate(row)!;
    expect(e.ips_ci95!.low).toBeLessThan(truth);
    expect(e.ips_ci95!.high).toBeGreaterThan(truth);
    // The interval separates the shadow from the served policy's own value (0.32).
    expect(e.ips_ci95!.low).toBeGreaterThan(onPolicy);
    expect(Math.abs(e.snips! - truth)).toBeLessThan(0.01);
  });

  it('counts a reward whose serve the ring no longer holds as late, and leaves it out', () => {
    const est = new ShadowEstimates(4);
    const row = est.addRow();
    for (let i = 0; i < 10; i++) est.decision(row, i, 0.5, true);
    est.reward(2, 1); // serve 2's slot holds serve 6 by now
    est.reward(9, 1);
    est.reward(9, 1); // once per serve
    expect(est.estimate(row)).toMatchObject({ decisions: 10, rewarded: 1, ips: 2 / 10, snips: 2 / 20, late: 1 });
  });

  it('estimates MAX_SHADOWS shadows at once; a newer one takes the bit of the one that decided least recently', () => {
    const est = new ShadowEstimates(8);
    const rows = Array.from({ length: MAX_SHADOWS }, () => est.addRow());
    for (const row of rows) est.decision(row, 1, 0.25, true);
    // Every shadow but the first decides again: the first is the one a new shadow displaces.
    for (const row of rows.slice(1)) est.decision(row, 2, 0.5, true);
    const newcomer = est.addRow();
    est.decision(newcomer, 3, 0.5, true);
    est.reward(1, 1);
    est.reward(3, 1);
    // Serve 1's reward: every shadow that still holds its bit; not the displaced one (its bit
    // was cleared from the ring), nor the newcomer, which did not decide on serve 1.
    expect(est.estimate(rows[0]!)).toMatchObject({ decisions: 1, rewarded: 0, ips: 0 });
    expect(est.estimate(rows.at(-1)!)).toMatchObject({ decisions: 2, rewarded: 1, ips: 4 / 2 });
    expect(est.estimate(newcomer)).toMatchObject({ decisions: 1, rewarded: 1, ips: 2 });
    // The displaced shadow, deciding again, takes a bit in turn and is credited again.
    est.decision(rows[0]!, 4, 0.5, true);
    est.reward(4, 1);
    expect(est.estimate(rows[0]!)).toMatchObject({ decisions: 2, rewarded: 1 });
    expect(est.estimate(-1)).toBeNull();
  });

  it('gives no interval until 10 effective rewards carry it: the normal one collapses to the few terms it saw', () => {
    // No reward in 50 decisions: the normal interval would be [0, 0].
    expect(shadowEstimateOf({ decisions: 50, rewarded: 0, weighted_rewards: 0, weighted_squares: 0, weights: 6, late: 0 })).toMatchObject({ ips: 0, ips_ci95: null });
    // Three terms of 4 among 50: 3 effective rewards.
    expect(shadowEstimateOf({ decisions: 50, rewarded: 3, weighted_rewards: 12, weighted_squares: 48, weights: 9, late: 0 })!.ips_ci95).toBeNull();
    // Ten terms of 4 among 100: the normal interval, (Σx² − n·mean²) / (n − 1) its variance.
    const e = shadowEstimateOf({ decisions: 100, rewarded: 10, weighted_rewards: 40, weighted_squares: 160, weights: 30, late: 0 })!;
    const half = Z95 * Math.sqrt((160 - 100 * 0.4 ** 2) / 99 / 100);
    expect(e.ips_ci95!.low).toBeCloseTo(0.4 - half, 12);
    expect(e.ips_ci95!.high).toBeCloseTo(0.4 + half, 12);
    expect(e.ips_ci95!.low).toBeGreaterThan(0);
  });

  it('handles serve counters beyond 32 bits', () => {
    const est = new ShadowEstimates(16);
    const row = est.addRow();
    const big = 2 ** 39 + 5;
    est.decision(row, big, 0.5, true);
    est.reward(big, 1);
    expect(est.estimate(row)).toMatchObject({ rewarded: 1, ips: 2 });
  });
});
