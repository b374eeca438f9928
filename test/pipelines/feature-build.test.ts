import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OoEvent } from '../../src/events/schemas.js';
import { isOoMlError } from '../../src/errors.js';
import { sqlString, withDb } from '../../src/io/duckdb.js';
import { writeEventLog } from '../../src/pipelines/event-log.js';
import { buildFeatures } from '../../src/pipelines/feature-build.js';
import { createRng } from '../../src/random/rng.js';
import { completed, created, reacted, reset, served } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';
import type { HomePaths } from '../../src/config.js';

const NOW = new Date('2026-06-01T00:00:00Z');

async function writeLog(h: HomePaths, events: OoEvent[]): Promise<void> {
  await withDb(':memory:', (db) => writeEventLog(db, h.events, events, null, h.tmp));
}

async function build(h: HomePaths, asOf?: string) {
  return buildFeatures({
    eventsDir: h.events,
    warehouse: h.warehouse,
    featuresDir: h.features,
    tmpDir: h.tmp,
    now: NOW,
    ...(asOf === undefined ? {} : { asOf: new Date(asOf) }),
  });
}

async function profile(h: HomePaths, user: string): Promise<Record<string, unknown>> {
  return withDb(h.warehouse, async (db) => {
    const [row] = await db.rows(`SELECT * FROM profile_features WHERE user_id = ${sqlString(user)}`);
    return row ?? {};
  });
}

// User a: three reactions inside the window (completed, dismissed, ignored; dwells 2 s, 4 s,
// 900 s → clipped to 600 s), one reaction 40 days back (outside the 30-day window), two
// completions at 23:00 and 01:00 (circular mean: midnight), four serves in the window.
const LOG: OoEvent[] = [
  served('a', '2026-01-01T10:00:00Z', 's0'),
  reacted('a', '2026-01-01T10:01:00Z', 's0', 'completed', 1000),
  served('a', '2026-02-01T10:00:00Z', 's1'),
  reacted('a', '2026-02-01T10:00:30Z', 's1', 'completed', 2000),
  served('a', '2026-02-02T10:00:00Z', 's2'),
  reacted('a', '2026-02-02T10:00:30Z', 's2', 'dismissed', 4000),
  served('a', '2026-02-03T10:00:00Z', 's3'),
  reacted('a', '2026-02-03T10:00:30Z', 's3', 'ignored', 900_000),
  served('a', '2026-02-04T10:00:00Z', 's4'),
  completed('a', '2026-02-03T23:00:00Z'),
  completed('a', '2026-02-04T01:00:00Z'),
  served('b', '2026-02-05T09:00:00Z', 'sb'),
];

