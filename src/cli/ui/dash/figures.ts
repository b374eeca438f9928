/**
 * What `oo-ml dash` shows, computed from successive `/stats` samples of one or more replicas.
 * Pure: samples in, figures out (no clock, no I/O), so the view and its tests share one truth.
 *
 * Rates come from differences between samples (requests/s, errors per status in the window);
 * latency is each replica's own p50/p99 over its most recent /score requests (the server keeps
 * them); policy rows, prompt versions and reward rates are summed over replicas, with the Wilson
 * interval recomputed from the sums, as the server computes it for one.
 */
import { wilsonInterval } from '../../../evaluation/proportion-intervals.js';
import type { StatsResponse } from '../../../server/schemas.js';
import { addShadowSums, shadowEstimateOf, sumsOf, type ShadowEstimate, type ShadowSums } from '../../../server/shadow-estimates.js';

/** One poll of one replica: its /stats body, or why there is none. */
export interface Sample {
  /** When the poll was answered (ms since the epoch). */
  at: number;
  stats: StatsResponse | null;
  error: string | null;
}

/** The polls of one replica, oldest first. */
export interface ReplicaHistory {
  url: string;
  samples: readonly Sample[];
}

/** A replica's current state. */
export interface ReplicaFigures {
  url: string;
  up: boolean;
  /** Whether any poll of it has come back yet (right after start none has: not a failure). */
  polled: boolean;
  /** Why the last poll failed (null when it did not). */
  error: string | null;
  /** Requests/s between successive samples, oldest first, less this dash's own polls. */
  requestsPerSecond: number[];
  /** /score latency p50 and p99 (ms) of the served policies, per sample. */
  p50: number[];
  p99: number[];
  /** Non-2xx answers per status within the window. */
  errors: Record<string, number>;
  snapshot: StatsResponse['snapshot'];
  /** Why it is not ready (its /readyz answers 503), from its last answer; empty when ready or not told (an older server). */
  notReady: string[];
  bus: StatsResponse['bus'] | null;
  learning: StatsResponse['learning'] | null;
}

/** A policy (and variant) summed over replicas. */
export interface PolicyRow {
  policy: string;
  modelVersion: string | null;
  variant: string | null;
  shadow: boolean;
  serves: number;
  rewards: number;
  rewardRate: number | null;
  ci95: { low: number; high: number } | null;
  /** A shadow's share of decisions that agreed with the served arm (serves-weighted over replicas). */
  agreement: number | null;
  /** A shadow's estimated reward per decision on the served traffic, from the sums of every replica. */
  estimate: ShadowEstimate | null;
}

/** Reactions per prompt version, summed over replicas. */
export interface PromptRow {
  promptVersion: string;
  reactions: Record<string, number>;
  total: number;
}

/** Everything the view shows. */
export interface DashFigures {
  replicas: ReplicaFigures[];
  /** Requests/s of all replicas that answered, per sample index from the end (aligned on the latest). */
  requestsPerSecond: number[];
  errors: Record<string, number>;
  /** The span of the samples the rates and errors cover, in s (the longest over replicas). */
  windowSeconds: number;
  policies: PolicyRow[];
  prompts: PromptRow[];
  /** Per policy name: whether every replica that answered holds the same live state digest. */
  converged: { name: string; digests: number; equal: boolean }[];
}

/** Figures of `histories` (each replica's samples, oldest first). */
export function dashFigures(histories: readonly ReplicaHistory[]): DashFigures {
  const replicas = histories.map(replicaFigures);
  const latest = histories.map((h) => lastStats(h));
  const answered = latest.filter((s): s is StatsResponse => s !== null);
  return {
    replicas,
    // Replicas that answer now: a replica that went away would add its last traffic for ever.
    requestsPerSecond: sumAlignedRight(replicas.filter((r) => r.up).map((r) => r.requestsPerSecond)),
    errors: sumRecords(replicas.filter((r) => r.up).map((r) => r.errors)),
    windowSeconds: Math.max(0, ...histories.map((h) => (h.samples.length < 2 ? 0 : (h.samples.at(-1)!.at - h.samples[0]!.at) / 1000))),
    policies: policyRows(answered),
    prompts: promptRows(answered),
    converged: convergence(answered),
  };
}

function lastStats(h: ReplicaHistory): StatsResponse | null {
  const last = h.samples.at(-1);
  return last?.stats ?? null;
}

