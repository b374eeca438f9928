/**
 * Request and response schemas of every route (TypeBox → JSON Schema). Fastify validates bodies
 * against them (unknown fields rejected: ajv runs with `removeAdditional: false`), serialises
 * responses through them and publishes them in the OpenAPI document. Profile fields and reactions
 * are derived from the feature contract and the event schemas, never restated.
 */
import Type, { type Static, type TSchema } from 'typebox';
import { REACTIONS } from '../events/schemas.js';
import { ARM_IDS } from '../features/arms.js';
import { PROFILE_FEATURES } from '../features/registry.js';

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
    hour_of_day: Type.Optional(Type.Integer({ minimum: 0, maximum: 23 })),
    day_of_week: Type.Optional(Type.Integer({ minimum: 0, maximum: 6, description: '0 = Monday … 6 = Sunday' })),
    tasks: Type.Optional(Type.Array(Task, { maxItems: MAX_TASKS })),
    ts: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);
/** The request context's type. */
export type RequestContext = Static<typeof RequestContext>;

// One optional, nullable field per profile feature of the contract, with its bounds.
const profileProperties = Object.fromEntries(
  PROFILE_FEATURES.map((f) => {
    const bounds = { ...('min' in f ? { minimum: f.min } : {}), ...('max' in f ? { maximum: f.max } : {}), description: f.description };
    const value = f.dtype === 'int' ? Type.Integer(bounds) : Type.Number(bounds);
    return [f.name, Type.Optional(Nullable(value))];
  }),
);

/** Profile features given by the caller; a missing or null feature is served as its fallback. */
export const ProfileFeatures = Type.Object(profileProperties, { additionalProperties: false });

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
    reaction: Type.Optional(Type.Enum(REACTIONS)),
    dwell_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
    reward: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);
/** The /reward body's type. */
export type RewardBody = Static<typeof RewardBody>;

/** What a reward did. */
export const RewardResponse = Type.Object(
  {
    serve_id: Type.String(),
    /** True when this call updated the policy. */
    applied: Type.Boolean(),
    /** The serve's reward (the first one given, for a repeated call). */
    reward: Type.Number(),
    policy: Type.String(),
    model_version: Nullable(Type.String()),
    /** Why nothing was applied (repeat, policy version replaced), else null. */
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
    prompt_version: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
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
    /** reward_sum / serves: a serve without a reaction has reward 0 (events/reward.ts). */
    reward_rate: Nullable(Type.Number()),
    reward_rate_ci95: Nullable(Interval),
    /** /score latency in ms (server side: routing to reply sent), over the most recent requests. */
    latency_ms: Nullable(Latency),
  },
  { additionalProperties: false },
);

/** `GET /stats`. */
export const StatsResponse = Type.Object(
  {
    since: Type.String(),
    snapshot_id: Nullable(Type.String()),
    pending_serves: Type.Integer(),
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
    took_ms: Type.Number(),
  },
  { additionalProperties: false },
);

/** `POST /admin/reset`. */
export const ResetResponse = Type.Object(
  {
    reset: Type.Literal(true),
    at: Type.String(),
    pending_cleared: Type.Integer(),
    policies: Type.Array(LoadedPolicyInfo),
  },
  { additionalProperties: false },
);

/** Every error: a stable code, a message naming the input or cause, structured details. */
export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'an OoMlError code, or unauthorized' }),
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
