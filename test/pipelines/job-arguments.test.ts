/** The jobs called directly (the library), not through the CLI's flags: arguments that would make them do something else are refused, named. */
import { describe, expect, it } from 'vitest';
import { promotionContext } from '../../src/experiments/evidence.js';
import { promoteVersion } from '../../src/experiments/promotion.js';
import { buildFeatures } from '../../src/pipelines/feature-build.js';
import { runSimulation } from '../../src/pipelines/simulation.js';
import { exportSnapshot } from '../../src/pipelines/snapshot-files.js';
import { DEFAULT_SYNTH_START, synthesize } from '../../src/pipelines/synth.js';
import { createFileStore } from '../../src/registry/file-store.js';
import { evaluate } from '../../src/evaluation/evaluate.js';
import type { EventBus } from '../../src/events/event-bus.js';
import { ingestEvents } from '../../src/pipelines/ingest.js';
import { importEvents } from '../../src/pipelines/event-import.js';
import { withExplorationFloor } from '../../src/policies/exploration-floor.js';
import { getPolicy } from '../../src/policies/catalog.js';
import { join } from 'node:path';
import { tempHome } from '../helpers/temp-home.js';

const usage = (message: string) => ({ code: 'invalid_usage', message });

describe('job arguments', () => {
  it('synthesize refuses a user count, day count or seed that is not an integer in range, and an invalid start', async () => {
    const h = await tempHome();
    const job = { users: 10, days: 2, seed: 1, start: DEFAULT_SYNTH_START, eventsDir: h.events, tmpDir: h.tmp };
    await expect(synthesize({ ...job, users: 0 })).rejects.toMatchObject(usage('users must be an integer between 1 and 10000000, got 0'));
    await expect(synthesize({ ...job, users: 2.5 })).rejects.toMatchObject(usage('users must be an integer between 1 and 10000000, got 2.5'));
    await expect(synthesize({ ...job, days: -1 })).rejects.toMatchObject(usage('days must be an integer between 1 and 3650, got -1'));
    await expect(synthesize({ ...job, seed: Number.NaN })).rejects.toMatchObject(usage('seed must be an integer between -2147483648 and 2147483647, got NaN'));
    await expect(synthesize({ ...job, start: new Date('nonsense') })).rejects.toMatchObject(usage('start must be a valid Date, got Invalid Date'));
  });

  it('buildFeatures and exportSnapshot refuse an invalid Date instead of throwing a RangeError', async () => {
    const h = await tempHome();
    const bad = new Date(Number.NaN);
    await expect(buildFeatures({ eventsDir: h.events, warehouse: h.warehouse, featuresDir: h.features, tmpDir: h.tmp, now: bad })).rejects.toMatchObject(usage('now must be a valid Date, got Invalid Date'));
    await expect(buildFeatures({ eventsDir: h.events, warehouse: h.warehouse, featuresDir: h.features, tmpDir: h.tmp, now: new Date(), asOf: bad })).rejects.toMatchObject(usage('asOf must be a valid Date, got Invalid Date'));
    await expect(exportSnapshot({ warehouse: h.warehouse, outDir: h.snapshots, tmpDir: h.tmp, now: bad })).rejects.toMatchObject(usage('now must be a valid Date, got Invalid Date'));
  });

  it('runSimulation refuses fewer than 2 replications, a worker count out of range and a seed that is not an integer', async () => {
    const h = await tempHome();
    const job = { options: { users: 10, rounds: 24, seed: 1 }, reps: 2, policies: ['uniform', 'linucb'], workers: 0, store: createFileStore(h.mlruns), now: () => new Date() };
    await expect(runSimulation({ ...job, reps: 0 })).rejects.toMatchObject(usage('reps must be an integer between 2 and 1000, got 0'));
    await expect(runSimulation({ ...job, workers: -1 })).rejects.toMatchObject(usage('workers must be an integer between 0 and 64, got -1'));
    await expect(runSimulation({ ...job, options: { ...job.options, users: 2_000_000 } })).rejects.toMatchObject(usage('options.users must be an integer between 1 and 1000000, got 2000000'));
    await expect(runSimulation({ ...job, options: { ...job.options, seed: 0.5 } })).rejects.toMatchObject(usage('options.seed must be an integer between -2147483648 and 2147483647, got 0.5'));
  });

  it('promoteVersion refuses a context made for another version (its evidence would be that version\'s)', async () => {
    const h = await tempHome();
    const store = createFileStore(h.mlruns);
    const ctx = promotionContext(store, { modelCards: h.modelCards, tmp: h.tmp, trainingSet: h.trainingSet, events: h.events }, 'tip-policy', 1, () => new Date());
    await expect(promoteVersion(ctx, { model: 'tip-policy', version: 2, to: 'shadow' })).rejects.toMatchObject(usage('the promotion context gathers evidence for tip-policy v1, not for tip-policy v2'));
  });

  it('ingestEvents refuses a batch larger than a fetch can be, and a run nothing would end, before it touches the bus', async () => {
    const h = await tempHome();
    const untouched = new Proxy({}, { get: (_t, key) => { throw new Error(`the bus was used (${String(key)})`); } }) as EventBus;
    await expect(ingestEvents({ bus: untouched, eventsDir: h.events, tmpDir: h.tmp, batchSize: 10_001, untilIdle: true })).rejects.toMatchObject(usage('batchSize must be an integer between 1 and 10000, got 10001'));
    // Neither idle-bounded nor stoppable, it would hold the event log's lock for good.
    await expect(ingestEvents({ bus: untouched, eventsDir: h.events, tmpDir: h.tmp })).rejects.toMatchObject(usage('an ingest needs untilIdle: true or a signal to stop it'));
  });

  it('importEvents refuses a batch size out of range; a floored policy refuses an arm count that would make its probabilities NaN', async () => {
    const h = await tempHome();
    await expect(importEvents({ file: join(h.home, 'none.ndjson'), eventsDir: h.events, tmpDir: h.tmp, now: () => new Date(), batchSize: 0 })).rejects.toMatchObject(usage('batchSize must be an integer between 1 and 10000000, got 0'));
    expect(() => withExplorationFloor(getPolicy('linucb'), 0.05, 0)).toThrow('policy linucb needs an integer number of arms between 1 and 4096, got 0');
  });

  it('evaluate refuses an interval method it does not compute, for callers without the types', () => {
    const logs = { n: 1, k: 2, arm: Int32Array.of(0), reward: Float64Array.of(1), propensity: Float64Array.of(0.5) };
    expect(() => evaluate(logs, Float64Array.of(0.5, 0.5), { interval: 'bootstrap+score' as 'bootstrap' })).toThrow('interval must be analytic or bootstrap, got bootstrap+score');
  });
});
