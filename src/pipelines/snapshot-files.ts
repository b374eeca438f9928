/**
 * `oo-ml features export` and its reader. A snapshot is a folder
 *
 *   <snapshots>/<snapshot id>/profiles.arrow   Arrow IPC file: user_id, as_of, one column per profile feature
 *   <snapshots>/<snapshot id>/manifest.json    id, as_of, created_at, contract hash, feature signatures,
 *                                              fallback values, row count, byte size and sha256 of the data
 *   <snapshots>/LATEST                         the id of the newest snapshot (replaced atomically)
 *
 * The Arrow schema is derived from the feature contract (float → Float64, int → Int32, nullable).
 * The folder is built in a temporary place and renamed in whole; LATEST moves only after that.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Float64,
  Int32,
  Table,
  TimestampMillisecond,
  Utf8,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  type DataType,
  type Vector,
} from 'apache-arrow';
import { conflict, invalidInput, notFound } from '../errors.js';
import { contractHash, contractSignatures } from '../features/contract.js';
import { PROFILE_FEATURES, type ProfileFeatureName } from '../features/registry.js';
import {
  assertSameContract,
  createSnapshotIndex,
  snapshotManifestValidator,
  type SnapshotColumns,
  type SnapshotIndex,
  type SnapshotManifest,
} from '../features/snapshot.js';
import { exists, readDirIfExists, readTextIfExists, replaceDirAtomic, writeFileAtomic } from '../io/atomic.js';
import { withDb } from '../io/duckdb.js';
import { requireDate } from './job-arguments.js';
import { attachWarehouse } from './training-set.js';

const DATA_FILE = 'profiles.arrow';
const MANIFEST_FILE = 'manifest.json';
const LATEST_FILE = 'LATEST';

/** Arrow type of a profile feature, from its contract dtype. */
function arrowType(dtype: string): DataType {
  return dtype === 'int' ? new Int32() : new Float64();
}

/** Options of `exportSnapshot`. */
export interface ExportJob {
  warehouse: string;
  /** Folder holding snapshot folders and LATEST. */
  outDir: string;
  tmpDir: string;
  now: Date;
}

/** What an export produced. */
export interface ExportSummary {
  snapshotId: string;
  dir: string;
  rows: number;
  bytes: number;
  sha256: string;
  asOf: string;
}

/** What a snapshots folder holds: snapshot folders, LATEST, and the markers and temporaries of writing them. */
const SNAPSHOTS_FOLDER_ENTRY = /^(snap-.+|LATEST|\..*\.tmp-\d+-[0-9a-f]{12})$/;

/**
 * Refuses (invalid_input, naming a few) a snapshots folder holding anything but snapshots: an
 * event log, a user's files. Snapshots go to a folder of their own, which a later `data synth`
 * or `features build` never takes for its output (as they refuse folders they did not write).
 */
async function checkSnapshotsFolder(outDir: string): Promise<void> {
  const hint = 'export to a folder of its own (--out), or the default <home>/data/snapshots';
  const info = await stat(outDir).catch(() => null);
  // As synth refuses its --out: a conflict with what is there, not a malformed input.
  if (info !== null && !info.isDirectory()) throw conflict(`snapshots folder ${outDir} is a file`, { hint });
  const others = (await readDirIfExists(outDir)).map((e) => e.name).filter((name) => !SNAPSHOTS_FOLDER_ENTRY.test(name));
  if (others.length === 0) return;
  throw conflict(`snapshots folder ${outDir} holds other files (${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''})`, { hint });
}

