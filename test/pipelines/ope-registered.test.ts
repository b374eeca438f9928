/**
 * `ope` of a registered version evaluates its state on rows it did not learn from when the logs
 * have enough of them (those logged after its training data), and says the estimate is
 * in-sample when they do not.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sqlString, withDb } from '../../src/io/duckdb.js';
import { runOpe } from '../../src/pipelines/ope.js';
import { MIN_LATER_ROWS, trainPolicy } from '../../src/pipelines/train.js';
import { createFileStore } from '../../src/registry/file-store.js';
import { homeWithTrainingSet } from '../helpers/training-home.js';

describe('ope of a registered version', () => {
  it('uses only the rows logged after its training data when there are enough, else all of them, saying the estimate is in-sample', async () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const h = await homeWithTrainingSet({ users: 30, days: 10, seed: 7, now });
    // The version learns from the first 60 % of the log by time; the rest is logged after it.
    const early = join(h.data, 'early.parquet');
    const late = join(h.data, 'late.parquet');
    const counts = await withDb(':memory:', async (db) => {
      const all = `read_parquet(${sqlString(h.trainingSet)})`;
      const at = `(SELECT quantile_disc(ts, 0.6) FROM ${all})`;
      await db.run(`COPY (SELECT * FROM ${all} WHERE ts <= ${at}) TO ${sqlString(early)} (FORMAT parquet)`);
      await db.run(`COPY (SELECT * FROM ${all} WHERE ts > ${at}) TO ${sqlString(late)} (FORMAT parquet)`);
      const [row] = await db.rows<{ early: bigint; late: bigint }>(`SELECT count(*) FILTER (WHERE ts <= ${at}) AS early, count(*) FILTER (WHERE ts > ${at}) AS late FROM ${all}`);
      return { early: Number(row!.early), late: Number(row!.late) };
    });
    expect(counts.late).toBeGreaterThanOrEqual(MIN_LATER_ROWS);
    const store = createFileStore(h.mlruns);
    await trainPolicy({ trainingSet: early, policy: 'linucb', model: 'tip-policy', store, cardsDir: h.modelCards, snapshotsDir: h.snapshots, tmpDir: h.tmp, now: () => now });
    const ope = (logs: string) => runOpe({ logs, policy: 'tip-policy/1', estimators: ['ips', 'snips'], store: () => store });

    // On the whole log: the later rows alone, exactly as if only they had been given.
    const whole = await ope(h.trainingSet);
    expect(whole.rows).toBe(counts.late);
    expect(whole.notes.join('\n')).toContain(`evaluated on the ${counts.late} rows logged after its training data`);
    const lateOnly = await ope(late);
    expect(lateOnly.rows).toBe(counts.late);
    expect(lateOnly.notes.join('\n')).toContain(`evaluated on all ${counts.late} rows, every one logged after its training data`);
    for (const [i, e] of whole.report.estimates.entries()) expect(e.value).toBeCloseTo(lateOnly.report.estimates[i]!.value, 12);

    // On the rows it learned from: all of them, with the estimate called in-sample.
    const own = await ope(early);
    expect(own.rows).toBe(counts.early);
    expect(own.notes.join('\n')).toMatch(/every row is from before then, rows it may have learned from: the estimate is in-sample \(optimistic\)/);
  });
});
