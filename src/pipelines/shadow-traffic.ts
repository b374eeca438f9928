/**
 * Reads a shadow version's serves from the event log, each paired with the served decision it
 * shadowed (`<serve id>:shadow:<n>` → `<serve id>`) and that decision's reward once its window
 * closed by `now` (events/reward.ts: `settlingFeedbackSql`): the input of experiments/shadow-exposure.ts. Shadow serves
 * reach the log through `oo-ml ingest`; a home without an event log has seen none.
 */
import { REWARD_WINDOW_MS, settlingFeedbackSql } from '../events/reward.js';
import type { ShadowPair } from '../experiments/shadow-exposure.js';
import { isOoMlError } from '../errors.js';
import { exists } from '../io/atomic.js';
import { sqlString, sqlTimestamp, withDb } from '../io/duckdb.js';
import { attachEventLog, servesOnceSql } from './event-log.js';

/**
 * The shadow serves of `model` version `version` in the event log at `eventsDir`, oldest first,
 * from `since` (the version's registration: a serve stamped earlier cannot be its own).
 */
export async function loadShadowPairs(eventsDir: string, model: string, version: number, now: Date, since: Date): Promise<ShadowPair[]> {
  if (!(await exists(eventsDir))) return [];
  return withDb(':memory:', async (db) => {
    try {
      await attachEventLog(db, eventsDir);
    } catch (e) {
      // An empty log has no shadow serves; anything else is the log's problem and is said.
      if (isOoMlError(e, 'invalid_input') && (e.details as { empty?: unknown } | undefined)?.empty === true) return [];
      throw e;
    }
    const rows = await db.rows<{ ts: bigint | number; served_arm: string; propensity: number; shadow_arm: string; reward: number | null }>(`
      WITH served AS (
        ${servesOnceSql('NOT shadow')}
      ), settled AS (${settlingFeedbackSql('SELECT serve_id, user_id, ts FROM served')})
      SELECT epoch_ms(sh.ts) AS ts, s.arm AS served_arm, s.propensity, sh.arm AS shadow_arm,
        CASE WHEN s.ts + INTERVAL ${REWARD_WINDOW_MS} MILLISECOND <= ${sqlTimestamp(now)}
          THEN coalesce(r.reward, 0) END AS reward
      FROM (${servesOnceSql('shadow')}) sh
      JOIN served s ON s.serve_id = split_part(sh.serve_id, ':shadow:', 1)
      LEFT JOIN settled r ON r.serve_id = s.serve_id
      WHERE sh.shadow AND sh.model_version = ${sqlString(String(version))} AND starts_with(sh.policy, ${sqlString(`${model}@`)})
        AND sh.ts >= ${sqlTimestamp(since)}
      ORDER BY sh.ts, sh.serve_id`);
    return rows.map((r) => ({ ts: Number(r.ts), servedArm: r.served_arm, propensity: r.propensity, shadowArm: r.shadow_arm, reward: r.reward === null ? null : Number(r.reward) }));
  });
}
