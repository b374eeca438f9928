/**
 * `oo-ml ope`: off-policy evaluation of one target policy on logged data.
 *
 * Logs: a training-set Parquet file (`oo-ml features training-set`), or logged bandit feedback
 * in the Open Bandit Dataset's CSV layout (pipelines/obd-logs.ts; each row is one decision at
 * its slate position, the Open Bandit Pipeline's position-wise convention).
 *
 * Target policy:
 *   - `uniform`: 1/K on every arm;
 *   - a distribution file (.parquet or .csv) with one probability column per arm (`p_0` … or
 *     the arm ids), one row per logged row, in log order;
 *   - a built-in policy name, fitted on the fly on the first 80% of the rows (by time) and
 *     evaluated on the last 20% — never on the rows it learned from;
 *   - MODEL@ALIAS (or MODEL/N), a registered version as it is: on the rows logged after its
 *     training data when there are MIN_LATER_ROWS of them (rows it did not learn from), else on
 *     every row, with a note that the estimate includes rows it learned from (in-sample).
 * Built-in and registered policies read oo-ml feature vectors, so they need training-set logs.
 */
import { extname } from 'node:path';
import { internal, invalidInput, invalidUsage, notFound } from '../errors.js';
import { DEFAULT_FOLDS, evaluate, type OpeReport } from '../evaluation/evaluate.js';
import { targetRowIssue } from '../evaluation/ope-sums.js';
import { ESTIMATOR_NAMES, isEstimatorName, type EstimatorName } from '../evaluation/estimate.js';
import type { LoggedBandit } from '../evaluation/logged-bandit.js';
import { predictPooled } from '../evaluation/pooled-reward-model.js';
import { uniformTarget } from '../evaluation/target-policy.js';
import { ARM_COUNT, ARM_IDS } from '../features/arms.js';
import { vectorDim, vectorNames } from '../features/vectors.js';
import { exists } from '../io/atomic.js';
import { duckdbMessage, sqlString, withDb } from '../io/duckdb.js';
import { getPolicy } from '../policies/catalog.js';
import { checkExplorationFloor, DEFAULT_EXPLORATION_FLOOR, withExplorationFloor } from '../policies/exploration-floor.js';
import { POLICY_NAMES } from '../policies/policy.js';
import { readEvaluation, trainingDataEnd } from '../models/model-cards.js';
import { loadRegisteredPolicy, parseModelRef, servedPolicy } from '../models/policy-artifacts.js';
import type { Store } from '../registry/store.js';
import { readItemFeatures, readObdLogs, type ObdFeatures, type ObdLogs, type ObdVectors } from './obd-logs.js';
import { distributionOn, fitRows } from './policy-replay.js';
import { loadTrainingSet, trainingSetInLoadOrder, trainingVectors, type TrainingData } from './training-set.js';
import { firstRowAfter, holdoutStart, MIN_LATER_ROWS } from './train.js';

/** Options of `runOpe`. */
export interface OpeJob {
  logs: string;
  policy: string;
  estimators: readonly EstimatorName[];
  clip?: number;
  tau?: number;
  /** Shrinkage λ of dr-os. */
  osLambda?: number;
  /** Cross-fitting folds of the DM/DR reward model (default DEFAULT_FOLDS; 1 fits it on the rows it evaluates). */
  folds?: number;
  /**
   * The reward model's features. Open Bandit logs: groups of OBD_REWARD_FEATURES (default
   * affinity); with `item`, one model pooled over the items uses their context. Training sets:
   * names of the v2 vector; by default the whole vector the evaluated policy decides on (its
   * layout, v1 or v2), the v2 vector for `uniform` and a distribution file. `none`: each arm's
   * mean reward.
   */
  rewardFeatures?: readonly string[];
  /**
   * The exploration floor a built-in policy name is fitted and evaluated at (default
   * DEFAULT_EXPLORATION_FLOOR, the floor `oo-ml train` registers a version with, so the two
   * estimate the same policy). A MODEL@ALIAS target decides at its own, a distribution file as given.
   */
  explorationFloor?: number;
  /** Store for MODEL@ALIAS targets (opened lazily by the caller). */
  store: () => Store;
}

/** The evaluation and what it was run on. */
export interface OpeOutcome {
  logs: string;
  logKind: 'training-set' | 'obd';
  policy: string;
  rows: number;
  k: number;
  report: OpeReport;
  notes: string[];
  /** The registered version evaluated, when the target is MODEL@ALIAS. */
  registered?: { model: string; version: number };
}

