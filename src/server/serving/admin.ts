/**
 * The operator's side of the scorer: readiness, /stats, reload and reset.
 *
 * - **Reload** builds a new state (snapshot and policies; a part that fails keeps its previous
 *   version, 503 naming it) and swaps it in with the fold paused: versions it brings in get their
 *   learning from the stream (online-learning `swap`), versions it takes out keep theirs for a
 *   rollback. Unchanged versions keep learning where they were.
 * - **Reset** publishes a `learning.reset` event: every replica folds it at the same position,
 *   so they all forget the same rewards. It answers once this replica's fold applied it (or says
 *   it is queued, when the bus is down).
 */
import { conflict, unavailable } from '../../errors.js';
import { staleFeatures } from '../../features/snapshot.js';
import type { LearningResetEvent } from '../../events/schemas.js';
import { isoFromMs } from '../iso-time.js';
import type { LearningStatus } from '../online-learning/online-learning.js';
import type { PublisherHealth } from '../online-learning/publisher.js';
import type { ReloadResponse, ResetResponse, StatsResponse } from '../schemas.js';
import { buildServingState, policyInfo } from '../serving-state.js';
import type { ServingContext } from './context.js';

/**
 * What to do about a stale snapshot: a build is as of the event log's last day, so the log needs
 * recent events first; a reload needs the admin token, a restart does not.
 */
export const FRESH_SNAPSHOT_HINT =
  'build and export one from recent events (oo-ml features build && oo-ml features export; a build is as of the event log\'s last day), then restart the server, or POST /admin/reload with OO_ML_ADMIN_TOKEN set';

/** /readyz when ready. */
export interface Readiness {
  ready: true;
  snapshot_id: string;
  champion: string;
  model_version: string | null;
  shadows: string[];
  bus: { kind: string; connected: boolean; degraded: boolean; spill_backlog: number };
  warnings: string[];
}

/** The admin part of the scorer. */
export interface Admin {
  /** Readiness, or throws `unavailable` with the reasons. */
  readiness(): Readiness;
  /** Whether `readiness` would answer (cheaper: no warnings). */
  isReady(): boolean;
  /** From now on /readyz answers 503 with `why` (shutdown has begun); every route still answers. */
  markStopping(why: string): void;
  /** What /readyz warns of now (a stale snapshot, a degraded bus, a failed checkpoint, …). */
  warnings(): string[];
  /** The loaded snapshot, its age and the features past their TTL now, or null. */
  snapshotReport(): StatsResponse['snapshot'];
  stats(): StatsResponse;
  reload(): Promise<Omit<ReloadResponse, 'reloaded'>>;
  /** Tells admin what the start-up load left failed: anything missing is retried (deps.ts `reloadRetryMs`). */
  loaded(failures: readonly string[]): void;
  /** Stops the retries, and resolves once a reload or reset still running has ended. */
  close(): Promise<void>;
  reset(reason?: string | null): Promise<Omit<ResetResponse, 'reset'>>;
}

/** The bus as /stats and /readyz show it. */
export function busReport(h: PublisherHealth): StatsResponse['bus'] {
  return {
    kind: h.busKind,
    connected: h.busConnected,
    mode: h.mode,
    spill_backlog: h.backlog,
    spilled_total: h.spilledTotal,
    drained_total: h.drainedTotal,
    refused_total: h.refusedTotal,
    rejected_total: h.rejectedTotal,
    last_error: h.lastError,
  };
}

function learningReport(s: LearningStatus): StatsResponse['learning'] {
  return {
    position: s.position,
    event_time: s.event_time,
    policies: s.policies,
    rewards: s.counters.rewards,
    serves: s.counters.serves,
    shadow_serves: s.counters.shadowServes,
    legacy_serves: s.counters.legacyServes,
    duplicate_serves: s.counters.duplicateServes,
    resets: s.counters.resets,
    invalid_messages: s.counters.invalid,
    waiting_rewards: s.waiting,
    serve_window: {
      hot_records: s.window.hotRecords,
      hot_bytes: s.window.hotBytes,
      cold_files: s.window.coldFiles,
      cold_bytes: s.window.coldBytes,
      issuers: s.window.issuers,
      forgotten: s.window.forgotten,
    },
    last_checkpoint: s.last_checkpoint,
  };
}

