/** `oo-ml ope`: off-policy estimates (IPS, SNIPS, DM, DR, …) of a policy on logged data. */
import type { Command } from 'commander';
import { extname, resolve } from 'node:path';
import type { OpeOutcome } from '../../pipelines/ope.js';
import { invalidUsage } from '../../errors.js';
import { parseIntFlag, parseNumberFlag, parsePositiveFlag } from '../flags.js';
import { action } from '../command.js';
import { keyValues, table } from '../format.js';

interface OpeFlags {
  logs?: string;
  policy: string;
  estimators?: string;
  clip?: string;
  tau?: string;
  osLambda?: string;
  folds: string;
  log?: boolean;
  rewardFeatures?: string;
  explorationFloor?: string;
}

/** Plain-text rendering of an evaluation. */
export function renderOpe(o: OpeOutcome): string {
  const f = (x: number) => x.toFixed(4);
  const r = o.report;
  const dg = r.diagnostics;
  return [
    keyValues([
      ['logs', `${o.logs} (${o.logKind}, ${o.rows} rows, ${o.k} arms)`],
      ['policy', o.policy],
      ['effective sample size', `${dg.effectiveSampleSize.toFixed(1)} of ${dg.n}`],
      ['weights', `max ${dg.maxWeight.toFixed(2)}, mean ${dg.meanWeight.toFixed(3)}, zero-mass share ${(dg.zeroMassShare * 100).toFixed(1)}%`],
      ['support', `${(dg.support * 100).toFixed(1)}% of logged rows usable by the policy, min logged propensity ${dg.minLoggedPropensity.toPrecision(3)}`],
      ...(r.rewardModel === null || r.rewardModel.folds === null
        ? []
        : ([['reward model', r.rewardModel.folds === 1 ? 'fitted on the rows it evaluates' : `cross-fitted over ${r.rewardModel.folds} folds`]] as [string, string][])),
    ]),
    '',
    table(
      ['estimator', 'value', 'std err', '95% CI', 'interval'],
      [...r.estimates, r.loggingPolicy].map((e) => [e.estimator, f(e.value), f(e.stdErr), `[${f(e.ci95[0])}, ${f(e.ci95[1])}]`, e.intervalMethod]),
    ),
    ...[...new Set([...o.notes, ...r.estimates.flatMap((e) => e.notes)])].map((n) => `note: ${n}`),
  ].join('\n');
}

/** The estimators that need a tuning flag: the flag, the job's option, what it is, an example value. */
const ESTIMATOR_FLAGS = [
  { flag: '--clip', option: 'clip', estimator: 'dr-clip', what: 'a weight cap > 0', example: '10' },
  { flag: '--tau', option: 'tau', estimator: 'switch-dr', what: 'a weight threshold ≥ 0', example: '100' },
  { flag: '--os-lambda', option: 'osLambda', estimator: 'dr-os', what: 'a shrinkage λ > 0', example: '1' },
] as const;

