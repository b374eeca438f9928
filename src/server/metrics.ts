/**
 * Prometheus metrics (prom-client), one registry per app so several apps (tests) never share
 * counters. Labels are bounded: routes are the registered route patterns (unmatched requests
 * count as `unmatched`), policies are the loaded policy names.
 *
 * Hot-path metrics are plain numbers in cells cached per label set and exported at scrape time:
 * prom-client's labelled `inc`/`observe` validate and hash the label object on every call
 * (also through `.labels()` children), which cost more per /score than the decision itself.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { ShadowRowSums, ShadowSums } from './shadow-estimates.js';
import type { OnlineLearning } from './online-learning/online-learning.js';
import { REWARD_OUTCOMES } from './online-learning/fold.js';
import { OO_ML_VERSION } from '../version.js';

/** A counter cell of one label set. */
export interface CounterCell {
  inc(): void;
  /** Its count so far. */
  readonly value: number;
}

/** The server's metrics. */
export interface ServerMetrics {
  registry: Registry;
  /** Counts one HTTP request and observes its duration (seconds). */
  request(method: string, route: string, status: number, seconds: number): void;
  /** HTTP requests answered since start, by status code (every route). */
  requestsByStatus(): Record<string, number>;
  /** Decisions served by policy and experiment variant (shadows excluded). */
  served(policy: string, variant: string): CounterCell;
  /** Shadow decisions recorded. */
  shadowServed(policy: string): CounterCell;
  /** /reward calls answered, by the serve's policy and the answer's outcome (applied, duplicate, queued, …). */
  rewarded(policy: string, outcome: string): CounterCell;
  /** Tips written by /generate, by the writer that produced them and whether the LLM fell back. */
  generated(provider: string, outcome: 'ok' | 'fallback'): CounterCell;
  shadowFailures: Counter<'policy'>;
  eventFailures: Counter<'type'>;
}

/** What the metrics read at scrape time. */
export interface MetricSources {
  /** Online learning (null until it exists). */
  learning(): OnlineLearning | null;
  /** Each shadow row's running sums. */
  shadowSums?(): readonly ShadowRowSums[];
  /** Whether /readyz would answer 200 (every reason it checks, not only the loaded parts). */
  ready(): boolean;
  /** The loaded snapshot's age in seconds and how many of its features are past their TTL, or null without one. */
  snapshot(): { ageSeconds: number; staleFeatures: number } | null;
}

type Labels = Record<string, string>;

/** Help texts of the gauges that what answers while a replica starts (starting.ts) exports too. */
export const METRIC_HELP = {
  ready: "1 when GET /readyz answers 200 (parts loaded, events recordable, the state folder still this replica's)",
  starting: '1 while the replica starts (waiting for NATS, restoring online learning): /readyz names the step',
} as const;

/** `oo_ml_build_info{version}` (always 1) in `registry`. */
export function buildInfoGauge(registry: Registry): void {
  new Gauge({ name: 'oo_ml_build_info', help: 'Always 1; the running oo-ml version as a label', labelNames: ['version'] as const, registers: [registry] }).set({ version: OO_ML_VERSION }, 1);
}

/** A counter whose values live in cells and are copied into prom-client when scraped. */
function cellCounter(registry: Registry, name: string, help: string, labelNames: readonly string[]): (...values: string[]) => CounterCell {
  const cells = new Map<string, { labels: Labels; value: number; inc(): void }>();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of cells.values()) this.inc(c.labels, c.value);
    },
  });
  return (...values) => {
    const key = values.join('\u0000');
    let cell = cells.get(key);
    if (cell === undefined) {
      const c = { labels: Object.fromEntries(labelNames.map((l, i) => [l, values[i]!])), value: 0, inc: () => void c.value++ };
      cells.set(key, (cell = c));
    }
    return cell;
  };
}

// Sub-millisecond buckets: /score targets p99 ≤ 5 ms.
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

/**
 * A labelled histogram kept as bucket counts per label set, exported in prom-client's metric
 * shape (`get()` → values with `_bucket`/`_sum`/`_count` metric names, cumulative `le` buckets),
 * which the registry formats like its own histograms.
 */
