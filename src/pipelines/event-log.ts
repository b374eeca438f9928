/**
 * The event log at rest: one Parquet file per event type and UTC day,
 *
 *   <events>/<event type>/day=YYYY-MM-DD/events.parquet   (+ <events>/users.parquet, optional)
 *
 * Columns are derived from the event schemas (events/schemas.ts): strings → VARCHAR, date-time
 * strings → TIMESTAMP (UTC), integers → INTEGER, numbers → DOUBLE, booleans → BOOLEAN, objects →
 * STRUCT. The `type` field is implied by the folder and not stored. Reading validates every file
 * against the derived columns and names the file and column that do not match. A field the schema
 * does not require (one added later, like tip.served's `features`) may be missing from a file
 * written before it existed: it reads as NULL there. New files always carry every column.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import type { TSchema } from 'typebox';
import { invalidInput, notFound } from '../errors.js';
import { EVENT_SCHEMAS, EVENT_TYPES, type EventType, type OoEvent } from '../events/schemas.js';
import { exists, replaceDirAtomic } from '../io/atomic.js';
import { duckdbMessage, sqlString, type Db } from '../io/duckdb.js';

/** A stored column: its name and DuckDB type. */
export interface EventColumn {
  name: string;
  sqlType: string;
  /** In the schema's `required`: every file must hold it (an optional one reads as NULL where missing). */
  required: boolean;
}

/** SQL table/view name of an event type (`tip.served` → `tip_served`). */
export function eventTable(type: EventType): string {
  return type.replace('.', '_');
}

interface JsonSchemaNode {
  type?: string;
  required?: string[];
  format?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchemaNode[];
  properties?: Record<string, JsonSchemaNode>;
}

/** DuckDB type of a schema node (nullable unions collapse to their non-null branch). */
function sqlTypeOf(node: JsonSchemaNode): string {
  if (node.anyOf !== undefined) {
    const branches = node.anyOf.filter((b) => b.type !== 'null');
    const types = new Set(branches.map(sqlTypeOf));
    if (types.size !== 1) throw new Error(`event schema union of ${[...types].join(', ')} has no single column type`);
    return [...types][0]!;
  }
  if (node.enum !== undefined && node.enum.every((v) => typeof v === 'string')) return 'VARCHAR';
  switch (node.type) {
    case 'string':
      return node.format === 'date-time' ? 'TIMESTAMP' : 'VARCHAR';
    case 'integer':
      return 'INTEGER';
    case 'number':
      return 'DOUBLE';
    case 'boolean':
      return 'BOOLEAN';
    case 'object': {
      const fields = Object.entries(node.properties ?? {}).map(([k, v]) => `${k} ${sqlTypeOf(v)}`);
      return `STRUCT(${fields.join(', ')})`;
    }
    default:
      throw new Error(`event schema node of type ${String(node.type)} has no column type`);
  }
}

/** Stored columns of an event type, in schema order (without `type`). */
export function eventColumns(type: EventType): EventColumn[] {
  const schema = EVENT_SCHEMAS[type] as TSchema as JsonSchemaNode;
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {})
    .filter(([name]) => name !== 'type')
    .map(([name, node]) => ({ name, sqlType: sqlTypeOf(node), required: required.has(name) }));
}

/** `{name: 'TYPE', …}` for DuckDB's read_json `columns` argument. */
function jsonColumnsArg(type: EventType): string {
  return `{${eventColumns(type)
    .map((c) => `${sqlString(c.name)}: ${sqlString(c.sqlType)}`)
    .join(', ')}}`;
}

/** Summary of a written event log. */
export interface EventLogSummary {
  dir: string;
  counts: Record<EventType, number>;
  days: string[];
  files: number;
}

/**
 * Writes `events` as the event log at `dir`, replacing what was there atomically. Rows are
 * ordered by (ts, event_id) and DuckDB runs single-threaded here, so the same events give
 * byte-identical files. `users` rows, when given, become users.parquet.
 */
