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
import type { EventSinkHealth } from './deps.js';

/** A counter cell of one label set. */
export interface CounterCell {
  inc(): void;
}

/** The server's metrics. */
export interface ServerMetrics {
  registry: Registry;
  /** Counts one HTTP request and observes its duration (seconds). */
  request(method: string, route: string, status: number, seconds: number): void;
  /** Decisions served by policy and experiment variant (shadows excluded). */
  served(policy: string, variant: string): CounterCell;
  /** Shadow decisions recorded. */
  shadowServed(policy: string): CounterCell;
  /** Rewards received, by outcome (applied, repeat, version_changed). */
  rewarded(policy: string, outcome: 'applied' | 'repeat' | 'version_changed'): CounterCell;
  /** Tips written by /generate, by the writer that produced them and whether the LLM fell back. */
  generated(provider: string, outcome: 'ok' | 'fallback'): CounterCell;
  shadowFailures: Counter<'policy'>;
  eventFailures: Counter<'type'>;
  ready: Gauge;
}

type Labels = Record<string, string>;

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
 * Creates the metrics; `pendingSize` and `sinkHealth` are read at scrape time. Without
 * `sinkHealth` (a sink that never queues) the oo_ml_event_* metrics are not exported at all,
 * rather than as zeros that would read as a healthy bus.
 */
export function createServerMetrics(pendingSize: () => number, sinkHealth?: () => EventSinkHealth): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = cellCounter(registry, 'oo_ml_http_requests_total', 'HTTP requests by method, route and status', ['method', 'route', 'status']);
  const durations = cellHistogram(registry, 'oo_ml_http_request_duration_seconds', 'HTTP request duration (routing to reply sent) by method, route and status');
  // Route patterns and methods are interned strings (hashes cached) and statuses small
  // integers: nested maps avoid building a key string per request.
  const perRequest = new Map<string, Map<string, Map<number, { count: CounterCell; observe: (seconds: number) => void }>>>();
  const served = cellCounter(registry, 'oo_ml_serves_total', 'Decisions served by policy and experiment variant (shadows excluded)', ['policy', 'variant']);
  const shadowServed = cellCounter(registry, 'oo_ml_shadow_serves_total', 'Shadow decisions recorded, by shadow policy', ['policy']);
  const rewarded = cellCounter(registry, 'oo_ml_rewards_total', 'Rewards received, by serving policy and outcome (applied, repeat, version_changed)', ['policy', 'outcome']);
  const generated = cellCounter(registry, 'oo_ml_tips_generated_total', 'Tips written by /generate, by writer (template, openai-compatible) and outcome (ok, fallback)', ['provider', 'outcome']);
  const shadowFailures = new Counter({
    name: 'oo_ml_shadow_failures_total',
    help: 'Shadow scorings that failed (never affects the response)',
    labelNames: ['policy'] as const,
    registers: [registry],
  });
  const eventFailures = new Counter({
    name: 'oo_ml_event_publish_failures_total',
    help: 'Events the sink refused, by event type',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const ready = new Gauge({ name: 'oo_ml_ready', help: '1 when snapshot and champion are loaded', registers: [registry] });
  new Gauge({
    name: 'oo_ml_pending_serves',
    help: 'Serves held for a reward',
    registers: [registry],
    collect() {
      this.set(pendingSize());
    },
  });
  // The event sink's backlog and failures: an outage of the bus shows here long before the
  // queue is full and /score starts answering 503. (Each metric reads the sink itself: four
  // cheap getters, and a metric read alone is never stale.)
  if (sinkHealth !== undefined) {
    const gauge = (name: string, help: string, pick: (h: EventSinkHealth) => number): void => {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(pick(sinkHealth()));
        },
      });
    };
    // The sink's own counts only grow; a counter mirrors them (reset, then add the total).
    const counter = (name: string, help: string, pick: (h: EventSinkHealth) => number): void => {
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(pick(sinkHealth()));
        },
      });
    };
    gauge('oo_ml_event_queue_depth', 'Events accepted by the server but not yet stored on the event bus', (h) => h.queued);
    gauge('oo_ml_event_publishes_waiting', 'Publishes waiting for room in the full event queue (refused with 503 if none comes in time)', (h) => h.waiting);
    counter('oo_ml_event_bus_refusals_total', 'Publish attempts the event bus refused (each retried with backoff, or spilled if the event is invalid)', (h) => h.refused);
    counter('oo_ml_events_spilled_total', 'Events written to the spill file instead of the event bus', (h) => h.spilled);
  }
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
    served: (policy, variant) => served(policy, variant),
    shadowServed: (policy) => shadowServed(policy),
    rewarded: (policy, outcome) => rewarded(policy, outcome),
    generated: (provider, outcome) => generated(provider, outcome),
    shadowFailures,
    eventFailures,
    ready,
  };
}
