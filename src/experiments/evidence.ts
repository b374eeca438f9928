/**
 * Gathers the promotion gate's evidence from the registry and the home's data. The baseline is
 * the champion, or uniform random when there is none.
 *   - off-policy metrics: the version's training run logged `ope/dr`;
 *   - against the baseline: the gate runs its own paired simulation (baseline first,
 *     `reps` replications, fixed seed, logged like any `oo-ml sim`, so it is also the version's
 *     simulation on record), and the paired DR difference on logged rows the version did not
 *     learn from (see `heldOutRows`);
 *   - fairness: the segments the version's training run flagged for review;
 *   - shadow exposure (for a move to champion): its shadow serves in the event log, paired with
 *     the decisions they shadowed (pipelines/shadow-traffic.ts, experiments/shadow-exposure.ts).
 */
import { fileSha256 } from '../io/atomic.js';
import { internal, nullIfNotFound } from '../errors.js';
import { OO_ML_VERSION } from '../version.js';
import { pairedDrDifference } from '../evaluation/paired-dr.js';
import { ARM_COUNT } from '../features/arms.js';
import { vectorDim, type VectorLayoutName } from '../features/vectors.js';
import { distributionOn, fitRows } from '../pipelines/policy-replay.js';
import { loadShadowPairs } from '../pipelines/shadow-traffic.js';
import { runSimulation, SIM_EXPERIMENT, UNIFORM_ENTRANT } from '../pipelines/simulation.js';
import { firstRowAfter, holdoutStart, MIN_LATER_ROWS } from '../pipelines/train.js';
import { uniformTarget } from '../evaluation/target-policy.js';
import { loadTrainingSet, trainingVectors, type TrainingData } from '../pipelines/training-set.js';
import type { VersionEvaluation } from '../models/model-card.js';
import { readEvaluation, trainingDataEnd } from '../models/model-cards.js';
import { HEADLINE_METRICS } from '../models/model-listing.js';
import { loadRegisteredPolicy, servedPolicy, type RegisteredPolicy } from '../models/policy-artifacts.js';
import type { Store } from '../registry/store.js';
import type { GateEvidence, GateQuestion, Interval } from './gate.js';
import type { PromoteContext } from './promotion.js';
import { summarizeShadow } from './shadow-exposure.js';

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


/** A registered version with what its training run's evaluation says (read once). */
interface Compared {
  registered: RegisteredPolicy;
  evaluation: VersionEvaluation | null;
}

async function compared(store: Store, ref: string): Promise<Compared> {
  const registered = await loadRegisteredPolicy(store, ref);
  return { registered, evaluation: await readEvaluation(store, registered.version.runId) };
}


/**
 * The target distributions of the compared versions (each with its exploration floor) on rows
 * none of them learned from, and what those rows are. Rows logged after every compared
 * version's training data, when there are at least MIN_LATER_ROWS of them, are used with the
 * registered states as they are. Otherwise (the usual case right after training on the whole
 * set) each version's policy is refitted with its parameters on the first rows and compared on
 * the held-out last HOLDOUT_SHARE, as `oo-ml train` evaluates: the comparison is then of the two
 * training procedures. `null` in `versions` stands for uniform random. Rows are in time order,
 * so both choices are a final span [from, n).
 */
