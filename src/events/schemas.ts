/**
 * Event schemas: the one definition of every event oo-ml reads or writes, validated at every
 * edge (HTTP bodies, NATS payloads, event files). Types come from the schemas, and the Parquet
 * columns of the event log are derived from them (pipelines/event-log.ts).
 *
 * Times are ISO-8601 strings on the wire and UTC TIMESTAMP columns at rest.
 */
import Type, { type Static, type TNull, type TNumber, type TSchema, type TUnion } from 'typebox';
import { ARM_IDS } from '../features/arms.js';
import { PROFILE_FEATURES, type ProfileFeatureName } from '../features/registry.js';
import { createValidator, EVENT_TIME_PATTERN } from '../validation.js';

const Id = Type.String({ minLength: 1, maxLength: 200 });
// The event log stores what these schemas admit (pipelines/event-log.ts: date-times as
// TIMESTAMP, integers as 32-bit INTEGER), so they admit nothing it cannot store: an event
// validated here and then refused by the log would stop `oo-ml ingest` at it for good, where a
// refused one goes to the dead-letter subject. No leap seconds (second 60) therefore, and
// integers within INTEGER's range. Times are RFC 3339 in the one spelling DuckDB reads (upper-case
// `T` and `Z`, or an `±HH:MM` offset), with no leap second, and not in the years 0000 and 9999,
// where an offset can move the instant outside the 4-digit years a TIMESTAMP column is written in.
// Every string is bounded too: DuckDB's JSON reader refuses a line beyond 2 × its
// `maximum_object_size` (2 × 16 MiB), and a 34 MB model_version or a `ts` with 34 million
// fractional digits passed these schemas and then stopped the ingest (DuckDB refused them). Nine fractional digits
// (nanoseconds) is the most any clock writes; TIMESTAMP keeps six.
const Timestamp = Type.String({
  format: 'date-time',
  pattern: EVENT_TIME_PATTERN,
});
/** A version name (registry model version, prompt version); may be empty. */
const Version = Type.String({ maxLength: 200 });
const INTEGER_MAX = 2_147_483_647;
const Count = Type.Integer({ minimum: 0, maximum: INTEGER_MAX });

/** The reactions a person can have to a tip. */
export const REACTIONS = ['completed', 'dismissed', 'ignored', 'liked'] as const;
/** One reaction. */
export type Reaction = (typeof REACTIONS)[number];

/** The JIT context recorded with a serve: what the policy saw. */
export const ServeContext = Type.Object(
  {
    hour_of_day: Type.Integer({ minimum: 0, maximum: 23 }),
    day_of_week: Type.Integer({ minimum: 0, maximum: 6 }),
    open_tasks: Count,
    overdue_tasks: Count,
  },
  { additionalProperties: false },
);

/**
 * The schema of one profile feature's value: its dtype and the contract's bounds, an integer
 * within the event log's INTEGER. The one derivation for every payload that carries profile
 * values (a serve's features here, /score's `profile_features` in server/schemas.ts), so a value
 * /score accepts is always one its serve event can carry.
 */
export function profileValueSchema(f: (typeof PROFILE_FEATURES)[number], extra: { description?: string } = {}): TNumber {
  const bounds = { ...('min' in f ? { minimum: f.min } : {}), ...('max' in f ? { maximum: f.max } : {}), ...extra };
  return f.dtype === 'int' ? (Type.Integer({ ...bounds, maximum: Math.min(bounds.maximum ?? INTEGER_MAX, INTEGER_MAX) }) as unknown as TNumber) : Type.Number(bounds);
}

// One nullable field per profile feature of the contract (typed per name, so the static type
// names every feature).
const servedProfile = Object.fromEntries(PROFILE_FEATURES.map((f) => [f.name, Type.Union([profileValueSchema(f), Type.Null()])])) as {
  [K in ProfileFeatureName]: TUnion<[TNumber, TNull]>;
};

/**
 * The profile a decision used, after TTL and fallbacks (null: no value, e.g. no preferred hour),
 * and whether the user had a profile row. With the serve's `context` these are exactly the
 * inputs of its feature vector (features/vectors.ts), so learning from its reward never looks
 * the profile up again in whatever snapshot is current.
 */
export const ServeFeatures = Type.Object({ has_profile: Type.Boolean(), ...servedProfile }, { additionalProperties: false });

