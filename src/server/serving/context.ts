/**
 * What every part of the scorer shares: the dependencies, limits, the current serving state
 * (one swappable reference), online learning (publisher, window, fold), metrics and /stats rows,
 * ids, and the per-process scratch of decisions. One object built once by serving.ts; each part
 * (score, shadows, rewards, tips, admin) is a file of its own over it.
 *
 * Concurrency model: Node runs one request's synchronous part at a time, so a decision (vector,
 * draw) and a policy update never interleave. A request reads the state reference once and uses
 * that state throughout; reload builds a new state and swaps the reference with the fold paused.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { internal, isOoMlError, unavailable } from '../../errors.js';
import { REWARD_WINDOW_MS } from '../../events/reward.js';
import { vectorDim, type VectorLayoutName } from '../../features/vectors.js';
import { createRng, type Rng } from '../../random/rng.js';
import { createScratch, type DecisionScratch } from '../decision.js';
import type { ServerDeps, ServerEvent, ServerLimits } from '../deps.js';
import type { ServerMetrics } from '../metrics.js';
import { DEFAULT_LATE_REWARD_MS } from '../online-learning/fold.js';
import type { OnlineLearning } from '../online-learning/online-learning.js';
import type { PublishReceipt } from '../online-learning/publisher.js';
import { ServeIds } from '../online-learning/serve-id.js';
import type { ServeStats } from '../serve-stats.js';
import type { LivePolicy, ServingState } from '../serving-state.js';

/** Defaults of ServerLimits. */
export const DEFAULT_LIMITS: Required<ServerLimits> = {
  hotServes: 1 << 20,
  rewardWindowMs: REWARD_WINDOW_MS,
  lateRewardMs: DEFAULT_LATE_REWARD_MS,
  orphanLimit: 100_000,
  orphanWaitMs: REWARD_WINDOW_MS,
  bodyLimitBytes: 256 * 1024,
  requestTimeoutMs: 30_000,
  latencySamples: 4096,
  checkpointIntervalMs: 5 * 60_000,
  reloadRetryMs: 5_000,
  rewardWaitMs: 2_000,
  serveWaitMs: 2_000,
};

/** Default name of the champion policy, as assignment.ts documents it. */
export const DEFAULT_CHAMPION = 'tip-policy@champion';


/**
 * Event ids: a process-random prefix and a counter (randomUUID per event cost a visible share
 * of a /score's CPU: bench:serve). `oo-ml ingest` de-duplicates the event log by event_id across every
 * server process, so ids must be unique across processes: each process draws 96 random bits, so
 * two of n processes ever started share a prefix with probability ~n² / 2^97 — nil in practice.
 */
export function createEventIds(prefix: string = randomBytes(12).toString('hex')): () => string {
  let seq = 0;
  const head = `${prefix}-`;
  return () => head + (seq++).toString(36);
}

/** Per policy and variant: the /stats row key and the serves counter, built once. */
export interface StatsRow {
  key: string;
  served: { inc(): void };
}

/** Work in flight (shadow scorings), and a way to wait until none is. */
export class InFlight {
  private n = 0;
  private waiting: (() => void)[] = [];

  /** True while something is in flight; callers loop `while (busy) await idle()`. */
  get busy(): boolean {
    return this.n > 0;
  }

  /** One more in flight. */
  enter(): void {
    this.n++;
  }

  /** One fewer in flight. */
  leave(): void {
    if (--this.n > 0) return;
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }

  /** Resolves once nothing is in flight (at once when nothing is). */
  idle(): Promise<void> {
    return this.n === 0 ? Promise.resolve() : new Promise((resolve) => this.waiting.push(resolve));
  }
}

