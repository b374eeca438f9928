/**
 * `evaluate`: every requested off-policy estimate of one target policy on one set of logs.
 *
 * Work: one pass over the logged columns (`checkLogs`), the reward-model fit when a model-based
 * estimator is requested and no predictions are given (two passes over the rows with features),
 * then one fused pass over the target (`computeOpeSums`) from which every estimator and the
 * logging policy's own value are read. With `interval: 'bootstrap'` each resample is one more
 * weighted pass (plus a refit when the model was fitted here).
 */
import { invalidInput, invalidUsage } from '../errors.js';
import type { Rng } from '../random/rng.js';
import { bootstrapReplicates, percentileInterval, sampleStdDev } from './bootstrap.js';
import { FIXED_MODEL_NOTE } from './direct-method.js';
import { isEstimatorName, type Estimate, type EstimatorContext, type EstimatorName, type IntervalMethod, type WeightDiagnostics } from './estimate.js';
import { ESTIMATORS } from './estimators.js';
import { checkLogs, type LoggedBandit } from './logged-bandit.js';
import { loggingPolicyEstimate } from './logging-policy.js';
import { modelVariance, type LinearModelUncertainty } from './model-variance.js';
import { computeOpeSums, type ModelTerm, type OpeInputs, type OpeSums } from './ope-sums.js';
import { checkFolds, DEFAULT_RIDGE_LAMBDA, fitRidgeRewardModel, predictCrossFitted, predictRewards, type RidgeRewardModel } from './reward-model.js';

export { DEFAULT_FOLDS } from './reward-model.js';
import { guardRareRewards } from './rare-rewards.js';
import { sndrStdErr } from './self-normalized-dr.js';
import { weightDiagnostics } from './weight-diagnostics.js';

/** Estimators run when none are named. */
export const DEFAULT_ESTIMATORS: readonly EstimatorName[] = ['ips', 'snips', 'dm', 'dr'];
/** Bootstrap resamples when none are given. */
export const DEFAULT_RESAMPLES = 1000;

/** Options of `evaluate`. */
export interface EvaluateOptions {
  /** Which estimators, in the order to report them (default ips, snips, dm, dr). */
  estimators?: readonly EstimatorName[];
  /** Analytic intervals (default) or the percentile bootstrap for every estimator (the logging
   *  policy's plain mean keeps its analytic interval). */
  interval?: Extract<IntervalMethod, 'analytic' | 'bootstrap'>;
  /** The generator of bootstrap resamples (required with `interval: 'bootstrap'`). */
  rng?: Rng;
  /** Bootstrap resamples B (default 1000). */
  resamples?: number;
  /** Weight cap of `dr-clip` (required when it is requested). */
  clip?: number;
  /** Weight threshold of `switch-dr` (required when it is requested). */
  tau?: number;
  /** Shrinkage λ > 0 of `dr-os` (required when it is requested). */
  osLambda?: number;
  /** Reward predictions q̂, row-major n × k, held fixed (e.g. a model fitted on other data). */
  qhat?: Float64Array;
  /** A fitted ridge model to predict q̂ with (its covariance feeds DM's interval). */
  rewardModel?: RidgeRewardModel;
  /** Ridge penalty when the model is fitted here (default 1). */
  lambda?: number;
  /**
   * Cross-fitting of a model fitted here: with k > 1 folds (row i in fold i mod k), each row's
   * q̂ comes from a model fitted on the other folds, as the Open Bandit Pipeline does. Fitted on
   * the rows it evaluates (k = 1, the default), q̂'s per-arm residuals sum to zero, so DR equals
   * DM whenever the weights are constant within an arm (uniform logs). Pipelines use
   * DEFAULT_FOLDS.
   */
  folds?: number;
}


/** Where the reward model of DM and DR came from. */
export interface RewardModelInfo {
  /** `fitted`: per-arm ridge on these logs; `given-model`: predictions of a given ridge model;
   *  `given-qhat`: predictions passed in. */
  source: 'fitted' | 'given-model' | 'given-qhat';
  /** Cross-fitting folds of a fitted model (1: fitted on the rows it evaluates); null when given. */
  folds: number | null;
  /** Feature width (0: each arm's mean reward); null for given predictions. */
  d: number | null;
  lambda: number | null;
  unfittedArms: number[];
}

/** Everything `evaluate` found. */
export interface OpeReport {
  n: number;
  k: number;
  /** One estimate per requested estimator, in the requested order. */
  estimates: Estimate[];
  /** The logging policy's on-policy value (mean logged reward) with its interval. */
  loggingPolicy: Estimate;
  /** Importance-weight diagnostics shared by the estimates. */
  diagnostics: WeightDiagnostics;
  /** The reward model, when a model-based estimator ran. */
  rewardModel: RewardModelInfo | null;
}