export async function writeEventLog(
  db: Db,
  dir: string,
  events: Iterable<OoEvent>,
  users: readonly { user_id: string; persona: string; segment: string }[] | null,
  tmpDir: string,
): Promise<EventLogSummary> {
  await mkdir(tmpDir, { recursive: true });
  const staged = new Map<EventType, string[]>();
  // DuckDB's read_json drops a numeric UTC offset when parsing into TIMESTAMP, so every time is
  // normalised to UTC ('…Z') here first.
  const timeFields = Object.fromEntries(
    EVENT_TYPES.map((t) => [t, eventColumns(t).filter((c) => c.sqlType === 'TIMESTAMP').map((c) => c.name)]),
  ) as Record<EventType, string[]>;
  for (const e of events) {
    let lines = staged.get(e.type);
    if (lines === undefined) staged.set(e.type, (lines = []));
    const { type: _type, ...rest } = e;
    const row = rest as Record<string, unknown>;
    for (const f of timeFields[e.type]) {
      const v = row[f];
      if (typeof v === 'string' && !v.endsWith('Z')) row[f] = new Date(v).toISOString();
    }
    lines.push(JSON.stringify(row));
  }
  return replaceDirAtomic(
    dir,
    async (out) => {
      await db.run('SET threads = 1');
      const counts = Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>;
      const days = new Set<string>();
      let files = 0;
      for (const type of EVENT_TYPES) {
        const lines = staged.get(type) ?? [];
        counts[type] = lines.length;
        if (lines.length === 0) continue;
        const ndjson = join(out, `.${type}.ndjson`);
        await writeFile(ndjson, lines.join('\n') + '\n');
        const table = `stage_${eventTable(type)}`;
        await db.run(
          `CREATE OR REPLACE TEMP TABLE ${table} AS SELECT * FROM read_json(${sqlString(ndjson)}, ` +
            `format = 'newline_delimited', columns = ${jsonColumnsArg(type)})`,
        );
        const dayRows = await db.rows<{ day: string }>(
          `SELECT DISTINCT strftime(ts, '%Y-%m-%d') AS day FROM ${table} ORDER BY day`,
        );
        for (const { day } of dayRows) {
          const partDir = join(out, type, `day=${day}`);
          await mkdir(partDir, { recursive: true });
          await db.run(
            `COPY (SELECT * FROM ${table} WHERE strftime(ts, '%Y-%m-%d') = ${sqlString(day)} ORDER BY ts, event_id) ` +
              `TO ${sqlString(join(partDir, 'events.parquet'))} (FORMAT parquet)`,
          );
          days.add(day);
          files++;
        }
        await db.run(`DROP TABLE ${table}`);
        await rmQuiet(ndjson);
      }
      if (users !== null) {
        const ndjson = join(out, '.users.ndjson');
        await writeFile(ndjson, users.map((u) => JSON.stringify(u)).join('\n') + '\n');
        await db.run(
          `COPY (SELECT * FROM read_json(${sqlString(ndjson)}, format = 'newline_delimited', ` +
            `columns = {user_id: 'VARCHAR', persona: 'VARCHAR', segment: 'VARCHAR'}) ORDER BY user_id) ` +
            `TO ${sqlString(join(out, 'users.parquet'))} (FORMAT parquet)`,
        );
        await rmQuiet(ndjson);
      }
      await db.run('RESET threads');
      return { dir, counts, days: [...days].sort(), files };
    },
    { tmpDir, kind: 'event-log' },
  );
}

async function rmQuiet(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** Type family used to decide whether a stored column can be read as the expected one. */
function family(sqlType: string): string {
  const t = sqlType.trim().toUpperCase();
  if (t.startsWith('STRUCT')) return 'STRUCT';
  if (/^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|INT[1248])$/.test(t)) return 'INT';
  if (/^(DOUBLE|FLOAT|REAL|DECIMAL.*)$/.test(t)) return 'FLOAT';
  if (t.startsWith('TIMESTAMP')) return 'TIMESTAMP';
  if (t === 'VARCHAR' || t === 'TEXT' || t === 'STRING') return 'VARCHAR';
  if (t === 'BOOLEAN' || t === 'BOOL') return 'BOOLEAN';
  return t;
}