/** Parses `--estimators ips,snips,…`, naming unknown ones. */
export function parseEstimators(raw: string | undefined): EstimatorName[] {
  if (raw === undefined) return ['ips', 'snips', 'dm', 'dr'];
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = names.filter((n) => !isEstimatorName(n));
  if (bad.length > 0 || names.length === 0) {
    throw invalidUsage(`unknown estimator(s): ${bad.join(', ') || '(none given)'}`, { hint: `choose from ${ESTIMATOR_NAMES.join(', ')}` });
  }
  return names as EstimatorName[];
}

function trainingLogs(data: TrainingData, x: Float64Array | null, d: number, from: number): LoggedBandit {
  const n = data.n - from;
  return {
    n,
    k: ARM_COUNT,
    arm: data.arm.slice(from),
    reward: data.reward.slice(from),
    propensity: data.propensity.slice(from),
    ...(x === null ? {} : { x: x.slice(from * d), d }),
  };
}

/** Feature groups of an Open Bandit log's reward model. */
export const OBD_REWARD_FEATURES = ['affinity', 'user', 'position', 'item', 'none'] as const;

/** Checks the reward-model groups of `--reward-features` on an Open Bandit log; returns the log's feature vectors they need. */
function checkRewardGroups(groups: readonly string[]): ObdFeatures[] {
  const unknown = groups.filter((g) => !(OBD_REWARD_FEATURES as readonly string[]).includes(g));
  if (unknown.length > 0 || groups.length === 0 || (groups.includes('none') && groups.length > 1)) {
    throw invalidUsage(`--reward-features on Open Bandit logs takes ${OBD_REWARD_FEATURES.join(', ')} (none alone), got "${groups.join(',')}"`);
  }
  return [...(groups.includes('affinity') ? (['affinity'] as const) : []), ...(groups.includes('user') ? (['user-onehot'] as const) : [])];
}

/** The reward model's row features of an OBD log (`x`, `d`; none for `none`), and q̂ when `item` pools it over the items. `obd` holds the vectors of `checkRewardGroups(groups)`. */
async function obdRewardFeatures(
  obd: ObdLogs,
  groups: readonly string[],
  folds: number,
): Promise<{ x: { x?: Float64Array; d?: number }; qhat: Float64Array | null; note: string }> {
  const { n, k } = obd.logs;
  const parts: { x: Float64Array; d: number; what: string }[] = [];
  const vector = (kind: ObdFeatures): ObdVectors => {
    const v = obd.vectors[kind];
    if (v === undefined) throw internal(`the Open Bandit log was read without its ${kind} features`);
    return v;
  };
  if (groups.includes('affinity')) parts.push({ ...vector('affinity'), what: `the ${k} user-item affinities` });
  if (groups.includes('user')) {
    const user = vector('user-onehot');
    parts.push({ ...user, what: `one-hot user features (${user.d} columns)` });
  }
  if (groups.includes('position')) {
    const x = new Float64Array(n * obd.positions);
    for (let i = 0; i < n; i++) x[i * obd.positions + obd.logs.position![i]!] = 1;
    parts.push({ x, d: obd.positions, what: `one-hot position (${obd.positions} slots)` });
  }
  const d = parts.reduce((s, p) => s + p.d, 0);
  const x = new Float64Array(n * d);
  let o = 0;
  for (const p of parts) {
    for (let i = 0; i < n; i++) x.set(p.x.subarray(i * p.d, (i + 1) * p.d), i * d + o);
    o += p.d;
  }
  const rowX = d === 0 ? {} : { x, d };
  const described = parts.length === 0 ? 'none (each item’s mean click rate)' : parts.map((p) => p.what).join(', ');
  if (!groups.includes('item')) return { x: rowX, qhat: null, note: `reward-model features: ${described}` };
  if (obd.itemContextFile === null) throw invalidUsage('--reward-features item needs item_context.csv beside the log');
  const items = await readItemFeatures(obd.itemContextFile, k);
  const qhat = predictPooled({ ...obd.logs, ...rowX, ...(d === 0 ? { x: undefined, d: undefined } : {}) }, items.x, items.names.length, { folds });
  return {
    x: rowX,
    qhat,
    note: `reward model pooled over the items: ${parts.length === 0 ? '' : `${described}, `}the items' context (${items.names.length} columns); cross-fitted over ${folds} fold(s), its own variance not in the intervals`,
  };
}

