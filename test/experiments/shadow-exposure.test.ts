import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Z95 } from '../../src/evaluation/estimate.js';
import { summarizeShadow, type ShadowPair } from '../../src/experiments/shadow-exposure.js';
import type { OoEvent } from '../../src/events/schemas.js';
import { withDb } from '../../src/io/duckdb.js';
import { writeEventLog } from '../../src/pipelines/event-log.js';
import { loadShadowPairs } from '../../src/pipelines/shadow-traffic.js';
import { createRng } from '../../src/random/rng.js';
import { reacted, served } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';

const at = (h: number): number => Date.parse('2026-02-01T00:00:00Z') + h * 3_600_000;

describe('shadow exposure', () => {
  it('counts serves and hours, agreement, and the shadow’s IPS/SNIPS on the served decisions, by hand', () => {
    const pairs: ShadowPair[] = [
      { ts: at(0), servedArm: 'a', propensity: 0.5, shadowArm: 'a', reward: 1 },
      { ts: at(1), servedArm: 'b', propensity: 0.25, shadowArm: 'a', reward: 1 },
      { ts: at(2), servedArm: 'b', propensity: 0.25, shadowArm: 'b', reward: 0 },
      { ts: at(30), servedArm: 'a', propensity: 0.5, shadowArm: 'a', reward: null },
    ];
    const s = summarizeShadow(pairs);
    expect(s).toMatchObject({ serves: 4, hours: 30, agreement: 0.75, matured: 3 });
    // IPS terms 1{s = a}·r/p over the matured pairs: 2, 0, 0.
    const se = Math.sqrt(((2 - 2 / 3) ** 2 + 2 * (2 / 3) ** 2) / 2 / 3);
    expect(s.ips!.value).toBeCloseTo(2 / 3, 14);
    expect(s.ips!.ci95[1]).toBeCloseTo(2 / 3 + Z95 * se, 14);
    // The normal bound, 2/3 − 1.96·se, is below 0, where no IPS value of rewards in [0, 1] lies: cut at 0.
    expect(2 / 3 - Z95 * se).toBeLessThan(0);
    expect(s.ips!.ci95[0]).toBe(0);
    expect(s.snips!.ci95[0]).toBeGreaterThanOrEqual(0);
    expect(s.snips!.ci95[1]).toBeLessThanOrEqual(1);
    // SNIPS: Σ 1{s = a}·r/p / Σ 1{s = a}/p = 2 / (2 + 4).
    expect(s.snips!.value).toBeCloseTo(1 / 3, 14);
    expect(summarizeShadow([])).toEqual({ serves: 0, hours: 0, agreement: null, matured: 0, ips: null, snips: null });
  });

  it('estimates the shadow’s value without its distribution: IPS over independent draws is unbiased (Monte Carlo)', () => {
    // Two arms with reward rates 0.2 and 0.6; served uniformly; the shadow plays arm 1 with probability 0.8.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), (seed) => {
        const rng = createRng(seed);
        const pairs: ShadowPair[] = Array.from({ length: 20_000 }, (_, i) => {
          const a = rng.int(2);
          const s = rng.next() < 0.8 ? 1 : 0;
          return { ts: i, servedArm: String(a), propensity: 0.5, shadowArm: String(s), reward: rng.next() < (a === 1 ? 0.6 : 0.2) ? 1 : 0 };
        });
        const ips = summarizeShadow(pairs).ips!;
        const truth = 0.8 * 0.6 + 0.2 * 0.2;
        expect(Math.abs(ips.value - truth)).toBeLessThan(4 * ((ips.ci95[1] - ips.ci95[0]) / (2 * Z95)));
      }),
      { seed: 3, numRuns: 10 },
    );
  });

  it('reads a shadow version’s serves from the event log, paired with what they shadowed and its matured reward', async () => {
    const h = await tempHome();
    const shadowOf = (e: ReturnType<typeof served>, n: number, arm: typeof e.arm, version: string): OoEvent => ({
      ...e,
      event_id: `${e.event_id}-sh`,
      serve_id: `${e.serve_id}:shadow:${n}`,
      arm,
      propensity: 0.9,
      policy: 'tip-policy@shadow',
      model_version: version,
      shadow: true,
    });
    const s1 = served('u1', '2026-02-01T09:00:00.000Z', 's1', 'split_task', 0.125);
    const s2 = served('u2', '2026-02-02T09:00:00.000Z', 's2', 'quick_win', 0.125);
    const s3 = served('u3', '2026-02-03T08:00:00.000Z', 's3', 'quick_win', 0.125);
    const events: OoEvent[] = [
      s1, s2, s3,
      shadowOf(s1, 0, 'split_task', '2'),
      shadowOf(s2, 0, 'split_task', '2'),
      shadowOf(s3, 0, 'quick_win', '2'),
      shadowOf(s3, 1, 'quick_win', '7'), // another version: not counted
      { ...shadowOf(s1, 0, 'split_task', '2'), event_id: 'copy-of-s1-shadow' }, // a copy: one serve
      reacted('u1', '2026-02-01T09:05:00.000Z', 's1', 'completed'),
      reacted('u3', '2026-02-03T08:05:00.000Z', 's3', 'completed'),
    ];
    await withDb(':memory:', (db) => writeEventLog(db, h.events, events, null, h.tmp));
    const registered = new Date('2026-01-31T00:00:00Z');
    const pairs = await loadShadowPairs(h.events, 'tip-policy', 2, new Date('2026-02-03T12:00:00Z'), registered);
    expect(pairs).toEqual([
      { ts: Date.parse('2026-02-01T09:00:00Z'), servedArm: 'split_task', propensity: 0.125, shadowArm: 'split_task', reward: 1 },
      { ts: Date.parse('2026-02-02T09:00:00Z'), servedArm: 'quick_win', propensity: 0.125, shadowArm: 'split_task', reward: 0 },
      // Its reward window is still open on the 3rd at noon.
      { ts: Date.parse('2026-02-03T08:00:00Z'), servedArm: 'quick_win', propensity: 0.125, shadowArm: 'quick_win', reward: null },
    ]);
    // Serves stamped before the version was registered cannot be its own: not counted.
    expect((await loadShadowPairs(h.events, 'tip-policy', 2, new Date('2026-02-03T12:00:00Z'), new Date('2026-02-02T09:00:00Z'))).map((p) => p.ts)).toEqual([
      Date.parse('2026-02-02T09:00:00Z'),
      Date.parse('2026-02-03T08:00:00Z'),
    ]);
    expect(await loadShadowPairs(`${h.home}/nowhere`, 'tip-policy', 2, new Date(), registered)).toEqual([]);
  });
});