/** Field name → type of a STRUCT(...) type string, split at top-level commas. */
function structFields(sqlType: string): Map<string, string> {
  const inner = sqlType.slice(sqlType.indexOf('(') + 1, sqlType.lastIndexOf(')'));
  const fields = new Map<string, string>();
  let depth = 0;
  let start = 0;
  const parts: string[] = [];
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(inner.slice(start));
  for (const part of parts) {
    const m = /^\s*("(?:[^"]|"")*"|\S+)\s+(.+)$/.exec(part);
    if (m === null) continue;
    fields.set(m[1]!.replace(/^"|"$/g, '').replaceAll('""', '"'), m[2]!.trim());
  }
  return fields;
}

/** Problems reading a stored column as the expected column (empty when compatible). */
function columnProblems(expected: Pick<EventColumn, 'name' | 'sqlType'>, actualType: string | undefined): string[] {
  if (actualType === undefined) return [`missing column "${expected.name}" (${expected.sqlType})`];
  const want = family(expected.sqlType);
  const got = family(actualType);
  if (want !== got) return [`column "${expected.name}" is ${actualType}, expected ${expected.sqlType}`];
  if (want !== 'STRUCT') return [];
  const have = structFields(actualType);
  const problems: string[] = [];
  for (const [field, type] of structFields(expected.sqlType)) {
    for (const p of columnProblems({ name: field, sqlType: type }, have.get(field))) {
      problems.push(p.replace(`"${field}"`, `"${expected.name}.${field}"`));
    }
  }
  return problems;
}

/** The Parquet files of an event type in the log at `dir`, sorted. */
async function eventFiles(dir: string, type: EventType): Promise<string[]> {
  const typeDir = join(dir, type);
  if (!(await exists(typeDir))) return [];
  const files: string[] = [];
  for (const entry of (await readdir(typeDir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() || !entry.name.startsWith('day=')) continue;
    for (const f of (await readdir(join(typeDir, entry.name))).sort()) {
      if (f.endsWith('.parquet')) files.push(join(typeDir, entry.name, f));
    }
  }
  return files;
}

/** Bytes at the end of each file a fingerprint reads: a Parquet file's footer (its row groups' sizes and statistics) is there. */
const FINGERPRINT_TAIL_BYTES = 65_536;

/**
 * A fingerprint of the event log at `dir` as of `asOf`: every event file of a day up to the
 * as-of's (later ones cannot change a build as of it) and the users file, each by its path, size
 * and the end of its content. Cheap (no full read), and changed by any rewrite, new batch or
 * other log put in place: the training set compares it with the warehouse's to refuse joining a
 * log the features were not built from.
 */
export async function eventLogFingerprint(dir: string, asOf: Date): Promise<string> {
  // The days a build as of `asOf` reads: before the as-of's day, and that day too unless the
  // as-of is its midnight (the default as-of is the midnight after the last day with events, and
  // the next morning's first batch must not count as a change).
  const day = `day=${asOf.toISOString().slice(0, 10)}`;
  const midnight = asOf.getTime() % 86_400_000 === 0;
  const read = (folder: string): boolean => (midnight ? folder < day : folder <= day);
  const files: string[] = [];
  for (const type of EVENT_TYPES) for (const f of await eventFiles(dir, type)) if (read(basename(dirname(f)))) files.push(f);
  const users = join(dir, 'users.parquet');
  if (await exists(users)) files.push(users);
  const hash = createHash('sha256');
  for (const file of files) {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, FINGERPRINT_TAIL_BYTES);
      const tail = Buffer.alloc(length);
      await handle.read(tail, 0, length, size - length);
      hash.update(`${relative(dir, file)}\0${size}\0`).update(tail);
    } finally {
      await handle.close();
    }
  }
  return hash.digest('hex');
}

