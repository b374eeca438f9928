/**
 * Reward, defined once: 1 when the reaction to a serve is `completed` or `liked` and arrives
 * within the reward window after the serve, else 0 (no reaction, a late one, dismissed, ignored);
 * a caller that scores outcomes itself gives a number in [0, 1] instead (`tip.reward`). The same
 * rule is emitted as SQL for the training set, the prompt analytics and the promotion gate's
 * shadow evidence (`settlingFeedbackSql`), and a test holds it to the online fold's.
 */
import type { Reaction } from './schemas.js';

/** How long after a serve a reaction still counts (24 h). */
export const REWARD_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * How long before its serve a reaction or reward may be stamped and still count (as immediate):
 * the app's clock and the server's differ by that much at most. Earlier, it cannot be feedback to
 * that serve, and it settles nothing, online and offline.
 */
export const FEEDBACK_SKEW_MS = 5 * 60 * 1000;

/** Reactions that earn a reward of 1. */
export const REWARDING_REACTIONS: readonly Reaction[] = ['completed', 'liked'];

/** The reward of a serve given its reaction (or none) and the delay between them. */
export function rewardOf(reaction: Reaction | null, delayMs: number | null): 0 | 1 {
  if (reaction === null || delayMs === null) return 0;
  return REWARDING_REACTIONS.includes(reaction) && delayMs >= 0 && delayMs <= REWARD_WINDOW_MS ? 1 : 0;
}

/**
 * The feedback that settles each serve, and the serve's reward, as a DuckDB query over the
 * `tip_reaction` and `tip_reward` views and `serves`, a relation of one row per serve with
 * columns serve_id, user_id, ts. The online fold's rule (server/online-learning/fold.ts), offline:
 * - feedback is a reaction or a numeric reward (`tip.reward`, what `/reward` records for a caller
 *   that scores outcomes itself) naming the serve, from the serve's own user (another user's is
 *   refused online and settles nothing);
 * - the first of them settles the serve, and later ones never change its reward. Online "first"
 *   is first in stream order; the log at rest has no stream order, so here it is the earliest
 *   time, then the smallest event id (a reaction before a numeric reward of the same time and
 *   id). The two agree whenever feedback reaches the stream in the order of its times and in
 *   good time: online, feedback that reaches the stream more than `lateRewardMs` (6 h) behind the
 *   newest serve is stale, and feedback whose serve never reaches the fold is unmatched; neither
 *   is learned, and both count here;
 * - its reward: a reaction's by the rule above, a numeric reward's own value, 0 when it came
 *   later than the window after the serve. Feedback stamped up to FEEDBACK_SKEW_MS before its
 *   serve counts as immediate (the app's clock and the server's differ); stamped earlier, it is
 *   not feedback to that serve, as online.
 * Columns: serve_id, reaction (null for a numeric reward), reaction_ts (the feedback's time),
 * late (it came after the window: reward 0, whatever it was), reward.
 */
export function settlingFeedbackSql(serves: string): string {
  const ok = REWARDING_REACTIONS.map((r) => `'${r}'`).join(', ');
  const late = `f.ts > s.ts + INTERVAL ${REWARD_WINDOW_MS} MILLISECOND`;
  return `
    SELECT f.serve_id, f.reaction, f.ts AS reaction_ts, ${late} AS late,
      CASE WHEN ${late} THEN 0
        WHEN f.reaction IS NULL THEN f.reward
        WHEN f.reaction IN (${ok}) THEN 1 ELSE 0 END AS reward
    FROM (
      SELECT serve_id, user_id, event_id, ts, CAST(reaction AS VARCHAR) AS reaction, CAST(NULL AS DOUBLE) AS reward FROM tip_reaction
      UNION ALL
      SELECT serve_id, user_id, event_id, ts, CAST(NULL AS VARCHAR), CAST(reward AS DOUBLE) FROM tip_reward
    ) f
    JOIN (${serves}) s ON s.serve_id = f.serve_id AND s.user_id = f.user_id AND f.ts >= s.ts - INTERVAL ${FEEDBACK_SKEW_MS} MILLISECOND
    QUALIFY row_number() OVER (PARTITION BY f.serve_id ORDER BY f.ts, f.event_id, f.reaction IS NULL) = 1`;
}