describe('features build', () => {
  it('computes each profile feature over its window, strictly before the as-of', async () => {
    const h = await tempHome();
    await writeLog(h, LOG);
    const s = await build(h, '2026-02-05T00:00:00Z');
    expect(s.users).toBe(1); // b's only event is after the as-of
    const a = await profile(h, 'a');
    expect(a['completion_rate']).toBeCloseTo(1 / 3, 12);
    expect(a['dismiss_rate']).toBeCloseTo(1 / 3, 12);
    expect(a['mean_dwell_sec']).toBeCloseTo((2 + 4 + 600) / 3, 9);
    expect(a['preferred_hour']).toBe(0);
    expect(a['tip_volume']).toBe(4);
  });

  it('cuts both edges of the window at an as-of that is not a midnight', async () => {
    const h = await tempHome();
    await writeLog(h, [
      served('c', '2026-01-05T11:00:00Z', 'c1'), // before T - 30 days: out
      served('c', '2026-01-05T13:00:00Z', 'c2'), // inside
      served('c', '2026-01-20T13:00:00Z', 'c3'), // inside
      served('c', '2026-02-04T11:00:00Z', 'c4'), // inside
      served('c', '2026-02-04T13:00:00Z', 'c5'), // at/after T: out
    ]);
    await build(h, '2026-02-04T12:00:00Z');
    expect((await profile(h, 'c'))['tip_volume']).toBe(3);
  });

  it('keeps a daily history whose value at midnight b only sees events before b', async () => {
    const h = await tempHome();
    await writeLog(h, LOG);
    await build(h, '2026-02-05T00:00:00Z');
    const rows = await withDb(h.warehouse, (db) =>
      db.rows<{ as_of: Date; completion_rate: number | null; tip_volume: number | null }>(
        "SELECT as_of, completion_rate, tip_volume FROM profile_history WHERE user_id = 'a' ORDER BY as_of",
      ),
    );
    const at = (d: string) => rows.find((r) => r.as_of.toISOString() === d)!;
    expect(at('2026-01-02T00:00:00.000Z').completion_rate).toBe(1); // s0's reaction on Jan 1
    expect(at('2026-01-31T00:00:00.000Z').completion_rate).toBe(1); // Jan 1 still inside [Jan 1, Jan 31)
    expect(at('2026-02-01T00:00:00.000Z').completion_rate).toBeNull(); // Jan 1 has left the window
    expect(at('2026-02-02T00:00:00.000Z').completion_rate).toBe(1);
    expect(at('2026-02-03T00:00:00.000Z').completion_rate).toBe(0.5);
    expect(at('2026-02-05T00:00:00.000Z').tip_volume).toBe(4);
    // The as-of value equals the history row at the same midnight.
    expect((await profile(h, 'a'))['tip_volume']).toBe(at('2026-02-05T00:00:00.000Z').tip_volume);
    expect(rows.at(-1)!.as_of.toISOString()).toBe('2026-02-05T00:00:00.000Z');
  });

  it('writes Parquet copies and global means for the global-mean fallbacks', async () => {
    const h = await tempHome();
    await writeLog(h, LOG);
    const s = await build(h, '2026-02-05T00:00:00Z');
    // Plus the marker that lets a later build replace the folder (io/atomic.ts).
    // And the build they are, as the warehouse's build_info says it (a crash between the two renames leaves them a build apart).
    expect((await readdir(h.features)).sort()).toEqual(['.oo-ml-output', 'build.json', 'profile_features.parquet', 'profile_global.parquet', 'profile_history.parquet']);
    const info = await withDb(':memory:', async (db) => {
      await db.run(`ATTACH '${h.warehouse}' AS wh (READ_ONLY)`);
      return (await db.rows<{ as_of: string; built_at: string; contract_hash: string }>(`SELECT strftime(as_of, '%Y-%m-%dT%H:%M:%S.000Z') AS as_of, strftime(built_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS built_at, contract_hash FROM wh.build_info`))[0]!;
    });
    expect(JSON.parse(await readFile(join(h.features, 'build.json'), 'utf8'))).toEqual(info);
    expect(Object.keys(s.globalMeans).sort()).toEqual(['completion_rate', 'dismiss_rate', 'mean_dwell_sec']);
    // One row per as-of, the build's midnight as-of included.
    const asOfs = await withDb(':memory:', (db) => db.rows<{ as_of: Date }>(`SELECT as_of FROM read_parquet('${join(h.features, 'profile_global.parquet')}') ORDER BY as_of`));
    expect(asOfs.at(-1)!.as_of.toISOString()).toBe('2026-02-05T00:00:00.000Z');
    expect(new Set(asOfs.map((r) => r.as_of.getTime())).size).toBe(asOfs.length);
    // A folder an earlier version wrote (no marker, only its three files) is still replaced…
    await rm(join(h.features, '.oo-ml-output'));
    await build(h, '2026-02-05T00:00:00Z');
    expect(existsSync(join(h.features, '.oo-ml-output'))).toBe(true);
    // …but not one holding anything else.
    await rm(join(h.features, '.oo-ml-output'));
    await writeFile(join(h.features, 'notes.txt'), 'mine');
    await expect(build(h, '2026-02-05T00:00:00Z')).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('holds files oo-ml did not write') });
    expect(await readFile(join(h.features, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('reads each event id once: copies of every event, re-stamped a day later, change no feature and are counted', async () => {
    const plain = await tempHome();
    await writeLog(plain, LOG);
    await build(plain, '2026-02-10T00:00:00Z');
    const copied = await tempHome();
    const DAY = 86_400_000;
    await writeLog(copied, [...LOG, ...LOG.map((e) => ({ ...e, ts: new Date(Date.parse(e.ts) + DAY).toISOString() }))]);
    const summary = await build(copied, '2026-02-10T00:00:00Z');
    expect(summary.events).toMatchObject({ 'tip.served': 6, 'tip.reaction': 4, 'task.completed': 2 });
    expect(summary.copies).toMatchObject({ 'tip.served': 6, 'tip.reaction': 4, 'task.completed': 2, 'task.created': 0 });
    // Copies that differ only in their time are no conflict.
    expect(summary.differingCopies).toEqual({});
    for (const user of ['a', 'b']) expect(await profile(copied, user)).toEqual(await profile(plain, user));
  });

  it('defaults the as-of to the end of the last day with events', async () => {
    const h = await tempHome();
    await writeLog(h, LOG);
    expect((await build(h)).asOf).toBe('2026-02-06T00:00:00.000Z');
  });

  it('refuses an as-of in the future or before any data, leaving the warehouse untouched', async () => {
    const h = await tempHome();
    await writeLog(h, LOG);
    await build(h, '2026-02-05T00:00:00Z');
    const before = await stat(h.warehouse);
    for (const asOf of ['2027-01-01T00:00:00Z', '2025-12-01T00:00:00Z']) {
      const e = await build(h, asOf).catch((x: unknown) => x);
      expect(isOoMlError(e, 'invalid_input')).toBe(true);
      expect((e as Error).message).toMatch(/as-of/);
    }
    expect((await stat(h.warehouse)).mtimeMs).toBe(before.mtimeMs);
    expect(await readdir(h.tmp)).toEqual([]);
  });

  it('names a missing folder, an empty log, an unreadable file and a mistyped column', async () => {
    const h = await tempHome();
    await expect(build(h)).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining(h.events) });

    await mkdir(h.events, { recursive: true });
    await expect(build(h)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('holds no events') });

    const bad = join(h.events, 'tip.reaction', 'day=2026-02-01');
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, 'events.parquet'), 'not parquet');
    await expect(build(h)).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/tip\.reaction\/day=2026-02-01\/events\.parquet cannot be read/),
    });

    await withDb(':memory:', (db) =>
      db.run(
        `COPY (SELECT 'e1' AS event_id, TIMESTAMP '2026-02-01 10:00:00' AS ts, 'a' AS user_id, 's1' AS serve_id, ` +
          `'completed' AS reaction, 'long' AS dwell_ms) TO ${sqlString(join(bad, 'events.parquet'))} (FORMAT parquet)`,
      ),
    );
    await expect(build(h)).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('column "dwell_ms" is VARCHAR, expected INTEGER'),
    });

    await withDb(':memory:', (db) =>
      db.run(`COPY (SELECT 'e1' AS event_id) TO ${sqlString(join(bad, 'events.parquet'))} (FORMAT parquet)`),
    );
    await expect(build(h)).rejects.toMatchObject({ message: expect.stringContaining('missing column "ts"') });
  });

  it('keeps the previous outputs when a later build fails', async () => {
    const h = await tempHome();
    await writeLog(h, LOG);
    await build(h, '2026-02-05T00:00:00Z');
    const features = await readFile(join(h.features, 'profile_features.parquet'));
    const broken = join(h.events, 'task.completed', 'day=2026-02-04', 'events.parquet');
    await writeFile(broken, 'garbage');
    await expect(build(h, '2026-02-05T00:00:00Z')).rejects.toMatchObject({ code: 'invalid_input' });
    expect(await readFile(join(h.features, 'profile_features.parquet'))).toEqual(features);
    expect((await profile(h, 'a'))['tip_volume']).toBe(4);
  });
});

