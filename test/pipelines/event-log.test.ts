/**
 * The event log's columns as the schemas give them: optional fields (tip.served's features,
 * experiment and variant) read as NULL from files written before they existed, required ones are
 * still refused naming file and column, every event type has its folder and view, and each
 * event id is read once however often it is stored.
 */
import fc from 'fast-check';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
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

  it('reads each event id once, its first copy by time: a retry re-stamped onto another day, a copy in another file, a copy in a file of an older schema; names ids whose copies differ', async () => {
    const h = await tempHome();
    const first = served('a', '2026-01-05T23:59:00.000Z', 's1');
    const other = served('b', '2026-01-05T10:00:00.000Z', 's2');
    // The same event re-sent a minute later, past midnight: ingest keeps one per day, so both are stored.
    const retry = { ...first, ts: '2026-01-06T00:00:00.000Z', arm: 'quick_win' as const };
    const reaction = reacted('a', '2026-01-06T00:00:30.000Z', 's1', 'completed');
    await withDb(':memory:', (db) => writeEventLog(db, h.events, [first, other, retry, reaction], null, h.tmp));
    const day5 = join(h.events, 'tip.served', 'day=2026-01-05');
    // A file copied into the log, and a copy of s2 in a file written before the optional columns existed.
    await copyFile(join(h.events, 'tip.reaction', 'day=2026-01-06', 'events.parquet'), join(h.events, 'tip.reaction', 'day=2026-01-06', 'copy.parquet'));
    await withDb(':memory:', async (db) => {
      await db.run(`COPY (SELECT * EXCLUDE (${OPTIONAL.join(', ')}) FROM read_parquet(${sqlString(join(day5, 'events.parquet'))}, hive_partitioning = false) WHERE serve_id = 's2') TO ${sqlString(join(day5, 'old.parquet'))} (FORMAT parquet)`);
    });
    const { attached, rows, reactions } = await withDb(':memory:', async (db) => ({
      attached: await attachEventLog(db, h.events),
      rows: await db.rows<{ serve_id: string; ts: Date; arm: string }>('SELECT serve_id, ts, arm FROM tip_served ORDER BY serve_id'),
      reactions: await db.rows<{ n: bigint }>('SELECT count(*) AS n FROM tip_reaction'),
    }));
    expect(attached.counts).toMatchObject({ 'tip.served': 2, 'tip.reaction': 1 });
    expect(attached.copies).toMatchObject({ 'tip.served': 2, 'tip.reaction': 1, 'task.created': 0 });
    // The retry came back with another arm: named. The file copy and the older schema's copy
    // (NULL for what it lacks) are the same events.
    expect(attached.differingCopies).toEqual({ 'tip.served': { ids: 1, example: first.event_id } });
    expect(rows).toEqual([
      { serve_id: 's1', ts: new Date(first.ts), arm: first.arm },
      { serve_id: 's2', ts: new Date(other.ts), arm: other.arm },
    ]);
    expect(reactions).toEqual([{ n: 1n }]);
  });

  it('reads as many events as there are event ids, each its earliest copy, whatever the copies (property)', async () => {
    const h = await tempHome();
    const DAY0 = Date.parse('2026-01-05T00:00:00.000Z');
    // Events, then copies of some of them at other times (distinct times: which copy is first is then told by time alone).
    const log = fc.uniqueArray(fc.integer({ min: 0, max: 3 * 86_400 - 1 }), { minLength: 1, maxLength: 12 }).chain((seconds) =>
      fc.record({
        seconds: fc.constant(seconds),
        originals: fc.integer({ min: 1, max: seconds.length }),
        copyOf: fc.array(fc.nat(), { maxLength: seconds.length }),
      }),
    );
    let run = 0;
    await withDb(':memory:', async (db) => {
      await fc.assert(
        fc.asyncProperty(log, async ({ seconds, originals, copyOf }) => {
          const at = (i: number) => new Date(DAY0 + seconds[i]! * 1000).toISOString();
          const events = seconds.slice(0, originals).map((_, i) => served(`u${i}`, at(i), `s${i}`));
          // The rest of the times are copies of an original, under its event id.
          const copies = seconds.slice(originals).map((_, j) => {
            const of = events[(copyOf[j] ?? j) % originals]!;
            return { ...of, ts: at(originals + j) };
          });
          const dir = join(h.events, `run-${++run}`);
          await writeEventLog(db, dir, [...events, ...copies], null, h.tmp);
          const attached = await attachEventLog(db, dir);
          expect(attached.counts['tip.served']).toBe(originals);
          expect(attached.copies['tip.served']).toBe(copies.length);
          const read = await db.rows<{ event_id: string; ts: Date }>('SELECT event_id, ts FROM tip_served ORDER BY event_id');
          const earliest = new Map<string, number>();
          for (const e of [...events, ...copies]) earliest.set(e.event_id, Math.min(earliest.get(e.event_id) ?? Infinity, Date.parse(e.ts)));
          expect(read.map((r) => [r.event_id, r.ts.getTime()])).toEqual([...earliest].sort(([a], [b]) => (a < b ? -1 : 1)));
        }),
        { seed: 20261206, numRuns: 25 },
      );
    });
  }, 60_000);
});