/** Exports the warehouse's latest profile features as a new snapshot and points LATEST at it. */
export async function exportSnapshot(job: ExportJob): Promise<ExportSummary> {
  requireDate('now', job.now);
  await checkSnapshotsFolder(job.outDir);
  const { table, asOf, fallbacks } = await withDb(':memory:', async (db) => {
    const { asOf } = await attachWarehouse(db, job.warehouse);
    const names = PROFILE_FEATURES.map((f) => f.name);
    const reader = await db.connection.runAndReadAll(
      `SELECT user_id, epoch_ms(as_of) AS as_of_ms, ${names.join(', ')} FROM wh.profile_features ORDER BY user_id`,
    );
    const cols = reader.getColumnsObjectJS() as Record<string, unknown[]>;
    const vectors: Record<string, Vector> = {
      user_id: utf8Vector(cols['user_id'] as string[]),
      as_of: makeVector(
        makeData({
          type: new TimestampMillisecond(),
          length: reader.currentRowCount,
          data: BigInt64Array.from(cols['as_of_ms'] as (number | bigint)[], (v) => BigInt(v)),
        }),
      ),
    };
    for (const f of PROFILE_FEATURES) vectors[f.name] = numericVector(cols[f.name] as (number | bigint | null)[], f.dtype);
    const [g] = await db.rows<Record<string, number | null>>(
      `SELECT * EXCLUDE (as_of) FROM wh.profile_global WHERE as_of = (SELECT as_of FROM wh.build_info)`,
    );
    return { table: new Table(vectors), asOf, fallbacks: g ?? {} };
  });
  const bytes = tableToIPC(table, 'file');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const stamp = job.now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const snapshotId = `snap-${stamp}-${sha256.slice(0, 8)}`;
  const manifest: SnapshotManifest = {
    format: 'oo-ml-snapshot/1',
    snapshot_id: snapshotId,
    as_of: asOf.toISOString(),
    created_at: job.now.toISOString(),
    contract_hash: contractHash(),
    features: contractSignatures().filter((s) => s.kind === 'profile'),
    // Each feature's fallback value by its rule: the global mean, 0 for `zero`, else none.
    fallbacks: Object.fromEntries(
      PROFILE_FEATURES.map((f) => [f.name, f.fallback === 'zero' ? 0 : typeof fallbacks[f.name] === 'number' ? fallbacks[f.name]! : null]),
    ),
    row_count: table.numRows,
    data_file: DATA_FILE,
    data_bytes: bytes.byteLength,
    sha256,
  };
  const dir = join(job.outDir, snapshotId);
  await replaceDirAtomic(
    dir,
    async (tmp) => {
      await writeFileAtomic(join(tmp, DATA_FILE), bytes);
      await writeFileAtomic(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    },
    { tmpDir: job.tmpDir, kind: 'snapshot', legacyNames: [DATA_FILE, MANIFEST_FILE] },
  );
  await writeFileAtomic(join(job.outDir, LATEST_FILE), snapshotId + '\n', { tmpDir: job.tmpDir });
  return { snapshotId, dir, rows: table.numRows, bytes: bytes.byteLength, sha256, asOf: manifest.as_of };
}

/**
 * A Utf8 vector built directly from its offsets and bytes. apache-arrow's generic builder takes
 * ~2 s for 1M ids; encoding the joined string once takes ~0.1 s (measured in bench/features.ts).
 */
export function utf8Vector(strings: readonly string[]): Vector {
  const n = strings.length;
  const joined = strings.join('');
  const bytes = new TextEncoder().encode(joined);
  const offsets = new Int32Array(n + 1);
  const ascii = bytes.length === joined.length;
  let at = 0;
  for (let i = 0; i < n; i++) {
    // Without non-ASCII characters, byte and UTF-16 lengths agree.
    at += ascii ? strings[i]!.length : new TextEncoder().encode(strings[i]!).length;
    offsets[i + 1] = at;
  }
  return makeVector(makeData({ type: new Utf8(), length: n, valueOffsets: offsets, data: bytes }));
}

/** A nullable Float64 or Int32 vector with its validity bitmap built directly. */
function numericVector(values: readonly (number | bigint | null)[], dtype: string): Vector {
  const n = values.length;
  const data = dtype === 'int' ? new Int32Array(n) : new Float64Array(n);
  const bitmap = new Uint8Array(Math.ceil(n / 8));
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      nulls++;
      continue;
    }
    data[i] = Number(v);
    bitmap[i >> 3]! |= 1 << (i & 7);
  }
  const type = dtype === 'int' ? new Int32() : new Float64();
  return makeVector(makeData({ type, length: n, nullCount: nulls, data, ...(nulls > 0 ? { nullBitmap: bitmap } : {}) } as Parameters<typeof makeData>[0]));
}

