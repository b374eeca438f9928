/**
 * DuckDB runs in UTC whatever the machine's zone: an event time stored WITH TIME ZONE (as
 * pyarrow and Spark write it) is the same instant, and falls on the same UTC day, on every
 * machine. DuckDB takes the host's zone once per process, so the check runs in a child process
 * started under another zone.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const DUCKDB = join(import.meta.dirname, '..', '..', 'dist', 'io', 'duckdb.js');

const PROBE = `
const { withDb } = await import(${JSON.stringify(DUCKDB)});
const rows = await withDb(':memory:', (db) => db.rows(\`
  SELECT current_setting('TimeZone') AS zone,
         CAST(TIMESTAMPTZ '2026-01-10 02:00:00+00' AS TIMESTAMP)::VARCHAR AS ts,
         CAST(TIMESTAMPTZ '2026-01-10 02:00:00+00' AS DATE)::VARCHAR AS day\`));
process.stdout.write(JSON.stringify(rows[0]));
`;

it('reads a time zone-aware instant as UTC under any machine zone', async () => {
  for (const zone of ['America/New_York', 'Asia/Kolkata']) {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', PROBE], { env: { ...process.env, TZ: zone } });
    expect(JSON.parse(stdout), zone).toEqual({ zone: 'UTC', ts: '2026-01-10 02:00:00', day: '2026-01-10' });
  }
});