describe('features build against a brute-force computation', () => {
  it('gives every user the as-of values and daily history a plain loop over the raw events gives', async () => {
    const rng = createRng(2026);
    const DAY = 86_400_000;
    const start = Date.parse('2026-01-01T00:00:00Z');
    const iso = (ms: number) => new Date(ms).toISOString();
    const events: OoEvent[] = [];
    const reactions = ['completed', 'dismissed', 'ignored', 'liked'] as const;
    // Four active users with different densities over 45 days, shadow serves mixed in, and a
    // user whose only events are task creations (a profile row of nulls from its first day).
    for (const [u, perDay] of [['u1', 3], ['u2', 1], ['u3', 0.3], ['u4', 5]] as const) {
      for (let d = 0; d < 45; d++) {
        const n = Math.floor(perDay + rng.next());
        for (let k = 0; k < n; k++) {
          const t = start + d * DAY + Math.floor(rng.next() * DAY);
          const sid = `${u}-${d}-${k}`;
          const s = served(u, iso(t), sid);
          events.push(rng.next() < 0.1 ? { ...s, shadow: true } : s);
          if (rng.next() < 0.7) events.push(reacted(u, iso(t + 30_000), sid, reactions[rng.int(4)]!, rng.int(1_200_000)));
          if (rng.next() < 0.5) events.push(completed(u, iso(t + Math.floor(rng.next() * 3_600_000))));
        }
      }
    }
    events.push(created('u5', '2026-01-20T08:00:00Z'), created('u5', '2026-02-02T08:00:00Z'));
    // Resets of online learning hold no user and change no profile feature.
    events.push(reset('2026-01-10T12:00:00Z', 'bad deploy'), reset('2026-02-10T13:29:59Z'));
    const T = Date.parse('2026-02-10T13:30:00Z'); // not a midnight
    const h = await tempHome();
    await writeLog(h, events);
    await build(h, iso(T));

    /** The contract's formulas over raw events in [lo, hi), as plain TypeScript. */
    const expected = (user: string, lo: number, hi: number) => {
      const ts = (e: OoEvent) => Date.parse(e.ts);
      const mine = events.filter((e) => 'user_id' in e && e.user_id === user && ts(e) >= lo && ts(e) < hi);
      const rx = mine.filter((e) => e.type === 'tip.reaction');
      const done = mine.filter((e) => e.type === 'task.completed');
      const sv = mine.filter((e) => e.type === 'tip.served' && !e.shadow);
      const rate = (k: number) => (rx.length > 0 ? k / rx.length : null);
      let s = 0;
      let c = 0;
      for (const e of done) {
        const d = new Date(ts(e));
        const angle = ((15 * (d.getUTCHours() + d.getUTCMinutes() / 60)) * Math.PI) / 180;
        s += Math.sin(angle);
        c += Math.cos(angle);
      }
      const hour = done.length === 0 || Math.sqrt(s * s + c * c) < 1e-9 * done.length ? null : Math.floor((Math.atan2(s, c) * 180) / Math.PI / 15 + 24.5) % 24;
      return {
        completion_rate: rate(rx.filter((e) => e.reaction === 'completed').length),
        dismiss_rate: rate(rx.filter((e) => e.reaction === 'dismissed').length),
        mean_dwell_sec: rx.length > 0 ? rx.reduce((a, e) => a + Math.min(e.dwell_ms / 1000, 600), 0) / rx.length : null,
        preferred_hour: hour,
        tip_volume: sv.length > 0 ? sv.length : null,
      };
    };
    const near = (got: Record<string, unknown>, want: Record<string, number | null>, where: string) => {
      for (const [k, v] of Object.entries(want)) {
        if (v === null) expect(got[k], `${where} ${k}`).toBeNull();
        else expect(got[k] as number, `${where} ${k}`).toBeCloseTo(v, 9);
      }
    };
    const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
    const { features, history } = await withDb(h.warehouse, async (db) => ({
      features: await db.rows<Record<string, unknown>>('SELECT * FROM profile_features ORDER BY user_id'),
      history: await db.rows<Record<string, unknown> & { user_id: string; as_of: Date }>('SELECT * FROM profile_history ORDER BY user_id, as_of'),
    }));
    expect(features.map((r) => r['user_id'])).toEqual(users);
    for (const r of features) near(r, expected(r['user_id'] as string, T - 30 * DAY, T), `${String(r['user_id'])} at T`);
    // History: one row per user and midnight from the day after its first event up to T's day.
    const firstDay = (u: string) => Math.floor(Math.min(...events.filter((e) => 'user_id' in e && e.user_id === u).map((e) => Date.parse(e.ts))) / DAY) * DAY;
    const wantKeys = users.flatMap((u) => {
      const out: string[] = [];
      for (let b = firstDay(u) + DAY; b <= Math.floor(T / DAY) * DAY; b += DAY) out.push(`${u} ${iso(b)}`);
      return out;
    });
    expect(history.map((r) => `${r.user_id} ${r.as_of.toISOString()}`)).toEqual(wantKeys);
    for (const r of history) near(r, expected(r.user_id, r.as_of.getTime() - 30 * DAY, r.as_of.getTime()), `${r.user_id} at ${r.as_of.toISOString()}`);
  });
});
