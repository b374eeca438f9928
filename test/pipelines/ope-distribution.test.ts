/**
 * A per-row distribution file against a training set: rows are matched by serve id when the file
 * has one, else by position, which a training set out of time order would silently misalign.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARM_COUNT, ARM_IDS } from '../../src/features/arms.js';
import { sqlString, withDb } from '../../src/io/duckdb.js';
import { writeEventLog } from '../../src/pipelines/event-log.js';
import { buildFeatures } from '../../src/pipelines/feature-build.js';
import { runOpe, type OpeJob } from '../../src/pipelines/ope.js';
import { buildTrainingSet } from '../../src/pipelines/training-set.js';
import { reacted, served } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';

const noStore = (): never => {
  throw new Error('no store in this test');
};

const job = (logs: string, policy: string): OpeJob => ({ logs, policy, estimators: ['ips'], store: noStore });

describe('ope with a distribution file on a training set', () => {
  it('matches rows by serve_id in any order, by position only on a file in time order, and refuses a misaligned one', async () => {
    const h = await tempHome();
    const arms = ['quick_win', 'split_task', 'time_block', 'quick_win', 'split_task', 'time_block'] as const;
    const events = arms.flatMap((arm, i) => {
      const id = `s${i}`;
      const at = `2026-02-0${i + 1}T10:00:00Z`;
      return [served('a', at, id, arm, 0.2 + 0.1 * i), reacted('a', `2026-02-0${i + 1}T10:00:30Z`, id, i % 2 === 0 ? 'completed' : 'dismissed', 1000)];
    });
    await withDb(':memory:', (db) => writeEventLog(db, h.events, events, null, h.tmp));
    await buildFeatures({ eventsDir: h.events, warehouse: h.warehouse, featuresDir: h.features, tmpDir: h.tmp, now: new Date('2026-03-01T00:00:00Z'), asOf: new Date('2026-02-20T00:00:00Z') });
    await buildTrainingSet({ eventsDir: h.events, warehouse: h.warehouse, out: h.trainingSet, tmpDir: h.tmp });
    type Row = { serve_id: string; arm: string; propensity: number; reward: number };
    const rows = await withDb(':memory:', (db) => db.rows<Row>(`SELECT serve_id, arm, propensity, reward FROM read_parquet(${sqlString(h.trainingSet)}) ORDER BY ts`));
    expect(rows).toHaveLength(6);
    // The target plays each row's logged arm: IPS is the mean of reward / propensity.
    const truth = rows.reduce((s, r) => s + r.reward / r.propensity, 0) / rows.length;
    const header = ARM_IDS.map((_, a) => `p_${a}`);
    const probs = (r: Row) => ARM_IDS.map((id) => (id === r.arm ? 1 : 0));

    const resorted = join(h.data, 'resorted.parquet');
    await withDb(':memory:', (db) => db.run(`COPY (SELECT * FROM read_parquet(${sqlString(h.trainingSet)}) ORDER BY serve_id DESC) TO ${sqlString(resorted)} (FORMAT parquet)`));
    const backwards = [...rows].reverse();

    const positional = join(h.data, 'positional.csv');
    await writeFile(positional, [header.join(','), ...backwards.map((r) => probs(r).join(','))].join('\n') + '\n');
    await expect(runOpe(job(resorted, positional))).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('are not in time order, so its rows cannot be matched by position') });

    const byId = join(h.data, 'by-id.csv');
    await writeFile(byId, ['serve_id,' + header.join(','), ...backwards.map((r) => `${r.serve_id},${probs(r).join(',')}`)].join('\n') + '\n');
    for (const logs of [resorted, h.trainingSet]) expect((await runOpe(job(logs, byId))).report.estimates[0]!.value).toBeCloseTo(truth, 12);

    const inOrder = join(h.data, 'in-order.csv');
    await writeFile(inOrder, [header.join(','), ...rows.map((r) => probs(r).join(','))].join('\n') + '\n');
    expect((await runOpe(job(h.trainingSet, inOrder))).report.estimates[0]!.value).toBeCloseTo(truth, 12);

    const unknown = join(h.data, 'unknown.csv');
    await writeFile(unknown, ['serve_id,' + header.join(','), ...rows.map((r, i) => `${i === 2 ? 'nope' : r.serve_id},${probs(r).join(',')}`)].join('\n') + '\n');
    await expect(runOpe(job(h.trainingSet, unknown))).rejects.toMatchObject({ message: `distribution file ${unknown}: line 4 (serve_id "nope"): the training set has no such serve_id` });
    // A bad row is named as the file has it (its line and serve id), not by its place in the log.
    const negative = join(h.data, 'negative.csv');
    await writeFile(negative, ['serve_id,' + header.join(','), ...backwards.map((r, i) => `${r.serve_id},${(i === 1 ? [1.5, -0.5, ...probs(r).slice(2).map(() => 0)] : probs(r)).join(',')}`)].join('\n') + '\n');
    await expect(runOpe(job(h.trainingSet, negative))).rejects.toMatchObject({
      code: 'invalid_input',
      message: `distribution file ${negative}: line 3 (serve_id ${JSON.stringify(backwards[1]!.serve_id)}) puts negative mass -0.5 on arm 1`,
    });
    await expect(runOpe(job(h.trainingSet, join(h.data, 'missing.csv')))).rejects.toMatchObject({ code: 'not_found' });
    expect(ARM_COUNT).toBe(header.length);
  });
});
