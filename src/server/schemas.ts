/**
 * Request and response schemas of every route (TypeBox → JSON Schema). Fastify validates bodies
 * against them (unknown fields rejected: ajv runs with `removeAdditional: false`), serialises
 * responses through them and publishes them in the OpenAPI document. Profile fields and reactions
 * are derived from the feature contract and the event schemas, never restated.
 */
import Type, { type Static, type TSchema } from 'typebox';
import { profileValueSchema, REACTIONS } from '../events/schemas.js';
import { ARM_IDS } from '../features/arms.js';
import { PROFILE_FEATURES } from '../features/registry.js';
import { REWARD_OUTCOMES, type RewardOutcome } from './online-learning/fold.js';
import { USER_BYTES } from './online-learning/serve-record.js';

const Id = Type.String({ minLength: 1, maxLength: 200 });
const Timestamp = Type.String({ format: 'date-time' });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** Most tasks a request may carry (a live task feed; the vectors only use counts). */
export const MAX_TASKS = 500;

/** One open task of the user. */
export const Task = Type.Object(
  {
    id: Id,
    due: Type.Optional(Timestamp),
    title: Type.Optional(Type.String({ maxLength: 500, description: 'used by /generate only' })),
  },
  { additionalProperties: false },
);

/** JIT context of a request; whatever is missing comes from `ts`, else the server clock. */
export const RequestContext = Type.Object(
  {
    hour_of_day: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 23, description: "the hour in UTC, as the features count hours (preferred_hour is a UTC hour); without it, ts's UTC hour, else the server clock's" }),
    ),
    day_of_week: Type.Optional(Type.Integer({ minimum: 0, maximum: 6, description: "0 = Monday … 6 = Sunday, in UTC; without it, ts's UTC day, else the server clock's" })),
    tasks: Type.Optional(Type.Array(Task, { maxItems: MAX_TASKS })),
    ts: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);
/** The request context's type. */
export type RequestContext = Static<typeof RequestContext>;

// One optional, nullable field per profile feature of the contract, as its serve event carries it.
const profileProperties = Object.fromEntries(PROFILE_FEATURES.map((f) => [f.name, Type.Optional(Nullable(profileValueSchema(f, { description: f.description })))]));

/** Profile features given by the caller, over the snapshot's row for the user (decision.ts `resolveProfile`). */
export const ProfileFeatures = Type.Object(profileProperties, {
  additionalProperties: false,
  description: "over the snapshot's row for the user: a number replaces its value, null asks for the feature's fallback, a feature left out keeps the snapshot's value; the whole field null: every feature's fallback",
});

/** `POST /score`. */
export const ScoreBody = Type.Object(
  {
    user_id: Id,
    arms: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        minItems: 1,
        maxItems: 64,
        description: `allowed arms (a subset of ${ARM_IDS.join(', ')})`,
      }),
    ),
    context: Type.Optional(RequestContext),
    profile_features: Type.Optional(Nullable(ProfileFeatures)),
    policy: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'a loaded policy name; overrides the assignment' })),
  },
  { additionalProperties: false },
);
/** The /score body's type. */
export type ScoreBody = Static<typeof ScoreBody>;

/** A decision. */
export const ScoreResponse = Type.Object(
  {
    serve_id: Type.String(),
    arm: Type.String(),
    score: Nullable(Type.Number()),
    propensity: Type.Number(),
    policy: Type.String(),
    model_version: Nullable(Type.String()),
    experiment: Nullable(Type.String()),
    variant: Nullable(Type.String()),
    prompt_version: Nullable(Type.String()),
    fallbacks: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);
/** A decision's type. */
export type ScoreResponse = Static<typeof ScoreResponse>;

/** `POST /reward`: exactly one of `reaction` (then `dwell_ms` may come too) or `reward`. */
export const RewardBody = Type.Object(
  {
    serve_id: Id,
    user_id: Type.Optional({
      ...Id,
      description: `the serve's user: checked when the replica knows the serve, and lets a reaction be recorded before its serve reached this replica. Required for a user id longer than ${USER_BYTES} UTF-8 bytes (the serve window keeps only a hash of those)`,
    }),
    reaction: Type.Optional(Type.Enum(REACTIONS)),
    dwell_ms: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 86_400_000, description: 'how long the tip stayed on screen; left out, the reaction records 0, which mean_dwell_sec counts: an app that does not measure it gets that feature at 0 for everyone' }),
    ),
    reward: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);
