/**
 * `oo-ml features training-set`: every logged (non-shadow) serve joined to
 *   - the profile features as they were strictly before it (DuckDB ASOF JOIN on the daily
 *     history: the latest as-of ≤ the serve, which only saw events before that as-of),
 *     with the contract's TTL and fallback rules applied, and the names of those that fell back;
 *   - its context features (as logged on the serve);
 *   - its reward (events/reward.ts: its first reaction or numeric reward from its own user) and
 *     the logging propensity.
 * Only serves whose reward window closed by the warehouse's as-of are kept (mature labels).
 * The Parquet file carries the contract hash and as-of in its key-value metadata.
 *
 * `loadTrainingSet` reads such a file back into typed arrays for training and OPE.
 */
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ARM_COUNT, ARM_IDS } from '../features/arms.js';
import { contractHash } from '../features/contract.js';
import { PROFILE_FEATURES, type ProfileValues } from '../features/registry.js';
import { vectorDim, writeVector, type VectorLayoutName } from '../features/vectors.js';
import { conflict, invalidInput, notFound } from '../errors.js';
import { REWARD_WINDOW_MS, settlingFeedbackSql } from '../events/reward.js';
import { exists, tempPathNear } from '../io/atomic.js';
import { duckdbMessage, isDuckDbError, sqlString, withDb, type Db } from '../io/duckdb.js';
import { attachEventLog, eventLogFingerprint, requireEventLog, servesOnceSql } from './event-log.js';

/** Options of `buildTrainingSet`. */
export interface TrainingSetJob {
  eventsDir: string;
  warehouse: string;
  out: string;
  tmpDir: string;
}

/** What a training-set build produced. */
export interface TrainingSetSummary {
  out: string;
  rows: number;
  positives: number;
  /** Serves before the as-of left out: their reward window had not closed by then. */
  immatureExcluded: number;
  /** Serves at or after the as-of (in the log, not in this set: a later --as-of takes them). */
  afterAsOf: number;
  /**
   * Serve ids logged more than once (under other event ids) with another arm or propensity: how
   * many, and the first; null when none. The first copy by time is the row, but which arm was
   * shown is then in doubt, and off-policy estimates rest on it.
   */
  conflictingServes: { ids: number; example: string } | null;
  /**
   * Whether the event log was checked to be the one the warehouse was built from: false for a
   * warehouse an earlier oo-ml built, which recorded no fingerprint of it (`features build` again
   * records one).
   */
  eventLogChecked: boolean;
  from: string | null;
  to: string | null;
  asOf: string;
  contractHash: string;
}

/** Throws `not_found` naming `warehouse` when there is none. */
async function requireWarehouse(warehouse: string): Promise<void> {
  if (!(await exists(warehouse))) {
    throw notFound(`feature warehouse ${warehouse} does not exist`, { hint: 'run `oo-ml features build` first' });
  }
}

/** Opens the warehouse read-only into `db` as `wh`, checking it was built with this contract. */
export async function attachWarehouse(db: Db, warehouse: string): Promise<{ asOf: Date; eventsFingerprint: string | null }> {
  await requireWarehouse(warehouse);
  try {
    await db.run(`ATTACH ${sqlString(warehouse)} AS wh (READ_ONLY)`);
  } catch (e) {
    throw invalidInput(`feature warehouse ${warehouse} cannot be opened: ${duckdbMessage(e)}`, {
      hint: 'rebuild it with `oo-ml features build`',
    });
  }
  let info: { as_of: Date; contract_hash: string; events_fingerprint?: string } | undefined;
  try {
    // Every column: warehouses built before the fingerprint have none.
    [info] = await db.rows<{ as_of: Date; contract_hash: string; events_fingerprint?: string }>('SELECT * FROM wh.build_info');
  } catch (e) {
    throw invalidInput(`feature warehouse ${warehouse} is incomplete: ${duckdbMessage(e)}`, {
      hint: 'rebuild it with `oo-ml features build`',
    });
  }
  if (info === undefined) throw invalidInput(`feature warehouse ${warehouse} has no build_info row`);
  if (info.contract_hash !== contractHash()) {
    throw invalidInput(`feature warehouse ${warehouse} was built with another feature contract (${info.contract_hash.slice(0, 12)})`, {
      hint: 'rebuild it with `oo-ml features build`',
    });
  }
  return { asOf: info.as_of, eventsFingerprint: info.events_fingerprint ?? null };
}

