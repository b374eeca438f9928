/**
 * The numbers behind GET /stats, since the process started (replayed journal events are not
 * counted): per policy, variant and shadow flag — serves, rewards, reward rate with its Wilson
 * 95 % interval, and /score latency quantiles over a ring of the most recent requests; per prompt
 * version — reactions by kind.
 */
import { REACTIONS, type Reaction } from '../events/schemas.js';
import type { StatsResponse } from './schemas.js';
import { wilsonInterval } from '../evaluation/proportion-intervals.js';
import { ShadowEstimates, type ShadowRowSums } from './shadow-estimates.js';

/** Wilson 95% interval as the /stats body carries it; null before any serve. */
function rateInterval(successes: number, n: number): { low: number; high: number } | null {
  if (!(n > 0)) return null;
  const [low, high] = wilsonInterval(successes, n);
  return { low, high };
}

interface Row {
  policy: string;
  modelVersion: string | null;
  experiment: string | null;
  variant: string | null;
  shadow: boolean;
  serves: number;
  rewards: number;
  rewardSum: number;
  latencies: Float64Array;
  latencyCount: number;
  /** Shadow rows: decisions made, and those that chose the served arm. */
  decided: number;
  agreed: number;
  /** Shadow rows: the row of their estimate (-1: none). */
  estimateRow: number;
}

/** Serves whose shadow decisions wait for their reward, by default: ~17 minutes at 1,000 serves/s, 28 MiB once a shadow is loaded. */
export const DEFAULT_SHADOW_RING = 1 << 20;

/** Who served: the stats row a serve counts in. */
export interface StatsKeyParts {
  policy: string;
  modelVersion: string | null;
  experiment: string | null;
  variant: string | null;
  shadow: boolean;
}

/** The /stats accumulator. */
export class ServeStats {
  private readonly rows = new Map<string, Row>();
  private readonly reactions = new Map<string, Record<Reaction, number>>();
  private readonly estimates: ShadowEstimates;
  readonly since: Date;

  /** `shadowRing`: this replica's latest serves whose shadow decisions wait for their reward (a power of two). */
  constructor(
    private readonly latencySamples: number,
    since: Date,
    shadowRing = DEFAULT_SHADOW_RING,
  ) {
    this.since = since;
    this.estimates = new ShadowEstimates(shadowRing);
  }

  /** The key of a row, created on first use. */
  key(parts: StatsKeyParts): string {
    const key = `${parts.policy}\u0000${parts.modelVersion ?? ''}\u0000${parts.experiment ?? ''}\u0000${parts.variant ?? ''}\u0000${parts.shadow ? 1 : 0}`;
    if (!this.rows.has(key)) {
      const estimateRow = parts.shadow ? this.estimates.addRow() : -1;
      this.rows.set(key, { ...parts, serves: 0, rewards: 0, rewardSum: 0, latencies: new Float64Array(this.latencySamples), latencyCount: 0, decided: 0, agreed: 0, estimateRow });
    }
    return key;
  }

  /** Counts a serve. */
  serve(key: string): void {
    this.rows.get(key)!.serves++;
  }

  /** Counts a shadow's decision on this replica's serve number `serveSeq` (served with `propensity`), and whether it chose the arm that was served. */
  shadowDecision(key: string, agreed: boolean, serveSeq: number, propensity: number): void {
    const row = this.rows.get(key)!;
    row.decided++;
    if (agreed) row.agreed++;
    this.estimates.decision(row.estimateRow, serveSeq, propensity, agreed);
  }

  /** Records one /score latency (ms) for the row's ring. */
  latency(key: string, ms: number): void {
    const row = this.rows.get(key);
    if (row === undefined) return;
    row.latencies[row.latencyCount % row.latencies.length] = ms;
    row.latencyCount++;
  }

  /** Counts the reward of this replica's serve number `serveSeq` (and its reaction under the serve's prompt version). */
  reward(key: string | null, reward: number, reaction: Reaction | null, promptVersion: string | null, serveSeq: number): void {
    this.estimates.reward(serveSeq, reward);
    if (key !== null) {
      const row = this.rows.get(key);
      if (row !== undefined) {
        row.rewards++;
        row.rewardSum += reward;
      }
    }
    if (reaction !== null) {
      const version = promptVersion ?? '(none)';
      let counts = this.reactions.get(version);
      if (counts === undefined) {
        counts = Object.fromEntries(REACTIONS.map((r) => [r, 0])) as Record<Reaction, number>;
        this.reactions.set(version, counts);
      }
      counts[reaction]++;
    }
  }

  /** Each shadow's running sums, for the metrics (shadows with an estimate only). */
  shadowSums(): ShadowRowSums[] {
    const out: ShadowRowSums[] = [];
    for (const r of this.rows.values()) {
      const sums = r.shadow ? this.estimates.sums(r.estimateRow) : null;
      if (sums === null || sums.decisions === 0) continue;
      out.push({ policy: r.policy, modelVersion: r.modelVersion, sums });
    }
    return out;
  }

  /** The /stats body (without the fields the caller adds). */
  report(): Pick<StatsResponse, 'policies' | 'prompt_versions'> {
    const policies = [...this.rows.values()].map((r) => {
      const n = Math.min(r.latencyCount, r.latencies.length);
      const sorted = r.latencies.slice(0, n).sort();
      const q = (p: number): number => sorted[Math.min(n - 1, Math.ceil(p * n) - 1)]!;
      return {
        policy: r.policy,
        model_version: r.modelVersion,
        experiment: r.experiment,
        variant: r.variant,
        shadow: r.shadow,
        serves: r.serves,
        rewards: r.rewards,
        reward_sum: r.rewardSum,
        // A shadow is never served, so never rewarded: its `estimate` is what it would earn.
        reward_rate: r.shadow || r.serves === 0 ? null : r.rewardSum / r.serves,
        reward_rate_ci95: r.shadow ? null : rateInterval(r.rewardSum, r.serves),
        latency_ms: n === 0 ? null : { count: r.latencyCount, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: sorted[n - 1]! },
        agreement: r.shadow && r.decided > 0 ? r.agreed / r.decided : null,
        estimate: r.shadow ? this.estimates.estimate(r.estimateRow) : null,
      };
    });
    const prompt_versions = [...this.reactions].map(([version, counts]) => ({
      prompt_version: version,
      reactions: { ...counts },
      total: REACTIONS.reduce((a, r) => a + counts[r], 0),
    }));
    return { policies, prompt_versions };
  }
}
