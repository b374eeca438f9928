/**
 * The reward rule offline (settlingFeedbackSql over the event log at rest) against the online
 * fold's (verdict and rewardValue, fed the same feedback in the order of its times, as a stream
 * that received it in that order): every serve gets the same reward from both.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REACTIONS, type OoEvent, type TipReactionEvent, type TipRewardEvent } from '../../src/events/schemas.js';
import { FEEDBACK_SKEW_MS, REWARD_WINDOW_MS, settlingFeedbackSql } from '../../src/events/reward.js';
import { withDb } from '../../src/io/duckdb.js';
import { attachEventLog, writeEventLog } from '../../src/pipelines/event-log.js';
import { rewardValue, verdict } from '../../src/server/online-learning/fold.js';
import type { ServeRecord } from '../../src/server/online-learning/serve-record.js';
import { reacted, rewarded, served } from '../helpers/events.js';

const SERVE_MS = Date.parse('2026-03-10T10:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();
const hashOf = (user: string): number => (user === 'u1' ? 1 : user === 'u2' ? 2 : 3);

/** One piece of feedback: who, when (relative to its serve), what. */
const feedback = fc.record({
  serve: fc.constantFrom('s1', 's2'),
  user: fc.constantFrom('u1', 'u2', 'u3'),
  // From a day before the serve to two days after, in whole minutes (and the window's edge).
  offsetMs: fc.oneof(fc.integer({ min: -24 * 60, max: 48 * 60 }).map((m) => m * 60_000), fc.constantFrom(REWARD_WINDOW_MS, REWARD_WINDOW_MS + 1, -FEEDBACK_SKEW_MS, -FEEDBACK_SKEW_MS - 1)),
  kind: fc.oneof(fc.constantFrom(...REACTIONS).map((r) => ({ reaction: r })), fc.integer({ min: 0, max: 4 }).map((q) => ({ reward: q / 4 }))),
});

/** The online fold's reward for a serve, its feedback arriving in the order of its times. */
function onlineReward(serve: { user: string; tsMs: number }, events: (TipReactionEvent | TipRewardEvent)[]): number {
  const record = { serveSeq: 1, tsMs: serve.tsMs, claim: 0, claimValue: 0, userHash: hashOf(serve.user) } as ServeRecord;
  const inOrder = [...events].sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts) || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));
  for (let i = 0; i < inOrder.length; i++) {
    const e = inOrder[i]!;
    if (verdict(record, i + 2, Date.parse(e.ts), hashOf(e.user_id), 0, REWARD_WINDOW_MS) === 'claims') return rewardValue(e, record);
  }
  return 0;
}

describe('the reward rule, offline and online', () => {
  it('gives every serve the reward the online fold gives it: the first feedback from its own user within the window (a few minutes before the serve to a day after), a reaction by the rule, a numeric reward its value, 0 past the window', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oo-ml-settling-'));
    try {
      await withDb(':memory:', async (db) => {
        let run = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(feedback, { maxLength: 6 }), async (given) => {
            const serves = { s1: { user: 'u1', tsMs: SERVE_MS }, s2: { user: 'u2', tsMs: SERVE_MS + 3_600_000 } };
            const events: (TipReactionEvent | TipRewardEvent)[] = given.map((f) => {
              const ts = iso(serves[f.serve as 's1' | 's2'].tsMs + f.offsetMs);
              return 'reaction' in f.kind ? reacted(f.user, ts, f.serve, f.kind.reaction) : rewarded(f.user, ts, f.serve, f.kind.reward);
            });
            const log: OoEvent[] = [served('u1', iso(serves.s1.tsMs), 's1'), served('u2', iso(serves.s2.tsMs), 's2'), ...events];
            const events_dir = join(dir, `log-${++run}`);
            await writeEventLog(db, events_dir, log, null, join(dir, 'tmp'));
            await attachEventLog(db, events_dir);
            const rows = await db.rows<{ serve_id: string; reward: number | null }>(
              `SELECT s.serve_id, r.reward FROM tip_served s LEFT JOIN (${settlingFeedbackSql('SELECT serve_id, user_id, ts FROM tip_served')}) r ON r.serve_id = s.serve_id ORDER BY s.serve_id`,
            );
            const offline = Object.fromEntries(rows.map((r) => [r.serve_id, r.reward === null ? 0 : Number(r.reward)]));
            const online = Object.fromEntries((['s1', 's2'] as const).map((id) => [id, onlineReward(serves[id], events.filter((e) => e.serve_id === id))]));
            expect(offline).toEqual(online);
          }),
          { seed: 20261206, numRuns: 60 },
        );
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
