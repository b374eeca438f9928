/**
 * The gate's evidence: its off-policy comparison refits each version on this home's training
 * set, which stands for a version only when that is the set it was trained on.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gatherEvidence } from '../../src/experiments/evidence.js';
import { sqlString, withDb } from '../../src/io/duckdb.js';
import { trainPolicy } from '../../src/pipelines/train.js';
import { createFileStore } from '../../src/registry/file-store.js';
import { homeWithTrainingSet } from '../helpers/training-home.js';

describe('gate evidence', () => {
  it('says its refit does not stand for a version trained on another training set, even one with the same rows and dates', async () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const h = await homeWithTrainingSet({ users: 30, days: 10, seed: 5, now });
    // Every reward rewritten to 0: same rows, same times, other content.
    const zeros = join(h.data, 'zeros.parquet');
    await withDb(':memory:', (db) => db.run(`COPY (SELECT * REPLACE (0 AS reward) FROM read_parquet(${sqlString(h.trainingSet)})) TO ${sqlString(zeros)} (FORMAT parquet)`));
    const store = createFileStore(h.mlruns);
    let t = now.getTime();
    const train = (trainingSet: string) =>
      trainPolicy({ trainingSet, policy: 'linucb', model: 'tip-policy', store, cardsDir: h.modelCards, snapshotsDir: h.snapshots, tmpDir: h.tmp, now: () => new Date((t += 1000)) });
    await train(h.trainingSet); // v1, the champion of the question
    await train(zeros); // v2
    await train(h.trainingSet); // v3
    const evidence = (version: number) =>
      gatherEvidence(store, 'tip-policy', version, { trainingSet: h.trainingSet, eventsDir: h.events, now: () => now, sim: { users: 5, rounds: 24, reps: 2, seed: 1, workers: 0 } })({
        to: 'champion',
        champion: 1,
        wasShadow: true,
      });
    expect((await evidence(2)).opeDiff).toMatchObject({ notThisVersion: expect.stringContaining(`it was trained on ${zeros}`) });
    expect((await evidence(3)).opeDiff).not.toHaveProperty('notThisVersion');
  });
});