/** What `attachEventLog` found. */
export interface AttachedEventLog {
  /** Events per type, each event id once. */
  counts: Record<EventType, number>;
  /** Rows per type left unread as later copies of an event id already read (the same event stored twice). */
  copies: Record<EventType, number>;
  /**
   * Per type with any: event ids whose copies differ in more than their time (the id re-sent
   * with other contents), how many, and the first such id. Only the first copy is read.
   */
  differingCopies: Partial<Record<EventType, { ids: number; example: string }>>;
  files: number;
  hasUsers: boolean;
}

/** Columns every event of a type that has them needs: a row without one is not an event. */
const KEY_COLUMNS = ['event_id', 'ts', 'user_id', 'serve_id'] as const;

/**
 * Reads the key columns of `files` (one type, one schema group) and counts their rows. A row
 * without a key, or whose time is not on its file's `day=` folder (a damaged data page read a
 * reaction as 1969), fails naming a file; so does a file DuckDB cannot decode, found by reading
 * the files one at a time once the group failed (a data page damaged past its header passes the
 * schema check, and DuckDB's error names no file).
 */
async function checkRows(db: Db, type: EventType, files: readonly string[], keys: readonly string[]): Promise<number> {
  const missing = keys.map((k) => `${k} IS NULL`).join(' OR ');
  const misplaced = 'day IS NOT NULL AND CAST(ts AS DATE) <> day';
  const query = (of: readonly string[]) =>
    db.rows<{ n: bigint; missing: bigint; misplaced: bigint; missing_file: string | null; misplaced_file: string | null }>(`
      WITH r AS (
        SELECT ${keys.join(', ')}, filename, TRY_CAST(regexp_extract(filename, 'day=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) AS DATE) AS day
        FROM read_parquet([${of.map(sqlString).join(', ')}], filename = true))
      SELECT count(*) AS n,
        count(*) FILTER (WHERE ${missing}) AS missing, any_value(filename) FILTER (WHERE ${missing}) AS missing_file,
        count(*) FILTER (WHERE ${misplaced}) AS misplaced, any_value(filename) FILTER (WHERE ${misplaced}) AS misplaced_file
      FROM r`);
  let rows;
  try {
    rows = await query(files);
  } catch (e) {
    for (const file of files) {
      try {
        await query([file]);
      } catch (fileError) {
        throw invalidInput(`event file ${file} cannot be read: ${duckdbMessage(fileError)}`, { hint: 'remove or regenerate the file', details: { file } });
      }
    }
    throw invalidInput(`event files of ${type} cannot be read together: ${duckdbMessage(e)}`, { details: { type } });
  }
  const row = rows[0]!;
  if (row.missing > 0n) {
    throw invalidInput(`event file ${row.missing_file} has ${row.missing} row(s) without ${keys.join(', ')} (each ${type} event needs them)`, {
      hint: 'remove or regenerate the file',
      details: { file: row.missing_file, rows: Number(row.missing) },
    });
  }
  if (row.misplaced > 0n) {
    throw invalidInput(`event file ${row.misplaced_file} has ${row.misplaced} event(s) whose ts is not on the day of its day= folder (a damaged file, or one put in the wrong folder)`, {
      hint: 'remove or regenerate the file',
      details: { file: row.misplaced_file, rows: Number(row.misplaced) },
    });
  }
  return Number(row.n);
}

/**
 * How many of the `rows` rows of `view` repeat an event id. First the ids' 64-bit hashes, sorted,
 * are compared with their neighbours, cheaper than a distinct count of the ids themselves
 * (bench:features, "The event log read once per event id"); only when two hashes are equal, a
 * copy or (rarely) two ids that share a hash, are the ids counted.
 */
