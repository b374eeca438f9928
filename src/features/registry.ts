/**
 * THE feature contract: every profile and context feature, declared once. The offline build
 * (SQL), the training set, the snapshot (Arrow schema + manifest), the simulator and the server
 * all read this list; nothing restates it. Adding a feature is adding an entry here.
 *
 * Profile features are batch aggregates over a trailing window of events strictly before the
 * as-of time; `build` holds the aggregate as a DuckDB expression over the rows of `build.source`.
 * Context features are just-in-time: they come with each request (or from the server clock) and
 * are never cached.
 */

/** Where a feature's value comes from. */
export type FeatureKind = 'profile' | 'context';
/** Storage and wire type. `task_list` is the live task feed of a request. */
export type FeatureDtype = 'float' | 'int' | 'task_list';
/** What is served when a value is missing or stale (older than its TTL). */
export type FallbackRule = 'global_mean' | 'null' | 'zero' | 'server_clock' | 'empty_list';
/** Event tables a profile aggregate reads (see events/schemas.ts for their columns). */
export type BuildSource = 'tip_reactions' | 'tip_serves' | 'task_completions';

/**
 * How the offline build computes a profile feature. The aggregate is declared in decomposable
 * form so one daily pass serves both the as-of value and the daily history: the build keeps, per
 * user and day, `n` (row count) and one SUM per entry of `sums`; a window adds them over
 * `windowDays`; `value` turns the windowed sums into the feature ({n} and {<sum name>} stand for
 * them). The value is NULL when the window holds no rows.
 */
export interface BuildSpec {
  source: BuildSource;
  windowDays: number;
  sums: Readonly<Record<string, string>>;
  value: string;
}

/** One feature of the contract. */
export interface FeatureDef {
  name: string;
  kind: FeatureKind;
  dtype: FeatureDtype;
  /** Seconds a batched value stays valid after its as-of; null for just-in-time features. */
  ttlSec: number | null;
  /** Inclusive bounds of valid values (numeric features). */
  min?: number;
  max?: number;
  source: string;
  fallback: FallbackRule;
  description: string;
  build?: BuildSpec;
}

const DAY = 86_400;

// Circular mean of completion hours: the angle of the summed (sin, cos) on the 24-hour clock
// (15° per hour), rounded back to an hour. A plain average would put 23:00 and 01:00 at noon.
// When the vectors cancel out there is no preferred hour (NULL).
const HOUR_ANGLE = 'radians(15 * (hour(ts) + minute(ts) / 60.0))';
const CIRCULAR_MEAN_HOUR =
  'CASE WHEN sqrt({s} * {s} + {c} * {c}) < 1e-9 * {n} THEN NULL ' +
  'ELSE CAST(floor(degrees(atan2({s}, {c})) / 15 + 24.5) AS INTEGER) % 24 END';

/** Every feature, in contract order. */
export const FEATURES = [
  {
    name: 'completion_rate',
    kind: 'profile',
    dtype: 'float',
    ttlSec: DAY,
    min: 0,
    max: 1,
    source: 'tip reactions, 30-day window',
    fallback: 'global_mean',
    description: 'Share of tip reactions that were "completed".',
    build: {
      source: 'tip_reactions',
      windowDays: 30,
      sums: { k: "CASE WHEN reaction = 'completed' THEN 1 ELSE 0 END" },
      value: '{k} / {n}',
    },
  },
  {
    name: 'dismiss_rate',
    kind: 'profile',
    dtype: 'float',
    ttlSec: DAY,
    min: 0,
    max: 1,
    source: 'tip reactions, 30-day window',
    fallback: 'global_mean',
    description: 'Share of tip reactions that were "dismissed".',
    build: {
      source: 'tip_reactions',
      windowDays: 30,
      sums: { k: "CASE WHEN reaction = 'dismissed' THEN 1 ELSE 0 END" },
      value: '{k} / {n}',
    },
  },
  {
    name: 'mean_dwell_sec',
    kind: 'profile',
    dtype: 'float',
    ttlSec: DAY,
    min: 0,
    max: 600,
    source: 'tip reactions, 30-day window',
    fallback: 'global_mean',
    description: 'Mean seconds a tip stayed on screen, each dwell clipped to 600 s.',
    build: {
      source: 'tip_reactions',
      windowDays: 30,
      sums: { d: 'least(dwell_ms / 1000.0, 600.0)' },
      value: '{d} / {n}',
    },
  },
  {
    name: 'preferred_hour',
    kind: 'profile',
    dtype: 'int',
    ttlSec: 7 * DAY,
    min: 0,
    max: 23,
    source: 'task completions, 30-day window',
    fallback: 'null',
    description: 'Circular mean of the hours at which tasks get completed (null → alignment 0).',
    build: {
      source: 'task_completions',
      windowDays: 30,
      sums: { s: `sin(${HOUR_ANGLE})`, c: `cos(${HOUR_ANGLE})` },
      value: CIRCULAR_MEAN_HOUR,
    },
  },
  {
    name: 'tip_volume',
    kind: 'profile',
    dtype: 'int',
    ttlSec: DAY,
    min: 0,
    source: 'tip serves, 30-day window',
    fallback: 'zero',
    description: 'Tips served to the user in the last 30 days (shadow serves excluded).',
    build: { source: 'tip_serves', windowDays: 30, sums: {}, value: '{n}' },
  },
  {
    name: 'hour_of_day',
    kind: 'context',
    dtype: 'int',
    ttlSec: null,
    min: 0,
    max: 23,
    source: 'request, else server clock (UTC)',
    fallback: 'server_clock',
    description: 'Hour of the decision, 0–23.',
  },
  {
    name: 'day_of_week',
    kind: 'context',
    dtype: 'int',
    ttlSec: null,
    min: 0,
    max: 6,
    source: 'request, else server clock (UTC)',
    fallback: 'server_clock',
    description: 'Day of the decision, 0 = Monday … 6 = Sunday.',
  },
  {
    name: 'tasks',
    kind: 'context',
    dtype: 'task_list',
    ttlSec: null,
    source: 'request (live task feed)',
    fallback: 'empty_list',
    description: 'Open tasks of the user; the vectors use the open and overdue counts.',
  },
] as const satisfies readonly FeatureDef[];

/** A feature name of the contract. */
export type FeatureName = (typeof FEATURES)[number]['name'];
/** Profile features only (those the batch build computes and the snapshot stores). */
export type ProfileFeatureDef = Extract<(typeof FEATURES)[number], { kind: 'profile' }>;
/** A profile feature's name. */
export type ProfileFeatureName = ProfileFeatureDef['name'];

/** The profile (batched) features, in contract order. */
export const PROFILE_FEATURES: readonly ProfileFeatureDef[] = FEATURES.filter(
  (f): f is ProfileFeatureDef => f.kind === 'profile',
);

/** The context (just-in-time) features, in contract order. */
export const CONTEXT_FEATURES: readonly FeatureDef[] = FEATURES.filter((f) => f.kind === 'context');

/** Profile feature names, in contract order. */
export const PROFILE_FEATURE_NAMES: readonly ProfileFeatureName[] = PROFILE_FEATURES.map((f) => f.name);

/** Values of the profile features of one user; null where unknown. */
export type ProfileValues = Record<ProfileFeatureName, number | null>;

/** Looks a feature up by name; undefined when the contract has none of that name. */
export function findFeature(name: string): FeatureDef | undefined {
  return (FEATURES as readonly FeatureDef[]).find((f) => f.name === name);
}
