/**
 * `oo-ml train`: fit a policy on the logged training set, evaluate it off-policy, and record
 * everything in one MLflow run; register the state as a new version with alias `candidate`
 * and regenerate the model card.
 *
 * Fitting replays the logged (x, arm, reward) rows in time order through `Policy.update`. The
 * policies learn per-arm regressions, which stay unbiased under any logging policy that gives
 * every arm positive probability (covariate shift does not bias a well-specified per-arm model),
 * so no importance weights are needed for the fit itself; the evaluation is where the logging
 * propensities matter. Evaluation uses a time split: the policy fitted on the first 80% of the
 * rows is evaluated (IPS, SNIPS, DM, DR; analytic 95% intervals) on the last 20%, against the
 * logging policy's own value on the same rows; the registered state is then refitted on all rows,
 * recording its prequential value as it learns (the training curve, logged as metric steps).
 * Fairness: the DR estimate within each user segment, against the overall DR estimate and against
 * where the logging policy left the segment (model-card.ts segmentFlagged).
 */
import { fileSha256 } from '../io/atomic.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { asUsage, invalidInput, isOoMlError } from '../errors.js';
import { checkModelName } from '../registry/store-limits.js';
import { DEFAULT_FOLDS, evaluate } from '../evaluation/evaluate.js';
import type { Estimate as OpeEstimate } from '../evaluation/estimate.js';
import type { LoggedBandit } from '../evaluation/logged-bandit.js';
import { drOverLogged } from '../evaluation/paired-dr.js';
import { ARM_COUNT } from '../features/arms.js';
import { contractHash, contractSignatures } from '../features/contract.js';
import { vectorDim, vectorNames } from '../features/vectors.js';
import { getPolicy } from '../policies/catalog.js';
import { checkExplorationFloor, DEFAULT_EXPLORATION_FLOOR, withExplorationFloor } from '../policies/exploration-floor.js';
import { segmentFlagged, cardSummary, type Estimate, type RolloutEntry, type SegmentCheck, type VersionEvaluation } from '../models/model-card.js';
import { CARD_ARTIFACT, EVALUATION_ARTIFACT, refreshModelCard } from '../models/model-cards.js';
import { opeReportMetrics } from '../models/ope-metrics.js';
import { EXPLORATION_FLOOR_PARAM, POLICY_STATE_ARTIFACT } from '../models/policy-artifacts.js';
import { appendRollout } from '../models/rollout-history.js';
import { applyMoves, clearPending, markPending, RETIRED_TAG } from '../models/pending-moves.js';
import { readLatest } from './snapshot-files.js';
import type { Store } from '../registry/store.js';
import { distributionOn, fitRows, fitWithCurve } from './policy-replay.js';
import { loadTrainingSet, trainingVectors, type TrainingData } from './training-set.js';

/** Experiment that training runs are logged to. */
export const TRAIN_EXPERIMENT = 'oo-ml-train';
/** Default registered model name. */
export const DEFAULT_MODEL = 'tip-policy';
/** Share of rows (the most recent) held out for evaluation. */
export const HOLDOUT_SHARE = 0.2;
/** The first row of the time holdout of `n` rows (the last HOLDOUT_SHARE of them). */
export function holdoutStart(n: number): number {
  return n - Math.floor(n * HOLDOUT_SHARE);
}

/** Fewest holdout rows for an evaluation worth reporting. */
const MIN_HOLDOUT = 50;

/**
 * Fewest rows logged after a registered version's training data for `ope` and the gate to
 * evaluate its state as it is on them alone (rows it did not learn from).
 */
export const MIN_LATER_ROWS = 200;

/** The first of `ts`'s (time-ordered, ms) rows logged after `endMs`: `ts.length` when none is. */
export function firstRowAfter(ts: ArrayLike<number>, endMs: number): number {
  let later = ts.length;
  while (later > 0 && ts[later - 1]! > endMs) later--;
  return later;
}

