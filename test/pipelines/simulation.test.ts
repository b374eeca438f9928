/** `runSimulation`, the pipeline behind `oo-ml sim` and the gate's simulation. */
import { describe, expect, it } from 'vitest';
import { runSimulation } from '../../src/pipelines/simulation.js';
import { SIM_EXPERIMENT } from '../../src/models/sim-runs.js';
import { createFileStore } from '../../src/registry/file-store.js';
import { tempHome } from '../helpers/temp-home.js';

describe('runSimulation', () => {
  it('refuses a simulation that made no decision (nobody active in its hours) rather than report an exact tie, and logs no run', async () => {
    const h = await tempHome();
    const store = createFileStore(h.mlruns);
    const job = { reps: 2, policies: ['uniform', 'linucb'], workers: 0, store, now: () => new Date('2026-03-01T00:00:00Z') };
    await expect(runSimulation({ ...job, options: { users: 1, rounds: 1, seed: 1 } })).rejects.toMatchObject({
      code: 'invalid_usage',
      message: 'the simulation made no decisions: none of 1 simulated user(s) was active in 1 simulated hour(s)',
    });
    const experiment = await store.getOrCreateExperiment(SIM_EXPERIMENT);
    expect((await store.searchRuns({ experimentIds: [experiment.experimentId] }))).toEqual([]);
    // With people active in its hours, it runs and is logged.
    const ran = await runSimulation({ ...job, options: { users: 3, rounds: 48, seed: 1 } });
    expect(ran.results.policies[0]!.decisions).toBeGreaterThan(0);
    expect((await store.searchRuns({ experimentIds: [experiment.experimentId] })).map((r) => r.info.runId)).toEqual([ran.runId]);
  });
});
