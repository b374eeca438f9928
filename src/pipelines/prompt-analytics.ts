/**
 * `oo-ml analytics prompts`: reactions and reward per prompt version over the Parquet event log.
 *
 * Per `prompt_version` of the non-shadow serves (shadow serves are never shown, so never
 * rewarded): serves, the feedback that settled each by kind (its reaction, `numeric` for a
 * numeric reward, `none` when there was none, so the kinds add up to the serves), and the reward
 * rate — reward as defined once in events/reward.ts (`settlingFeedbackSql`), over the same
 * feedback per serve as the training set. Serves whose 24-h reward window is still open at the
 * end of the log count as unrewarded so far.
 *
 * Intervals are 95%: the Wilson score interval for each rate (it stays inside [0, 1] and keeps
 * its coverage at small n and rates near 0 or 1, where the normal "Wald" interval fails), and
 * Newcombe's hybrid score interval (his method 10, built from the two Wilson intervals) for each
 * version's difference to the baseline `v1`. Both treat serves as independent; serves of one
 * person are correlated, so with few users the intervals are optimistic.
 */
import { invalidInput } from '../errors.js';
import { REWARDING_REACTIONS, REWARD_WINDOW_MS, settlingFeedbackSql } from '../events/reward.js';
import { REACTIONS, type Reaction } from '../events/schemas.js';
import { sqlIdent, sqlString, withDb } from '../io/duckdb.js';
import { BUILTIN_PROMPT_VERSION } from '../prompts/prompt-registry.js';
import { newcombeDifference, wilsonInterval } from '../evaluation/proportion-intervals.js';
import { attachEventLog, servesOnceSql } from './event-log.js';


/**
 * How serves were settled, per version: by each reaction or a numeric reward (`numeric`) within
 * the reward window, by feedback that came later (`late`: reward 0, whatever it was), or not at
 * all (`none`). The kinds add up to the serves, and only `completed`, `liked` and `numeric` can
 * carry reward.
 */
export type ReactionCounts = Record<Reaction | 'numeric' | 'late' | 'none', number>;

/** One prompt version's numbers. */
export interface PromptVersionStats {
  /** As logged; null for serves recorded without a prompt version. */
  promptVersion: string | null;
  serves: number;
  reactions: ReactionCounts;
  rewards: number;
  rewardRate: number;
  /** Wilson score 95% interval of `rewardRate`. */
  ci95: [number, number];
  /** Rate minus the baseline's, with Newcombe's 95% interval; null for the baseline itself or without one. */
  diffVsBaseline: { diff: number; ci95: [number, number] } | null;
}

/** The whole report. */
export interface PromptAnalytics {
  eventsDir: string;
  baseline: string;
  /** False when the log has no non-shadow serve of the baseline (no differences then). */
  baselinePresent: boolean;
  totalServes: number;
  shadowServesExcluded: number;
  /** Baseline first, then versions in natural order, unversioned serves last. */
  versions: PromptVersionStats[];
  method: { level: 0.95; rate: 'wilson-score'; difference: 'newcombe-hybrid-score'; reward: string };
}

/** Options of `analyzePrompts`. */
export interface PromptAnalyticsJob {
  eventsDir: string;
}

interface VersionRow {
  prompt_version: string | null;
  serves: bigint;
  rewards: bigint | number | null;
  [reaction: string]: unknown;
}

/** Per-version SQL over the views of attachEventLog. */
function analyticsSql(): string {
  const kinds = REACTIONS.map((r) => `count(*) FILTER (WHERE NOT late AND reaction = ${sqlString(r)}) AS ${sqlIdent(r)}`).join(',\n      ');
  return `
    WITH served AS (
      ${servesOnceSql('NOT shadow')}
    ), settled AS (
      -- The feedback that decides a serve's reward, as in the training set.
      ${settlingFeedbackSql('SELECT serve_id, user_id, ts FROM served')}
    ), scored AS (
      SELECT s.prompt_version, r.reaction, r.serve_id IS NOT NULL AS settled, coalesce(r.reward, 0) AS reward,
        coalesce(r.late, false) AS late
      FROM served s LEFT JOIN settled r ON r.serve_id = s.serve_id
    )
    SELECT prompt_version, count(*) AS serves, sum(reward) AS rewards,
      ${kinds},
      count(*) FILTER (WHERE settled AND NOT late AND reaction IS NULL) AS ${sqlIdent('numeric')},
      count(*) FILTER (WHERE late) AS ${sqlIdent('late')},
      count(*) FILTER (WHERE NOT settled) AS ${sqlIdent('none')}
    FROM scored GROUP BY prompt_version`;
}

/** Natural order of version strings (v2 before v10), baseline first, null last. */
function versionOrder(baseline: string): (a: string | null, b: string | null) => number {
  const collator = new Intl.Collator('en', { numeric: true });
  return (a, b) => {
    if (a === b) return 0;
    if (a === baseline || b === null) return -1;
    if (b === baseline || a === null) return 1;
    return collator.compare(a, b);
  };
}

/** Reactions and reward per prompt version in the event log at `job.eventsDir`, with 95% intervals. */
export async function analyzePrompts(job: PromptAnalyticsJob): Promise<PromptAnalytics> {
  return withDb(':memory:', async (db) => {
    await attachEventLog(db, job.eventsDir);
    const [totals] = await db.rows<{ n: bigint; shadow: bigint }>(
      // Serves, not their copies, as the rows per version count them.
      'SELECT count(DISTINCT serve_id) AS n, count(DISTINCT serve_id) FILTER (WHERE shadow) AS shadow FROM tip_served',
    );
    const total = Number(totals?.n ?? 0n);
    const shadow = Number(totals?.shadow ?? 0n);
    if (total - shadow === 0) {
      throw invalidInput(
        total === 0
          ? `event log ${job.eventsDir} has no tip.served events`
          : `event log ${job.eventsDir} has only shadow tip.served events (${shadow}), which are never shown to anyone`,
        { hint: 'prompt analytics needs served tips: run `oo-ml data synth`, or ingest serves from `oo-ml serve`' },
      );
    }
    const rows = await db.rows<VersionRow>(analyticsSql());
    const baseline = BUILTIN_PROMPT_VERSION;
    const stats = rows.map((r) => {
      const serves = Number(r.serves);
      const rewards = Number(r.rewards ?? 0);
      const reactions = Object.fromEntries([...REACTIONS, 'numeric', 'late', 'none'].map((k) => [k, Number(r[k] as bigint)])) as ReactionCounts;
      return { promptVersion: r.prompt_version, serves, rewards, reactions };
    });
    const base = stats.find((s) => s.promptVersion === baseline);
    const versions: PromptVersionStats[] = stats
      .sort((a, b) => versionOrder(baseline)(a.promptVersion, b.promptVersion))
      .map((s) => ({
        ...s,
        rewardRate: s.rewards / s.serves,
        ci95: wilsonInterval(s.rewards, s.serves),
        diffVsBaseline:
          base === undefined || s.promptVersion === baseline ? null : newcombeDifference(s.rewards, s.serves, base.rewards, base.serves),
      }));
    return {
      eventsDir: job.eventsDir,
      baseline,
      baselinePresent: base !== undefined,
      totalServes: total - shadow,
      shadowServesExcluded: shadow,
      versions,
      method: {
        level: 0.95,
        rate: 'wilson-score',
        difference: 'newcombe-hybrid-score',
        reward: `the first feedback from the serve's user: a reaction ${REWARDING_REACTIONS.join(' or ')} (1) or a numeric reward (its value), within ${REWARD_WINDOW_MS / 3_600_000} h of the serve`,
      },
    };
  });
}
