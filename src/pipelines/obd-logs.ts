/**
 * Logged bandit feedback from the Open Bandit Dataset (Saito et al., NeurIPS 2021 Datasets &
 * Benchmarks, arXiv:2008.07146; st-tech/zr-obp) into the columnar `LoggedBandit` of
 * evaluation/.
 *
 * Layout of a log CSV: an unnamed row index, `timestamp`, `item_id` (0..K-1), `position`
 * (1, 2, 3 = left, centre, right), `click`, `propensity_score`, `user_feature_0..3` (hashed
 * categoricals), `user-item_affinity_0..K-1`; `item_context.csv` beside it lists the K items.
 *
 * Conventions:
 * - Position-wise evaluation, as the Open Bandit Pipeline does: each row is one decision (which
 *   item to show in that slot), arm = item_id, reward = click, propensity = propensity_score.
 *   A target must give, per row, the distribution over items at that row's position.
 *   Positions are exposed 0-based (0 = left).
 * - k = the number of items in item_context.csv; without it, max item_id + 1 (noted).
 * - Features (`x`) for the reward models of DM/DR: by default the K user-item affinities (the
 *   dataset's own per-item signal; OBP's examples use them too); `user-onehot` one-hot encodes
 *   the four hashed user features instead, over the values seen in this file (sorted), so two
 *   files get different encodings.
 */
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { invalidInput, notFound } from '../errors.js';
import type { LoggedBandit } from '../evaluation/logged-bandit.js';
import { exists } from '../io/atomic.js';
import { duckdbMessage, isDuckDbError, sqlIdent, sqlString, withDb, type Db } from '../io/duckdb.js';

/** Which feature vectors to build for reward models. */
export type ObdFeatures = 'affinity' | 'user-onehot';

/** Options of `readObdLogs`. */
export interface ObdReadOptions {
  /** The item list; default `item_context.csv` beside the log (if it is there). */
  itemContext?: string;
  /**
   * Feature vectors for reward models, all from one read of the file (default `affinity`): the
   * first becomes the logs' `x`; every one is in `vectors`. An empty list reads none.
   */
  features?: ObdFeatures | readonly ObdFeatures[];
}

/** One feature vector per row, `d` wide, with its column names. */
export interface ObdVectors {
  x: Float64Array;
  d: number;
  names: string[];
}

/** An Open Bandit log, ready for `evaluate`. */
export interface ObdLogs {
  /** One row per logged (position-wise) decision, with `x`, `d` and 0-based `position`. */
  logs: LoggedBandit;
  file: string;
  itemContextFile: string | null;
  /** Decision time per row, epoch milliseconds. */
  timestampMs: Float64Array;
  /** Names of the `x` columns. */
  featureNames: string[];
  /** Every feature vector read, by kind. */
  vectors: Partial<Record<ObdFeatures, ObdVectors>>;
  /** Number of distinct positions (slots). */
  positions: number;
  /** How the file was read (conventions, fallbacks): show these with the results. */
  notes: string[];
}

const CORE_COLUMNS = ['timestamp', 'item_id', 'position', 'click', 'propensity_score'] as const;
const USER_FEATURES = ['user_feature_0', 'user_feature_1', 'user_feature_2', 'user_feature_3'] as const;
const affinityColumn = (a: number): string => `user-item_affinity_${a}`;

/** Reads an Open Bandit Dataset log CSV, validating its columns and every value. */
export async function readObdLogs(file: string, options: ObdReadOptions = {}): Promise<ObdLogs> {
  if (!(await exists(file))) throw notFound(`Open Bandit log ${file} does not exist`);
  const requested = options.features ?? 'affinity';
  const features: readonly ObdFeatures[] = typeof requested === 'string' ? [requested] : [...new Set(requested)];
  const itemContextFile = options.itemContext ?? join(dirname(file), 'item_context.csv');
  const hasItemContext = await exists(itemContextFile);
  if (options.itemContext !== undefined && !hasItemContext) throw notFound(`item context ${itemContextFile} does not exist`);

  try {
    return await readObdWith(file, features, itemContextFile, hasItemContext);
  } catch (e) {
    // A short row, a cell of the wrong type…: what DuckDB's CSV reader says, with the file named
    // (was an internal error with DuckDB's whole sniffer dump).
    if (!isDuckDbError(e)) throw e;
    throw invalidInput(`Open Bandit log ${file} cannot be read: ${duckdbMessage(e)}`, { hint: 'check the CSV: every row needs every column of the header' });
  }
}

