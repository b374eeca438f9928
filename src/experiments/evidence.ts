/**
 * Gathers the promotion gate's evidence from the registry and the home's data:
 *   - a simulation including the version: a run in `oo-ml-sim` tagged with it;
 *   - off-policy metrics: the version's training run logged `ope/dr`;
 *   - against a champion: the gate runs its own paired simulation (champion as baseline,
 *     `minSeeds` replications, fixed seed, logged like any `oo-ml sim`), and the paired DR
 *     difference of the two versions on the home's training set.
 */
import { pairedDrDifference } from '../evaluation/paired-dr.js';
import { ARM_COUNT } from '../features/arms.js';
import { vectorDim } from '../features/vectors.js';
import { isOoMlError } from '../errors.js';
import { getPolicy } from '../policies/catalog.js';
import { runSimulation, SIM_EXPERIMENT } from '../pipelines/simulation.js';
import { loadTrainingSet, trainingVectors } from '../pipelines/training-set.js';
import { HEADLINE_METRICS } from '../registry/model-listing.js';
import { loadRegisteredPolicy } from '../registry/policy-artifacts.js';
import type { Store } from '../registry/store.js';
import type { GateEvidence } from './gate.js';

/** How the gate's own comparison is run. */
export interface GateSimSettings {
  users: number;
  rounds: number;
  reps: number;
  seed: number;
  workers: number;
}

/** Defaults of the gate's simulation: 5 seeds, two simulated weeks of 200 users. */
export const GATE_SIM: GateSimSettings = { users: 200, rounds: 24 * 14, reps: 5, seed: 20260101, workers: 2 };

async function hasSimRun(store: Store, model: string, version: number): Promise<boolean> {
  let experimentId: string;
  try {
    experimentId = (await store.getExperimentByName(SIM_EXPERIMENT)).experimentId;
  } catch (e) {
    if (isOoMlError(e, 'not_found')) return false;
    throw e;
  }
  const runs = await store.searchRuns({ experimentIds: [experimentId], tags: { 'oo-ml.kind': 'sim' }, status: 'FINISHED' });
  return runs.some((r) => (r.data.tags[`oo-ml.sim.version.${model}`] ?? '').split(',').includes(String(version)));
}

async function hasOpe(store: Store, model: string, version: number): Promise<boolean> {
  const v = await store.getModelVersion(model, version);
  if (v.runId === '') return false;
  const run = await store.getRun(v.runId);
  return run.data.metrics[HEADLINE_METRICS.dr] !== undefined;
}

/** Builds the evidence callback of `promoteVersion`. */
export function gatherEvidence(
  store: Store,
  model: string,
  version: number,
  opts: { trainingSet: string; now: () => Date; sim?: GateSimSettings },
): (current: { champion: number | null; wasShadow: boolean }) => Promise<GateEvidence> {
  return async ({ champion, wasShadow }) => {
    const base = { champion, wasShadow, hasSimRun: await hasSimRun(store, model, version), hasOpe: await hasOpe(store, model, version) };
    // Without a champion there is nothing to compare with; a version that was never shadow fails
    // the gate whatever a comparison would say, so the (expensive) simulation is skipped.
    if (champion === null || !wasShadow) return { ...base, simDiff: null, opeDiff: null };
    const s = opts.sim ?? GATE_SIM;
    const championRef = `${model}@v${champion}`;
    const candidateRef = `${model}@v${version}`;
    const sim = await runSimulation({
      options: { users: s.users, rounds: s.rounds, seed: s.seed },
      reps: s.reps,
      policies: [championRef, candidateRef],
      workers: s.workers,
      store,
      now: opts.now,
    });
    const diff = sim.results.policies[1]!.vsBaseline!;
    // Paired DR difference on the logged data both were trained from.
    const data = await loadTrainingSet(opts.trainingSet);
    const [c, k] = await Promise.all([loadRegisteredPolicy(store, championRef), loadRegisteredPolicy(store, candidateRef)]);
    const targets = [c, k].map((reg) => {
      const policy = getPolicy(reg.state.policy as string);
      const state = policy.fromJSON(reg.state);
      const d = vectorDim(policy.layout);
      const x = trainingVectors(data, policy.layout);
      const out = new Float64Array(data.n * ARM_COUNT);
      for (let i = 0; i < data.n; i++) policy.probabilities(state, x.subarray(i * d, (i + 1) * d), out.subarray(i * ARM_COUNT, (i + 1) * ARM_COUNT));
      return out;
    });
    const x2 = trainingVectors(data, 'v2');
    const ope = pairedDrDifference(
      { n: data.n, k: ARM_COUNT, arm: data.arm, reward: data.reward, propensity: data.propensity, x: x2, d: vectorDim('v2') },
      targets[1]!,
      targets[0]!,
    );
    return {
      ...base,
      hasSimRun: true,
      simDiff: { value: diff.mean, ci95: diff.ci95, seeds: diff.n },
      opeDiff: { value: ope.value, ci95: ope.ci95 },
    };
  };
}