function heldOutRows(
  data: TrainingData,
  dataSha256: string | null,
  versions: readonly (Compared | null)[],
  vectorsOf: (layout: VectorLayoutName) => Float64Array,
): { from: number; targets: Float64Array[]; data: string; notThisVersion?: string } {
  const ends = versions.map((v) => (v === null ? -Infinity : trainingDataEnd(v.evaluation)));
  const cutoff = ends.some((e) => e === null) ? null : Math.max(...(ends as number[]));
  const later = cutoff === null ? data.n : firstRowAfter(data.ts, cutoff);
  const useLater = data.n - later >= MIN_LATER_ROWS;
  const from = useLater ? later : holdoutStart(data.n);
  const targets = versions.map((c) => {
    if (c === null) return uniformTarget(data.n - from, ARM_COUNT);
    const v = c.registered;
    const policy = servedPolicy(v);
    const x = vectorsOf(policy.layout);
    const d = vectorDim(policy.layout);
    const state = useLater ? policy.fromJSON(v.state) : fitRows(policy, policy.init(ARM_COUNT, v.state.params), data, x, d, 0, from);
    return distributionOn(policy, state, x, d, from, data.n);
  });
  const rows = data.n - from;
  // A refit stands for the version only when it was trained on these rows: one trained on
  // another training set (other data, a rewritten reward column) would be judged by a policy it
  // never was.
  const candidate = versions[0];
  const trainedOn = candidate?.evaluation ?? null;
  const iso = (ms: number): string => new Date(ms).toISOString();
  const differs = (recorded: string | null | undefined, ms: number): boolean => recorded != null && recorded !== iso(ms);
  const sameShape = trainedOn !== null && trainedOn.rows === data.n && !differs(trainedOn.dataFrom, data.ts[0]!) && !differs(trainedOn.dataTo, data.ts[data.n - 1]!);
  // By content where the run recorded it (a rewritten reward column keeps rows and dates), else by rows and dates.
  const foreign =
    !useLater &&
    trainedOn !== null &&
    (trainedOn.trainingSetSha256 !== undefined && dataSha256 !== null ? trainedOn.trainingSetSha256 !== dataSha256 : !sameShape);
  return {
    ...(foreign
      ? {
          notThisVersion:
            `it was trained on ${trainedOn.trainingSet} (${trainedOn.rows} rows from ${trainedOn.dataFrom ?? '?'} to ${trainedOn.dataTo ?? '?'}), ` +
            `not on this training set (${data.n} rows from ${iso(data.ts[0]!)} to ${iso(data.ts[data.n - 1]!)}${sameShape ? ': the same rows and times, other content' : ''}); retrain it on this training set, or wait for ${MIN_LATER_ROWS} rows logged after it`,
        }
      : {}),
    from,
    targets,
    data: useLater
      ? `${rows} rows logged after ${new Date(cutoff!).toISOString()}, which no compared version learned from`
      : `the last ${rows} rows of the training set, each version refitted with its parameters on the ${from} rows before them (this compares the training procedures, not the registered states: the same policy and parameters tie)`,
  };
}

/** Tag of the simulations the gate runs itself. */
const GATE_SIM_TAG = 'oo-ml.gate';
/** Tag of the oo-ml version that ran a gate simulation: another version's is not reused. */
const GATE_SIM_VERSION_TAG = 'oo-ml.version';

/**
 * The version minus the baseline in the gate's simulation. A finished gate simulation of the
 * same versions with the same settings by this oo-ml version is reused (the shadow move's serves
 * the champion move): registered versions never change, and a simulation is deterministic for
 * its seed. An unreadable earlier result is not an error: the simulation runs again.
 */
async function gateSimulation(store: Store, policies: readonly [string, string], s: GateSimSettings, now: () => Date): Promise<Interval & { seeds: number }> {
  const experimentId = (await nullIfNotFound(store.getExperimentByName(SIM_EXPERIMENT)))?.experimentId ?? null;
  const runs =
    experimentId === null
      ? []
      : await store.searchRuns({
          experimentIds: [experimentId],
          tags: { [GATE_SIM_TAG]: 'true', [GATE_SIM_VERSION_TAG]: OO_ML_VERSION, 'oo-ml.sim.policies': policies.join(',') },
          params: { users: String(s.users), rounds: String(s.rounds), reps: String(s.reps), seed: String(s.seed) },
          status: 'FINISHED',
        });
  for (const run of runs) {
    let stored: unknown;
    try {
      stored = JSON.parse(new TextDecoder().decode(await store.downloadArtifact(run.info.runId, 'results.json')));
    } catch {
      continue;
    }
    const earlier = vsBaselineOf(stored);
    if (earlier !== null) return earlier;
  }
  const sim = await runSimulation({
    options: { users: s.users, rounds: s.rounds, seed: s.seed },
    reps: s.reps,
    policies,
    workers: s.workers,
    store,
    now,
    tags: { [GATE_SIM_TAG]: 'true', [GATE_SIM_VERSION_TAG]: OO_ML_VERSION },
  });
  const diff = vsBaselineOf(sim.results);
  if (diff === null) throw internal(`the gate's simulation of ${policies.join(' vs ')} has no paired difference`);
  return diff;
}

