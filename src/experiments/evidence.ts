/**
 * Gathers the promotion gate's evidence from the registry and the home's data. The baseline is
 * the champion, or uniform random when there is none.
 *   - off-policy metrics: the version's training run logged `ope/dr`;
 *   - against the baseline: the gate runs its own paired simulation (baseline first,
 *     `reps` replications, fixed seed, logged like any `oo-ml sim`, so it is also the version's
 *     simulation on record), and the paired DR difference on logged rows the version did not
 *     learn from (see `heldOutRows`);
 *   - fairness: the segments the version's training run flagged for review.
 */
import { pairedDrDifference } from '../evaluation/paired-dr.js';
import { ARM_COUNT } from '../features/arms.js';
import { vectorDim } from '../features/vectors.js';
import { getPolicy } from '../policies/catalog.js';
import { distributionOn, fitRows } from '../pipelines/policy-replay.js';
import { runSimulation, UNIFORM_ENTRANT } from '../pipelines/simulation.js';
import { HOLDOUT_SHARE } from '../pipelines/train.js';
import { loadTrainingSet, trainingVectors, type TrainingData } from '../pipelines/training-set.js';
import { readEvaluation } from '../registry/model-cards.js';
import { HEADLINE_METRICS } from '../registry/model-listing.js';
import { loadRegisteredPolicy, type RegisteredPolicy } from '../registry/policy-artifacts.js';
import type { Store } from '../registry/store.js';
import type { GateEvidence, GateQuestion } from './gate.js';

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

/** Fewest logged rows after the compared versions' training data for the DR comparison to use them as they are. */
const MIN_LATER_ROWS = 200;

async function hasOpe(store: Store, model: string, version: number): Promise<boolean> {
  const v = await store.getModelVersion(model, version);
  if (v.runId === '') return false;
  const run = await store.getRun(v.runId);
  return run.data.metrics[HEADLINE_METRICS.dr] !== undefined;
}

/** The user segments a version's training run flagged for review (none when it has no evaluation). */
async function flaggedSegments(store: Store, registered: RegisteredPolicy): Promise<string[]> {
  if (registered.version.runId === '') return [];
  const evaluation = await readEvaluation(store, registered.version.runId);
  return (evaluation?.fairness ?? []).filter((f) => f.flagged).map((f) => f.segment);
}

/** When a registered version's training data ends (ms), or null when its run does not say. */
async function dataEnd(store: Store, registered: RegisteredPolicy): Promise<number | null> {
  if (registered.version.runId === '') return null;
  const to = (await readEvaluation(store, registered.version.runId))?.dataTo ?? null;
  return to === null ? null : Date.parse(to);
}

/**
 * The target distributions of the compared versions on rows none of them learned from, and
 * what those rows are. Rows logged after every compared version's training data, when there
 * are at least MIN_LATER_ROWS of them, are used with the registered states as they are.
 * Otherwise (the usual case right after training on the whole set) each version's policy is
 * refitted with its parameters on the first rows and compared on the held-out last HOLDOUT_SHARE,
 * as `oo-ml train` evaluates: the comparison is then of the two training procedures.
 * `null` in `versions` stands for uniform random.
 */
async function heldOutRows(
  store: Store,
  data: TrainingData,
  versions: readonly (RegisteredPolicy | null)[],
): Promise<{ rows: number[]; targets: Float64Array[]; data: string }> {
  const ends = await Promise.all(versions.map((v) => (v === null ? Promise.resolve(-Infinity) : dataEnd(store, v))));
  const cutoff = ends.some((e) => e === null) ? null : Math.max(...(ends as number[]));
  const later: number[] = [];
  if (cutoff !== null) for (let i = 0; i < data.n; i++) if (data.ts[i]! > cutoff) later.push(i);
  const uniform = (rows: readonly number[]): Float64Array => new Float64Array(rows.length * ARM_COUNT).fill(1 / ARM_COUNT);
  if (later.length >= MIN_LATER_ROWS) {
    const targets = versions.map((v) => {
      if (v === null) return uniform(later);
      const policy = getPolicy(v.state.policy);
      return distributionOn(policy, policy.fromJSON(v.state), trainingVectors(data, policy.layout), vectorDim(policy.layout), later);
    });
    return { rows: later, targets, data: `${later.length} rows logged after ${new Date(cutoff!).toISOString()}, which no compared version learned from` };
  }
  const from = data.n - Math.floor(data.n * HOLDOUT_SHARE);
  const rows = Array.from({ length: data.n - from }, (_, i) => from + i);
  const targets = versions.map((v) => {
    if (v === null) return uniform(rows);
    const policy = getPolicy(v.state.policy);
    const x = trainingVectors(data, policy.layout);
    const d = vectorDim(policy.layout);
    const state = fitRows(policy, policy.init(ARM_COUNT, v.state.params), data, x, d, 0, from);
    return distributionOn(policy, state, x, d, rows);
  });
  return { rows, targets, data: `the last ${rows.length} rows of the training set, each version refitted with its parameters on the ${from} rows before them` };
}

/** Builds the evidence callback of `promoteVersion`. */
export function gatherEvidence(
  store: Store,
  model: string,
  version: number,
  opts: { trainingSet: string; now: () => Date; sim?: GateSimSettings },
): (question: GateQuestion) => Promise<GateEvidence> {
  return async ({ to, champion, wasShadow }) => {
    const baseline = champion === null ? 'uniform random' : `champion v${champion}`;
    const candidateRef = `${model}@v${version}`;
    const baselineRef = champion === null ? UNIFORM_ENTRANT : `${model}@v${champion}`;
    const candidate = await loadRegisteredPolicy(store, candidateRef);
    const base = { champion, baseline, wasShadow, hasOpe: await hasOpe(store, model, version), flaggedSegments: await flaggedSegments(store, candidate) };
    // A version that was never shadow fails the champion gate whatever a comparison would say,
    // so the (expensive) simulation is skipped.
    if (to === 'champion' && !wasShadow) return { ...base, simDiff: null, opeDiff: null };
    const s = opts.sim ?? GATE_SIM;
    const sim = await runSimulation({
      options: { users: s.users, rounds: s.rounds, seed: s.seed },
      reps: s.reps,
      policies: [baselineRef, candidateRef],
      workers: s.workers,
      store,
      now: opts.now,
    });
    const diff = sim.results.policies[1]!.vsBaseline!;
    const simDiff = { value: diff.mean, ci95: diff.ci95, seeds: diff.n };
    if (to === 'shadow') return { ...base, simDiff, opeDiff: null };
    const data = await loadTrainingSet(opts.trainingSet);
    const championPolicy = champion === null ? null : await loadRegisteredPolicy(store, baselineRef);
    const held = await heldOutRows(store, data, [candidate, championPolicy]);
    const x2 = trainingVectors(data, 'v2');
    const d2 = vectorDim('v2');
    const n = held.rows.length;
    const logs = { n, k: ARM_COUNT, arm: new Int32Array(n), reward: new Float64Array(n), propensity: new Float64Array(n), x: new Float64Array(n * d2), d: d2 };
    held.rows.forEach((r, i) => {
      logs.arm[i] = data.arm[r]!;
      logs.reward[i] = data.reward[r]!;
      logs.propensity[i] = data.propensity[r]!;
      logs.x.set(x2.subarray(r * d2, (r + 1) * d2), i * d2);
    });
    const ope = pairedDrDifference(logs, held.targets[0]!, held.targets[1]!);
    return { ...base, simDiff, opeDiff: { value: ope.value, ci95: ope.ci95, rows: n, data: held.data } };
  };
}