/** Admin over `ctx`. */
export function createAdmin(ctx: ServingContext): Admin {
  const { deps, log } = ctx;
  const sources = { snapshot: deps.snapshot, policies: deps.policies, experiments: deps.experiments };
  // The reload or reset running now, and whether it is a retry (which one asked by hand waits
  // for, rather than being refused: a retry is no one's request).
  let running: Promise<unknown> | null = null;
  let runningRetry = false;

  async function exclusive<T>(what: string, body: () => Promise<T>, retry = false): Promise<T> {
    if (running !== null && runningRetry && !retry) await running.catch(() => undefined);
    if (running !== null) throw conflict(`cannot ${what}: a reload or reset is already running`, { hint: 'retry when it has finished' });
    if (closed) throw unavailable(`cannot ${what}: the server is shutting down`);
    const done = body();
    running = done;
    runningRetry = retry;
    try {
      return await done;
    } finally {
      running = null;
    }
  }

  // Retries of a load that left something missing (deps.ts `reloadRetryMs`): without them a
  // replica started during a registry outage stayed unready until a reload by hand or a restart.
  const retryBaseMs = ctx.limits.reloadRetryMs;
  let retryDelayMs = retryBaseMs;
  let retryTimer: NodeJS.Timeout | null = null;
  let closed = false;
  function retryUnlessComplete(failures: readonly string[]): void {
    const incomplete = failures.length > 0 || ctx.state().reasons.length > 0;
    if (!incomplete) {
      retryDelayMs = retryBaseMs;
      if (retryTimer !== null) clearTimeout(retryTimer);
      retryTimer = null;
      return;
    }
    if (closed || retryBaseMs <= 0 || retryTimer !== null) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      retryDelayMs = Math.min(retryDelayMs * 2, retryBaseMs * 12);
      // A try that failed again has scheduled the next itself; one that could not run (a reload
      // by hand was running: 409) or broke off schedules it here.
      reload(true).catch((e: unknown) => retryUnlessComplete([e instanceof Error ? e.message : String(e)]));
    }, retryDelayMs);
    retryTimer.unref();
  }

  /** Reloads snapshot, policies and experiments (a retry: `retry`); what failed keeps its previous version. */
  function reload(retry = false): Promise<Omit<ReloadResponse, 'reloaded'>> {
    return exclusive('reload', async () => {
      const t0 = performance.now();
      const next = await buildServingState({ ...sources, nowMs: deps.now().getTime() }, ctx.state());
      // Shut down meanwhile: online learning may have closed and let its state folder go.
      if (closed) throw unavailable('reload abandoned: the server is shutting down');
      const replay = await ctx.learning.swap(next.state, () => ctx.setState(next.state));
      await ctx.learning.checkpoint();
      const current = ctx.state();
      const tookMs = performance.now() - t0;
      log.info({ snapshot: current.snapshot?.manifest.snapshot_id ?? null, failures: next.failures, reasons: current.reasons, replay, took_ms: tookMs }, 'reloaded');
      retryUnlessComplete(next.failures);
      if (next.failures.length > 0) {
        throw unavailable(`reload kept the previous version of what failed to load: ${next.failures.join('; ')}`, {
          details: { failures: next.failures, reasons: current.reasons, policies: policyInfo(current) },
        });
      }
      return {
        snapshot_id: current.snapshot?.manifest.snapshot_id ?? null,
        policies: policyInfo(current),
        ready: current.reasons.length === 0,
        reasons: [...current.reasons],
        replayed: { events: replay.events, updates: replay.updates, from: replay.fromSeq, to: replay.toSeq },
        took_ms: tookMs,
      };
    }, retry);
  }

  /** The loaded snapshot, its age and the features past their TTL now (/stats' `snapshot`), or null. */
  function snapshotReport(): StatsResponse['snapshot'] {
    const snapshot = ctx.state().snapshot;
    if (snapshot === null) return null;
    const stale = staleFeatures(snapshot.manifest, ctx.deps.now().getTime());
    return { id: snapshot.manifest.snapshot_id, as_of: snapshot.manifest.as_of, age_s: stale.ageMs / 1000, stale_features: stale.features };
  }

  /** What /readyz warns of: problems that do not stop serving. */
  function readinessWarnings(): string[] {
    const s = ctx.state();
    const h = ctx.learning.publisherHealth();
    const degraded = h.mode === 'spill' || !h.busConnected;
    const warnings = [...s.warnings, ...ctx.deps.bus.setupWarnings()];
    const snapshot = snapshotReport();
    if (snapshot !== null && snapshot.stale_features.length > 0) {
      warnings.push(
        `snapshot ${snapshot.id} is ${(snapshot.age_s / 3_600).toFixed(1)} h old (as of ${snapshot.as_of}): ` +
          `past the TTL of ${snapshot.stale_features.join(', ')}, so every /score falls back on them; ${FRESH_SNAPSHOT_HINT}`,
      );
    }
    if (degraded && h.spillFailure === null) {
      warnings.push(
        `event bus (${h.busKind}) ${h.busConnected ? 'is back; the local spill is draining' : 'is disconnected; events go to the local spill'} (${h.backlog} waiting)${h.lastError === null ? '' : `: ${h.lastError}`}`,
      );
    }
    const failed = ctx.learning.checkpointFailure();
    if (failed !== null) warnings.push(`the last online-learning checkpoint could not be written (${failed}): a restart replays from the one before`);
    const gap = ctx.learning.streamGap();
    if (gap !== null) warnings.push(gap);
    return warnings;
  }

  /** Set once shutdown has begun and the replica answers on only until its drain delay ends. */
  let stopping: string | null = null;

  /** Why /readyz answers 503 (none: ready). */
  function notReadyReasons(): string[] {
    const s = ctx.state();
    const h = ctx.learning.publisherHealth();
    // Neither the bus nor the spill takes an event: every /score and /reward answers 503, so a
    // load balancer must send them elsewhere.
    const reasons = h.spillFailure === null ? [...s.reasons] : [...s.reasons, `events cannot be recorded: the ${h.busKind} bus does not take them and the local spill failed (${h.spillFailure})`];
    const lockLost = ctx.learning.lockLost();
    if (lockLost !== null) reasons.push(lockLost);
    if (s.snapshot === null && reasons.length === 0) reasons.push('no feature snapshot loaded');
    if (stopping !== null) reasons.push(stopping);
    return reasons;
  }

  return {
    isReady: () => notReadyReasons().length === 0,
    markStopping(why) {
      stopping = why;
    },
    warnings: readinessWarnings,
    readiness() {
      const s = ctx.state();
      const h = ctx.learning.publisherHealth();
      const degraded = h.mode === 'spill' || !h.busConnected;
      const warnings = readinessWarnings();
      const reasons = notReadyReasons();
      if (reasons.length > 0 || s.snapshot === null) {
        throw unavailable(`not ready: ${reasons.join('; ')}`, { details: { reasons, warnings } });
      }
      return {
        ready: true,
        snapshot_id: s.snapshot.manifest.snapshot_id,
        champion: s.champion,
        model_version: s.policies.get(s.champion)?.modelVersion ?? null,
        shadows: [...s.shadows],
        bus: { kind: h.busKind, connected: h.busConnected, degraded, spill_backlog: h.backlog },
        warnings,
      };
    },
    snapshotReport,
    stats() {
      const snapshot = snapshotReport();
      return {
        since: ctx.startedAt.toISOString(),
        snapshot_id: snapshot?.id ?? null,
        snapshot,
        ...ctx.stats.report(),
        requests: requestsReport(ctx.metrics.requestsByStatus()),
        learning: learningReport(ctx.learning.status()),
        bus: busReport(ctx.learning.publisherHealth()),
        not_ready: notReadyReasons(),
      };
    },
    reload,
    loaded: retryUnlessComplete,
    async close() {
      closed = true;
      if (retryTimer !== null) clearTimeout(retryTimer);
      retryTimer = null;
      // A reload or reset still running must be over before online learning closes and lets its
      // state folder go (one that has not swapped yet gives up: see `reload`).
      await running?.catch(() => undefined);
    },
    reset: (reason = null) =>
      exclusive('reset', async () => {
        const nowMs = deps.now().getTime();
        const event: LearningResetEvent = { type: 'learning.reset', event_id: ctx.newEventId(), ts: isoFromMs(nowMs), reason };
        const receipt = await ctx.publish(event);
        const applied = receipt.seq !== null && (await ctx.learning.waitForPosition(receipt.seq, 10_000));
        if (applied) await ctx.learning.checkpoint();
        log.info({ seq: receipt.seq, applied }, 'online learning reset');
        return { at: isoFromMs(nowMs), applied, position: receipt.seq, policies: policyInfo(ctx.state()) };
      }),
  };
}

/** The requests part of /stats. */
function requestsReport(byStatus: Record<string, number>): StatsResponse['requests'] {
  return { total: Object.values(byStatus).reduce((a, b) => a + b, 0), by_status: byStatus };
}
