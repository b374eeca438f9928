/**
 * Reward, defined once: 1 when the reaction to a serve is `completed` or `liked` and arrives
 * within the reward window after the serve, else 0 (no reaction, a late one, dismissed, ignored).
 * The same rule is emitted as SQL for the training set, so the two cannot disagree.
 */
import type { Reaction } from './schemas.js';

/** How long after a serve a reaction still counts (24 h). */
export const REWARD_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Reactions that earn a reward of 1. */
export const REWARDING_REACTIONS: readonly Reaction[] = ['completed', 'liked'];

/** The reward of a serve given its reaction (or none) and the delay between them. */
export function rewardOf(reaction: Reaction | null, delayMs: number | null): 0 | 1 {
  if (reaction === null || delayMs === null) return 0;
  return REWARDING_REACTIONS.includes(reaction) && delayMs >= 0 && delayMs <= REWARD_WINDOW_MS ? 1 : 0;
}

/**
 * The reward rule as a DuckDB expression over a reaction column and serve/reaction timestamp
 * columns (a LEFT JOIN leaves them NULL when there was no reaction).
 */
export function rewardSql(reaction: string, servedTs: string, reactedTs: string): string {
  const ok = REWARDING_REACTIONS.map((r) => `'${r}'`).join(', ');
  return (
    `CASE WHEN ${reaction} IN (${ok}) AND ${reactedTs} >= ${servedTs} ` +
    `AND ${reactedTs} <= ${servedTs} + INTERVAL ${REWARD_WINDOW_MS} MILLISECOND THEN 1 ELSE 0 END`
  );
}

/**
 * The reaction that counts for each serve: the first one (by time), as a DuckDB query over the
 * `tip_reaction` view with columns serve_id, reaction, reaction_ts. Later reactions to the same
 * serve never change its reward.
 */
export const FIRST_REACTION_SQL =
  'SELECT serve_id, arg_min(reaction, ts) AS reaction, min(ts) AS reaction_ts FROM tip_reaction GROUP BY serve_id';