async function readObdWith(file: string, features: readonly ObdFeatures[], itemContextFile: string, hasItemContext: boolean): Promise<ObdLogs> {
  return withDb(':memory:', async (db) => {
    const notes = [
      'position-wise evaluation (the Open Bandit Pipeline convention): each row is one decision at its position; ' +
        'the target gives, per row, the distribution over items at that position',
    ];
    const columnsInFile = await csvHeader(file, 'Open Bandit log');
    const header = new Set(columnsInFile);
    requireColumns(file, header, CORE_COLUMNS);

    let k: number;
    if (hasItemContext) {
      k = await itemCount(db, itemContextFile);
      notes.push(`k = ${k} items from ${itemContextFile}`);
    } else {
      const [row] = await db.rows<{ k: number | null }>(
        `SELECT max(TRY_CAST(item_id AS INTEGER)) + 1 AS k FROM ${csvSource(file, columnsInFile, {})}`,
      );
      k = row?.k ?? 0;
      notes.push(`no item_context.csv beside the log: k = max item_id + 1 = ${k}`);
    }
    if (!(k >= 1)) throw invalidInput(`Open Bandit log ${file} has no items`);

    const sets = features.map((f) => ({ f, columns: f === 'affinity' ? Array.from({ length: k }, (_, a) => affinityColumn(a)) : [...USER_FEATURES] }));
    const featureColumns = sets.flatMap((s) => s.columns);
    requireColumns(file, header, featureColumns);

    const types: Record<string, string> = {
      timestamp: 'TIMESTAMPTZ',
      item_id: 'INTEGER',
      position: 'INTEGER',
      click: 'INTEGER',
      propensity_score: 'DOUBLE',
    };
    for (const { f, columns: names } of sets) for (const c of names) types[c] = f === 'affinity' ? 'DOUBLE' : 'VARCHAR';
    const baseSelect = ['CAST(epoch_us("timestamp") AS DOUBLE) / 1000 AS ts', 'item_id', '"position"', 'click', 'propensity_score'];
    const select = [...baseSelect, ...featureColumns.map((c) => sqlIdent(c))].join(', ');
    let columns: unknown[][];
    try {
      const reader = await db.connection.runAndReadAll(
        `SELECT ${select} FROM ${csvSource(file, columnsInFile, types)}`,
      );
      columns = reader.getColumnsJS() as unknown[][];
    } catch (e) {
      throw invalidInput(`Open Bandit log ${file} cannot be read: ${duckdbMessage(e)}`, {
        hint: 'expected the Open Bandit Dataset CSV layout (see test/fixtures/obd/README.md)',
        details: { file },
      });
    }
    const n = columns[0]?.length ?? 0;
    if (n === 0) throw invalidInput(`Open Bandit log ${file} has no rows`);

    const [tsCol, itemCol, posCol, clickCol, propCol] = columns as [unknown[], unknown[], unknown[], unknown[], unknown[]];
    const bad = (row: number, column: string, value: unknown, what: string): Error =>
      invalidInput(`Open Bandit log ${file}, row ${row}: ${column} ${String(value)} ${what}`, { details: { file, row, column } });
    const timestampMs = new Float64Array(n);
    const arm = new Int32Array(n);
    const position = new Int32Array(n);
    const reward = new Float64Array(n);
    const propensity = new Float64Array(n);
    const slots = new Set<number>();
    for (let i = 0; i < n; i++) {
      const ts = tsCol[i];
      const item = itemCol[i];
      const pos = posCol[i];
      const click = clickCol[i];
      const p = propCol[i];
      // An empty cell and text that is not a time both read as NULL.
      if (typeof ts !== 'number') throw invalidInput(`Open Bandit log ${file}, row ${i}: timestamp is missing or not a date-time`, { details: { file, row: i, column: 'timestamp' } });
      if (typeof item !== 'number' || item < 0 || item >= k) throw bad(i, 'item_id', item, `is outside [0, ${k})`);
      if (typeof pos !== 'number' || pos < 1) throw bad(i, 'position', pos, 'is not a slot number ≥ 1');
      if (click !== 0 && click !== 1) throw bad(i, 'click', click, 'is not 0 or 1');
      if (typeof p !== 'number' || !(p > 0 && p <= 1)) throw bad(i, 'propensity_score', p, 'is outside (0, 1]');
      timestampMs[i] = ts;
      arm[i] = item;
      position[i] = pos - 1;
      reward[i] = click;
      propensity[i] = p;
      slots.add(pos);
    }

    const vectors: Partial<Record<ObdFeatures, ObdVectors>> = {};
    let at = baseSelect.length;
    for (const { f, columns: names } of sets) {
      const cols = columns.slice(at, at + names.length);
      at += names.length;
      const feature = f === 'affinity' ? affinityFeatures(cols, names, n, bad) : userOneHot(cols, n, bad);
      vectors[f] = { x: feature.x, d: feature.names.length, names: feature.names };
      notes.push(
        f === 'affinity'
          ? `reward-model features: the ${k} user-item affinities`
          : `reward-model features: one-hot of the ${USER_FEATURES.length} hashed user features (${feature.names.length} columns, vocabulary from this file)`,
      );
    }
    const main = features.length === 0 ? undefined : vectors[features[0]!];
    return {
      logs: { n, k, arm, reward, propensity, ...(main === undefined ? {} : { x: main.x, d: main.d }), position },
      file,
      itemContextFile: hasItemContext ? itemContextFile : null,
      timestampMs,
      featureNames: main?.names ?? [],
      vectors,
      positions: slots.size,
      notes,
    };
  });
}

