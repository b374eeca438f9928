/**
 * The feature snapshot as the server sees it: the manifest schema, and an in-memory index over
 * the decoded Arrow columns for constant-time lookup by user. Pure: the bytes are read and
 * their SHA-256 checked at the edge (pipelines/snapshot-files.ts); this module turns columns into
 * lookups and applies the contract's TTL and fallback rules at a given time.
 */
import Type, { type Static } from 'typebox';
import { invalidInput } from '../errors.js';
import { createValidator } from '../validation.js';
import { contractHash, diffSignatures, type FeatureSignature } from './contract.js';
import { PROFILE_FEATURES, type ProfileFeatureName, type ProfileValues } from './registry.js';
import { createStringIndex } from './string-index.js';

const Signature = Type.Object(
  {
    name: Type.String(),
    kind: Type.String(),
    dtype: Type.String(),
    ttlSec: Type.Union([Type.Number(), Type.Null()]),
    fallback: Type.String(),
    windowDays: Type.Union([Type.Number(), Type.Null()]),
    sums: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
    value: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);

/** manifest.json of a snapshot. */
export const SnapshotManifest = Type.Object(
  {
    format: Type.Literal('oo-ml-snapshot/1'),
    snapshot_id: Type.String({ minLength: 1 }),
    as_of: Type.String({ format: 'date-time' }),
    created_at: Type.String({ format: 'date-time' }),
    contract_hash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    features: Type.Array(Signature),
    fallbacks: Type.Record(Type.String(), Type.Union([Type.Number(), Type.Null()])),
    row_count: Type.Integer({ minimum: 0 }),
    data_file: Type.String({ pattern: '^[^/\\\\]+$' }),
    data_bytes: Type.Integer({ minimum: 0 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  },
  { additionalProperties: false },
);
/** The manifest's type. */
export type SnapshotManifest = Static<typeof SnapshotManifest>;
/** Validator of manifest.json. */
export const snapshotManifestValidator = createValidator(SnapshotManifest);

/** Refuses a manifest written against another feature contract, naming the differing features. */
export function assertSameContract(manifest: SnapshotManifest, where: string): void {
  if (manifest.contract_hash === contractHash()) return;
  const differing = diffSignatures(manifest.features as FeatureSignature[], 'profile');
  throw invalidInput(
    `snapshot ${where} was built with another feature contract; differing features: ${differing.length > 0 ? differing.join(', ') : '(none by signature: arms or vector layouts changed)'}`,
    { hint: 'rebuild with `oo-ml features build && oo-ml features export`', details: { differing } },
  );
}

/** The decoded columns of a snapshot: user ids, per-row as-of (epoch ms) and one column per feature. */
export interface SnapshotColumns {
  userIds: readonly string[];
  asOfMs: Float64Array;
  /** Per profile feature: values with NaN for null. */
  values: Readonly<Record<ProfileFeatureName, Float64Array>>;
}

/** The result of a lookup: resolved values, whether a row existed, and which features fell back. */
export interface ProfileLookup {
  found: boolean;
  values: ProfileValues;
  fallbacks: ProfileFeatureName[];
}

/** A loaded snapshot: manifest plus O(1) lookups. */
export interface SnapshotIndex {
  manifest: SnapshotManifest;
  size: number;
  /** Row of `userId`, or -1. */
  rowOf(userId: string): number;
  /** Profile of `userId` at time `nowMs`, stale or missing values replaced by their fallbacks. */
  lookup(userId: string, nowMs: number): ProfileLookup;
}

/** Resolves one feature's fallback value from the manifest's fallbacks. */
function fallbackValue(name: ProfileFeatureName, rule: string, fallbacks: Record<string, number | null>): number | null {
  if (rule === 'zero') return 0;
  if (rule === 'global_mean') return fallbacks[name] ?? null;
  return null;
}

/**
 * The columns as one row-major matrix (as-of first, then the features): a lookup reads one or two
 * cache lines instead of one line per column (measured ~2× faster at 1M users).
 */
function rowMajor(columns: SnapshotColumns, n: number, width: number): Float64Array {
  const matrix = new Float64Array(n * width);
  for (let i = 0; i < n; i++) matrix[i * width] = columns.asOfMs[i]!;
  for (let j = 0; j < PROFILE_FEATURES.length; j++) {
    const column = columns.values[PROFILE_FEATURES[j]!.name];
    for (let i = 0; i < n; i++) matrix[i * width + j + 1] = column[i]!;
  }
  return matrix;
}

/** Builds the lookup index over decoded columns (it keeps none of them: see `rowMajor`). */
export function createSnapshotIndex(manifest: SnapshotManifest, columns: SnapshotColumns): SnapshotIndex {
  const n = columns.userIds.length;
  if (n !== manifest.row_count) {
    throw invalidInput(`snapshot ${manifest.snapshot_id} has ${n} rows but its manifest says ${manifest.row_count}`);
  }
  const rows = createStringIndex(columns.userIds);
  const features = PROFILE_FEATURES.map((f) => ({
    name: f.name,
    ttlMs: (f.ttlSec ?? 0) * 1000,
    fallback: fallbackValue(f.name, f.fallback, manifest.fallbacks),
  }));
  const width = features.length + 1;
  const matrix = rowMajor(columns, n, width);
  // `columns` (a million id strings) must not outlive this call: no closure below may name it,
  // or V8 keeps it in the context the returned methods share, and every full GC marks it again.
  return {
    manifest,
    size: n,
    rowOf: (userId) => rows.get(userId),
    lookup(userId, nowMs) {
      const row = rows.get(userId);
      const values = {} as ProfileValues;
      const fallbacks: ProfileFeatureName[] = [];
      const base = row * width;
      const age = row < 0 ? Infinity : nowMs - matrix[base]!;
      for (let j = 0; j < features.length; j++) {
        const f = features[j]!;
        const v = row < 0 ? NaN : matrix[base + j + 1]!;
        if (Number.isNaN(v) || age > f.ttlMs || age < 0) {
          values[f.name] = f.fallback;
          fallbacks.push(f.name);
        } else {
          values[f.name] = v;
        }
      }
      return { found: row >= 0, values, fallbacks };
    },
  };
}

/**
 * The profile features a snapshot as of `manifest.as_of` can no longer serve at `nowMs`: past
 * their TTL for every user, so every lookup falls back on them. Empty while it is fresh.
 */
export function staleFeatures(manifest: SnapshotManifest, nowMs: number): { ageMs: number; features: ProfileFeatureName[] } {
  const ageMs = nowMs - Date.parse(manifest.as_of);
  return { ageMs, features: PROFILE_FEATURES.filter((f) => f.ttlSec !== null && ageMs > f.ttlSec * 1000).map((f) => f.name) };
}