const armIndexSql = (col: string): string =>
  `CASE ${col} ${ARM_IDS.map((a, i) => `WHEN ${sqlString(a)} THEN ${i}`).join(' ')} END`;

/** The SELECT of the training set (over views tip_served, tip_reaction, tip_reward, users and wh.*). */
function trainingSetSql(asOfLiteral: string): string {
  const resolved = PROFILE_FEATURES.map((f) => {
    const fresh = `(h.as_of IS NOT NULL AND s.ts - h.as_of <= INTERVAL ${f.ttlSec} SECOND AND h.${f.name} IS NOT NULL)`;
    const fallback = f.fallback === 'global_mean' ? `g.${f.name}` : f.fallback === 'zero' ? '0' : 'NULL';
    return {
      value: `CASE WHEN ${fresh} THEN h.${f.name} ELSE ${fallback} END AS ${f.name}`,
      fellBack: `CASE WHEN NOT ${fresh} THEN ${sqlString(f.name)} END`,
    };
  });
  return `
    WITH served AS (
      ${servesOnceSql()}
    ), settled AS (
      ${settlingFeedbackSql('SELECT serve_id, user_id, ts FROM served')}
    )
    SELECT s.serve_id, s.user_id, s.ts, s.arm, ${armIndexSql('s.arm')} AS arm_index, s.propensity,
      s.policy AS logging_policy, s.model_version, s.prompt_version,
      s.context.hour_of_day AS hour_of_day, s.context.day_of_week AS day_of_week,
      s.context.open_tasks AS open_tasks, s.context.overdue_tasks AS overdue_tasks,
      coalesce(u.segment, 'unknown') AS segment,
      h.as_of AS profile_as_of, (h.as_of IS NOT NULL) AS has_profile,
      ${resolved.map((r) => r.value).join(',\n      ')},
      list_filter([${resolved.map((r) => r.fellBack).join(', ')}], x -> x IS NOT NULL) AS fell_back,
      r.reaction, r.reaction_ts, coalesce(r.reward, 0) AS reward
    FROM served s
    ASOF LEFT JOIN wh.profile_history h ON s.user_id = h.user_id AND s.ts >= h.as_of
    ASOF LEFT JOIN wh.profile_global g ON s.ts >= g.as_of
    LEFT JOIN settled r ON r.serve_id = s.serve_id
    LEFT JOIN users u ON u.user_id = s.user_id
    WHERE NOT s.shadow AND s.ts + INTERVAL ${REWARD_WINDOW_MS} MILLISECOND <= ${asOfLiteral}
    ORDER BY s.ts, s.serve_id`;
}

/** Whether `path` starts and ends with Parquet's magic bytes (`PAR1`); an empty file is not Parquet. */
async function isParquetFile(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size < 8) return false;
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    await handle.read(tail, 0, 4, size - 4);
    return head.toString('latin1') === 'PAR1' && tail.toString('latin1') === 'PAR1';
  } finally {
    await handle.close();
  }
}

