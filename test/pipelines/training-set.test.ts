import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HomePaths } from '../../src/config.js';
import type { OoEvent } from '../../src/events/schemas.js';
import { withDb, sqlString } from '../../src/io/duckdb.js';
import { writeEventLog } from '../../src/pipelines/event-log.js';
import { buildFeatures } from '../../src/pipelines/feature-build.js';
import { DEFAULT_SYNTH_START, synthesize } from '../../src/pipelines/synth.js';
import { buildTrainingSet, loadTrainingSet, trainingVectors } from '../../src/pipelines/training-set.js';
import { completed, reacted, rewarded, served } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';

const NOW = new Date('2026-06-01T00:00:00Z');

async function pipeline(h: HomePaths, events: OoEvent[], asOf: string) {
  await withDb(':memory:', (db) => writeEventLog(db, h.events, events, null, h.tmp));
  await buildFeatures({ eventsDir: h.events, warehouse: h.warehouse, featuresDir: h.features, tmpDir: h.tmp, now: NOW, asOf: new Date(asOf) });
  return buildTrainingSet({ eventsDir: h.events, warehouse: h.warehouse, out: h.trainingSet, tmpDir: h.tmp });
}

async function rows(h: HomePaths): Promise<Record<string, unknown>[]> {
  return withDb(':memory:', (db) => db.rows(`SELECT * FROM read_parquet(${sqlString(h.trainingSet)}) ORDER BY ts`));
}

const BASE: OoEvent[] = [
  served('a', '2026-02-01T10:00:00Z', 's1'),
  reacted('a', '2026-02-01T10:00:30Z', 's1', 'completed', 2000),
  served('a', '2026-02-02T10:00:00Z', 's2'),
  reacted('a', '2026-02-02T10:00:30Z', 's2', 'dismissed', 4000),
  served('a', '2026-02-03T10:00:00Z', 's3', 'quick_win', 0.5),
  reacted('a', '2026-02-04T11:00:00Z', 's3', 'liked', 1000), // 25 h later: outside the reward window
  served('a', '2026-02-04T10:00:00Z', 's4'),
  reacted('a', '2026-02-04T10:00:30Z', 's4', 'liked', 1000),
  served('a', '2026-02-09T10:00:00Z', 's5'), // reward window not closed by the as-of
];

