/**
 * DuckDB at the edge: opening databases, quoting, and running a unit of work on a connection
 * that is always closed. Pipelines speak SQL through this module only.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** An open database and one connection to it. */
export interface Db {
  connection: DuckDBConnection;
  /** Runs statements (no result). */
  run(sql: string): Promise<void>;
  /** Runs a query and returns its rows as plain JS objects (BIGINT → bigint, TIMESTAMP → Date). */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  close(): void;
}

/**
 * Opens `path` (a file, or ':memory:') with optional DuckDB settings, in UTC: DuckDB otherwise
 * takes the machine's zone for casts of TIMESTAMP WITH TIME ZONE (as pyarrow and Spark write an
 * event's `ts`) and for `::DATE`, so the same log built different features on another machine.
 * (Set after connecting: as a setting at create, it needs the icu extension loaded first.)
 */
export async function openDb(path: string, settings: Record<string, string> = {}): Promise<Db> {
  const instance = await DuckDBInstance.create(path, settings);
  const connection = await instance.connect();
  try {
    await connection.run("SET TimeZone = 'UTC'");
  } catch (e) {
    connection.closeSync();
    instance.closeSync();
    throw e;
  }
  return {
    connection,
    run: async (sql) => {
      await connection.run(sql);
    },
    rows: async <T,>(sql: string) => (await connection.runAndReadAll(sql)).getRowObjectsJS() as T[],
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** Opens a database, runs `work`, and always closes it. */
export async function withDb<T>(
  path: string,
  work: (db: Db) => Promise<T>,
  settings: Record<string, string> = {},
): Promise<T> {
  const db = await openDb(path, settings);
  try {
    return await work(db);
  } finally {
    db.close();
  }
}

/** A SQL string literal ('…' with quotes doubled). */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A SQL identifier ("…" with quotes doubled). */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A TIMESTAMP literal for a JS date (UTC, millisecond precision). */
export function sqlTimestamp(d: Date): string {
  return `TIMESTAMP '${d.toISOString().replace('T', ' ').replace('Z', '')}'`;
}

/**
 * True for an error DuckDB raised about the data or the query (`Conversion Error: …`, `Invalid
 * Input Error: …`, `Binder Error: …`): what a bad input file causes, as opposed to a bug of ours.
 */
export function isDuckDbError(e: unknown): boolean {
  return e instanceof Error && /^[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)* Error: /.test(e.message);
}

/** Strips DuckDB's multi-line context (LINE 1: … ^) from an error, keeping the first line. */
export function duckdbMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!.trim();
}