async function extraCopies(db: Db, view: string, rows: number): Promise<number> {
  const [pairs] = await db.rows<{ n: bigint }>(
    `SELECT count(*) AS n FROM (SELECT h, lag(h) OVER (ORDER BY h) AS before FROM (SELECT hash(event_id) AS h FROM ${view})) WHERE h = before`,
  );
  if (pairs!.n === 0n) return 0;
  const [ids] = await db.rows<{ d: bigint }>(`SELECT count(DISTINCT event_id) AS d FROM ${view}`);
  return rows - Number(ids!.d);
}

/**
 * Event ids of `view` stored more than once whose copies hold two values of a column other than
 * `ts` (a re-stamped retry differs only there): how many, and the first. A NULL is no value, so
 * a copy in a file of an older schema (NULL for the columns it lacks) is not a difference. Run
 * only when there are copies.
 */
async function differingCopies(db: Db, view: string, columns: readonly string[]): Promise<{ ids: number; example: string } | null> {
  const compared = columns.filter((c) => c !== 'ts' && c !== 'event_id');
  if (compared.length === 0) return null;
  const [row] = await db.rows<{ n: bigint; example: string | null }>(
    `SELECT count(*) AS n, min(event_id) AS example FROM (SELECT event_id FROM ${view} GROUP BY event_id ` +
      `HAVING count(*) > 1 AND (${compared.map((c) => `count(DISTINCT "${c}") > 1`).join(' OR ')}))`,
  );
  return row!.n === 0n ? null : { ids: Number(row!.n), example: row!.example! };
}

/** Throws `not_found` naming the event log folder `dir` when there is none (before a command makes any folder). */
export async function requireEventLog(dir: string): Promise<void> {
  if (!(await exists(dir))) {
    throw notFound(`event log folder ${dir} does not exist`, {
      hint: 'run `oo-ml data synth` (or `oo-ml ingest`) first, or pass --home',
    });
  }
}

/**
 * One row per serve of the `tip_served` view, of those `where` admits: a serve logged twice under
 * two event ids (a publish retried by hand, a file copied into the log) is its first copy by time,
 * then event id, as the server's fold keeps it.
 */
export function servesOnceSql(where = 'true'): string {
  return `SELECT * FROM tip_served WHERE ${where} QUALIFY row_number() OVER (PARTITION BY serve_id ORDER BY ts, event_id) = 1`;
}

/**
 * Validates the event log at `dir` and creates one view per event type (`eventTable`:
 * `tip_served`, `tip_reaction`, `tip_reward`, `task_created`, `task_completed`,
 * `learning_reset`), plus `users`, on `db`. A type without files gets an empty view; an optional
 * column a file lacks reads as NULL. Each event id is read once: ingest stores an event once per
 * day, but the same id on two days (a client that re-stamped a retry) or a file copied into the
 * log would otherwise count twice. Throws `not_found` for a missing folder and `invalid_input`
 * naming the file for an unreadable file, a missing required column or a mistyped column, or a
 * log without any event.
 */