/** Runs the requested estimators of `target` (π(a|x_i), row-major n × k) on `logs`. */
export function evaluate(logs: LoggedBandit, target: Float64Array, options: EvaluateOptions = {}): OpeReport {
  const names = checkOptions(options);
  const summary = checkLogs(logs);
  const { n, k } = logs;
  if (target.length !== n * k) {
    throw invalidInput(`target has ${target.length} values, expected n × k = ${n} × ${k} = ${n * k}`, {
      hint: 'the target holds the evaluation policy’s full action distribution for every logged row, row-major',
    });
  }

  const needsModel = names.some((e) => ESTIMATORS[e].model);
  const model = needsModel ? rewardModelFor(logs, options) : null;
  const uncertainty = model?.uncertainty ?? null;
  const inp: OpeInputs = {
    logs,
    target,
    qhat: model?.qhat ?? null,
    clip: names.includes('dr-clip') ? options.clip! : null,
    tau: names.includes('switch-dr') ? options.tau! : null,
    osLambda: names.includes('dr-os') ? options.osLambda! : null,
    unloggedArms: summary.unloggedArms,
    modelDim: uncertainty === null ? null : uncertainty.p - 1,
  };
  const { sums, shifts } = computeOpeSums(inp);

  if (sums.sumW === 0) {
    const weighted = names.filter((e) => ESTIMATORS[e].weighted);
    if (weighted.length > 0) {
      throw invalidInput(`the target puts zero mass on the logged arm in every row: ${weighted.join(', ')} cannot be estimated`, {
        hint: 'check that target and logs use the same arm order, or evaluate with dm only',
      });
    }
  }

  const diagnostics = weightDiagnostics(sums, summary.unloggedArms, summary.minPropensity);
  const ctx: EstimatorContext = {
    diagnostics,
    modelNotes: model?.notes ?? [],
    modelVariance: uncertainty === null ? null : (term) => termModelVariance(sums, term, uncertainty),
    clip: inp.clip,
    tau: inp.tau,
    osLambda: inp.osLambda,
    sndrStdErr: names.includes('sndr') ? sndrStdErr(inp, sums) : null,
  };
  const estimates = names.map((e) => ESTIMATORS[e].estimate(sums, ctx));

  if (options.interval === 'bootstrap') {
    const resamples = options.resamples ?? DEFAULT_RESAMPLES;
    const refit = model?.refit;
    const replicates = bootstrapReplicates(
      { ...inp, modelDim: null },
      shifts,
      names.map((e) => ESTIMATORS[e].value),
      refit === undefined ? { rng: options.rng!, resamples } : { rng: options.rng!, resamples, refit },
    );
    for (let e = 0; e < estimates.length; e++) {
      const est = estimates[e]!;
      const values = replicates[e]!;
      est.stdErr = sampleStdDev(values);
      est.ci95 = percentileInterval(values);
      est.intervalMethod = 'bootstrap';
      est.diagnostics.resamples = resamples;
      if (ESTIMATORS[names[e]!].model && refit === undefined && !est.notes.includes(FIXED_MODEL_NOTE)) est.notes.push(FIXED_MODEL_NOTE);
    }
  }

  guardRareRewards(estimates, sums, summary.rewardsInUnit, summary.rewardsBinary);

  return {
    n,
    k,
    estimates,
    loggingPolicy: loggingPolicyEstimate(sums.reward, sums.n, summary.unloggedArms, summary.minPropensity),
    diagnostics,
    rewardModel: model?.info ?? null,
  };
}

/** The estimator list, after checking every option; throws `invalid_usage` naming the bad one. */
function checkOptions(options: EvaluateOptions): EstimatorName[] {
  const requested: readonly string[] = options.estimators ?? DEFAULT_ESTIMATORS;
  if (requested.length === 0) throw invalidUsage('no estimator requested', { hint: `choose from ${Object.keys(ESTIMATORS).join(', ')}` });
  const unknown = requested.filter((e) => !isEstimatorName(e));
  if (unknown.length > 0) {
    throw invalidUsage(`unknown estimator(s): ${unknown.join(', ')}`, { hint: `choose from ${Object.keys(ESTIMATORS).join(', ')}` });
  }
  const names = [...new Set(requested)] as EstimatorName[];
  if (names.includes('dr-clip') && !(options.clip !== undefined && options.clip > 0)) {
    throw invalidUsage(`dr-clip needs a weight cap clip > 0, got ${String(options.clip)}`);
  }
  if (names.includes('switch-dr') && !(options.tau !== undefined && options.tau >= 0)) {
    throw invalidUsage(`switch-dr needs a weight threshold tau ≥ 0, got ${String(options.tau)}`);
  }
  if (names.includes('dr-os') && !(options.osLambda !== undefined && options.osLambda > 0 && Number.isFinite(options.osLambda))) {
    throw invalidUsage(`dr-os needs a shrinkage λ > 0 (osLambda; --os-lambda on the command line), got ${String(options.osLambda)}`);
  }
  if (options.folds !== undefined) checkFolds(options.folds);
  if (options.interval !== undefined && options.interval !== 'analytic' && options.interval !== 'bootstrap') {
    throw invalidUsage(`interval must be analytic or bootstrap, got ${String(options.interval)}`);
  }
  if (options.interval === 'bootstrap') {
    if (options.rng === undefined) throw invalidUsage('the bootstrap needs a seeded rng', { hint: 'pass rng: createRng(seed)' });
    const b = options.resamples ?? DEFAULT_RESAMPLES;
    if (!Number.isSafeInteger(b) || b < 2) throw invalidUsage(`bootstrap resamples must be an integer ≥ 2, got ${b}`);
  }
  return names;
}