function cellHistogram(registry: Registry, name: string, help: string): (labels: Labels) => (seconds: number) => void {
  const cells = new Map<Labels, { counts: Float64Array; sum: number; n: number }>();
  const get = () => {
    const values: { labels: Labels; value: number; metricName: string }[] = [];
    for (const [labels, c] of cells) {
      let cumulative = 0;
      BUCKETS.forEach((le, i) => {
        cumulative += c.counts[i]!;
        values.push({ labels: { ...labels, le: String(le) }, value: cumulative, metricName: `${name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: c.n, metricName: `${name}_bucket` });
      values.push({ labels, value: c.sum, metricName: `${name}_sum` });
      values.push({ labels, value: c.n, metricName: `${name}_count` });
    }
    return Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values });
  };
  // The registry only reads name, help, type and get() (and calls reset() on resetMetrics()).
  registry.registerMetric({ name, help, type: 'histogram', aggregator: 'sum', get, reset: () => cells.clear() } as unknown as Metric);
  return (labels) => {
    const c = { counts: new Float64Array(BUCKETS.length), sum: 0, n: 0 };
    cells.set(labels, c);
    return (seconds) => {
      let i = 0;
      while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
      if (i < BUCKETS.length) c.counts[i]!++;
      c.sum += seconds;
      c.n++;
    };
  };
}

/**
 * Creates the metrics; online learning (`learning()`, null until it exists) is read at scrape
 * time: the bus and its spill (an outage shows here as `oo_ml_event_bus_connected 0` and a
 * growing `oo_ml_spill_backlog` while /score keeps answering), the fold's position and reward
 * outcomes, the serve window's size.
 */
export function createServerMetrics(sources: MetricSources): ServerMetrics {
  const { learning } = sources;
  const shadowSums = sources.shadowSums ?? (() => []);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = cellCounter(registry, 'oo_ml_http_requests_total', 'HTTP requests by method, route and status', ['method', 'route', 'status']);
  const durations = cellHistogram(registry, 'oo_ml_http_request_duration_seconds', 'HTTP request duration (arrival to the answer ready to write) by method, route and status');
  // Route patterns and methods are interned strings (hashes cached) and statuses small
  // integers: nested maps avoid building a key string per request.
  const perRequest = new Map<string, Map<string, Map<number, { count: CounterCell; observe: (seconds: number) => void }>>>();
  const served = cellCounter(registry, 'oo_ml_serves_total', 'Decisions served by policy and experiment variant (shadows excluded)', ['policy', 'variant']);
  const shadowServed = cellCounter(registry, 'oo_ml_shadow_serves_total', 'Shadow decisions recorded, by shadow policy', ['policy']);
  const rewarded = cellCounter(registry, 'oo_ml_reward_calls_total', '/reward calls answered, by the serve\'s policy and outcome', ['policy', 'outcome']);
  const generated = cellCounter(registry, 'oo_ml_tips_generated_total', 'Tips written by /generate, by writer (template, openai-compatible) and outcome (ok, fallback)', ['provider', 'outcome']);
  const shadowFailures = new Counter({
    name: 'oo_ml_shadow_failures_total',
    help: 'Shadow scorings that failed (never affects the response)',
    labelNames: ['policy'] as const,
    registers: [registry],
  });
  const eventFailures = new Counter({
    name: 'oo_ml_event_publish_failures_total',
    help: 'Events neither the bus nor the local spill took (answered 503), by event type',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const value = (name: string, help: string, read: () => number | null): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        // An unlabelled gauge always has a sample: NaN says "no value" (no comparison holds for it).
        this.set(read() ?? Number.NaN);
      },
    });
  };
  value('oo_ml_ready', METRIC_HELP.ready, () => (sources.ready() ? 1 : 0));
  // 1 only in what answers while the replica starts (starting.ts): one alert covers both.
  value('oo_ml_starting', METRIC_HELP.starting, () => 0);
  value('oo_ml_snapshot_age_seconds', 'Age of the loaded feature snapshot (now − its as-of); NaN without one', () => sources.snapshot()?.ageSeconds ?? null);
  value('oo_ml_snapshot_stale_features', 'Features of the loaded snapshot past their TTL (every /score falls back on them); NaN without one', () => sources.snapshot()?.staleFeatures ?? null);
  buildInfoGauge(registry);
  const gauge = (name: string, help: string, read: (l: OnlineLearning) => number): void => {
    value(name, help, () => {
      const l = learning();
      return l === null ? null : read(l);
    });
  };
  // Totals kept elsewhere only grow; a counter mirrors them (reset, then add the total).
  const counter = (name: string, help: string, read: (l: OnlineLearning) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const l = learning();
        if (l === null) return;
        this.reset();
        this.inc(read(l));
      },
    });
  };
  gauge('oo_ml_event_bus_connected', '1 while the event bus is reachable', (l) => (l.publisherHealth().busConnected ? 1 : 0));
  gauge('oo_ml_event_bus_degraded', '1 while events go to the local spill (the bus is down, or the spill is still draining)', (l) => (l.publisherHealth().mode === 'spill' ? 1 : 0));
  gauge('oo_ml_spill_backlog', 'Events in the local spill not yet on the bus', (l) => l.publisherHealth().backlog);
  counter('oo_ml_events_spilled_total', 'Events written to the local spill instead of the bus', (l) => l.publisherHealth().spilledTotal);
  counter('oo_ml_events_drained_total', 'Spilled events published to the bus once it was back', (l) => l.publisherHealth().drainedTotal);
  counter('oo_ml_event_bus_refusals_total', 'Publish attempts the bus did not take (each spilled or retried)', (l) => l.publisherHealth().refusedTotal);
  counter('oo_ml_events_rejected_total', 'Events the bus refused as invalid (kept in rejected.ndjson)', (l) => l.publisherHealth().rejectedTotal);
  gauge('oo_ml_fold_position', 'Last events-stream sequence online learning folded', (l) => l.fold.position);
  gauge('oo_ml_checkpoint_failing', '1 while the last online-learning checkpoint could not be written (a restart replays from the one before)', (l) => (l.checkpointFailure() === null ? 0 : 1));
  gauge('oo_ml_state_lock_lost', "1 once this replica's state folder lock is no longer its own (restart it)", (l) => (l.lockLost() === null ? 0 : 1));
  gauge('oo_ml_fold_waiting_rewards', 'Rewards waiting for a serve the stream has not delivered yet', (l) => l.fold.waiting);
  gauge('oo_ml_serve_window_hot_records', 'Serves held in memory for their reward', (l) => l.window.stats().hotRecords);
  gauge('oo_ml_serve_window_cold_bytes', 'Bytes of serves kept on disk for their reward', (l) => l.window.stats().coldBytes);
  new Counter({
    name: 'oo_ml_fold_rewards_total',
    help: 'Reward events folded, by outcome (applied, duplicate, expired, version_changed, before_reset, unmatched, …)',
    labelNames: ['outcome'] as const,
    registers: [registry],
    collect() {
      const l = learning();
      if (l === null) return;
      this.reset();
      const counts = l.fold.counters.rewards;
      for (const o of REWARD_OUTCOMES) if (o !== 'waiting') this.inc({ outcome: o }, counts[o]);
    },
  });
  // Each loaded policy's update count and state (a shadow's stays its registered one), so replicas that disagree can be alerted on:
  // they fold one stream, so equal positions mean equal states (online-learning/README.md). The
  // fingerprint is the /stats digest's first 32 bits as a number: replicas differ where
  // `count_values` finds more than one value per policy.
  const perPolicy = (name: string, help: string, read: (p: { updates: number; digest: string }) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['policy', 'model_version'] as const,
      registers: [registry],
      collect() {
        const l = learning();
        if (l === null) return;
        this.reset();
        for (const p of l.status().policies) this.set({ policy: p.name, model_version: p.model_version ?? '' }, read(p));
      },
    });
  };
  perPolicy('oo_ml_policy_updates', 'Rewards a policy learned online since it was loaded from the registry (or since the last reset)', (p) => p.updates);
  perPolicy('oo_ml_policy_state_fingerprint', "The first 32 bits of a policy's state digest (/stats), as a number: equal on replicas at the same fold position", (p) => Number.parseInt(p.digest.slice(0, 8), 16));
  // Each shadow's running sums (server/shadow-estimates.ts), so a dashboard can estimate over a
  // window and across replicas: IPS = rate(weighted_rewards) / rate(decisions), SNIPS =
  // rate(weighted_rewards) / rate(weights).
  const shadowCounter = (name: string, help: string, read: (s: ShadowSums) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['policy', 'model_version'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const row of shadowSums()) this.inc({ policy: row.policy, model_version: row.modelVersion ?? '' }, read(row.sums));
      },
    });
  };
  shadowCounter('oo_ml_shadow_decisions_total', "A shadow's decisions on served requests (its IPS: weighted_rewards / decisions)", (s) => s.decisions);
  shadowCounter('oo_ml_shadow_weighted_rewards_total', "Σ reward / propensity over a shadow's decisions that chose the served arm", (s) => s.weighted_rewards);
  shadowCounter('oo_ml_shadow_weights_total', "Σ 1 / propensity over a shadow's decisions that chose the served arm (its SNIPS: weighted_rewards / weights)", (s) => s.weights);
  return {
    registry,
    request(method, route, status, seconds) {
      let byMethod = perRequest.get(route);
      if (byMethod === undefined) perRequest.set(route, (byMethod = new Map()));
      let byStatus = byMethod.get(method);
      if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
      let m = byStatus.get(status);
      if (m === undefined) {
        const s = String(status);
        m = { count: requests(method, route, s), observe: durations({ method, route, status: s }) };
        byStatus.set(status, m);
      }
      m.count.inc();
      m.observe(seconds);
    },
    requestsByStatus() {
      const out: Record<string, number> = {};
      for (const byMethod of perRequest.values()) {
        for (const byStatus of byMethod.values()) for (const [status, m] of byStatus) out[status] = (out[status] ?? 0) + m.count.value;
      }
      return out;
    },
    served: (policy, variant) => served(policy, variant),
    shadowServed: (policy) => shadowServed(policy),
    rewarded: (policy, outcome) => rewarded(policy, outcome),
    generated: (provider, outcome) => generated(provider, outcome),
    shadowFailures,
    eventFailures,
  };
}
