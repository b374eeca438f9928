/**
 * The scorer behind the routes, assembled from its parts over one shared context
 * (context.ts): score.ts, shadows.ts, rewards.ts, tips.ts, admin.ts — and online learning
 * (../online-learning/), which every replica runs from the events stream. Routes only translate
 * HTTP to these calls.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { TipServedEvent } from '../../events/schemas.js';
import type { VectorInput } from '../../features/vectors.js';
import { inputOfServe } from '../decision.js';
import type { ServerDeps } from '../deps.js';
import { createServerMetrics, type ServerMetrics } from '../metrics.js';
import { createOnlineLearning, type OnlineLearning } from '../online-learning/online-learning.js';
import type { GenerateBody, GenerateResponse, RewardBody, RewardResponse, ScoreBody, ScoreResponse, StatsResponse } from '../schemas.js';
import { ServeStats } from '../serve-stats.js';
import { buildServingState, emptyState, type ServingState } from '../serving-state.js';
import { createAdmin, type Admin, type Readiness } from './admin.js';
import { createContext, DEFAULT_CHAMPION } from './context.js';
import { createRewards } from './rewards.js';
import { createScorer, type ScoreOutcome, type StatsKeyHolder } from './score.js';
import { createShadows } from './shadows.js';
import { createTips } from './tips.js';

export { DEFAULT_CHAMPION, DEFAULT_LIMITS, createEventIds } from './context.js';
export type { Readiness } from './admin.js';
export type { ScoreOutcome, StatsKeyHolder } from './score.js';

/** The scorer. */
export interface Serving {
  readonly metrics: ServerMetrics;
  readonly startedAt: Date;
  /** Online learning of this replica (publisher, window, fold). */
  readonly learning: OnlineLearning;
  /** The current state (read once per request). */
  state(): ServingState;
  score(body: ScoreBody, promptVersion?: string): Promise<ScoreOutcome>;
  /** `score` for the route: the response alone, the stats row written into `holder` once the decision is recorded. */
  scoreInto(body: ScoreBody, holder: StatsKeyHolder): Promise<ScoreResponse>;
  reward(body: RewardBody): Promise<RewardResponse>;
  generate(body: GenerateBody): Promise<GenerateResponse>;
  /** Records a /score latency (ms) in its stats row. */
  latency(statsKey: string, ms: number): void;
  stats(): StatsResponse;
  /** Readiness, or throws `unavailable` with the reasons. */
  readiness(): Readiness;
  reload: Admin['reload'];
  reset: Admin['reset'];
  markStopping: Admin['markStopping'];
  /** Waits for shadow scorings in flight, then closes online learning (a last checkpoint). */
  drain(): Promise<void>;
  /** Writes a checkpoint of online learning now. */
  checkpoint(): Promise<void>;
}

/** Loads the initial state (the server starts even when parts are missing), restores online learning and catches up with the stream. */
export async function createServing(deps: ServerDeps, log: FastifyBaseLogger): Promise<Serving> {
  // Every decision is published: a second server on one embedded bus is refused here, where it
  // used to start ready and put every event in its spill until the other one stopped.
  await deps.bus.claimWriter();
  const startedAt = deps.now();
  const built = await buildServingState(
    { snapshot: deps.snapshot, policies: deps.policies, experiments: deps.experiments, nowMs: startedAt.getTime() },
    emptyState(DEFAULT_CHAMPION),
  );
  // The metrics read online learning at scrape time (it exists before any scrape).
  let learning: OnlineLearning | null = null;
  const stats = new ServeStats(deps.limits?.latencySamples ?? 4096, startedAt);
  // Readiness is admin's, made below; nothing scrapes before this function returns.
  let admin: Admin | null = null;
  const metrics = createServerMetrics({
    learning: () => learning,
    shadowSums: () => stats.shadowSums(),
    ready: () => admin !== null && admin.isReady(),
    snapshot: () => {
      const snapshot = admin?.snapshotReport() ?? null;
      return snapshot === null ? null : { ageSeconds: snapshot.age_s, staleFeatures: snapshot.stale_features.length };
    },
  });
  const ctx = createContext(deps, log, metrics, stats, built.state);

  /** A serve event written before serves recorded their features: its profile is looked up in the current snapshot (as earlier versions did). */
  const legacyInput = (event: TipServedEvent): VectorInput | null => {
    const snapshot = ctx.state().snapshot;
    return snapshot === null ? null : inputOfServe(event, snapshot);
  };
  learning = await createOnlineLearning({
    bus: deps.bus,
    stateDir: deps.stateDir,
    hash32: deps.hash32,
    log,
    limits: ctx.limits,
    current: ctx.state,
    legacyInput,
    // This replica's rows count the rewards of its own serves (other replicas count theirs).
    onReward(report) {
      if (report.issuer !== ctx.serveIds.issuer || report.serveSeq === null || report.owner === null || report.value === null) return;
      if (report.outcome !== 'applied' && report.outcome !== 'version_changed') return;
      const o = report.owner;
      const key = stats.key({ policy: o.policy, modelVersion: o.modelVersion, experiment: o.experiment, variant: o.variant, shadow: false });
      stats.reward(key, report.value, report.reaction, o.promptVersion, report.serveSeq);
    },
  });
  ctx.attachLearning(learning);
  try {
    await learning.start();
  } catch (e) {
    await learning.close().catch(() => undefined);
    throw e;
  }
  for (const r of ctx.state().reasons) log.warn(`not ready: ${r}`);

  const shadows = createShadows(ctx);
  const scorer = createScorer(ctx, shadows);
  const rewards = createRewards(ctx);
  const tips = createTips(ctx, scorer);
  admin = createAdmin(ctx);
  admin.loaded(built.failures);
  // What /readyz will warn of, in the log too (a stale snapshot above all: every /score falls back).
  for (const w of admin.warnings()) log.warn(w);
  return {
    metrics,
    startedAt: ctx.startedAt,
    learning,
    state: ctx.state,
    score: scorer.score,
    scoreInto: (body, holder) => scorer.scoreInto(body, holder),
    reward: rewards.reward,
    generate: tips.generate,
    latency: (key, ms) => stats.latency(key, ms),
    stats: admin.stats,
    readiness: admin.readiness,
    reload: admin.reload,
    reset: admin.reset,
    markStopping: admin.markStopping,
    async drain() {
      await admin!.close();
      await shadows.drain();
      await learning!.close();
    },
    checkpoint: () => learning!.checkpoint(),
  };
}