/** The model's share of a term's variance, from the pass sums. */
function termModelVariance(sums: OpeSums, term: ModelTerm, u: LinearModelUncertainty): number {
  const t = sums[term];
  return sums.model === null || t === null ? 0 : modelVariance(sums.model, term, t, sums.n, u);
}

interface ModelSetup {
  qhat: Float64Array;
  /** Coefficient uncertainty of a linear model; null for predictions given as fixed. */
  uncertainty: LinearModelUncertainty | null;
  info: RewardModelInfo;
  notes: string[];
  /** Refit on bootstrap multiplicities; absent when the model is given. */
  refit?: (weights: Float64Array) => Float64Array;
}

/** q̂ from the given predictions, the given model, or a ridge fit on the logs, in that order. */
function rewardModelFor(logs: LoggedBandit, options: EvaluateOptions): ModelSetup {
  const { n, k } = logs;
  if (options.qhat !== undefined) {
    if (options.qhat.length !== n * k) {
      throw invalidInput(`qhat has ${options.qhat.length} values, expected n × k = ${n} × ${k} = ${n * k}`);
    }
    return {
      qhat: options.qhat,
      uncertainty: null,
      info: { source: 'given-qhat', folds: null, d: null, lambda: null, unfittedArms: [] },
      notes: [],
    };
  }
  if (options.rewardModel !== undefined) {
    const m = options.rewardModel;
    if (m.k !== k) throw invalidInput(`the reward model has ${m.k} arms, the logs ${k}`);
    if (m.d > 0 && m.d !== (logs.d ?? 0)) throw invalidInput(`the reward model has ${m.d} features, the logs ${logs.d ?? 0}`);
    return {
      qhat: predictRewards(m, logs.x, n),
      // Fitted on other rows: its error is independent of these terms, so no cross term.
      uncertainty: m.coefCov === null ? null : { k, p: m.d + 1, coefCov: m.coefCov, gramInverse: null },
      info: { source: 'given-model', folds: null, d: m.d, lambda: m.lambda, unfittedArms: [...m.unfittedArms] },
      notes: unfittedNotes(m),
    };
  }
  const lambda = options.lambda ?? DEFAULT_RIDGE_LAMBDA;
  const asked = options.folds ?? 1;
  // More folds than rows leaves folds without a row, and a model fitted on nothing predicts 0.
  const folds = Math.max(1, Math.min(asked, n));
  const ridge = fitRidgeRewardModel(logs, { lambda });
  const notes = unfittedNotes(ridge);
  if (folds < asked) {
    notes.push(folds === 1 ? `one row: the reward model is fitted on the row it evaluates, not cross-fitted over ${asked} folds` : `${n} rows: the reward model is cross-fitted over ${folds} folds (one row each), not ${asked}`);
  }
  if (ridge.d === 0) notes.unshift('the logs have no feature vectors: the reward model is each arm’s mean reward');
  const buffer = new Float64Array(n * k);
  const info: RewardModelInfo = { source: 'fitted', folds, d: ridge.d, lambda, unfittedArms: [...ridge.unfittedArms] };
  if (folds === 1) {
    return {
      qhat: predictRewards(ridge, logs.x, n),
      uncertainty: { k, p: ridge.d + 1, coefCov: ridge.coefCov!, gramInverse: ridge.gramInverse },
      info,
      notes,
      refit: (weights) => predictRewards(fitRidgeRewardModel(logs, { lambda, weights, covariance: false }), logs.x, n, buffer),
    };
  }
  const { qhat, unfittedArms } = predictCrossFitted(logs, folds, { lambda });
  const foldNotes = unfittedArms.filter((a) => !ridge.unfittedArms.includes(a));
  if (foldNotes.length > 0) notes.push(`in some of the ${folds} folds the reward model saw no rows of arm(s) ${foldNotes.join(', ')} and predicts the pooled mean reward there`);
  // Each fold's model is fitted on (k − 1)/k of the rows: its coefficients vary k/(k − 1) times
  // as much as the full fit's. Fitted on other rows, its error does not correlate with a row's
  // own residual, so there is no cross term (gramInverse null), as for a given model.
  const scale = folds / (folds - 1);
  const coefCov = ridge.coefCov!.map((v) => v * scale);
  return {
    qhat,
    uncertainty: { k, p: ridge.d + 1, coefCov, gramInverse: null },
    info,
    notes,
    refit: (weights) => predictCrossFitted(logs, folds, { lambda, weights }, buffer).qhat,
  };
}

function unfittedNotes(m: RidgeRewardModel): string[] {
  return m.unfittedArms.length === 0
    ? []
    : [`the reward model saw no rows of arm(s) ${m.unfittedArms.join(', ')} and predicts the pooled mean reward for them`];
}