/** Builds the training set Parquet at `job.out` (written to a temporary, then renamed). */
export async function buildTrainingSet(job: TrainingSetJob): Promise<TrainingSetSummary> {
  const existing = await stat(job.out).catch(() => null);
  if (existing?.isDirectory() === true) {
    throw conflict(`--out ${job.out} is a folder; give the path of the training set's Parquet file`);
  }
  // An earlier training set (or any Parquet file) is replaced; a file of another kind is someone's:
  // a conflict with it (exit 1), as synth and export refuse what is in their way.
  if (existing !== null && !(await isParquetFile(job.out))) {
    throw conflict(`--out ${job.out} is a file that is not Parquet: refusing to replace it`, { hint: 'give a new path, or the path of an earlier training set' });
  }
  // Before any folder is made: a mistyped --home is left as it was.
  await requireWarehouse(job.warehouse);
  await requireEventLog(job.eventsDir);
  await mkdir(dirname(job.out), { recursive: true });
  const tmp = await tempPathNear(job.out, { tmpDir: job.tmpDir });
  try {
    const summary = await withDb(':memory:', async (db) => {
      const { asOf, eventsFingerprint } = await attachWarehouse(db, job.warehouse);
      // Serves and reactions come from the log, features from the warehouse: they must be one log.
      if (eventsFingerprint !== null && (await eventLogFingerprint(job.eventsDir, asOf)) !== eventsFingerprint) {
        throw invalidInput(`the event log ${job.eventsDir} changed since the feature warehouse was built from it (as of ${asOf.toISOString()}): its serves would be joined to features of other events`, {
          hint: 'run `oo-ml features build` again, then this command',
          details: { eventsDir: job.eventsDir, warehouse: job.warehouse },
        });
      }
      await attachEventLog(db, job.eventsDir);
      const asOfLit = `TIMESTAMP ${sqlString(asOf.toISOString().replace('T', ' ').replace('Z', ''))}`;
      await db.run(`CREATE TEMP TABLE ts AS ${trainingSetSql(asOfLit)}`);
      const bad = await db.rows<{ serve_id: string; arm: string }>(
        'SELECT serve_id, arm FROM ts WHERE arm_index IS NULL LIMIT 3',
      );
      if (bad.length > 0) {
        throw invalidInput(`serves with unknown arms: ${bad.map((b) => `${b.serve_id} (${b.arm})`).join(', ')}`, {
          hint: `known arms: ${ARM_IDS.join(', ')}`,
        });
      }
      const [stats] = await db.rows<{ n: bigint; pos: bigint | number | null; lo: Date | null; hi: Date | null }>(
        'SELECT count(*) AS n, sum(reward) AS pos, min(ts) AS lo, max(ts) AS hi FROM ts',
      );
      // Serves, not their copies: a serve logged twice is one row of the set, not one left out.
      // One pass over the serves: each serve id once, at its first copy's time, and whether its
      // copies disagree on the arm or propensity.
      const [all] = await db.rows<{ before: bigint; after: bigint; conflicts: bigint; example: string | null }>(
        `SELECT count(*) FILTER (WHERE first_ts < ${asOfLit}) AS before, count(*) FILTER (WHERE first_ts >= ${asOfLit}) AS after, ` +
          'count(*) FILTER (WHERE conflict) AS conflicts, min(serve_id) FILTER (WHERE conflict) AS example ' +
          'FROM (SELECT serve_id, min(ts) AS first_ts, count(*) > 1 AND (count(DISTINCT arm) > 1 OR count(DISTINCT propensity) > 1) AS conflict ' +
          'FROM tip_served WHERE NOT shadow GROUP BY serve_id)',
      );
      const meta = `{contract_hash: ${sqlString(contractHash())}, as_of: ${sqlString(asOf.toISOString())}}`;
      await db.run(`COPY ts TO ${sqlString(tmp)} (FORMAT parquet, KV_METADATA ${meta})`);
      const rows = Number(stats?.n ?? 0n);
      return {
        out: job.out,
        rows,
        positives: Number(stats?.pos ?? 0n),
        immatureExcluded: Number(all?.before ?? 0n) - rows,
        afterAsOf: Number(all?.after ?? 0n),
        conflictingServes: (all?.conflicts ?? 0n) === 0n ? null : { ids: Number(all!.conflicts), example: all!.example! },
        eventLogChecked: eventsFingerprint !== null,
        from: stats?.lo?.toISOString() ?? null,
        to: stats?.hi?.toISOString() ?? null,
        asOf: asOf.toISOString(),
        contractHash: contractHash(),
      };
    });
    if (summary.rows === 0) {
      throw invalidInput('the training set would be empty: no logged serve has a closed reward window before the as-of', {
        hint: 'build features with a later --as-of, or generate more days of events',
      });
    }
    await rename(tmp, job.out);
    return summary;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** A training set in memory: one row per logged serve, columnar. */
export interface TrainingData {
  n: number;
  k: number;
  serveId: string[];
  userId: string[];
  ts: Float64Array;
  arm: Int32Array;
  propensity: Float64Array;
  reward: Float64Array;
  segment: string[];
  /** Context and resolved profile of each row, for building vectors of any layout. */
  hourOfDay: Int32Array;
  dayOfWeek: Int32Array;
  openTasks: Int32Array;
  overdueTasks: Int32Array;
  hasProfile: Uint8Array;
  profile: ProfileValues[];
  contractHash: string | null;
  asOf: string | null;
}

/** Columns a training-set file must have (everything else is ignored). */
export const TRAINING_SET_COLUMNS = [
  'serve_id',
  'user_id',
  'ts',
  'arm_index',
  'propensity',
  'reward',
  'segment',
  'hour_of_day',
  'day_of_week',
  'open_tasks',
  'overdue_tasks',
  'has_profile',
  ...PROFILE_FEATURES.map((f) => f.name),
] as const;

/**
 * Whether the rows of training set `file`, in the file's own order, are in the order
 * `loadTrainingSet` gives them (time, then serve id): oo-ml writes them so; another tool, or a
 * re-sorted copy, may not.
 */
export async function trainingSetInLoadOrder(file: string): Promise<boolean> {
  return withDb(':memory:', async (db) => {
    const [row] = await db.rows<{ n: bigint }>(`
      SELECT count(*) AS n FROM (
        SELECT ts, serve_id, lag(ts) OVER w AS prev_ts, lag(serve_id) OVER w AS prev_id
        FROM read_parquet(${sqlString(file)}, file_row_number = true)
        WINDOW w AS (ORDER BY file_row_number))
      WHERE ts < prev_ts OR (ts = prev_ts AND serve_id < prev_id)`);
    return row!.n === 0n;
  });
}

/**
 * Reads a training-set Parquet file, validating its columns and values: missing columns,
 * propensities outside (0, 1], rewards outside [0, 1] and unknown arms are `invalid_input`
 * errors naming the file (and the first offending serve).
 */
export async function loadTrainingSet(file: string): Promise<TrainingData> {
  if (!(await exists(file))) {
    throw notFound(`training set ${file} does not exist`, { hint: 'run `oo-ml features training-set` first' });
  }
  return withDb(':memory:', async (db) => {
    let cols: { column_name: string }[];
    try {
      cols = await db.rows(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`);
    } catch (e) {
      throw invalidInput(`training set ${file} cannot be read: ${duckdbMessage(e)}`);
    }
    const have = new Set(cols.map((c) => c.column_name));
    const missing = TRAINING_SET_COLUMNS.filter((c) => !have.has(c));
    if (missing.length > 0) {
      throw invalidInput(`training set ${file} is missing column(s): ${missing.join(', ')}`, {
        hint: 'rebuild it with `oo-ml features training-set`',
        details: { file, missing },
      });
    }
    const src = `read_parquet(${sqlString(file)})`;
    // Every value a policy learns from is checked against the feature contract's range: a
    // training set edited or written by another tool must not train a policy on hour 99.
    const range = (col: string, min: number | undefined, max: number | undefined): [string, string] => [
      `${col} IS NOT NULL AND (isnan(${col})${min === undefined ? '' : ` OR ${col} < ${min}`}${max === undefined ? '' : ` OR ${col} > ${max}`})`,
      `${col} outside [${min ?? '−∞'}, ${max ?? '∞'}]`,
    ];
    const checks: [string, string][] = [
      [`propensity IS NULL OR isnan(propensity) OR propensity <= 0 OR propensity > 1`, 'a propensity outside (0, 1]'],
      [`reward IS NULL OR isnan(reward) OR reward < 0 OR reward > 1`, 'a reward outside [0, 1]'],
      [`arm_index IS NULL OR arm_index < 0 OR arm_index >= ${ARM_COUNT}`, `an arm index outside [0, ${ARM_COUNT})`],
      [`hour_of_day IS NULL OR day_of_week IS NULL OR open_tasks IS NULL OR overdue_tasks IS NULL OR has_profile IS NULL`, 'a missing context value'],
      range('hour_of_day', 0, 23),
      range('day_of_week', 0, 6),
      range('open_tasks', 0, undefined),
      range('overdue_tasks', 0, undefined),
      ...PROFILE_FEATURES.map((f: { name: string; min?: number; max?: number }) => range(f.name, f.min, f.max)),
    ];
    try {
      for (const [where, what] of checks) {
        const bad = await db.rows<{ serve_id: string; n: bigint }>(
          `SELECT any_value(serve_id) AS serve_id, count(*) AS n FROM ${src} WHERE ${where} HAVING count(*) > 0`,
        );
        if (bad.length > 0) {
          throw invalidInput(`training set ${file} has ${bad[0]!.n} row(s) with ${what} (e.g. serve ${bad[0]!.serve_id})`, {
            details: { file, rows: Number(bad[0]!.n) },
          });
        }
      }
    } catch (e) {
      // A column of the wrong type (a propensity stored as text…) fails in DuckDB's binder.
      if (!isDuckDbError(e)) throw e;
      throw invalidInput(`training set ${file} has a column of the wrong type: ${duckdbMessage(e)}`, { hint: 'rebuild it with `oo-ml features training-set`', details: { file } });
    }
    const reader = await db.connection.runAndReadAll(
      `SELECT ${TRAINING_SET_COLUMNS.map((c) => (c === 'ts' ? 'epoch_ms(ts) AS ts' : c)).join(', ')} FROM ${src} ORDER BY ts, serve_id`,
    );
    const c = reader.getColumnsObjectJS() as Record<string, unknown[]>;
    const n = reader.currentRowCount;
    if (n === 0) throw invalidInput(`training set ${file} is empty`);
    const num = (name: string, i: number): number => Number(c[name]![i]);
    const data: TrainingData = {
      n,
      k: ARM_COUNT,
      serveId: c['serve_id']!.map(String),
      userId: c['user_id']!.map(String),
      ts: Float64Array.from(c['ts']!, Number),
      arm: Int32Array.from(c['arm_index']!, Number),
      propensity: Float64Array.from(c['propensity']!, Number),
      reward: Float64Array.from(c['reward']!, Number),
      segment: c['segment']!.map(String),
      hourOfDay: Int32Array.from(c['hour_of_day']!, Number),
      dayOfWeek: Int32Array.from(c['day_of_week']!, Number),
      openTasks: Int32Array.from(c['open_tasks']!, Number),
      overdueTasks: Int32Array.from(c['overdue_tasks']!, Number),
      hasProfile: Uint8Array.from(c['has_profile']!, (v) => (v === true ? 1 : 0)),
      profile: [],
      contractHash: null,
      asOf: null,
    };
    for (let i = 0; i < n; i++) {
      const p = {} as ProfileValues;
      for (const f of PROFILE_FEATURES) {
        const v = c[f.name]![i];
        p[f.name] = v === null || v === undefined ? null : num(f.name, i);
      }
      data.profile.push(p);
    }
    const kv = await db.rows<{ key: string; value: string }>(
      `SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata(${sqlString(file)})`,
    );
    data.contractHash = kv.find((r) => r.key === 'contract_hash')?.value ?? null;
    data.asOf = kv.find((r) => r.key === 'as_of')?.value ?? null;
    return data;
  });
}

/** Feature vectors of every row of `data` in `layout`, row-major (n × D). */
export function trainingVectors(data: TrainingData, layout: VectorLayoutName): Float64Array {
  const d = vectorDim(layout);
  const x = new Float64Array(data.n * d);
  for (let i = 0; i < data.n; i++) {
    writeVector(
      layout,
      {
        hourOfDay: data.hourOfDay[i]!,
        dayOfWeek: data.dayOfWeek[i]!,
        openTasks: data.openTasks[i]!,
        overdueTasks: data.overdueTasks[i]!,
        hasProfile: data.hasProfile[i] === 1,
        profile: data.profile[i]!,
      },
      x,
      i * d,
    );
  }
  return x;
}