/** Registers `ope`. */
export function registerOpe(program: Command): void {
  action<OpeFlags>(
    program
      .command('ope')
      .description('estimate a policy’s value on logged data (IPS, SNIPS, DM, DR) with intervals and diagnostics')
      .option('--logs <file>', 'training-set Parquet, or Open Bandit Dataset CSV (item_context.csv beside it); default <home>/data/training-set.parquet')
      .requiredOption('--policy <name>', 'uniform, a built-in policy (fitted on the fly), MODEL@ALIAS or MODEL/N (version N), or a distribution file (CSV or Parquet: p_0…p_7 or one column per arm id, one row per logged row; with a serve_id column rows are matched by it, else by position)')
      .option('--estimators <list>', 'comma-separated: ips (inverse propensity), snips (self-normalised IPS), dm (direct method: a reward model), dr (doubly robust), dr-clip (DR with weights capped: needs --clip), switch-dr (DM where a weight exceeds --tau: needs it), dr-os (DR with optimistic shrinkage: needs --os-lambda), sndr (self-normalised DR)', 'ips,snips,dm,dr')
      .option('--clip <c>', 'weight cap of dr-clip, > 0 (required with it; e.g. 10)')
      .option('--tau <t>', 'weight threshold of switch-dr, ≥ 0 (required with it; e.g. 100)')
      .option('--os-lambda <λ>', 'shrinkage λ of dr-os, > 0: each weight w becomes λw/(w² + λ) (required with it; e.g. 1)')
      .option('--folds <k>', 'cross-fitting folds of the DM/DR reward model (1: fit it on the rows it evaluates)', '5')
      .option('--reward-features <list>', 'the DM/DR reward model’s features: on Open Bandit logs affinity (default), user, position, item (pools one model over the items), none; on a training set names of the v2 vector, or none')
      .option('--exploration-floor <γ>', 'for a built-in policy fitted here: its exploration floor, in [0, 1) (default 0.05, as `oo-ml train` registers it)')
      .option('--log', 'log the evaluation as an MLflow run in experiment oo-ml-ope (always done for a MODEL@ALIAS target)'),
    async (ctx, flags) => {
      const [{ parseEstimators, runOpe }, { openStore }] = await Promise.all([import('../../pipelines/ope.js'), import('../../registry/create-store.js')]);
      const job = {
        logs: flags.logs === undefined ? ctx.config.paths.trainingSet : resolve(flags.logs),
        // A distribution file by its absolute path: the MLflow run's params and name record it.
        policy: ['.parquet', '.csv'].includes(extname(flags.policy).toLowerCase()) ? resolve(flags.policy) : flags.policy,
        estimators: parseEstimators(flags.estimators),
        clip: parsePositiveFlag('--clip', flags.clip),
        // 0 is a threshold too (switch-dr is then DM wherever a weight is positive), as the library takes it.
        tau: flags.tau === undefined ? undefined : parseNumberFlag('--tau', flags.tau, 0, Number.MAX_VALUE),
        osLambda: parsePositiveFlag('--os-lambda', flags.osLambda),
        folds: parseIntFlag('--folds', flags.folds, 1, 100),
        ...(flags.explorationFloor === undefined ? {} : { explorationFloor: parseNumberFlag('--exploration-floor', flags.explorationFloor, 0, 0.999999) }),
        ...(flags.rewardFeatures === undefined ? {} : { rewardFeatures: flags.rewardFeatures.split(',').map((s) => s.trim()).filter((s) => s !== '') }),
      };
      const tuned = ESTIMATOR_FLAGS.map((f) => ({ ...f, value: job[f.option] }));
      // An estimator asked for without its tuning flag: every missing flag named at once, as a flag.
      const missing = tuned.filter((f) => f.value === undefined && job.estimators.includes(f.estimator));
      if (missing.length > 0) {
        throw invalidUsage(missing.map((f) => `${f.estimator} needs ${f.flag} (${f.what})`).join('; '), {
          hint: `e.g. ${missing.map((f) => `${f.flag} ${f.example}`).join(' ')}, or leave ${missing.map((f) => f.estimator).join(', ')} out of --estimators`,
        });
      }
      // A tuning flag of an estimator not asked for would be silently ignored: say so instead.
      for (const f of tuned) {
        if (f.value !== undefined && !job.estimators.includes(f.estimator)) {
          throw invalidUsage(`${f.flag} tunes the ${f.estimator} estimator, which --estimators (${job.estimators.join(',')}) does not ask for`, { hint: `add ${f.estimator} to --estimators, or leave ${f.flag} out` });
        }
      }
      let store: ReturnType<typeof openStore> | undefined;
      const storeOf = (): ReturnType<typeof openStore> => (store ??= openStore(ctx.config));
      const outcome = await runOpe({ ...job, store: storeOf });
      if (flags.log !== true && outcome.registered === undefined) {
        ctx.print(renderOpe(outcome), outcome);
        return;
      }
      const { logOpeRun } = await import('../../pipelines/ope-run.js');
      const run = await logOpeRun(storeOf(), job, outcome, ctx.now, outcome.registered ?? null);
      ctx.print(`${renderOpe(outcome)}\nMLflow run: ${run.runId} (experiment oo-ml-ope)`, { ...outcome, run });
    },
  );
}
