/**
 * The event log's columns as the schemas give them: optional fields (tip.served's features,
 * experiment and variant) read as NULL from files written before they existed, required ones are
 * still refused naming file and column, and every event type has its folder and view.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, type OoEvent } from '../../src/events/schemas.js';
import { sqlString, withDb } from '../../src/io/duckdb.js';
import { attachEventLog, eventColumns, eventTable, writeEventLog } from '../../src/pipelines/event-log.js';
import { everyEventType, reacted, served, serveFeatures } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';

const OPTIONAL = ['features', 'experiment', 'variant'];

describe('event log columns', () => {
  it('derive from the schemas: the optional fields of tip.served are its only columns not required', () => {
    for (const t of EVENT_TYPES) {
      const optional = eventColumns(t).filter((c) => !c.required).map((c) => c.name);
      expect(optional, t).toEqual(t === 'tip.served' ? OPTIONAL : []);
    }
    const features = eventColumns('tip.served').find((c) => c.name === 'features')!;
    expect(features.sqlType).toMatch(/^STRUCT\(has_profile BOOLEAN, /);
    for (const name of Object.keys(serveFeatures())) expect(features.sqlType).toContain(`${name} `);
  });

  it('reads a tip.served file written before features, experiment and variant existed, with NULLs', async () => {
    const h = await tempHome();
    const before = served('a', '2026-01-05T09:00:00.000Z', 's-old');
    const after = { ...served('a', '2026-01-05T10:00:00.000Z', 's-new'), features: serveFeatures(), experiment: 'exp-1', variant: null };
    await withDb(':memory:', (db) => writeEventLog(db, h.events, [before, after], null, h.tmp));
    const dayDir = join(h.events, 'tip.served', 'day=2026-01-05');
    // Split the day into the file an earlier oo-ml wrote (without the new columns) and a new one.
    await withDb(':memory:', async (db) => {
      const file = sqlString(join(dayDir, 'events.parquet'));
      await db.run(`CREATE TABLE t AS SELECT * FROM read_parquet(${file}, hive_partitioning = false)`);
      await db.run(`COPY (SELECT * EXCLUDE (${OPTIONAL.join(', ')}) FROM t WHERE serve_id = 's-old') TO ${file} (FORMAT parquet)`);
      await db.run(`COPY (SELECT * FROM t WHERE serve_id = 's-new') TO ${sqlString(join(dayDir, 'ingest-new.parquet'))} (FORMAT parquet)`);
      const [old] = await db.rows<{ n: bigint }>(`SELECT count(*) AS n FROM (DESCRIBE SELECT * FROM read_parquet(${file})) WHERE column_name IN ('features', 'experiment', 'variant')`);
      expect(old?.n).toBe(0n);
    });
    const rows = await withDb(':memory:', async (db) => {
      expect((await attachEventLog(db, h.events)).counts['tip.served']).toBe(2);
      return db.rows<Record<string, unknown>>('SELECT serve_id, features, experiment, variant FROM tip_served ORDER BY serve_id');
    });
    expect(rows).toEqual([
      { serve_id: 's-new', features: serveFeatures(), experiment: 'exp-1', variant: null },
      { serve_id: 's-old', features: null, experiment: null, variant: null },
    ]);
  });

  it('still refuses a file without a required column, or with an optional column of the wrong type, naming file and column', async () => {
    const h = await tempHome();
    await withDb(':memory:', (db) => writeEventLog(db, h.events, [served('a', '2026-01-05T09:00:00.000Z', 's1')], null, h.tmp));
    const file = join(h.events, 'tip.served', 'day=2026-01-05', 'events.parquet');
    const rewrite = (select: string) =>
      withDb(':memory:', async (db) => {
        await db.run(`CREATE TABLE t AS SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false)`);
        await db.run(`COPY (SELECT ${select} FROM t) TO ${sqlString(file)} (FORMAT parquet)`);
      });
    const attach = () => withDb(':memory:', (db) => attachEventLog(db, h.events));

    await rewrite('* EXCLUDE (shadow, features)');
    await expect(attach()).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/events\.parquet does not match the tip\.served schema: missing column "shadow" \(BOOLEAN\)$/) });
    await rewrite('*, false AS shadow');
    await expect(attach()).resolves.toMatchObject({ counts: { 'tip.served': 1 } });
    await rewrite('* REPLACE (42 AS experiment)');
    await expect(attach()).rejects.toMatchObject({ message: expect.stringContaining('column "experiment" is INTEGER, expected VARCHAR') });
  });

  it('refuses rows without a key, an event off its day= folder and a damaged data page, naming the file', async () => {
    const h = await tempHome();
    const events = Array.from({ length: 20 }, (_, i) => [
      served('a', `2026-01-05T0${i % 9}:00:00.000Z`, `s${i}`),
      reacted('a', `2026-01-05T0${i % 9}:00:30.000Z`, `s${i}`, 'completed', 1000),
    ]).flat();
    await withDb(':memory:', (db) => writeEventLog(db, h.events, events, null, h.tmp));
    const file = join(h.events, 'tip.reaction', 'day=2026-01-05', 'events.parquet');
    const original = await readFile(file);
    const rewrite = (select: string) =>
      withDb(':memory:', async (db) => {
        await db.run(`CREATE TABLE t AS SELECT * FROM read_parquet(${sqlString(file)}, hive_partitioning = false)`);
        await db.run(`COPY (SELECT ${select} FROM t) TO ${sqlString(file)} (FORMAT parquet)`);
      });
    const attach = () => withDb(':memory:', (db) => attachEventLog(db, h.events));
    await expect(attach()).resolves.toMatchObject({ counts: { 'tip.reaction': 20 } });

    // A user that is no one: it would have become a user of its own.
    await rewrite(`* REPLACE (CASE WHEN serve_id = 's3' THEN NULL ELSE user_id END AS user_id)`);
    await expect(attach()).rejects.toMatchObject({ code: 'invalid_input', message: `event file ${file} has 1 row(s) without event_id, ts, user_id, serve_id (each tip.reaction event needs them)` });
    // A reaction a day early (as a damaged page read one as 1969): it would have been dropped or mislabelled.
    await writeFile(file, original);
    await rewrite(`* REPLACE (CASE WHEN serve_id = 's3' THEN ts - INTERVAL 1 DAY ELSE ts END AS ts)`);
    await expect(attach()).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining(`event file ${file} has 1 event(s) whose ts is not on the day of its day= folder`) });
    // Bytes overwritten inside a data page: the schema reads, the data does not, and DuckDB's
    // own error names no file.
    const damaged = Buffer.from(original);
    damaged.fill(0xff, 250, 266);
    await writeFile(file, damaged);
    await expect(attach()).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining(`event file ${file} cannot be read: `) });
  });

  it('gives every event type its folder and view, learning.reset included; the counts add up', async () => {
    const h = await tempHome();
    const events: OoEvent[] = everyEventType('a');
    const written = await withDb(':memory:', (db) => writeEventLog(db, h.events, events, null, h.tmp));
    expect(await readdir(h.events)).toEqual(expect.arrayContaining(EVENT_TYPES));
    expect(await readdir(join(h.events, 'learning.reset'))).toEqual(['day=2026-01-05']);
    const attached = await withDb(':memory:', async (db) => {
      const a = await attachEventLog(db, h.events);
      expect(await db.rows(`SELECT event_id, reason FROM ${eventTable('learning.reset')}`)).toEqual([
        { event_id: events.find((e) => e.type === 'learning.reset')!.event_id, reason: 'reset by a' },
      ]);
      return a;
    });
    expect(attached.counts).toEqual(written.counts);
    expect(attached.counts['learning.reset']).toBe(1);
    expect(Object.values(attached.counts).reduce((a, b) => a + b, 0)).toBe(events.length);
  });

  it('reads an empty type (no folder) as an empty view with every column', async () => {
    const h = await tempHome();
    await mkdir(h.events, { recursive: true });
    await withDb(':memory:', (db) => writeEventLog(db, h.events, [served('a', '2026-01-05T09:00:00.000Z', 's1')], null, h.tmp));
    const columns = await withDb(':memory:', async (db) => {
      await attachEventLog(db, h.events);
      return db.rows<{ column_name: string }>(`DESCRIBE SELECT * FROM ${eventTable('learning.reset')}`);
    });
    expect(columns.map((c) => c.column_name)).toEqual(eventColumns('learning.reset').map((c) => c.name));
  });
});