/** `logs` with the reward model's features picked by name from the v2 vector of rows [from, n) (unchanged when `names` is absent). */
function withRewardFeatures(logs: LoggedBandit, data: TrainingData, from: number, names: readonly string[] | undefined, notes: string[]): LoggedBandit {
  if (names === undefined) return logs;
  const all = vectorNames('v2');
  if (names.length === 1 && names[0] === 'none') {
    notes.push('reward-model features: none (each arm’s mean reward)');
    const { x: _x, d: _d, ...rest } = logs;
    return rest;
  }
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length > 0 || names.length === 0) {
    throw invalidUsage(`--reward-features on a training set takes names of the v2 vector (${all.join(', ')}) or none, got "${names.join(',')}"`);
  }
  const v2 = trainingVectors(data, 'v2');
  const dAll = all.length;
  const cols = names.map((n) => all.indexOf(n));
  const n = data.n - from;
  const x = new Float64Array(n * cols.length);
  for (let i = 0; i < n; i++) cols.forEach((c, j) => (x[i * cols.length + j] = v2[(from + i) * dAll + c]!));
  notes.push(`reward-model features: ${names.join(', ')}`);
  return { ...logs, x, d: cols.length };
}

/** The logged rows a distribution file's rows are matched to: by serve id, or by position when the file has no serve_id column. */
interface LoggedRows {
  serveIds: readonly string[];
  /** Whether the log file's own row order is the order of `serveIds` (rows matched by position need it). */
  inFileOrder(): Promise<boolean>;
  file: string;
}

/**
 * The target distribution in `file`: one probability column per arm, one row per logged row. With
 * `rows` (a training set) and a `serve_id` column, rows are matched by serve id in any order;
 * without one, by position, which needs the training set's file in time order (as oo-ml writes
 * it): a re-sorted copy would pair every row with another's distribution, silently.
 */
async function readDistribution(file: string, n: number, k: number, armIds: readonly string[], rows?: LoggedRows): Promise<Float64Array> {
  if (!(await exists(file))) throw notFound(`distribution file ${file} does not exist`);
  return withDb(':memory:', async (db) => {
    const src = extname(file).toLowerCase() === '.csv' ? `read_csv(${sqlString(file)}, header = true)` : `read_parquet(${sqlString(file)})`;
    let cols: { column_name: string }[];
    try {
      cols = await db.rows(`DESCRIBE SELECT * FROM ${src}`);
    } catch (e) {
      throw invalidInput(`distribution file ${file} cannot be read: ${duckdbMessage(e)}`);
    }
    const have = new Set(cols.map((c) => c.column_name));
    const byIndex = Array.from({ length: k }, (_, a) => `p_${a}`);
    const names = byIndex.every((c) => have.has(c)) ? byIndex : armIds.every((c) => have.has(c)) ? [...armIds] : null;
    if (names === null) {
      throw invalidInput(`distribution file ${file} needs one probability column per arm: ${byIndex.join(', ')} or ${armIds.join(', ')}`, {
        details: { found: [...have] },
      });
    }
    const byId = rows !== undefined && have.has('serve_id');
    if (rows !== undefined && !byId && !(await rows.inFileOrder())) {
      throw invalidInput(`distribution file ${file} has no serve_id column, and the rows of training set ${rows.file} are not in time order, so its rows cannot be matched by position`, {
        hint: 'add a serve_id column to the distribution file (rows are then matched by it, in any order), or write the training set sorted by ts, serve_id',
      });
    }
    let reader;
    try {
      reader = await db.connection.runAndReadAll(
        `SELECT ${names.map((c) => `CAST("${c}" AS DOUBLE) AS "${c}"`).join(', ')}${byId ? ', CAST(serve_id AS VARCHAR) AS serve_id' : ''} FROM ${src}`,
      );
    } catch (e) {
      // A cell that is not a number, a short row…: DuckDB's words, with the file named.
      throw invalidInput(`distribution file ${file} cannot be read as probabilities: ${duckdbMessage(e)}`);
    }
    if (reader.currentRowCount !== n) {
      throw invalidInput(`distribution file ${file} has ${reader.currentRowCount} rows, the logs have ${n}`, { hint: 'one row per logged row, in log order' });
    }
    const columns = reader.getColumnsJS() as (number | string | null)[][];
    // A file row as its user finds it: a CSV's line (the header is line 1), a Parquet file's
    // row from 1, and its serve id when rows are matched by it.
    const isCsv = extname(file).toLowerCase() === '.csv';
    const where = (i: number): string => `${file}: ${isCsv ? `line ${i + 2}` : `row ${i + 1}`}${byId ? ` (serve_id ${JSON.stringify(columns[k]![i])})` : ''}`;
    // The logged row each file row describes.
    const target = byId ? logRowsOf(columns[k] as (string | null)[], rows!.serveIds, where) : null;
    const out = new Float64Array(n * k);
    for (let a = 0; a < k; a++) {
      const col = columns[a]!;
      for (let i = 0; i < n; i++) {
        const v = col[i];
        if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidInput(`distribution file ${where(i)}: column ${names[a]} is not a number`);
        out[(target === null ? i : target[i]!) * k + a] = v;
      }
    }
    // Each row checked here, where it can be named as the file has it (evaluate would name the logged row).
    for (let i = 0; i < n; i++) {
      const at = (target === null ? i : target[i]!) * k;
      const issue = targetRowIssue(out.subarray(at, at + k));
      if (issue !== null) {
        throw invalidInput(`distribution file ${where(i)} ${issue}`, { hint: 'each row must be a distribution over the arms: no negative value, summing to 1' });
      }
    }
    return out;
  });
}

