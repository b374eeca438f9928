import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OoEvent, Reaction, TipServedEvent } from '../../src/events/schemas.js';
import { withDb } from '../../src/io/duckdb.js';
import { writeEventLog } from '../../src/pipelines/event-log.js';
import { newcombeDifference, wilsonInterval } from '../../src/evaluation/proportion-intervals.js';
import { analyzePrompts } from '../../src/pipelines/prompt-analytics.js';
import { reacted, rewarded, served } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';

const DAY = '2026-03-02';

/** One serve at 10:00 + i minutes with its prompt version, shadow flag and reactions (offset in minutes). */
function serve(i: number, promptVersion: string | null, reactions: [Reaction, number][] = [], shadow = false): OoEvent[] {
  const minute = String(i % 60).padStart(2, '0');
  const hour = String(10 + Math.floor(i / 60)).padStart(2, '0');
  const ts = `${DAY}T${hour}:${minute}:00Z`;
  const id = `s${i}`;
  const s: TipServedEvent = { ...served(`u${i % 4}`, ts, id), prompt_version: promptVersion, shadow };
  return [
    s,
    ...reactions.map(([r, afterMin]) => reacted(s.user_id, new Date(Date.parse(ts) + afterMin * 60_000).toISOString(), id, r)),
  ];
}

/**
 * v1: 10 serves — completed ×3 and liked ×1 in the window (reward 4), a completion 25 h late
 * (counted as completed, not rewarded), dismissed ×2 (one followed by a completion: the first
 * reaction decides), ignored ×1, no reaction ×2.
 * v2: 8 serves — completed ×3, liked ×2 (reward 5), dismissed ×1, none ×2; plus 3 shadow serves
 * that were all completed (excluded). Unversioned: 2 serves, one liked.
 */
function fixture(): OoEvent[] {
  let i = 0;
  const ev: OoEvent[] = [];
  const add = (v: string | null, r: [Reaction, number][] = [], shadow = false): void => void ev.push(...serve(i++, v, r, shadow));
  for (let k = 0; k < 3; k++) add('v1', [['completed', 5]]);
  add('v1', [['liked', 1]]);
  add('v1', [['completed', 25 * 60]]);
  add('v1', [['dismissed', 1]]);
  add('v1', [['dismissed', 1], ['completed', 2]]);
  add('v1', [['ignored', 30]]);
  add('v1');
  add('v1');
  for (let k = 0; k < 3; k++) add('v2', [['completed', 3]]);
  for (let k = 0; k < 2; k++) add('v2', [['liked', 2]]);
  add('v2', [['dismissed', 1]]);
  add('v2');
  add('v2');
  for (let k = 0; k < 3; k++) add('v2', [['completed', 3]], true);
  add(null, [['liked', 1]]);
  add(null);
  return ev;
}

async function logOf(events: OoEvent[]) {
  const h = await tempHome();
  await withDb(':memory:', (db) => writeEventLog(db, h.events, events, null, h.tmp));
  return h;
}

describe('Wilson and Newcombe intervals', () => {
  it('match published values', () => {
    // Wilson 95%: 0/10, 4/10, 10/10.
    expect(wilsonInterval(0, 10)).toEqual([0, expect.closeTo(0.2775, 4)]);
    expect(wilsonInterval(4, 10).map((x) => +x.toFixed(4))).toEqual([0.1682, 0.6873]);
    expect(wilsonInterval(10, 10)).toEqual([expect.closeTo(0.7225, 4), 1]);
    // Newcombe (1998), Statistics in Medicine 17:873, Table II, method 10, examples (a)–(d).
    const round = (d: { diff: number; ci95: [number, number] }) => d.ci95.map((x) => +x.toFixed(4));
    expect(round(newcombeDifference(56, 70, 48, 80))).toEqual([0.0524, 0.3339]);
    expect(round(newcombeDifference(9, 10, 3, 10))).toEqual([0.1705, 0.809]);
    expect(round(newcombeDifference(6, 7, 2, 7))).toEqual([0.0582, 0.8062]);
    expect(round(newcombeDifference(5, 56, 0, 29))).toEqual([-0.0381, 0.1926]);
  });

  it('contain the point estimate and stay in range (property)', () => {
    const counts = fc.integer({ min: 1, max: 500 }).chain((n) => fc.tuple(fc.integer({ min: 0, max: n }), fc.constant(n)));
    fc.assert(
      fc.property(counts, counts, ([k1, n1], [k2, n2]) => {
        const [lo, hi] = wilsonInterval(k1, n1);
        expect(lo).toBeGreaterThanOrEqual(0);
        expect(hi).toBeLessThanOrEqual(1);
        expect(lo).toBeLessThanOrEqual(k1 / n1 + 1e-12);
        expect(hi).toBeGreaterThanOrEqual(k1 / n1 - 1e-12);
        const d = newcombeDifference(k1, n1, k2, n2);
        expect(d.ci95[0]).toBeLessThanOrEqual(d.diff + 1e-12);
        expect(d.ci95[1]).toBeGreaterThanOrEqual(d.diff - 1e-12);
        expect(d.ci95[0]).toBeGreaterThanOrEqual(-1 - 1e-12);
        expect(d.ci95[1]).toBeLessThanOrEqual(1 + 1e-12);
      }),
      { seed: 11, numRuns: 500 },
    );
  });
});