function replicaFigures(h: ReplicaHistory): ReplicaFigures {
  const last = h.samples.at(-1);
  // Each answered sample with its index among all polls: the count between two answered samples
  // holds this dash's own polls from the earlier one up to the later (a timed-out poll may have
  // been counted too), which are not the replica's traffic.
  const withStats = h.samples.flatMap((s, poll) => (s.stats === null ? [] : [{ ...s, stats: s.stats, poll }]));
  const requestsPerSecond: number[] = [];
  const p50: number[] = [];
  const p99: number[] = [];
  for (let i = 0; i < withStats.length; i++) {
    const s = withStats[i]!;
    // A restarted replica's latency is its new process's: the old series would show as current
    // until the new one served.
    if (i > 0 && s.stats.since !== withStats[i - 1]!.stats.since) {
      p50.length = 0;
      p99.length = 0;
    }
    const served = s.stats.policies.filter((p) => !p.shadow && p.latency_ms !== null);
    if (served.length > 0) {
      // The busiest served row speaks for the replica's latency.
      const busiest = served.reduce((a, b) => (b.latency_ms!.count > a.latency_ms!.count ? b : a));
      p50.push(busiest.latency_ms!.p50);
      p99.push(busiest.latency_ms!.p99);
    }
    if (i === 0) continue;
    const prev = withStats[i - 1]!;
    const seconds = (s.at - prev.at) / 1000;
    // A restarted replica (its count went down, or `since` moved) starts a new series.
    if (seconds <= 0 || s.stats.since !== prev.stats.since || s.stats.requests.total < prev.stats.requests.total) continue;
    requestsPerSecond.push(Math.max(0, s.stats.requests.total - prev.stats.requests.total - (s.poll - prev.poll)) / seconds);
  }
  const first = withStats[0];
  const lastGood = withStats.at(-1);
  const errors: Record<string, number> = {};
  if (lastGood !== undefined) {
    const base = first !== undefined && first.stats.since === lastGood.stats.since ? first.stats.requests.by_status : {};
    for (const [status, n] of Object.entries(lastGood.stats.requests.by_status)) {
      if (status.startsWith('2')) continue;
      const d = first === lastGood ? n : n - (base[status] ?? 0);
      if (d > 0) errors[status] = d;
    }
  }
  return {
    url: h.url,
    up: last !== undefined && last.stats !== null,
    polled: last !== undefined,
    error: last?.error ?? null,
    requestsPerSecond,
    p50,
    p99,
    errors,
    snapshot: lastGood?.stats.snapshot ?? null,
    notReady: last?.stats?.not_ready ?? [],
    bus: lastGood?.stats.bus ?? null,
    learning: lastGood?.stats.learning ?? null,
  };
}

function policyRows(stats: readonly StatsResponse[]): PolicyRow[] {
  const rows = new Map<string, PolicyRow & { rewardSum: number; agreementWeight: number; agreementSum: number; sums: ShadowSums | null }>();
  for (const s of stats) {
    for (const p of s.policies) {
      const key = [p.policy, p.model_version ?? '', p.variant ?? '', p.shadow].join('\u0000');
      let row = rows.get(key);
      if (row === undefined) {
        row = { policy: p.policy, modelVersion: p.model_version, variant: p.variant, shadow: p.shadow, serves: 0, rewards: 0, rewardRate: null, ci95: null, agreement: null, estimate: null, rewardSum: 0, agreementWeight: 0, agreementSum: 0, sums: null };
        rows.set(key, row);
      }
      row.serves += p.serves;
      row.rewards += p.rewards;
      row.rewardSum += p.reward_sum;
      if (p.agreement !== null && p.serves > 0) {
        row.agreementSum += p.agreement * p.serves;
        row.agreementWeight += p.serves;
      }
      if (p.estimate !== null) {
        const sums = sumsOf(p.estimate);
        row.sums = row.sums === null ? sums : addShadowSums(row.sums, sums);
      }
    }
  }
  return [...rows.values()]
    .map(({ rewardSum, agreementWeight, agreementSum, sums, ...row }) => {
      const out: PolicyRow = { ...row, agreement: agreementWeight === 0 ? null : agreementSum / agreementWeight, estimate: sums === null ? null : shadowEstimateOf(sums) };
      // A shadow is never rewarded: no rate to show (its estimate stands in for one).
      if (row.serves > 0 && !row.shadow) {
        out.rewardRate = rewardSum / row.serves;
        const [low, high] = wilsonInterval(rewardSum, row.serves);
        out.ci95 = { low, high };
      }
      return out;
    })
    .sort((a, b) => Number(a.shadow) - Number(b.shadow) || a.policy.localeCompare(b.policy) || (a.variant ?? '').localeCompare(b.variant ?? ''));
}

function promptRows(stats: readonly StatsResponse[]): PromptRow[] {
  const rows = new Map<string, PromptRow>();
  for (const s of stats) {
    for (const p of s.prompt_versions) {
      let row = rows.get(p.prompt_version);
      if (row === undefined) rows.set(p.prompt_version, (row = { promptVersion: p.prompt_version, reactions: {}, total: 0 }));
      for (const [reaction, n] of Object.entries(p.reactions)) row.reactions[reaction] = (row.reactions[reaction] ?? 0) + n;
      row.total += p.total;
    }
  }
  return [...rows.values()].sort((a, b) => a.promptVersion.localeCompare(b.promptVersion));
}

function convergence(stats: readonly StatsResponse[]): DashFigures['converged'] {
  const digests = new Map<string, Set<string>>();
  for (const s of stats) {
    for (const p of s.learning.policies) {
      let set = digests.get(p.name);
      if (set === undefined) digests.set(p.name, (set = new Set()));
      set.add(p.digest);
    }
  }
  return [...digests].map(([name, set]) => ({ name, digests: set.size, equal: set.size === 1 })).sort((a, b) => a.name.localeCompare(b.name));
}

/** Element-wise sums of series aligned on their last element. */
function sumAlignedRight(series: readonly number[][]): number[] {
  const n = Math.max(0, ...series.map((s) => s.length));
  const out = new Array<number>(n).fill(0);
  for (const s of series) for (let i = 0; i < s.length; i++) out[n - s.length + i]! += s[i]!;
  return out;
}

function sumRecords(records: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v;
  return out;
}