/**
 * A behaviour policy as a target on other rows: its per-position item frequencies in its own
 * log (`behaviour`), given to each row of `rows` at that row's position. For a policy whose
 * distribution drifts (OBD's Bernoulli TS), this is its time-averaged distribution per slot,
 * which is what the on-policy CTR of its log measures.
 */
export function empiricalPositionPolicy(behaviour: LoggedBandit, rows: LoggedBandit): Float64Array {
  const { k } = behaviour;
  if (behaviour.position === undefined || rows.position === undefined) throw invalidInput('both logs need positions');
  if (rows.k !== k) throw invalidInput(`the logs have different item counts (${k} and ${rows.k})`);
  let slots = 0;
  for (let i = 0; i < behaviour.n; i++) slots = Math.max(slots, behaviour.position[i]! + 1);
  const counts = new Float64Array(slots * k);
  const totals = new Float64Array(slots);
  for (let i = 0; i < behaviour.n; i++) {
    const s = behaviour.position[i]!;
    counts[s * k + behaviour.arm[i]!]! += 1;
    totals[s]! += 1;
  }
  const target = new Float64Array(rows.n * k);
  for (let i = 0; i < rows.n; i++) {
    const s = rows.position[i]!;
    if (s >= slots || totals[s] === 0) throw invalidInput(`row ${i} is at position ${s + 1}, which the behaviour log never shows`);
    for (let a = 0; a < k; a++) target[i * k + a] = counts[s * k + a]! / totals[s]!;
  }
  return target;
}

/**
 * The column names of a CSV's header line (an empty name, like OBD's unnamed index, becomes
 * `column0<j>`). Read directly rather than through DuckDB's sniffer, which spends most of a
 * second on a 40-column file; the read below then declares every column's type itself.
 */
async function csvHeader(file: string, what: string): Promise<string[]> {
  const handle = await open(file, 'r');
  try {
    const chunks: Buffer[] = [];
    const buffer = Buffer.alloc(1 << 16);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      const newline = chunk.indexOf(10);
      chunks.push(Buffer.from(newline >= 0 ? chunk.subarray(0, newline) : chunk));
      if (newline >= 0) break;
    }
    const line = Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
    if (line.trim() === '') throw invalidInput(`${what} ${file} is empty (no header line)`, { details: { file } });
    return line.split(',').map((raw, j) => {
      const name = raw.trim().replace(/^"(.*)"$/, '$1');
      return name === '' ? `column${String(j).padStart(2, '0')}` : name;
    });
  } finally {
    await handle.close();
  }
}

/** read_csv over `file` with every column declared (no sniffing): `types` where given, else VARCHAR. */
function csvSource(file: string, columns: readonly string[], types: Readonly<Record<string, string>>): string {
  const declared = columns.map((c) => `${sqlString(c)}: ${sqlString(types[c] ?? 'VARCHAR')}`).join(', ');
  return `read_csv(${sqlString(file)}, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"', columns = {${declared}})`;
}

function requireColumns(file: string, have: Set<string>, required: readonly string[]): void {
  const missing = required.filter((c) => !have.has(c));
  if (missing.length > 0) {
    throw invalidInput(`Open Bandit log ${file} is missing column(s): ${missing.join(', ')}`, {
      hint: 'expected the Open Bandit Dataset CSV layout: timestamp, item_id, position, click, propensity_score, user_feature_0..3, user-item_affinity_0..K-1',
      details: { file, missing },
    });
  }
}