describe('analytics prompts', () => {
  it('counts serves, first reactions and rewards per prompt version, with intervals and differences to v1', async () => {
    const h = await logOf(fixture());
    const r = await analyzePrompts({ eventsDir: h.events });
    expect(r.baseline).toBe('v1');
    expect(r.baselinePresent).toBe(true);
    expect(r.totalServes).toBe(20);
    expect(r.shadowServesExcluded).toBe(3);
    expect(r.versions.map((v) => v.promptVersion)).toEqual(['v1', 'v2', null]);

    const [v1, v2, none] = r.versions;
    expect(v1).toEqual({
      promptVersion: 'v1',
      serves: 10,
      // The completion 25 h late is `late` (reward 0), not `completed`: the kinds add up to the reward.
      reactions: { completed: 3, dismissed: 2, ignored: 1, liked: 1, numeric: 0, late: 1, none: 2 },
      rewards: 4,
      rewardRate: 0.4,
      ci95: wilsonInterval(4, 10),
      diffVsBaseline: null,
    });
    expect(v2).toEqual({
      promptVersion: 'v2',
      serves: 8,
      reactions: { completed: 3, dismissed: 1, ignored: 0, liked: 2, numeric: 0, late: 0, none: 2 },
      rewards: 5,
      rewardRate: 0.625,
      ci95: wilsonInterval(5, 8),
      diffVsBaseline: newcombeDifference(5, 8, 4, 10),
    });
    expect(v2!.ci95.map((x) => +x.toFixed(4))).toEqual([0.3057, 0.8632]);
    expect(v2!.diffVsBaseline!.diff).toBeCloseTo(0.225, 12);
    expect(v2!.diffVsBaseline!.ci95.map((x) => +x.toFixed(4))).toEqual([-0.2045, 0.5574]);
    expect(none).toMatchObject({ promptVersion: null, serves: 2, rewards: 1, reactions: { liked: 1, none: 1 } });
    expect(r.method).toEqual({
      level: 0.95,
      rate: 'wilson-score',
      difference: 'newcombe-hybrid-score',
      reward: "the first feedback from the serve's user: a reaction completed or liked (1) or a numeric reward (its value), within 24 h of the serve",
    });
  });

  it("settles a serve by its user's first feedback: a numeric reward counts its value, another user's reaction counts nothing", async () => {
    const [s0, s1, s2] = [0, 1, 2].map((i) => serve(i, 'v1')[0] as TipServedEvent);
    const at = (s: TipServedEvent, min: number): string => new Date(Date.parse(s.ts) + min * 60_000).toISOString();
    const h = await logOf([
      s0!, s1!, s2!,
      // s0: a numeric reward, then a completion (later: no change).
      rewarded(s0!.user_id, at(s0!, 1), s0!.serve_id, 0.5),
      reacted(s0!.user_id, at(s0!, 2), s0!.serve_id, 'completed'),
      // s1: another user's like first (refused online, as here), then its own user's completion.
      reacted('someone-else', at(s1!, 1), s1!.serve_id, 'liked'),
      reacted(s1!.user_id, at(s1!, 3), s1!.serve_id, 'completed'),
      // s2: only another user's completion: unsettled.
      reacted('someone-else', at(s2!, 1), s2!.serve_id, 'completed'),
    ]);
    const [v1] = (await analyzePrompts({ eventsDir: h.events })).versions;
    expect(v1).toMatchObject({ serves: 3, rewards: 1.5, rewardRate: 0.5, reactions: { completed: 1, liked: 0, numeric: 1, none: 1 } });
  });

  it('counts a serve logged twice once, in the totals as in its version', async () => {
    const [s0] = serve(0, 'v1', [['completed', 1]]) as [TipServedEvent, OoEvent];
    const h = await logOf([...serve(0, 'v1', [['completed', 1]]), { ...s0, event_id: 'copy' }]);
    const r = await analyzePrompts({ eventsDir: h.events });
    expect([r.totalServes, r.versions[0]!.serves]).toEqual([1, 1]);
  });

  it('reports versions without a v1 baseline, with no differences', async () => {
    const h = await logOf([...serve(0, 'v2', [['liked', 1]]), ...serve(1, 'v10'), ...serve(2, 'v3', [['completed', 1]])]);
    const r = await analyzePrompts({ eventsDir: h.events });
    expect(r.baselinePresent).toBe(false);
    expect(r.versions.map((v) => [v.promptVersion, v.rewards, v.diffVsBaseline])).toEqual([
      ['v2', 1, null],
      ['v3', 1, null],
      ['v10', 0, null],
    ]);
  });

  it('names a missing event log and a log without (non-shadow) serves', async () => {
    const empty = await tempHome();
    await expect(analyzePrompts({ eventsDir: empty.events })).rejects.toMatchObject({
      code: 'not_found',
      message: `event log folder ${empty.events} does not exist`,
    });
    const onlyReactions = await logOf([reacted('u', `${DAY}T10:00:00Z`, 'x', 'liked')]);
    await expect(analyzePrompts({ eventsDir: onlyReactions.events })).rejects.toMatchObject({
      code: 'invalid_input',
      message: `event log ${onlyReactions.events} has no tip.served events`,
      hint: expect.stringContaining('oo-ml data synth'),
    });
    const onlyShadow = await logOf(serve(0, 'v1', [['liked', 1]], true));
    await expect(analyzePrompts({ eventsDir: onlyShadow.events })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('has only shadow tip.served events (1)'),
    });
  });
});