/** What `oo-ml features export` names snapshots (`snap-<UTC stamp>-<sha256 prefix>`), and any `snap-…` folder name: never a path. */
const SNAPSHOT_ID = /^snap-[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * The snapshot id in `<dir>/LATEST`, or null when there is none. Anything but a snapshot id (a
 * path, `..`, several lines) is refused as invalid_input: LATEST only ever names a folder beside it.
 */
export async function readLatest(dir: string): Promise<string | null> {
  const latest = join(dir, LATEST_FILE);
  const text = await readTextIfExists(latest);
  if (text === undefined) return null;
  const id = text.trim();
  if (!SNAPSHOT_ID.test(id)) {
    throw invalidInput(`${latest} does not hold a snapshot id (got ${JSON.stringify(id.slice(0, 80))})`, {
      hint: 'LATEST names one snapshot folder beside it (snap-…); run `oo-ml features export` to write it again',
      details: { path: latest },
    });
  }
  return id;
}

/**
 * Resolves `path` to a snapshot folder: a folder with manifest.json is one; a folder with
 * LATEST points at one.
 */
export async function resolveSnapshotDir(path: string): Promise<string> {
  if (await exists(join(path, MANIFEST_FILE))) return path;
  const latest = join(path, LATEST_FILE);
  if (!(await exists(latest))) {
    throw notFound(`no snapshot at ${path} (neither ${MANIFEST_FILE} nor ${LATEST_FILE})`, {
      hint: 'run `oo-ml features export` first',
    });
  }
  const id = (await readLatest(path))!;
  const dir = join(path, id);
  if (!(await exists(join(dir, MANIFEST_FILE)))) {
    throw notFound(`${latest} points at snapshot ${id}, which has no ${MANIFEST_FILE}`, {
      hint: 'run `oo-ml features export` again',
    });
  }
  return dir;
}

/** Decodes a Utf8 column to strings; ASCII chunks are decoded in one call and sliced by offsets. */
export function decodeUtf8Column(vector: Vector): string[] {
  const out: string[] = new Array<string>(vector.length);
  const decoder = new TextDecoder();
  let at = 0;
  for (const chunk of vector.data) {
    const offsets = chunk.valueOffsets as Int32Array;
    const bytes = chunk.values as Uint8Array;
    const start = offsets[0]!;
    const end = offsets[chunk.length]!;
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (bytes[i]! > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      // One decode per chunk instead of one per value: ~15× faster on 1M ids (see BENCHMARKS.md).
      const text = decoder.decode(bytes.subarray(start, end));
      for (let i = 0; i < chunk.length; i++) out[at++] = text.slice(offsets[i]! - start, offsets[i + 1]! - start);
    } else {
      for (let i = 0; i < chunk.length; i++) out[at++] = decoder.decode(bytes.subarray(offsets[i]!, offsets[i + 1]!));
    }
  }
  return out;
}

/** A numeric column as Float64Array with NaN for nulls (reads the validity bitmap directly). */
function numericColumn(vector: Vector): Float64Array {
  const out = new Float64Array(vector.length);
  let at = 0;
  for (const chunk of vector.data) {
    const values = chunk.values as ArrayLike<number | bigint>;
    const offset = chunk.offset;
    const bitmap = chunk.nullCount > 0 ? (chunk.nullBitmap as Uint8Array | undefined) : undefined;
    for (let i = 0; i < chunk.length; i++) {
      const j = offset + i;
      out[at++] = bitmap !== undefined && ((bitmap[j >> 3]! >> (j & 7)) & 1) === 0 ? NaN : Number(values[j]);
    }
  }
  return out;
}

/** A loaded snapshot and where it came from. */
export interface LoadedSnapshot {
  dir: string;
  index: SnapshotIndex;
}

/**
 * Loads and verifies a snapshot (a snapshot folder, or a folder with LATEST): the manifest must
 * validate, its contract hash must match this code's (else the differing features are named),
 * the data file's size and sha256 must match the manifest, and its columns must be the
 * contract's.
 */
export async function loadSnapshot(path: string): Promise<LoadedSnapshot> {
  const dir = await resolveSnapshotDir(path);
  const manifestPath = join(dir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (e) {
    throw invalidInput(`snapshot manifest ${manifestPath} is not valid JSON: ${(e as Error).message}`);
  }
  const manifest = snapshotManifestValidator.parse(raw, `snapshot manifest ${manifestPath}`);
  assertSameContract(manifest, dir);
  const dataPath = join(dir, manifest.data_file);
  if (!(await exists(dataPath))) throw notFound(`snapshot data file ${dataPath} is missing`);
  const bytes = await readFile(dataPath);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (bytes.byteLength !== manifest.data_bytes || sha !== manifest.sha256) {
    throw invalidInput(
      `snapshot data file ${dataPath} is corrupt: sha256 ${sha.slice(0, 12)}… (${bytes.byteLength} bytes) ` +
        `does not match the manifest's ${manifest.sha256.slice(0, 12)}… (${manifest.data_bytes} bytes)`,
      { hint: 'export a new snapshot with `oo-ml features export`' },
    );
  }
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (e) {
    throw invalidInput(`snapshot data file ${dataPath} is not an Arrow IPC file: ${(e as Error).message}`);
  }
  const problems: string[] = [];
  const column = (name: string): Vector | null => {
    const v = table.getChild(name);
    if (v === null) problems.push(`missing column ${name}`);
    return v;
  };
  const userIds = column('user_id');
  const asOf = column('as_of');
  const values = {} as Record<ProfileFeatureName, Float64Array>;
  for (const f of PROFILE_FEATURES) {
    const v = column(f.name);
    if (v !== null) {
      const want = arrowType(f.dtype);
      if (v.type.typeId !== want.typeId) problems.push(`column ${f.name} is ${String(v.type)}, expected ${String(want)}`);
      else values[f.name] = numericColumn(v);
    }
  }
  if (problems.length > 0 || userIds === null || asOf === null) {
    throw invalidInput(`snapshot data file ${dataPath} does not match the feature contract: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  const columns: SnapshotColumns = { userIds: decodeUtf8Column(userIds), asOfMs: numericColumn(asOf), values };
  return { dir, index: createSnapshotIndex(manifest, columns) };
}
