/**
 * Experiment assignment: which policy serves a user. Experiments are declared in a JSON config
 * file (validated by the schema below); a user's variant comes from a stable 32-bit hash of
 * `<salt>:<user id>` mapped to 10 000 buckets and the variants' cumulative weights, so it never
 * changes between requests or replicas, and changing the salt reshuffles everyone. Pure: the
 * hash function is passed in (the server uses xxhash32 from xxhash-wasm).
 */
import Type, { type Static } from 'typebox';
import { invalidInput } from '../errors.js';
import { createValidator } from '../validation.js';

const Variant = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }),
    /** Relative share of users. */
    weight: Type.Number({ exclusiveMinimum: 0 }),
    /** A built-in policy name, MODEL@ALIAS or MODEL/N (version N). */
    policy: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);

/** The most variants an experiment may have. */
export const MAX_VARIANTS = 100;

const Experiment = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }),
    salt: Type.String({ minLength: 1 }),
    // Every variant's policy is loaded at start: 20,000 registry aliases ran out of file
    // descriptors, and a split finer than 1 % of users (BUCKETS / 100) tells nothing anyway.
    variants: Type.Array(Variant, { minItems: 1, maxItems: MAX_VARIANTS }),
  },
  { additionalProperties: false },
);

/** The experiments config file. With no experiment, every user gets the default policy. */
export const ExperimentsConfig = Type.Object(
  {
    /** Policy for users outside every experiment (default `tip-policy@champion`). */
    default_policy: Type.Optional(Type.String({ minLength: 1 })),
    experiments: Type.Array(Experiment),
  },
  { additionalProperties: false },
);
/** The config's type. */
export type ExperimentsConfig = Static<typeof ExperimentsConfig>;
const configValidator = createValidator(ExperimentsConfig);

/** Number of hash buckets; weights are resolved to this granularity. */
export const BUCKETS = 10_000;

/** A user's assignment. */
export interface Assignment {
  experiment: string | null;
  variant: string | null;
  policy: string;
  bucket: number | null;
}

/** Validates a parsed config (names unique, …), naming the file in errors. */
export function parseExperimentsConfig(value: unknown, source: string): ExperimentsConfig {
  const config = configValidator.parse(value, `experiments config ${source}`);
  const seen = new Set<string>();
  for (const e of config.experiments) {
    if (seen.has(e.name)) throw invalidInput(`experiments config ${source}: experiment "${e.name}" is declared twice`);
    seen.add(e.name);
    const names = new Set(e.variants.map((v) => v.name));
    if (names.size !== e.variants.length) throw invalidInput(`experiments config ${source}: experiment "${e.name}" repeats a variant name`);
  }
  if (config.experiments.length > 1) {
    // Several experiments would need layering rules; one is what the server supports.
    throw invalidInput(`experiments config ${source}: declares ${config.experiments.length} experiments; one is supported`);
  }
  return config;
}

/** The variant of `userId` in `config` (or the default policy when there is no experiment). */
export function assign(config: ExperimentsConfig, userId: string, hash32: (s: string) => number, defaultPolicy: string): Assignment {
  const experiment = config.experiments[0];
  const fallback = config.default_policy ?? defaultPolicy;
  if (experiment === undefined) return { experiment: null, variant: null, policy: fallback, bucket: null };
  const bucket = (hash32(`${experiment.salt}:${userId}`) >>> 0) % BUCKETS;
  // The edges as they always were (a user's variant must not move between releases), except
  // that weights whose sum overflows (two of 1e308: everyone went to the last variant) are taken
  // relative to the largest.
  const sum = experiment.variants.reduce((a, v) => a + v.weight, 0);
  const scale = Number.isFinite(sum) ? 1 : Math.max(...experiment.variants.map((v) => v.weight));
  const total = Number.isFinite(sum) ? sum : experiment.variants.reduce((a, v) => a + v.weight / scale, 0);
  let edge = 0;
  for (const v of experiment.variants) {
    edge += (v.weight / scale / total) * BUCKETS;
    if (bucket < edge) return { experiment: experiment.name, variant: v.name, policy: v.policy, bucket };
  }
  const last = experiment.variants.at(-1)!;
  return { experiment: experiment.name, variant: last.name, policy: last.policy, bucket };
}

/**
 * The policies an experiments file has serve users besides the champion: its variants, or, with
 * no experiment, its default policy (which serves everyone then; beside an experiment, which takes
 * every user, no one).
 */
export function servingPolicies(config: ExperimentsConfig): string[] {
  if (config.experiments.length === 0) return config.default_policy === undefined ? [] : [config.default_policy];
  return config.experiments.flatMap((e) => e.variants.map((v) => v.policy));
}
