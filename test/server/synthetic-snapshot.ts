/**
 * Synthetic feature snapshots for server tests and the serve benchmark: deterministic values per
 * user index, as an in-memory SnapshotIndex (fast) or as a real snapshot folder on disk that
 * `loadSnapshot` verifies (manifest, contract hash, sha256, Arrow columns).
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Float64, Int32, Table, TimestampMillisecond, Utf8, tableToIPC, vectorFromArray, type Vector } from 'apache-arrow';
import { contractHash, contractSignatures } from '../../src/features/contract.js';
import { PROFILE_FEATURES, type ProfileFeatureName } from '../../src/features/registry.js';
import { createSnapshotIndex, type SnapshotIndex, type SnapshotManifest } from '../../src/features/snapshot.js';

/** The snapshot's global means (the `global_mean` fallbacks). */
export const SYNTHETIC_FALLBACKS = { completion_rate: 0.4, dismiss_rate: 0.3, mean_dwell_sec: 20, preferred_hour: null, tip_volume: null };

/** User `u<i>`'s synthetic profile values (null every 10th preferred hour). */
export function syntheticValue(name: ProfileFeatureName, i: number): number | null {
  switch (name) {
    case 'completion_rate':
      return (i % 100) / 100;
    case 'dismiss_rate':
      return ((i * 7) % 100) / 100;
    case 'mean_dwell_sec':
      return i % 600;
    case 'preferred_hour':
      return i % 10 === 0 ? null : i % 24;
    case 'tip_volume':
      return i % 50;
  }
}

/** Options of a synthetic snapshot. */
export interface SyntheticOptions {
  users: number;
  asOf: Date;
  id?: string;
}

function columnsOf(o: SyntheticOptions): { userIds: string[]; asOfMs: Float64Array; values: Record<ProfileFeatureName, Float64Array> } {
  const userIds = Array.from({ length: o.users }, (_, i) => `u${i}`);
  const asOfMs = new Float64Array(o.users).fill(o.asOf.getTime());
  const values = {} as Record<ProfileFeatureName, Float64Array>;
  for (const f of PROFILE_FEATURES) {
    const col = new Float64Array(o.users);
    for (let i = 0; i < o.users; i++) col[i] = syntheticValue(f.name, i) ?? NaN;
    values[f.name] = col;
  }
  return { userIds, asOfMs, values };
}

function manifestOf(o: SyntheticOptions, id: string, bytes: number, sha256: string): SnapshotManifest {
  return {
    format: 'oo-ml-snapshot/1',
    snapshot_id: id,
    as_of: o.asOf.toISOString(),
    created_at: o.asOf.toISOString(),
    contract_hash: contractHash(),
    features: contractSignatures().filter((s) => s.kind === 'profile'),
    fallbacks: SYNTHETIC_FALLBACKS,
    row_count: o.users,
    data_file: 'profiles.arrow',
    data_bytes: bytes,
    sha256,
  };
}

/** An in-memory index of users u0 … u<n-1>. */
export function syntheticSnapshotIndex(o: SyntheticOptions): SnapshotIndex {
  const id = o.id ?? `snap-synthetic-${o.users}`;
  return createSnapshotIndex(manifestOf(o, id, 0, '0'.repeat(64)), columnsOf(o));
}

/** Writes a real snapshot folder under `outDir` and points LATEST at it; returns its id. */
export async function writeSyntheticSnapshot(outDir: string, o: SyntheticOptions): Promise<string> {
  const c = columnsOf(o);
  const vectors: Record<string, Vector> = {
    user_id: vectorFromArray(c.userIds, new Utf8()),
    as_of: vectorFromArray(Array.from(c.asOfMs, (ms) => new Date(ms)), new TimestampMillisecond()),
  };
  for (const f of PROFILE_FEATURES) {
    const raw = Array.from(c.values[f.name], (v) => (Number.isNaN(v) ? null : v));
    vectors[f.name] = vectorFromArray(raw, f.dtype === 'int' ? new Int32() : new Float64());
  }
  const bytes = tableToIPC(new Table(vectors), 'file');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const id = o.id ?? `snap-synthetic-${sha256.slice(0, 8)}`;
  const dir = join(outDir, id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'profiles.arrow'), bytes);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifestOf(o, id, bytes.byteLength, sha256), null, 2));
  await writeFile(join(outDir, 'LATEST'), id + '\n');
  return id;
}