/** The /reward body's type. */
export type RewardBody = Static<typeof RewardBody>;

/** What /reward answers: the fold's outcome on this replica, or `queued` when it was not folded here yet. */
export const REWARD_ANSWERS: readonly (RewardOutcome | 'queued')[] = [...REWARD_OUTCOMES, 'queued'];

/** What a reward did (the fold's outcome on this replica, or `queued`). */
export const RewardResponse = Type.Object(
  {
    serve_id: Type.String(),
    /** The recorded reaction's event id (null when nothing was recorded: a known duplicate). */
    event_id: Nullable(Type.String()),
    outcome: Type.Enum(REWARD_ANSWERS, {
      description:
        'applied: learned; duplicate: the serve already has its reward (a retry of an applied call answers this once its reward is folded: the first call counted, nothing new is recorded); queued: recorded, not folded here yet (learned when it is, unless another reward for the serve came first in the stream); the others: recorded, not learned (see reason)',
    }),
    /** True when the reward updated the policy. */
    applied: Type.Boolean(),
    /** The value learned, or that would have been (null when not known here). */
    reward: Nullable(Type.Number()),
    policy: Nullable(Type.String()),
    model_version: Nullable(Type.String()),
    /** Why nothing was learned, else null. */
    reason: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
/** The /reward response's type. */
export type RewardResponse = Static<typeof RewardResponse>;

/** `POST /generate`. Without `arm`, the arm is chosen (and recorded) as by /score. */
export const GenerateBody = Type.Object(
  {
    user_id: Id,
    /** Write the tip of this /score decision: its arm and the prompt version its serve recorded. */
    serve_id: Type.Optional(Id),
    arm: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** Blank counts as none (src/prompts/README.md); surrounding spaces are ignored. */
    prompt_version: Type.Optional(Type.String({ maxLength: 64 })),
    context: Type.Optional(RequestContext),
  },
  { additionalProperties: false },
);
/** The /generate body's type. */
export type GenerateBody = Static<typeof GenerateBody>;

/** A written tip. */
export const GenerateResponse = Type.Object(
  {
    text: Type.String(),
    arm: Type.String(),
    /** The prompt version used, and which rule chose it (src/prompts/README.md). */
    prompt_version: Type.String(),
    prompt_source: Type.Union([Type.Literal('serve'), Type.Literal('request'), Type.Literal('rotation'), Type.Literal('default'), Type.Literal('builtin')]),
    /** The writer that produced the text: `template`, or `openai-compatible` (LLM_BASE_URL). */
    provider: Type.Union([Type.Literal('template'), Type.Literal('openai-compatible')]),
    model: Type.String(),
    /** Wall time of the writer, retries and fallback included. */
    latency_ms: Type.Number(),
    /** Why the configured LLM was not used (the text then comes from the template), else null. */
    fallback_reason: Nullable(Type.String()),
    /** The decision made for this tip when neither arm nor serve_id was given, else null. */
    serve: Nullable(ScoreResponse),
  },
  { additionalProperties: false },
);
/** The /generate response's type. */
export type GenerateResponse = Static<typeof GenerateResponse>;

const Interval = Type.Object({ low: Type.Number(), high: Type.Number() }, { additionalProperties: false });
const Latency = Type.Object(
  { count: Type.Integer(), p50: Type.Number(), p90: Type.Number(), p99: Type.Number(), max: Type.Number() },
  { additionalProperties: false },
);

/** A shadow's estimated reward on the served traffic, with the running sums replicas add up (server/shadow-estimates.ts). */
export const ShadowEstimateSchema = Type.Object(
  {
    /** Decisions the shadow made on served requests (n). */
    decisions: Type.Integer({ minimum: 0 }),
    /** Rewards credited to decisions that chose the served arm. */
    rewarded: Type.Integer({ minimum: 0 }),
    /** Σ x_i, x_i = 1[shadow arm = served arm] · reward / propensity. */
    weighted_rewards: Type.Number(),
    /** Σ x_i². */
    weighted_squares: Type.Number(),
    /** Σ 1[shadow arm = served arm] / propensity: SNIPS's denominator. */
    weights: Type.Number(),
    /** Inverse propensity estimate of the shadow's reward per decision. */
    ips: Type.Number(),
    /** Its normal 95 % interval; null until it rests on at least 10 effective rewards ((Σ x)² / Σ x²), below which it would collapse to the few it saw. */
    ips_ci95: Nullable(Interval),
    /** Self-normalised estimate (null while no decision chose a served arm). */
    snips: Nullable(Type.Number()),
    /** Rewards whose serve the replica's ring no longer held (left out of every sum). */
    late: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
/** A shadow's estimate as /stats carries it. */
export type ShadowEstimate = Static<typeof ShadowEstimateSchema>;

/** One row of /stats: a policy (and variant) since the process started. */
export const PolicyStats = Type.Object(
  {
    policy: Type.String(),
    model_version: Nullable(Type.String()),
    experiment: Nullable(Type.String()),
    variant: Nullable(Type.String()),
    shadow: Type.Boolean(),
    serves: Type.Integer(),
    rewards: Type.Integer(),
    reward_sum: Type.Number(),
    /** reward_sum / serves: a serve without a reaction has reward 0 (events/reward.ts); null for a shadow (never rewarded: see `estimate`) and before the first serve. */
    reward_rate: Nullable(Type.Number()),
    reward_rate_ci95: Nullable(Interval),
    /** /score latency in ms (server side: from the request's arrival to its answer ready to write), over the most recent requests. */
    latency_ms: Nullable(Latency),
    /** A shadow's share of decisions that chose the arm actually served (null for served policies). */
    agreement: Nullable(Type.Number()),
    /**
     * A shadow's estimated reward per decision on the served traffic, by inverse propensity
     * scoring (server/shadow-estimates.ts); compare with the served rows' reward_rate. Null for
     * served policies and before a shadow's first decision.
     */
    estimate: Nullable(ShadowEstimateSchema),
  },
  { additionalProperties: false },
);

const Count = Type.Integer({ minimum: 0 });

/** The event bus as this replica sees it. */
export const BusStats = Type.Object(
  {
    kind: Type.String(),
    connected: Type.Boolean(),
    /** `spill` while events go to the local spill (bus down, or the spill draining). */
    mode: Type.Union([Type.Literal('direct'), Type.Literal('spill')]),
    spill_backlog: Count,
    spilled_total: Count,
    drained_total: Count,
    refused_total: Count,
    rejected_total: Count,
    last_error: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

/** Online learning of this replica: the fold over the events stream. */
export const LearningStats = Type.Object(
  {
    /** Last stream sequence folded. */
    position: Count,
    /** Newest event time folded. */
    event_time: Nullable(Type.String()),
    /** Per loaded policy: online updates and the digest of its live state (equal on replicas that folded the same stream). */
    policies: Type.Array(
      Type.Object(
        { name: Type.String(), model_version: Nullable(Type.String()), updates: Count, digest: Type.String(), served: Type.Boolean() },
        { additionalProperties: false },
      ),
    ),
    /** Reward events folded, by outcome. */
    rewards: Type.Record(Type.String(), Count),
    /** Serve events folded (shadows apart), each published copy counted: a serve published twice counts 2 here and 1 in `duplicate_serves`. */
    serves: Count,
    shadow_serves: Count,
    /** Of `serves`: those without recorded features (older events), whose inputs came from the snapshot. */
    legacy_serves: Count,
    /** Of `serves`: copies of a serve already folded (same serve id); the first copy is the one kept. */
    duplicate_serves: Count,
    resets: Count,
    invalid_messages: Count,
    waiting_rewards: Count,
    serve_window: Type.Object(
      { hot_records: Count, hot_bytes: Count, cold_files: Count, cold_bytes: Count, issuers: Count, forgotten: Count },
      { additionalProperties: false },
    ),
    last_checkpoint: Nullable(Type.Object({ written_at: Type.String(), position: Count }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

/** `GET /stats`. */
export const StatsResponse = Type.Object(
  {
    since: Type.String(),
    snapshot_id: Nullable(Type.String()),
    /** The loaded snapshot: its as-of, age, and the profile features past their TTL (every /score falls back on those). */
    snapshot: Nullable(
      Type.Object(
        { id: Type.String(), as_of: Type.String(), age_s: Type.Number(), stale_features: Type.Array(Type.String()) },
        { additionalProperties: false },
      ),
    ),
    policies: Type.Array(PolicyStats),
    prompt_versions: Type.Array(
      Type.Object(
        {
          prompt_version: Type.String(),
          reactions: Type.Object(Object.fromEntries(REACTIONS.map((r) => [r, Type.Integer()])), { additionalProperties: false }),
          total: Type.Integer(),
        },
        { additionalProperties: false },
      ),
    ),
    /** HTTP requests answered since the process started (every route), by status code: what a dashboard turns into requests/s and errors. */
    requests: Type.Object({ total: Count, by_status: Type.Record(Type.String({ pattern: '^[1-5][0-9]{2}$' }), Count) }, { additionalProperties: false }),
    learning: LearningStats,
    bus: BusStats,
    /** Why GET /readyz answers 503 now (empty: ready); absent from servers before it was added, which a dashboard reads as unknown. */
    not_ready: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);
/** The /stats response's type. */
export type StatsResponse = Static<typeof StatsResponse>;

/** `GET /healthz`. */
export const HealthResponse = Type.Object(
  { status: Type.Literal('ok'), uptime_s: Type.Number() },
  { additionalProperties: false },
);

/** `GET /readyz` when ready (not ready → 503 with the error shape, reasons in details). */
export const ReadyResponse = Type.Object(
  {
    ready: Type.Literal(true),
    snapshot_id: Type.String(),
    champion: Type.String(),
    model_version: Nullable(Type.String()),
    shadows: Type.Array(Type.String()),
    /** The event bus: `degraded` while events go to the local spill (still serving). */
    bus: Type.Object(
      { kind: Type.String(), connected: Type.Boolean(), degraded: Type.Boolean(), spill_backlog: Count },
      { additionalProperties: false },
    ),
    warnings: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);

const LoadedPolicyInfo = Type.Object(
  { name: Type.String(), model_version: Nullable(Type.String()), layout: Type.String() },
  { additionalProperties: false },
);

/** `POST /admin/reload`. */
export const ReloadResponse = Type.Object(
  {
    reloaded: Type.Literal(true),
    snapshot_id: Nullable(Type.String()),
    policies: Type.Array(LoadedPolicyInfo),
    ready: Type.Boolean(),
    reasons: Type.Array(Type.String()),
    /** The stream replayed into policy versions the reload brought in. */
    replayed: Type.Object({ events: Count, updates: Count, from: Count, to: Count }, { additionalProperties: false }),
    took_ms: Type.Number(),
  },
  { additionalProperties: false },
);
/** The reload response's type. */
export type ReloadResponse = Static<typeof ReloadResponse>;

/** POST /admin/reset's body (optional): why, recorded on the `learning.reset` event. */
export const ResetBody = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'why learning is reset; recorded on the learning.reset event' })) },
  { additionalProperties: false },
);
export type ResetBody = Static<typeof ResetBody>;

/** `POST /admin/reset`. */
export const ResetResponse = Type.Object(
  {
    reset: Type.Literal(true),
    at: Type.String(),
    /** True once this replica's fold applied the reset; false when it is queued (the bus is down). */
    applied: Type.Boolean(),
    /** The reset's position in the events stream (null while it waits in the local spill). */
    position: Nullable(Count),
    policies: Type.Array(LoadedPolicyInfo),
  },
  { additionalProperties: false },
);
/** The reset response's type. */
export type ResetResponse = Static<typeof ResetResponse>;

/** Every error: a stable code, a message naming the input or cause, structured details. */
export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'an OoMlError code, or unauthorized, or method_not_allowed' }),
    message: Type.String(),
    hint: Type.Optional(Type.String()),
    details: Type.Unknown(),
  },
  { additionalProperties: false },
);
/** The error body's type. */
export type ErrorBody = Static<typeof ErrorBody>;

/** Error responses of every route, for the OpenAPI document and the serialiser. */
export const ERROR_RESPONSES = { '4xx': ErrorBody, '5xx': ErrorBody } as const;