/** For each row of a distribution file, the index of the logged row with its serve id; every logged row exactly once. `where(i)` names file row i. */
function logRowsOf(ids: readonly (string | null)[], serveIds: readonly string[], where: (i: number) => string): Int32Array {
  const index = new Map(serveIds.map((id, i) => [id, i]));
  const seen = new Uint8Array(serveIds.length);
  const out = new Int32Array(ids.length);
  for (const [i, id] of ids.entries()) {
    const row = id === null ? undefined : index.get(id);
    if (row === undefined) throw invalidInput(`distribution file ${where(i)}: the training set has no such serve_id`);
    if (seen[row] === 1) throw invalidInput(`distribution file ${where(i)}: the serve_id appears more than once`);
    seen[row] = 1;
    out[i] = row;
  }
  return out;
}

/**
 * The first row a registered version (its training run's evaluation) did not learn from: the
 * rows logged after its training data, when there are MIN_LATER_ROWS of them; else 0 (every
 * row), saying that the estimate then includes rows it learned from.
 */
async function unlearnedFrom(store: Store, runId: string, data: TrainingData, notes: string[]): Promise<number> {
  const evaluation = await readEvaluation(store, runId);
  const endMs = trainingDataEnd(evaluation);
  if (endMs === null) {
    notes.push(`its training run does not record when its training data ends: evaluated on all ${data.n} rows, which may include rows it learned from (in-sample, optimistic)`);
    return 0;
  }
  const dataTo = new Date(endMs).toISOString();
  const from = firstRowAfter(data.ts, endMs);
  const later = data.n - from;
  if (from === 0) {
    notes.push(`evaluated on all ${data.n} rows, every one logged after its training data (which ends ${dataTo}), none of which it learned from`);
    return 0;
  }
  if (later >= MIN_LATER_ROWS) {
    notes.push(`evaluated on the ${later} rows logged after its training data (which ends ${dataTo}), none of which it learned from; the ${from} rows before are left out`);
    return from;
  }
  const learned = from === data.n ? 'every row is' : `${from} of the ${data.n} rows are`;
  notes.push(
    `its training data ends ${dataTo} and ${learned} from before then, rows it may have learned from: the estimate is in-sample (optimistic). ` +
      `With ${MIN_LATER_ROWS} rows logged after that (${later} now), only those are evaluated`,
  );
  return 0;
}