/** Options of `trainPolicy`. */
export interface TrainJob {
  trainingSet: string;
  policy: string;
  model: string;
  params?: Record<string, number>;
  /** The version's exploration floor (default DEFAULT_EXPLORATION_FLOOR): it is evaluated, and will serve, with it. */
  explorationFloor?: number;
  store: Store;
  cardsDir: string;
  snapshotsDir: string;
  tmpDir: string;
  now: () => Date;
}

/** What training produced. */
export interface TrainOutcome {
  model: string;
  version: number;
  runId: string;
  experimentId: string;
  evaluation: VersionEvaluation;
  card: string;
  cardMarkdown: string;
}

/** The logged bandit of rows [from, to) (or the listed rows). */
function logsOf(data: TrainingData, x: Float64Array, d: number, rows: readonly number[]): LoggedBandit {
  const n = rows.length;
  const logs: LoggedBandit = {
    n,
    k: ARM_COUNT,
    arm: new Int32Array(n),
    reward: new Float64Array(n),
    propensity: new Float64Array(n),
    x: new Float64Array(n * d),
    d,
  };
  rows.forEach((r, i) => {
    logs.arm[i] = data.arm[r]!;
    logs.reward[i] = data.reward[r]!;
    logs.propensity[i] = data.propensity[r]!;
    logs.x!.set(x.subarray(r * d, (r + 1) * d), i * d);
  });
  return logs;
}

const toEstimate = (e: Pick<OpeEstimate, 'value' | 'ci95'>): Estimate => ({ value: e.value, ci95: e.ci95 });

/** The current git commit of the working folder, if it is a repository. */
async function gitCommit(): Promise<string | null> {
  try {
    const { stdout } = await promisify(execFile)('git', ['rev-parse', 'HEAD'], { timeout: 2000 });
    return stdout.trim() || null;
  } catch {
    return null;
  }
}