describe('features training-set', () => {
  it('counts apart the serves whose reward window was still open at the as-of and those logged after it', async () => {
    const h = await tempHome();
    // s1 and s2 closed their windows by then, s3 not (10:00 the next day), s4 and s5 came after.
    const s = await pipeline(h, BASE, '2026-02-03T12:00:00Z');
    expect([s.rows, s.immatureExcluded, s.afterAsOf]).toEqual([2, 1, 2]);
    expect(s.conflictingServes).toBeNull();
  });

  it('names serve ids logged again with another arm or propensity, and keeps the first by time as the row', async () => {
    const h = await tempHome();
    // s2 sent again a second later under a new event id, with another arm; s1 again, unchanged.
    const again = [served('a', '2026-02-02T10:00:01Z', 's2', 'quick_win'), served('a', '2026-02-01T10:00:01Z', 's1')];
    const s = await pipeline(h, [...BASE, ...again], '2026-02-10T00:00:00Z');
    expect(s.conflictingServes).toEqual({ ids: 1, example: 's2' });
    expect(s.rows).toBe(4);
    expect((await rows(h)).find((r) => r['serve_id'] === 's2')!['arm']).toBe('split_task');
  });

  it('joins each serve to features as of the last midnight before it, its reward and its propensity', async () => {
    const h = await tempHome();
    const s = await pipeline(h, BASE, '2026-02-10T00:00:00Z');
    expect(s.rows).toBe(4);
    expect([s.immatureExcluded, s.afterAsOf]).toEqual([1, 0]);
    const r = await rows(h);
    expect(r.map((x) => x['serve_id'])).toEqual(['s1', 's2', 's3', 's4']);
    expect(r.map((x) => x['reward'])).toEqual([1, 0, 0, 1]);
    expect(r[2]!['propensity']).toBe(0.5);
    expect(r[2]!['arm_index']).toBe(2);
    // s1 is the user's first event: no profile yet, so every feature fell back.
    expect(r[0]!['has_profile']).toBe(false);
    expect(r[0]!['fell_back']).toHaveLength(5);
    // s3 (Feb 3) sees the profile as of Feb 3 00:00: reactions of Feb 1 and Feb 2 only.
    expect((r[2]!['profile_as_of'] as Date).toISOString()).toBe('2026-02-03T00:00:00.000Z');
    expect(r[2]!['completion_rate']).toBe(0.5);
    expect(r[2]!['tip_volume']).toBe(2);
    expect(r[2]!['fell_back']).toEqual(['preferred_hour']);
  });

  it('never lets an event after a decision reach that decision (point in time)', async () => {
    const h1 = await tempHome();
    await pipeline(h1, BASE, '2026-02-10T00:00:00Z');
    const before = await rows(h1);
    // Add a burst of activity right after s2 (same day and later): s2's features must not move,
    // and neither may those of s1; s3 (next day) is allowed to see them.
    const extra: OoEvent[] = [];
    for (let i = 0; i < 10; i++) {
      extra.push(served('a', `2026-02-02T1${i % 10}:30:00Z`, `x${i}`));
      extra.push(reacted('a', `2026-02-02T1${i % 10}:31:00Z`, `x${i}`, 'completed', 60_000));
      extra.push(completed('a', `2026-02-02T1${i % 10}:45:00Z`));
    }
    const h2 = await tempHome();
    await pipeline(h2, [...BASE, ...extra], '2026-02-10T00:00:00Z');
    const after = new Map((await rows(h2)).map((x) => [x['serve_id'], x]));
    const features = ['completion_rate', 'dismiss_rate', 'mean_dwell_sec', 'preferred_hour', 'tip_volume', 'has_profile'];
    for (const id of ['s1', 's2']) {
      const b = before.find((x) => x['serve_id'] === id)!;
      for (const f of features) expect(after.get(id)![f]).toEqual(b[f]);
    }
    expect(after.get('s3')!['tip_volume']).toBe(12);
    for (const row of after.values()) {
      if (row['profile_as_of'] !== null) expect((row['profile_as_of'] as Date).getTime()).toBeLessThanOrEqual((row['ts'] as Date).getTime());
    }
  });

  it('refuses to join an event log that changed since the warehouse was built; events after its as-of do not count', async () => {
    const h = await tempHome();
    await pipeline(h, BASE, '2026-02-05T00:00:00Z');
    const kept = await rows(h);
    const build = () => buildTrainingSet({ eventsDir: h.events, warehouse: h.warehouse, out: h.trainingSet, tmpDir: h.tmp });
    // Batches of later days (as ingest appends them) change nothing the build used, the as-of's
    // own day included when the as-of is its midnight.
    await withDb(':memory:', (db) => writeEventLog(db, join(h.data, 'later'), [served('b', '2026-02-07T10:00:00Z', 'late'), served('b', '2026-02-05T08:00:00Z', 'morning')], null, h.tmp));
    for (const day of ['day=2026-02-07', 'day=2026-02-05']) await cp(join(h.data, 'later', 'tip.served', day), join(h.events, 'tip.served', day), { recursive: true });
    await expect(build()).resolves.toMatchObject({ rows: kept.length });
    // Another log in its place (a new synth, a log copied over): refused, the training set kept.
    await withDb(':memory:', (db) => writeEventLog(db, h.events, [...BASE.slice(0, 4), served('a', '2026-02-03T11:00:00Z', 's9')], null, h.tmp));
    await expect(build()).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining(`the event log ${h.events} changed since the feature warehouse was built from it`) });
    expect(await rows(h)).toEqual(kept);
    await buildFeatures({ eventsDir: h.events, warehouse: h.warehouse, featuresDir: h.features, tmpDir: h.tmp, now: NOW, asOf: new Date('2026-02-05T00:00:00Z') });
    await expect(build()).resolves.toMatchObject({ rows: 3, eventLogChecked: true });
    // A warehouse an earlier oo-ml built recorded no fingerprint: the log cannot be checked, and the summary says so.
    await withDb(h.warehouse, (db) => db.run('ALTER TABLE build_info DROP COLUMN events_fingerprint'));
    await withDb(':memory:', (db) => writeEventLog(db, h.events, [...BASE.slice(0, 4), served('a', '2026-02-03T12:00:00Z', 's8')], null, h.tmp));
    await expect(build()).resolves.toMatchObject({ eventLogChecked: false });
  });

  it('keeps one row per serve: a serve logged twice under two event ids is its first copy', async () => {
    const h = await tempHome();
    const again = { ...served('a', '2026-02-01T10:00:01Z', 's1', 'quick_win', 0.9), event_id: 'e-copy' };
    const s = await pipeline(h, [...BASE, again], '2026-02-10T00:00:00Z');
    const got = await rows(h);
    expect(got.filter((r) => r['serve_id'] === 's1')).toMatchObject([{ arm: 'split_task', reward: 1 }]);
    expect(got).toHaveLength(4);
    // The copy is not a serve left out: only s5, whose window is open, is.
    expect(s.immatureExcluded).toBe(1);
  });

  it("labels each serve by its user's first feedback, as the server learns it: a numeric reward by its value, another user's reaction not at all", async () => {
    const h = await tempHome();
    const events: OoEvent[] = [
      ...BASE,
      served('b', '2026-02-05T10:00:00Z', 'n1'),
      rewarded('b', '2026-02-05T10:01:00Z', 'n1', 0.75),
      reacted('b', '2026-02-05T10:02:00Z', 'n1', 'dismissed'), // later: no change
      served('b', '2026-02-06T10:00:00Z', 'n2'),
      reacted('a', '2026-02-06T10:01:00Z', 'n2', 'dismissed'), // another user's: refused
      reacted('b', '2026-02-06T10:03:00Z', 'n2', 'liked'),
      served('b', '2026-02-07T10:00:00Z', 'n3'),
      reacted('a', '2026-02-07T10:01:00Z', 'n3', 'completed'), // only another user's: unsettled
    ];
    await pipeline(h, events, '2026-02-10T00:00:00Z');
    const byServe = Object.fromEntries((await rows(h)).map((r) => [r['serve_id'], [r['reaction'], r['reward']]]));
    expect([byServe['n1'], byServe['n2'], byServe['n3']]).toEqual([
      [null, 0.75],
      ['liked', 1],
      [null, 0],
    ]);
    // Training and evaluation read the fractional reward back.
    const data = await loadTrainingSet(h.trainingSet);
    expect([...data.reward]).toContain(0.75);
  });

  it('refuses to write an empty training set and keeps the previous one', async () => {
    const h = await tempHome();
    await pipeline(h, BASE, '2026-02-10T00:00:00Z');
    const kept = await rows(h);
    // As of Feb 2 00:00 only s1 exists and its reward window is still open.
    await buildFeatures({ eventsDir: h.events, warehouse: h.warehouse, featuresDir: h.features, tmpDir: h.tmp, now: NOW, asOf: new Date('2026-02-02T00:00:00Z') });
    await expect(buildTrainingSet({ eventsDir: h.events, warehouse: h.warehouse, out: h.trainingSet, tmpDir: h.tmp })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('would be empty'),
    });
    expect(await rows(h)).toEqual(kept);
  });

  it('names a missing warehouse and a training set with missing columns or bad propensities', async () => {
    const h = await tempHome();
    await expect(buildTrainingSet({ eventsDir: h.events, warehouse: h.warehouse, out: h.trainingSet, tmpDir: h.tmp })).rejects.toMatchObject({
      code: 'not_found',
      hint: expect.stringContaining('features build'),
    });
    await pipeline(h, BASE, '2026-02-10T00:00:00Z');
    const noProp = `${h.data}/no-prop.parquet`;
    const badProp = `${h.data}/bad-prop.parquet`;
    await withDb(':memory:', async (db) => {
      await db.run(`COPY (SELECT * EXCLUDE (propensity) FROM read_parquet(${sqlString(h.trainingSet)})) TO ${sqlString(noProp)} (FORMAT parquet)`);
      await db.run(
        `COPY (SELECT * REPLACE (CASE WHEN serve_id = 's2' THEN 1.5 ELSE propensity END AS propensity) FROM read_parquet(${sqlString(h.trainingSet)})) TO ${sqlString(badProp)} (FORMAT parquet)`,
      );
    });
    await expect(loadTrainingSet(noProp)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('missing column(s): propensity') });
    await expect(loadTrainingSet(badProp)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/propensity outside \(0, 1\] \(e\.g\. serve s2\)/) });
    // Context and profile values outside the feature contract, and a column of the wrong type.
    const edits: [string, string, string | RegExp][] = [
      ['hour', `REPLACE (CASE WHEN serve_id = 's2' THEN 99 ELSE hour_of_day END AS hour_of_day)`, 'hour_of_day outside [0, 23] (e.g. serve s2)'],
      ['rate', `REPLACE (CASE WHEN serve_id = 's2' THEN 7.0 ELSE completion_rate END AS completion_rate)`, 'completion_rate outside [0, 1] (e.g. serve s2)'],
      ['text', `REPLACE (CAST(propensity AS VARCHAR) AS propensity)`, /has a column of the wrong type/],
    ];
    for (const [name, edit, message] of edits) {
      const file = `${h.data}/${name}.parquet`;
      await withDb(':memory:', (db) => db.run(`COPY (SELECT * ${edit} FROM read_parquet(${sqlString(h.trainingSet)})) TO ${sqlString(file)} (FORMAT parquet)`));
      await expect(loadTrainingSet(file), name).rejects.toMatchObject({ code: 'invalid_input', message: typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message) });
    }
  });

  it('loads the file into typed arrays and vectors for training', async () => {
    const h = await tempHome();
    await synthesize({ users: 30, days: 6, seed: 5, start: DEFAULT_SYNTH_START, eventsDir: h.events, tmpDir: h.tmp });
    await buildFeatures({ eventsDir: h.events, warehouse: h.warehouse, featuresDir: h.features, tmpDir: h.tmp, now: NOW });
    const s = await buildTrainingSet({ eventsDir: h.events, warehouse: h.warehouse, out: h.trainingSet, tmpDir: h.tmp });
    const data = await loadTrainingSet(h.trainingSet);
    expect(data.n).toBe(s.rows);
    expect(data.contractHash).toBe(s.contractHash);
    expect(data.reward.reduce((a, b) => a + b, 0)).toBe(s.positives);
    expect(new Set(data.segment).size).toBeGreaterThan(1);
    const x = trainingVectors(data, 'v2');
    expect(x.length).toBe(data.n * 12);
    expect(x.every(Number.isFinite)).toBe(true);
  });
});