/** Runs the evaluation. */
export async function runOpe(job: OpeJob): Promise<OpeOutcome> {
  if (!(await exists(job.logs))) throw notFound(`log file ${job.logs} does not exist`, { hint: 'build one with `oo-ml features training-set`, or pass --logs (a training set, or Open Bandit Dataset CSV)' });
  const isObd = extname(job.logs).toLowerCase() === '.csv';
  const notes: string[] = [];
  const options = {
    estimators: job.estimators,
    folds: job.folds ?? DEFAULT_FOLDS,
    ...(job.clip === undefined ? {} : { clip: job.clip }),
    ...(job.tau === undefined ? {} : { tau: job.tau }),
    ...(job.osLambda === undefined ? {} : { osLambda: job.osLambda }),
  };
  const isFile = ['.parquet', '.csv'].includes(extname(job.policy).toLowerCase());
  if (job.explorationFloor !== undefined && !(POLICY_NAMES as readonly string[]).includes(job.policy)) {
    throw invalidUsage(`--exploration-floor is the floor a built-in policy (${POLICY_NAMES.join(', ')}) is fitted at here; ${job.policy} decides as it is`, {
      hint: 'leave --exploration-floor out for a registered version (its own floor), a distribution file or uniform',
    });
  }
  checkExplorationFloor(job.explorationFloor ?? DEFAULT_EXPLORATION_FLOOR);

  if (isObd) {
    const groups = job.rewardFeatures ?? ['affinity'];
    // Every vector the groups need from one read: the whole CSV is parsed and checked each time.
    const obd = await readObdLogs(job.logs, { features: checkRewardGroups(groups) });
    const features = await obdRewardFeatures(obd, groups, options.folds);
    notes.push(...obd.notes.filter((n) => !n.startsWith('reward-model features')), features.note);
    // The row features are the groups' alone: `none` fits the reward model without any.
    const { x: _x, d: _d, ...rows } = obd.logs;
    const logs: LoggedBandit = { ...rows, ...features.x };
    let target: Float64Array;
    if (job.policy === 'uniform') target = uniformTarget(logs.n, logs.k);
    else if (isFile) target = await readDistribution(job.policy, logs.n, logs.k, Array.from({ length: logs.k }, (_, a) => `item_${a}`));
    else {
      throw invalidUsage(`policy "${job.policy}" reads oo-ml feature vectors, which Open Bandit logs do not have`, {
        hint: 'evaluate `uniform` or a per-row distribution file on OBD logs',
      });
    }
    const report = evaluate(logs, target, features.qhat === null ? options : { ...options, qhat: features.qhat });
    return { logs: job.logs, logKind: 'obd', policy: job.policy, rows: logs.n, k: logs.k, report, notes };
  }

  const data = await loadTrainingSet(job.logs);
  if (job.policy === 'uniform' || isFile) {
    const x = trainingVectors(data, 'v2');
    const logs = withRewardFeatures(trainingLogs(data, x, vectorDim('v2'), 0), data, 0, job.rewardFeatures, notes);
    const rows: LoggedRows = { serveIds: data.serveId, inFileOrder: () => trainingSetInLoadOrder(job.logs), file: job.logs };
    const target = job.policy === 'uniform' ? uniformTarget(logs.n, ARM_COUNT) : await readDistribution(job.policy, logs.n, ARM_COUNT, ARM_IDS, rows);
    return { logs: job.logs, logKind: 'training-set', policy: job.policy, rows: logs.n, k: ARM_COUNT, report: evaluate(logs, target, options), notes };
  }
  if ((POLICY_NAMES as readonly string[]).includes(job.policy)) {
    const floor = job.explorationFloor ?? DEFAULT_EXPLORATION_FLOOR;
    const policy = withExplorationFloor(getPolicy(job.policy), floor, ARM_COUNT);
    const d = vectorDim(policy.layout);
    const x = trainingVectors(data, policy.layout);
    const from = holdoutStart(data.n);
    const state = fitRows(policy, policy.init(ARM_COUNT), data, x, d, 0, from);
    notes.push(`${job.policy} was fitted on the first ${from} rows and evaluated on the last ${data.n - from}, ${floor === 0 ? 'with no exploration floor' : `at exploration floor ${floor} (as \`oo-ml train\` registers it; --exploration-floor)`}`);
    const logs = withRewardFeatures(trainingLogs(data, x, d, from), data, from, job.rewardFeatures, notes);
    return {
      logs: job.logs,
      logKind: 'training-set',
      policy: job.policy,
      rows: logs.n,
      k: ARM_COUNT,
      report: evaluate(logs, distributionOn(policy, state, x, d, from, data.n), options),
      notes,
    };
  }
  if (parseModelRef(job.policy) === null) {
    throw invalidUsage(`unknown policy "${job.policy}"`, { hint: `use uniform, ${POLICY_NAMES.join(', ')}, MODEL@ALIAS or a distribution file (.parquet/.csv)` });
  }
  const registered = await loadRegisteredPolicy(job.store(), job.policy);
  const policy = servedPolicy(registered);
  const state = policy.fromJSON(registered.state);
  const d = vectorDim(policy.layout);
  const x = trainingVectors(data, policy.layout);
  const floor = registered.explorationFloor === 0 ? 'no exploration floor' : `exploration floor ${registered.explorationFloor}`;
  notes.push(`${job.policy} is ${registered.version.name} v${registered.version.version} (${registered.state.policy}, ${floor})`);
  const from = await unlearnedFrom(job.store(), registered.version.runId, data, notes);
  const logs = withRewardFeatures(trainingLogs(data, x, d, from), data, from, job.rewardFeatures, notes);
  return {
    logs: job.logs,
    logKind: 'training-set',
    policy: job.policy,
    rows: logs.n,
    k: ARM_COUNT,
    report: evaluate(logs, distributionOn(policy, state, x, d, from, data.n), options),
    notes,
    registered: { model: registered.version.name, version: registered.version.version },
  };
}