/** Fits, evaluates, logs, registers and documents one policy. */
export async function trainPolicy(job: TrainJob): Promise<TrainOutcome> {
  // The job's own choices are refused as bad usage before any work (as sim's and ope's are), the
  // model name too: it was checked only at registration, after training and a run logged.
  const { policy, explorationFloor } = asUsage(() => {
    const policy = getPolicy(job.policy);
    policy.init(ARM_COUNT, job.params);
    checkModelName(job.model);
    return { policy, explorationFloor: checkExplorationFloor(job.explorationFloor ?? DEFAULT_EXPLORATION_FLOOR) };
  });
  // The distribution the version will serve: what the holdout evaluates.
  const served = withExplorationFloor(policy, explorationFloor, ARM_COUNT);
  const data = await loadTrainingSet(job.trainingSet);
  if (data.contractHash !== null && data.contractHash !== contractHash()) {
    throw invalidInput(`training set ${job.trainingSet} was built with another feature contract (${data.contractHash.slice(0, 12)})`, {
      hint: 'rebuild it with `oo-ml features build && oo-ml features training-set`',
    });
  }
  const nHold = data.n - holdoutStart(data.n);
  if (nHold < MIN_HOLDOUT) {
    throw invalidInput(`training set ${job.trainingSet} has ${data.n} rows: too few to hold out ${MIN_HOLDOUT} for evaluation`, {
      hint: 'generate more data (more users or days)',
    });
  }
  const nTrain = data.n - nHold;
  const d = vectorDim(policy.layout);
  const x = trainingVectors(data, policy.layout);

  // Evaluate a policy fitted on the first rows, on the held-out last rows.
  const early = fitRows(policy, policy.init(ARM_COUNT, job.params), data, x, d, 0, nTrain);
  const holdRows = Array.from({ length: nHold }, (_, i) => nTrain + i);
  const target = distributionOn(served, early, x, d, nTrain, data.n);
  const report = evaluate(logsOf(data, x, d, holdRows), target, { estimators: ['ips', 'snips', 'dm', 'dr'], folds: DEFAULT_FOLDS });
  const byName = Object.fromEntries(report.estimates.map((e) => [e.estimator, e]));
  const dr = byName['dr']!;
  const fairness: SegmentCheck[] = [];
  const segments = [...new Set(holdRows.map((r) => data.segment[r]!))].sort();
  if (segments.length > 1) {
    for (const segment of segments) {
      const rows = holdRows.filter((r) => data.segment[r] === segment);
      if (rows.length < 20) continue;
      const segTarget = new Float64Array(rows.length * ARM_COUNT);
      rows.forEach((r, i) => segTarget.set(target.subarray((r - nTrain) * ARM_COUNT, (r - nTrain + 1) * ARM_COUNT), i * ARM_COUNT));
      const seg = evaluate(logsOf(data, x, d, rows), segTarget, { estimators: ['dr'], folds: DEFAULT_FOLDS }).estimates[0]!;
      const ratio = dr.value === 0 ? 1 : seg.value / dr.value;
      const segLogging = rows.reduce((sum, r) => sum + data.reward[r]!, 0) / rows.length;
      const loggingRatio = report.loggingPolicy.value === 0 ? 1 : segLogging / report.loggingPolicy.value;
      const ratioHigh = dr.value === 0 ? 1 : seg.ci95[1] / dr.value;
      const check = { ratio, ratioHigh, loggingRatio };
      fairness.push({ segment, rows: rows.length, estimate: toEstimate(seg), ...check, flagged: segmentFlagged(check) });
    }
  }
  // The registered state learns from every row; its prequential value along the way is the
  // training curve (with the floor it will serve with).
  const { state, curve } = fitWithCurve(served, policy.init(ARM_COUNT, job.params), data, x, d);
  const serialized = policy.toJSON(state);

  const evaluation: VersionEvaluation = {
    policy: policy.name,
    layout: policy.layout,
    params: serialized.params,
    trainingSet: job.trainingSet,
    trainingSetSha256: await fileSha256(job.trainingSet),
    rows: data.n,
    holdoutRows: nHold,
    dataFrom: new Date(data.ts[0]!).toISOString(),
    dataTo: new Date(data.ts[data.n - 1]!).toISOString(),
    snapshotId: await readLatest(job.snapshotsDir),
    contractHash: contractHash(),
    metrics: Object.fromEntries(report.estimates.map((e) => [e.estimator, toEstimate(e)])),
    loggingValue: toEstimate(report.loggingPolicy),
    overLogging: toEstimate(drOverLogged(logsOf(data, x, d, holdRows), target)),
    explorationFloor,
    support: { share: report.diagnostics.support, minLoggedPropensity: report.diagnostics.minLoggedPropensity },
    fairness,
    notes: [
      ...new Set(report.estimates.flatMap((e) => e.notes)),
      `effective sample size of the holdout weights: ${report.diagnostics.effectiveSampleSize.toFixed(1)} of ${nHold}`,
    ],
  };

  const store = job.store;
  const experiment = await store.getOrCreateExperiment(TRAIN_EXPERIMENT);
  const commit = await gitCommit();
  const run = await store.createRun(experiment.experimentId, {
    runName: `train-${policy.name}`,
    startTime: job.now().getTime(),
    tags: {
      'oo-ml.kind': 'train',
      'oo-ml.policy': policy.name,
      'oo-ml.model': job.model,
      'oo-ml.contract_hash': contractHash(),
      'oo-ml.snapshot_id': evaluation.snapshotId ?? '',
      'oo-ml.training_set': job.trainingSet,
      'oo-ml.data_from': evaluation.dataFrom ?? '',
      'oo-ml.data_to': evaluation.dataTo ?? '',
      ...(commit === null ? {} : { 'mlflow.source.git.commit': commit }),
    },
  });
  const runId = run.info.runId;
  // Once the run is finished, a later failure leaves it FINISHED (the version is complete) and the
  // pending record says what is left to do.
  let finished = false;
  /** The version registered, until it is complete: retired if this fails before then. */
  let registered: number | null = null;
  try {
    await store.logBatch(runId, {
      params: [
        { key: 'policy', value: policy.name },
        { key: 'layout', value: policy.layout },
        { key: 'd', value: String(d) },
        { key: 'k', value: String(ARM_COUNT) },
        { key: 'rows', value: String(data.n) },
        { key: 'holdout_rows', value: String(nHold) },
        { key: EXPLORATION_FLOOR_PARAM, value: String(explorationFloor) },
        ...Object.entries(serialized.params).map(([k, v]) => ({ key: `policy.${k}`, value: String(v) })),
      ],
      metrics: [
        ...opeReportMetrics(report),
        // The training curve as metric steps (step = rows learned from): MLflow's UI draws it.
        ...curve.steps.flatMap((step, i) => [
          { key: 'train/prequential_ips', value: curve.ips[i]!, step },
          { key: 'train/prequential_snips', value: curve.snips[i]!, step },
        ]),
        ...fairness.map((f) => ({ key: `fairness/${f.segment.replace(/[^A-Za-z0-9_\-.]/g, '_')}/ratio`, value: f.ratio })),
      ],
    });
    await store.logArtifact(runId, POLICY_STATE_ARTIFACT, JSON.stringify(serialized) + '\n');
    await store.logArtifact(
      runId,
      'feature-manifest.json',
      JSON.stringify({ contractHash: contractHash(), layout: policy.layout, vector: vectorNames(policy.layout), features: contractSignatures() }, null, 2) + '\n',
    );
    await store.logArtifact(runId, EVALUATION_ARTIFACT, JSON.stringify(evaluation, null, 2) + '\n');

    try {
      await store.createRegisteredModel(job.model, '', { 'oo-ml.kind': 'tip-policy' });
    } catch (e) {
      if (!isOoMlError(e, 'already_exists')) throw e;
    }
    const source = `${run.info.artifactUri.replace(/\/$/, '')}/policy`;
    const version = await store.createModelVersion(job.model, source, runId, '', { 'oo-ml.policy': policy.name });
    registered = version.version;
    const previous = (await store.getRegisteredModel(job.model)).aliases['candidate'] ?? null;
    const move: RolloutEntry = {
      time: job.now().toISOString(),
      alias: 'candidate',
      from: previous,
      to: version.version,
      reason: `trained ${policy.name}`,
      forced: false,
      figures: { dr: dr.value, dr_ci_low: dr.ci95[0], dr_ci_high: dr.ci95[1] },
    };
    // The version is complete (card, description, finished run) before @candidate points at it;
    // the pending record lets `oo-ml models --repair` finish or retire it if this dies on the way.
    await markPending(store, job.model, version.version, { command: 'train', time: move.time, runId, moves: [move] });
    const card = await refreshModelCard(store, job.model, job.cardsDir, job.now(), job.tmpDir, [move]);
    await store.logArtifact(runId, CARD_ARTIFACT, card.markdown);
    await store.updateModelVersion(job.model, version.version, cardSummary(card.markdown));
    await store.finishRun(runId, 'FINISHED', job.now().getTime());
    finished = true;
    await applyMoves(store, job.model, [move]);
    await appendRollout(store, job.model, move);
    await clearPending(store, job.model, version.version);
    return {
      model: job.model,
      version: version.version,
      runId,
      experimentId: experiment.experimentId,
      evaluation,
      card: card.path,
      cardMarkdown: card.markdown,
    };
  } catch (e) {
    if (!finished) {
      await store.finishRun(runId, 'FAILED', job.now().getTime()).catch(() => undefined);
      // Best effort (the store may be what failed): `oo-ml models --repair` retires it otherwise.
      if (registered !== null) {
        // Its pending record goes only once it is retired: no alias moved before `finished`.
        await store
          .setModelVersionTag(job.model, registered, RETIRED_TAG, `train failed before the version was complete: ${e instanceof Error ? e.message : String(e)}`.slice(0, 4000))
          .then(() => clearPending(store, job.model, registered!))
          .catch(() => undefined);
        // The card may already show the @candidate move that did not happen.
        await refreshModelCard(store, job.model, job.cardsDir, job.now(), job.tmpDir).catch(() => undefined);
      }
    }
    throw e;
  }
}