export async function attachEventLog(db: Db, dir: string): Promise<AttachedEventLog> {
  await requireEventLog(dir);
  const counts = Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>;
  const copies = { ...counts };
  const differing: AttachedEventLog['differingCopies'] = {};
  let fileCount = 0;
  for (const type of EVENT_TYPES) {
    const expected = eventColumns(type);
    const files = await eventFiles(dir, type);
    fileCount += files.length;
    // Files grouped by the optional columns they lack (written before those fields existed):
    // one read_parquet per group, which selects NULL for them.
    const groups = new Map<string, { missing: Set<string>; files: string[] }>();
    for (const file of files) {
      let described: { column_name: string; column_type: string }[];
      try {
        described = await db.rows(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`);
      } catch (e) {
        throw invalidInput(`event file ${file} cannot be read: ${duckdbMessage(e)}`, {
          hint: 'remove or regenerate the file',
          details: { file },
        });
      }
      const actual = new Map(described.map((d) => [d.column_name, d.column_type]));
      const missing = expected.filter((c) => !c.required && !actual.has(c.name)).map((c) => c.name);
      const problems = expected.filter((c) => !missing.includes(c.name)).flatMap((c) => columnProblems(c, actual.get(c.name)));
      if (problems.length > 0) {
        throw invalidInput(`event file ${file} does not match the ${type} schema: ${problems.join('; ')}`, {
          details: { file, problems },
        });
      }
      const key = missing.join(',');
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = { missing: new Set(missing), files: [] }));
      group.files.push(file);
    }
    const view = eventTable(type);
    if (files.length === 0) {
      const empty = expected.map((c) => `CAST(NULL AS ${c.sqlType}) AS ${c.name}`).join(', ');
      await db.run(`CREATE OR REPLACE TEMP VIEW ${view} AS SELECT ${empty} WHERE false`);
    } else {
      // Where each row is stored (file, row) is read only to choose among copies: read always, it
      // cost every query of the view (bench:features).
      const union = (withPlace: boolean): string =>
        [...groups.values()]
          .map((g) => {
            const select = expected
              .map((c) => `CAST(${g.missing.has(c.name) ? 'NULL' : c.name} AS ${c.sqlType}) AS ${c.name}`)
              .join(', ');
            const files = `[${g.files.map(sqlString).join(', ')}]`;
            return withPlace
              ? `SELECT ${select}, filename, file_row_number FROM read_parquet(${files}, filename = true, file_row_number = true)`
              : `SELECT ${select} FROM read_parquet(${files})`;
          })
          .join(' UNION ALL ');
      await db.run(`CREATE OR REPLACE TEMP VIEW ${view} AS ${union(false)}`);
      const keys = KEY_COLUMNS.filter((k) => expected.some((c) => c.name === k));
      let rows = 0;
      for (const g of groups.values()) rows += await checkRows(db, type, g.files, keys);
      const extra = await extraCopies(db, view, rows);
      if (extra > 0) {
        const differ = await differingCopies(db, view, expected.map((c) => c.name));
        if (differ !== null) differing[type] = differ;
        // Read once per event id, the first copy by time, then by where it is stored (file, row):
        // ingest keeps the first too, and a copy's time is all that may tell two apart.
        await db.run(
          `CREATE OR REPLACE TEMP VIEW ${view} AS SELECT * EXCLUDE (filename, file_row_number) FROM (${union(true)}) ` +
            `QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ts, filename, file_row_number) = 1`,
        );
      }
      counts[type] = rows - extra;
      copies[type] = extra;
    }
  }
  if (Object.values(counts).every((n) => n === 0)) {
    throw invalidInput(`event log ${dir} holds no events`, {
      hint: 'generate events with `oo-ml data synth` or ingest them with `oo-ml ingest`',
      details: { dir, empty: true },
    });
  }
  const usersFile = join(dir, 'users.parquet');
  const hasUsers = await exists(usersFile);
  if (hasUsers) {
    try {
      await db.run(
        `CREATE OR REPLACE TEMP VIEW users AS SELECT CAST(user_id AS VARCHAR) AS user_id, ` +
          `CAST(segment AS VARCHAR) AS segment FROM read_parquet(${sqlString(usersFile)})`,
      );
      await db.rows('SELECT count(*) FROM users');
    } catch (e) {
      throw invalidInput(`user file ${usersFile} cannot be read: ${duckdbMessage(e)}`, {
        hint: 'it needs VARCHAR columns user_id and segment',
      });
    }
  } else {
    await db.run(`CREATE OR REPLACE TEMP VIEW users AS SELECT CAST(NULL AS VARCHAR) AS user_id, CAST(NULL AS VARCHAR) AS segment WHERE false`);
  }
  return { counts, copies, differingCopies: differing, files: fileCount, hasUsers };
}