/** The second policy's paired difference with the first in simulation results (format oo-ml-sim/1), or null when they do not hold one. */
function vsBaselineOf(results: unknown): (Interval & { seeds: number }) | null {
  if ((results as { format?: unknown } | null)?.format !== 'oo-ml-sim/1') return null;
  const d = (results as { policies?: { vsBaseline?: { mean?: unknown; ci95?: unknown; n?: unknown } | null }[] }).policies?.[1]?.vsBaseline;
  if (d === undefined || d === null || typeof d.mean !== 'number' || typeof d.n !== 'number' || !Array.isArray(d.ci95) || d.ci95.length !== 2) return null;
  const [low, high] = d.ci95 as unknown[];
  if (typeof low !== 'number' || typeof high !== 'number') return null;
  return { value: d.mean, ci95: [low, high], seeds: d.n };
}

/** The context `promoteVersion` needs to move `model` version `version` in a home with these paths: cards, temporaries, clock and evidence. */
export function promotionContext(
  store: Store,
  paths: { modelCards: string; tmp: string; trainingSet: string; events: string },
  model: string,
  version: number,
  now: () => Date,
): PromoteContext {
  return {
    store,
    cardsDir: paths.modelCards,
    tmpDir: paths.tmp,
    now,
    evidence: gatherEvidence(store, model, version, { trainingSet: paths.trainingSet, eventsDir: paths.events, now }),
    subject: { model, version },
  };
}

/** Builds the evidence callback of `promoteVersion`. */
export function gatherEvidence(
  store: Store,
  model: string,
  version: number,
  opts: { trainingSet: string; eventsDir: string; now: () => Date; sim?: GateSimSettings },
): (question: GateQuestion) => Promise<GateEvidence> {
  return async ({ to, champion, wasShadow, forced }) => {
    const baseline = champion === null ? 'uniform random' : `champion v${champion}`;
    // Versions by number, as every command names them (`@` names an alias).
    const candidateRef = `${model}/${version}`;
    const baselineRef = champion === null ? UNIFORM_ENTRANT : `${model}/${champion}`;
    const candidate = await compared(store, candidateRef);
    const base = {
      champion,
      baseline,
      wasShadow,
      hasOpe: candidate.registered.run.data.metrics[HEADLINE_METRICS.dr] !== undefined,
      flaggedSegments: (candidate.evaluation?.fairness ?? []).filter((f) => f.flagged).map((f) => f.segment),
      segmentsChecked: candidate.evaluation?.fairness.length ?? 0,
      shadowExposure: to === 'champion' && wasShadow ? summarizeShadow(await loadShadowPairs(opts.eventsDir, model, version, opts.now(), new Date(candidate.registered.version.creationTimestamp))) : null,
    };
    // A version that was never shadow fails the champion gate whatever a comparison would say,
    // so the (expensive) simulation is skipped, unless the gate is overridden: then what it
    // overrode is recorded.
    if (to === 'champion' && !wasShadow && forced !== true) return { ...base, simDiff: null, opeDiff: null };
    const simDiff = await gateSimulation(store, [baselineRef, candidateRef], opts.sim ?? GATE_SIM, opts.now);
    if (to === 'shadow') return { ...base, simDiff, opeDiff: null };
    const data = await loadTrainingSet(opts.trainingSet);
    const championPolicy = champion === null ? null : await compared(store, baselineRef);
    // Each layout's vectors are built once for both versions and the reward model.
    const vectors = new Map<VectorLayoutName, Float64Array>();
    const vectorsOf = (layout: VectorLayoutName): Float64Array => vectors.get(layout) ?? vectors.set(layout, trainingVectors(data, layout)).get(layout)!;
    // Read only when the candidate's run recorded a hash to compare it with.
    const dataSha256 = candidate.evaluation?.trainingSetSha256 === undefined ? null : await fileSha256(opts.trainingSet);
    const held = heldOutRows(data, dataSha256, [candidate, championPolicy], vectorsOf);
    const d2 = vectorDim('v2');
    const { from } = held;
    const n = data.n - from;
    const logs = {
      n,
      k: ARM_COUNT,
      arm: data.arm.subarray(from),
      reward: data.reward.subarray(from),
      propensity: data.propensity.subarray(from),
      x: vectorsOf('v2').subarray(from * d2),
      d: d2,
    };
    const ope = pairedDrDifference(logs, held.targets[0]!, held.targets[1]!);
    return {
      ...base,
      simDiff,
      opeDiff: { value: ope.value, ci95: ope.ci95, rows: n, data: held.data, ...(held.notThisVersion === undefined ? {} : { notThisVersion: held.notThisVersion }) },
    };
  };
}