/** The shared context of the scorer's parts. */
export interface ServingContext {
  readonly deps: ServerDeps;
  readonly limits: Required<ServerLimits>;
  readonly log: FastifyBaseLogger;
  readonly metrics: ServerMetrics;
  readonly stats: ServeStats;
  readonly startedAt: Date;
  /** Serve ids of this process (its issuer names its serves in the window). */
  readonly serveIds: ServeIds;
  readonly newEventId: () => string;
  /** Shadows draw from their own stream so adding a shadow never changes the served arms. */
  readonly shadowRng: Rng;
  readonly scratch: DecisionScratch;
  /** Online learning (attached once, before any request; reading it earlier is a bug). */
  readonly learning: OnlineLearning;
  /** Attaches online learning (serving.ts, once). */
  attachLearning(learning: OnlineLearning): void;
  /** The current state (read once per request). */
  state(): ServingState;
  /** Swaps the state (reload, with the fold paused). */
  setState(next: ServingState): void;
  /** A vector buffer of `layout`, reused (one decision at a time). */
  vectorBuffer(layout: VectorLayoutName): Float64Array;
  /** The /stats row of a served policy and variant. */
  rowOf(lp: LivePolicy, experiment: string | null, variant: string | null): StatsRow;
  /** Publishes an event durably; a failure becomes `unavailable` naming the event, counted and logged. */
  publish(event: ServerEvent): Promise<PublishReceipt>;
}

/** The context of `deps` with an initial state (online learning is attached by the caller). */
export function createContext(deps: ServerDeps, log: FastifyBaseLogger, metrics: ServerMetrics, stats: ServeStats, initial: ServingState): ServingContext {
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const vectors = new Map<VectorLayoutName, Float64Array>();
  const rows = new WeakMap<LivePolicy, Map<string, StatsRow>>();
  let current = initial;
  let learning: OnlineLearning | null = null;
  const ctx: ServingContext = {
    deps,
    limits,
    log,
    metrics,
    stats,
    startedAt: deps.now(),
    serveIds: deps.serveIds ?? new ServeIds(),
    newEventId: deps.newId ?? createEventIds(),
    shadowRng: deps.shadowRng ?? createRng(deps.rng.int(2 ** 31)),
    scratch: createScratch(),
    get learning() {
      if (learning === null) throw internal('online learning was read before it was attached');
      return learning;
    },
    attachLearning(l) {
      learning = l;
    },
    state: () => current,
    setState(next) {
      current = next;
    },
    vectorBuffer(layout) {
      let x = vectors.get(layout);
      if (x === undefined) vectors.set(layout, (x = new Float64Array(vectorDim(layout))));
      return x;
    },
    // Built once per policy and variant, so a decision neither concatenates label strings nor
    // hashes label objects.
    rowOf(lp, experiment, variant) {
      let byVariant = rows.get(lp);
      if (byVariant === undefined) rows.set(lp, (byVariant = new Map()));
      // The experiment too: a reload may start another experiment with variants of the same names.
      const v = experiment === null ? '' : `${experiment}\u0000${variant ?? ''}`;
      let row = byVariant.get(v);
      if (row === undefined) {
        row = {
          key: stats.key({ policy: lp.name, modelVersion: lp.modelVersion, experiment, variant, shadow: false }),
          served: metrics.served(lp.name, variant ?? 'none'),
        };
        byVariant.set(v, row);
      }
      return row;
    },
    // Not an async function: one promise per event instead of two.
    publish(event) {
      let sent: Promise<PublishReceipt>;
      try {
        sent = ctx.learning.publisher.publish(event);
      } catch (e) {
        sent = Promise.reject(e);
      }
      return sent.then(undefined, (e: unknown) => {
        metrics.eventFailures.inc({ type: event.type });
        log.error({ err: e, type: event.type }, 'an event could not be recorded');
        if (isOoMlError(e) && e.code === 'internal') throw e;
        // The cause (a spill file's path, the bus's words) is in the log above and /readyz, not in an app's answer.
        throw unavailable(`could not record the ${event.type} event: neither the event bus nor the local spill took it`, {
          hint: 'retry later; GET /readyz says why',
        });
      });
    },
  };
  return ctx;
}
