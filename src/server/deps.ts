/**
 * What the server needs from the outside, as small interfaces. The app (`buildApp`) depends on
 * these only; the registry, the event bus and the tip writer are plugged in by `oo-ml serve`
 * (src/cli/commands/serve.ts) or by tests. Embedded defaults live beside this file:
 * `registry-policies.ts`, `bus-event-sink.ts` (the event bus: embedded journal or NATS), `memory-event-sink.ts`,
 * `reset-marker.ts`; the tip writer is src/prompts' `createTipWriter` (embedded template, or an
 * OpenAI-compatible model when `LLM_BASE_URL` is set).
 */
import type { FastifyServerOptions } from 'fastify';
import type { TipReactionEvent, TipRewardEvent, TipServedEvent } from '../events/schemas.js';
import { eventSubject, type EventSubject } from '../events/subjects.js';
import type { ExperimentsConfig } from '../experiments/assignment.js';
import type { SnapshotIndex } from '../features/snapshot.js';
import type { VectorLayoutName } from '../features/vectors.js';
import type { Policy } from '../policies/policy.js';
import type { TipWriter } from '../prompts/tip-writer.js';
import type { Rng } from '../random/rng.js';
import type { OnlineCheckpointStore } from './online-checkpoint.js';

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

/** Loads the policies (from the registry, or anything else). Called at start and on reload. */
export interface PolicyProvider {
  load(): Promise<LoadedPolicies>;
}

/** Loads the feature snapshot (verified). Called at start and on reload; throws when missing. */
export interface SnapshotProvider {
  load(): Promise<SnapshotIndex>;
}

/** The events the server records. */
export type ServerEvent = TipServedEvent | TipReactionEvent | TipRewardEvent;

/**
 * Where serves and reactions go (an event bus, a journal…). `publish` resolves once the event
 * is accepted; `readAll` replays what was published before, in order, to rebuild online state
 * at start. An implementation without `readAll` means online state starts from the registry.
 */
export interface EventSink {
  publish(subject: string, event: ServerEvent): Promise<void>;
  /** What the sink holds and has failed to store so far (exported by /metrics); absent for sinks that never queue (no oo_ml_event_* metrics then). */
  health?(): EventSinkHealth;
  /** The stored server events in time order; with `sinceMs`, only those at or after it (a hint: more may come). */
  readAll?(sinceMs?: number): AsyncIterable<ServerEvent>;
  /** Resolves when every accepted event is written (called on shutdown). */
  flush?(): Promise<void>;
  close?(): Promise<void>;
}

/** An event sink's backlog and failures, read at scrape time. */
export interface EventSinkHealth {
  /** Events accepted but not yet stored. */
  queued: number;
  /** Publishes waiting for room in a full queue. */
  waiting: number;
  /** Publish attempts the bus refused (each is retried, or spilled when the bus calls the event invalid). */
  refused: number;
  /** Events written to the spill file instead of the bus. */
  spilled: number;
}

/** Persists the time of the last `/admin/reset`, so a restart does not replay older events. */
export interface ResetMarker {
  read(): Promise<number | null>;
  write(epochMs: number): Promise<void>;
}

/** Bounds and sizes; every field has a documented default (see app.ts). */
export interface ServerLimits {
  /** Pending serves kept for rewards (default 200 000; the oldest are dropped first). */
  maxPendingServes?: number;
  /** How long a serve can be rewarded (default the reward window, 24 h). */
  pendingTtlMs?: number;
  /** Largest accepted request body in bytes (default 256 KiB; larger → 413). */
  bodyLimitBytes?: number;
  /** /score latencies kept per policy and variant for quantiles (default 4096, most recent). */
  latencySamples?: number;
  /** How often online learning is checkpointed when a checkpoint store is given (default 5 min; 0: only on reload, reset and shutdown). */
  checkpointIntervalMs?: number;
}

/** Everything `buildApp` is given. */
export interface ServerDeps {
  policies: PolicyProvider;
  snapshot: SnapshotProvider;
  events: EventSink;
  /** Writes /generate's text and names the prompt version recorded on each serve. */
  tipWriter: TipWriter;
  now(): Date;
  /** Randomness of the serving policies' choices. */
  rng: Rng;
  /** Randomness of shadow choices (default: a stream seeded from `rng`), so shadows do not shift serves. */
  shadowRng?: Rng;
  hash32(s: string): number;
  experiments?: ExperimentsConfig;
  /** Bearer token of /admin/*; when absent the admin routes answer 404 (disabled). */
  adminToken?: string;
  /** Serve and event ids (default crypto.randomUUID). */
  newId?(): string;
  resetMarker?: ResetMarker;
  /** Where online learning is checkpointed (online-checkpoint.ts); without it a restart replays the whole bus. */
  checkpoints?: OnlineCheckpointStore;
  limits?: ServerLimits;
  /** Fastify logger setting (default: warnings and errors to stdout). */
  logger?: FastifyServerOptions['logger'];
}

/** The subjects events are published on (DESIGN.md: `signals.<type>`, `feedback.<type>`). */
export const SUBJECTS: Readonly<Record<ServerEvent['type'], EventSubject>> = {
  'tip.served': eventSubject('signals', 'tip.served'),
  'tip.reaction': eventSubject('feedback', 'tip.reaction'),
  'tip.reward': eventSubject('feedback', 'tip.reward'),
};