/** k from item_context.csv: its item_id values must be exactly 0..k-1. */
async function itemCount(db: Db, file: string): Promise<number> {
  const columns = await csvHeader(file, 'item context');
  if (!columns.includes('item_id')) {
    throw invalidInput(`item context ${file} is missing column(s): item_id`, { details: { file, missing: ['item_id'] } });
  }
  let row: { n: bigint; lo: number | null; hi: number | null; distinct_ids: bigint } | undefined;
  try {
    [row] = await db.rows(
      `SELECT count(*) AS n, min(item_id) AS lo, max(item_id) AS hi, count(DISTINCT item_id) AS distinct_ids ` +
        `FROM ${csvSource(file, columns, { item_id: 'INTEGER' })}`,
    );
  } catch (e) {
    throw invalidInput(`item context ${file} cannot be read: ${duckdbMessage(e)}`, { details: { file } });
  }
  const n = Number(row?.n ?? 0);
  if (n === 0 || row?.lo !== 0 || row.hi !== n - 1 || Number(row.distinct_ids) !== n) {
    throw invalidInput(`item context ${file}: item_id must run over 0..${n - 1} once each`, { details: { file } });
  }
  return n;
}

type BadValue = (row: number, column: string, value: unknown, what: string) => Error;

function affinityFeatures(cols: unknown[][], names: string[], n: number, bad: BadValue): { x: Float64Array; names: string[] } {
  const d = cols.length;
  const x = new Float64Array(n * d);
  for (let j = 0; j < d; j++) {
    const col = cols[j]!;
    for (let i = 0; i < n; i++) {
      const v = col[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(i, names[j]!, v, 'is not a finite number');
      x[i * d + j] = v;
    }
  }
  return { x, names };
}

function userOneHot(cols: unknown[][], n: number, bad: BadValue): { x: Float64Array; names: string[] } {
  const vocab = cols.map((col, j) => {
    const values = new Set<string>();
    for (let i = 0; i < n; i++) {
      const v = col[i];
      if (typeof v !== 'string' || v === '') throw bad(i, USER_FEATURES[j]!, v, 'is missing');
      values.add(v);
    }
    return [...values].sort();
  });
  const offsets: number[] = [];
  const names: string[] = [];
  vocab.forEach((values, j) => {
    offsets.push(names.length);
    for (const v of values) names.push(`${USER_FEATURES[j]}=${v.slice(0, 8)}`);
  });
  const d = names.length;
  const index = vocab.map((values) => new Map(values.map((v, i) => [v, i])));
  const x = new Float64Array(n * d);
  for (let j = 0; j < cols.length; j++) {
    for (let i = 0; i < n; i++) x[i * d + offsets[j]! + index[j]!.get(cols[j]![i] as string)!] = 1;
  }
  return { x, names };
}

/**
 * The items' own features from `item_context.csv` (k × d, row-major, by item_id): numeric
 * columns as they are, the others (hashed categoricals) one-hot over their values (sorted). For
 * a reward model pooled over the items (evaluation/pooled-reward-model.ts).
 */
export async function readItemFeatures(file: string, k: number): Promise<{ x: Float64Array; names: string[] }> {
  return withDb(':memory:', async (db) => {
    const columns = await csvHeader(file, 'item context');
    const featureColumns = columns.filter((c) => c !== '' && c !== 'item_id');
    let cols: unknown[][];
    try {
      const types = Object.fromEntries(columns.map((c) => [c, c === 'item_id' ? 'INTEGER' : 'VARCHAR']));
      const reader = await db.connection.runAndReadAll(`SELECT item_id, ${featureColumns.map(sqlIdent).join(', ')} FROM ${csvSource(file, columns, types)} ORDER BY item_id`);
      cols = reader.getColumnsJS() as unknown[][];
    } catch (e) {
      throw invalidInput(`item context ${file} cannot be read: ${duckdbMessage(e)}`, { details: { file } });
    }
    const ids = cols.shift() ?? [];
    // Row i must be item i: features are attached to items by position.
    if (ids.length !== k || ids.some((id, i) => id !== i)) throw invalidInput(`item context ${file}: item_id must run over 0..${k - 1} once each, for the log's ${k} items`, { details: { file } });
    const parts: { names: string[]; value: (item: number, j: number) => number }[] = [];
    featureColumns.forEach((name, c) => {
      const raw = cols[c]!.map((v) => (typeof v === 'string' ? v : ''));
      const numbers = raw.map((v) => (v.trim() === '' ? Number.NaN : Number(v)));
      if (numbers.every((v) => Number.isFinite(v))) {
        parts.push({ names: [name], value: (item) => numbers[item]! });
      } else {
        const vocab = [...new Set(raw)].sort();
        parts.push({ names: vocab.map((v) => `${name}=${v.slice(0, 8)}`), value: (item, j) => (raw[item] === vocab[j] ? 1 : 0) });
      }
    });
    const names = parts.flatMap((p) => p.names);
    const d = names.length;
    const x = new Float64Array(k * d);
    for (let item = 0; item < k; item++) {
      let o = 0;
      for (const p of parts) for (let j = 0; j < p.names.length; j++) x[item * d + o++] = p.value(item, j);
    }
    return { x, names };
  });
}
