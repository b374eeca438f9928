/**
 * What the server needs from the outside, as small interfaces. The app (`buildApp`) depends on
 * these only; the registry, the event bus and the tip writer are plugged in by `oo-ml serve`
 * (server/wiring.ts) or by tests. The registry-backed provider lives beside this file
 * (`registry-policies.ts`); the bus is src/events' `EventBus` (embedded journal, or NATS
 * JetStream with NATS_URL); the tip writer is src/prompts' `createTipWriter` (embedded
 * template, or an OpenAI-compatible model when `LLM_BASE_URL` is set).
 */
import type { LoggerSetting } from './logger.js';
import type { EventBus } from '../events/event-bus.js';
import type { LearningResetEvent, TipReactionEvent, TipRewardEvent, TipServedEvent } from '../events/schemas.js';
import { eventSubject, type EventSubject } from '../events/subjects.js';
import type { ExperimentsConfig } from '../experiments/assignment.js';
import type { SnapshotIndex } from '../features/snapshot.js';
import type { VectorLayoutName } from '../features/vectors.js';
import type { Policy } from '../policies/policy.js';
import type { TipWriter } from '../prompts/tip-writer.js';
import type { Rng } from '../random/rng.js';
import type { ServeIds } from './online-learning/serve-id.js';

/** One policy ready to serve: implementation, its state, the registry version it came from. */
export interface LoadedPolicy {
  policy: Policy<unknown>;
  /** The registered (or freshly initialised) state; the server learns on a copy of it. */
  state: unknown;
  /** Registry version number as a string; null for a built-in policy started fresh. */
  modelVersion: string | null;
  layout: VectorLayoutName;
}

/** Every policy the server may use, by name (`tip-policy@champion`, `tip-policy@shadow`, `linucb`…). */
export interface LoadedPolicies {
  byName: Map<string, LoadedPolicy>;
  /** Name of the default policy; it may be missing from `byName` (then the server is not ready). */
  champion: string;
  /** Names scored on every request, fire-and-forget, never rewarded. */
  shadows: string[];
  /** Wanted policies that could not be loaded, and why; shown by /readyz. */
  problems?: PolicyProblem[];
}

/** A policy that could not be loaded. */
export interface PolicyProblem {
  name: string;
  reason: string;
}

/** Loads the policies (from the registry, or anything else), with those `experiments` serve. Called at start and on reload. */
export interface PolicyProvider {
  load(experiments: ExperimentsConfig): Promise<LoadedPolicies>;
}

/** Loads the experiments config (experiments-source.ts). Called at start and on reload; throws when it does not read or check. */
export interface ExperimentsProvider {
  load(): Promise<ExperimentsConfig>;
}

/** Loads the feature snapshot (verified). Called at start and on reload; throws when missing. */
export interface SnapshotProvider {
  load(): Promise<SnapshotIndex>;
}

/** The events the server records. */
export type ServerEvent = TipServedEvent | TipReactionEvent | TipRewardEvent | LearningResetEvent;

/** Bounds and sizes; every field has a documented default (serving/context.ts DEFAULT_LIMITS). */
export interface ServerLimits {
  /** Serves kept in memory for their reward (default 1,048,576, ~125 MB); older ones are read from disk. */
  hotServes?: number;
  /** How long after a serve its reward is learned (default the reward window, 24 h). */
  rewardWindowMs?: number;
  /**
   * How late a reward may reach the stream, behind the newest serve folded, and still be
   * learned (default 6 h: a replica's spill drained after a shorter outage is learned). The
   * serve window keeps the reward window plus this plus an hour on disk.
   */
  lateRewardMs?: number;
  /** Most rewards waiting for a serve the stream has not delivered yet (default 100,000). */
  orphanLimit?: number;
  /** How long (the fold's clock: serve times) such a reward waits before it is counted unmatched (default 24 h: an outage's spills may drain hours apart). */
  orphanWaitMs?: number;
  /** Largest accepted request body in bytes (default 256 KiB; larger → 413). */
  bodyLimitBytes?: number;
  /** How long a request may take to arrive, headers and body (default 30 s; then 408 and the connection closes): a client that drips its body cannot hold a connection for ever. */
  requestTimeoutMs?: number;
  /** /score latencies kept per policy and variant for quantiles (default 4096, most recent). */
  latencySamples?: number;
  /** How often online learning is checkpointed (default 5 min; 0: only on reload, reset and shutdown). */
  checkpointIntervalMs?: number;
  /**
   * After a load that left a part missing or kept its previous version (the registry or the
   * snapshot unreadable, no champion yet), the first retry's delay; each next one doubles, up to
   * 12 times this (default 5 s, so at most a minute apart; 0: never retry, reload by hand).
   */
  reloadRetryMs?: number;
  /** How long /reward waits for this replica's fold to apply the reward it published (default 2 s; then `queued`). */
  rewardWaitMs?: number;
  /** How long /reward and /generate wait for a serve this replica has not folded yet (default 2 s). */
  serveWaitMs?: number;
}

/** Everything `buildApp` is given. */
export interface ServerDeps {
  policies: PolicyProvider;
  snapshot: SnapshotProvider;
  /** The event bus: serves and rewards are published to it, and online learning folds its stream. */
  bus: EventBus;
  /** This replica's own folder: the spill, the serve window, the checkpoint (one folder per replica). */
  stateDir: string;
  /** Writes /generate's text and names the prompt version recorded on each serve. */
  tipWriter: TipWriter;
  now(): Date;
  /** Randomness of the serving policies' choices. */
  rng: Rng;
  /** Randomness of shadow choices (default: a stream seeded from `rng`), so shadows do not shift serves. */
  shadowRng?: Rng;
  hash32(s: string): number;
  /** The experiments (default none): read at start and at every reload. */
  experiments?: ExperimentsProvider;
  /** Bearer token of /admin/*; when absent the admin routes answer 404 (disabled). */
  adminToken?: string;
  /** Serve ids (default: a random issuer per process). */
  serveIds?: ServeIds;
  /** Event ids (default: a random 96-bit prefix per process and a counter). */
  newId?(): string;
  limits?: ServerLimits;
  /** What the server logs and where (default: warnings and errors to stdout; logger.ts). */
  logger?: LoggerSetting;
}

/** The subjects events are published on (DESIGN.md: `signals.<type>`, `feedback.<type>`). */
export const SUBJECTS: Readonly<Record<ServerEvent['type'], EventSubject>> = {
  'tip.served': eventSubject('signals', 'tip.served'),
  'tip.reaction': eventSubject('feedback', 'tip.reaction'),
  'tip.reward': eventSubject('feedback', 'tip.reward'),
  'learning.reset': eventSubject('signals', 'learning.reset'),
};