/** `tip.served`: a policy chose an arm for a user (shadow serves are recorded, never rewarded). */
export const TipServed = Type.Object(
  {
    type: Type.Literal('tip.served'),
    event_id: Id,
    ts: Timestamp,
    user_id: Id,
    serve_id: Id,
    arm: Type.Enum(ARM_IDS),
    propensity: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
    policy: Id,
    model_version: Type.Union([Version, Type.Null()]),
    prompt_version: Type.Union([Version, Type.Null()]),
    context: ServeContext,
    shadow: Type.Boolean(),
    // Optional so events written before they existed (and synthetic logs) stay valid; every
    // serve of `oo-ml serve` carries them.
    features: Type.Optional(ServeFeatures),
    /** The experiment and variant that assigned the policy (null: the default assignment). */
    experiment: Type.Optional(Type.Union([Id, Type.Null()])),
    variant: Type.Optional(Type.Union([Id, Type.Null()])),
  },
  { additionalProperties: false },
);

/** `tip.reaction`: what the person did with a served tip. */
export const TipReaction = Type.Object(
  {
    type: Type.Literal('tip.reaction'),
    event_id: Id,
    ts: Timestamp,
    user_id: Id,
    serve_id: Id,
    reaction: Type.Enum(REACTIONS),
    // A day at most, as /reward accepts.
    dwell_ms: Type.Integer({ minimum: 0, maximum: 86_400_000 }),
  },
  { additionalProperties: false },
);

/**
 * `tip.reward`: a reward given as a number to `/reward` instead of a reaction (a caller that
 * scores outcomes itself). It settles its serve as a reaction would, online and offline
 * (events/reward.ts).
 */
export const TipReward = Type.Object(
  {
    type: Type.Literal('tip.reward'),
    event_id: Id,
    ts: Timestamp,
    user_id: Id,
    serve_id: Id,
    reward: Type.Number({ minimum: 0, maximum: 1 }),
  },
  { additionalProperties: false },
);

/** `task.created`: a task appeared in the user's list. */
export const TaskCreated = Type.Object(
  {
    type: Type.Literal('task.created'),
    event_id: Id,
    ts: Timestamp,
    user_id: Id,
    task_id: Id,
    due_ts: Type.Union([Timestamp, Type.Null()]),
  },
  { additionalProperties: false },
);

/** `task.completed`: a task was checked off. */
export const TaskCompleted = Type.Object(
  {
    type: Type.Literal('task.completed'),
    event_id: Id,
    ts: Timestamp,
    user_id: Id,
    task_id: Id,
  },
  { additionalProperties: false },
);

/**
 * `learning.reset`: online learning starts over from the registered policy states at this
 * point of the stream (`POST /admin/reset`). Every replica folds it at the same position, so
 * they all forget the same rewards; serves made before it are no longer rewarded.
 */
export const LearningReset = Type.Object(
  {
    type: Type.Literal('learning.reset'),
    event_id: Id,
    ts: Timestamp,
    reason: Type.Union([Type.String({ maxLength: 500 }), Type.Null()]),
  },
  { additionalProperties: false },
);

/** Every event type with its schema; the keys are the event type names. */
export const EVENT_SCHEMAS = {
  'tip.served': TipServed,
  'tip.reaction': TipReaction,
  'tip.reward': TipReward,
  'task.created': TaskCreated,
  'task.completed': TaskCompleted,
  'learning.reset': LearningReset,
} as const satisfies Record<string, TSchema>;

/** An event type name. */
export type EventType = keyof typeof EVENT_SCHEMAS;
/** Event type names, in declaration order. */
export const EVENT_TYPES = Object.keys(EVENT_SCHEMAS) as EventType[];

/** Static types of the events. */
export type TipServedEvent = Static<typeof TipServed>;
export type TipReactionEvent = Static<typeof TipReaction>;
export type TipRewardEvent = Static<typeof TipReward>;
export type TaskCreatedEvent = Static<typeof TaskCreated>;
export type TaskCompletedEvent = Static<typeof TaskCompleted>;
export type LearningResetEvent = Static<typeof LearningReset>;
/** The features recorded on a serve. */
export type ServeFeaturesValue = Static<typeof ServeFeatures>;
/** Any event. */
export type OoEvent = TipServedEvent | TipReactionEvent | TipRewardEvent | TaskCreatedEvent | TaskCompletedEvent | LearningResetEvent;

// Events are refused with a lone surrogate in any string: the event log (DuckDB) cannot store it.
const UNICODE = { wellFormedStrings: true } as const;

/** Compiled validators per event type. */
export const EVENT_VALIDATORS = {
  'tip.served': createValidator(TipServed, UNICODE),
  'tip.reaction': createValidator(TipReaction, UNICODE),
  'tip.reward': createValidator(TipReward, UNICODE),
  'task.created': createValidator(TaskCreated, UNICODE),
  'task.completed': createValidator(TaskCompleted, UNICODE),
  'learning.reset': createValidator(LearningReset, UNICODE),
} as const;

/** True when `name` is an event type. */
export function isEventType(name: string): name is EventType {
  return Object.hasOwn(EVENT_SCHEMAS, name);
}
