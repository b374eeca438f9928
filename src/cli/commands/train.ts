/** `oo-ml train`: fit a policy on the training set, evaluate, log to MLflow, register a candidate. */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { TrainOutcome } from '../../pipelines/train.js';
import { invalidUsage } from '../../errors.js';
import { intervalSide } from '../../evaluation/estimate.js';
import { DEFAULT_EXPLORATION_FLOOR } from '../../policies/exploration-floor.js';
import { policyParamsText } from '../../policies/policy-params.js';
import { action } from '../command.js';
import { parseNumberFlag } from '../flags.js';
import { keyValues, table } from '../format.js';

interface TrainFlags {
  policy: string;
  trainingSet?: string;
  model: string;
  param?: string[];
  explorationFloor: string;
}

/** Parses repeated `--param key=value` flags into numbers. */
function parseParams(raw: readonly string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of raw ?? []) {
    const m = /^([A-Za-z][\w.]*)=(.+)$/.exec(p);
    const v = m === null ? NaN : Number(m[2]);
    if (m === null || !Number.isFinite(v)) throw invalidUsage(`--param must be key=number, got "${p}"`);
    out[m[1]!] = v;
  }
  return out;
}

/**
 * Where DR puts the version against the logging policy on the held-out rows, in words (a version
 * below what logged the data is better said at training than at promotion): by their difference,
 * paired by row, when the run recorded it; else by DR's interval against the logged mean.
 */
function versusLogging(e: TrainOutcome['evaluation']): string {
  const f = (x: number) => x.toFixed(4);
  const signed = (x: number) => (x >= 0 ? '+' : '') + f(x);
  const dr = e.metrics['dr']!;
  const logging = e.loggingValue;
  const refused = 'if the logs are the champion\'s, the gate may refuse this version as champion (it allows DR to be lower by its margin at most)';
  if (e.overLogging !== undefined) {
    const d = e.overLogging;
    const interval = `DR ${f(dr.value)} − its ${f(logging.value)} = ${signed(d.value)} [${signed(d.ci95[0])}, ${signed(d.ci95[1])}], paired by row`;
    const side = intervalSide(d.ci95, 0);
    return side === 'below' ? `below it: ${interval}; ${refused}` : side === 'above' ? `above it: ${interval}` : `not told apart: ${interval}`;
  }
  const interval = `DR ${f(dr.value)} [${f(dr.ci95[0])}, ${f(dr.ci95[1])}]`;
  switch (intervalSide(dr.ci95, logging.value)) {
    case 'below':
      return `below it: ${interval} under its ${f(logging.value)}; ${refused}`;
    case 'above':
      return `above it: ${interval} over its ${f(logging.value)}`;
    default:
      return `not told apart: ${interval} includes its ${f(logging.value)}`;
  }
}

/** Plain-text rendering of a training outcome. */
export function renderTrain(o: TrainOutcome): string {
  const e = o.evaluation;
  const f = (x: number) => x.toFixed(4);
  return [
    keyValues([
      ['model', `${o.model} v${o.version} (@candidate)`],
      ['policy', `${e.policy} on ${e.layout}`],
      ['training rows', `${e.rows} (${e.holdoutRows} held out)`],
      ['exploration floor', String(e.explorationFloor ?? 0)],
      ...(e.support === undefined
        ? []
        : ([['support', `${(e.support.share * 100).toFixed(1)}% of held-out rows usable, min logged propensity ${e.support.minLoggedPropensity.toPrecision(3)}`]] as [string, string][])),
      ['MLflow run', `${o.runId} (experiment oo-ml-train)`],
      ['model card', o.card],
    ]),
    '',
    table(
      ['estimator', 'value', '95% CI'],
      [...Object.entries(e.metrics), ['logging policy', e.loggingValue] as const].map(([k, m]) => [k, f(m.value), `[${f(m.ci95[0])}, ${f(m.ci95[1])}]`]),
    ),
    '',
    `vs the logging policy on the held-out rows: ${versusLogging(e)}`,
    ...(e.fairness.some((s) => s.flagged) ? ['', `fairness: flagged segments ${e.fairness.filter((s) => s.flagged).map((s) => s.segment).join(', ')}`] : []),
  ].join('\n');
}

/** Registers `train`. */
export function registerTrain(program: Command): void {
  action<TrainFlags>(
    program
      .command('train')
      .description('fit a policy on the logged training set, evaluate it off-policy, register it as @candidate')
      .requiredOption('--policy <name>', 'egreedy-v1, egreedy-v2, linucb or thompson')
      .option('--training-set <file>', 'training set (default <home>/data/training-set.parquet)')
      .option('--model <name>', 'registered model name', 'tip-policy')
      .option('--param <key=value...>', 'policy hyper-parameter, e.g. alpha=0.5 (repeatable; each policy\'s are listed below)')
      .option(
        '--exploration-floor <γ>',
        'share of decisions served uniformly at random, in [0, 1): every arm keeps propensity ≥ γ/K so the logs stay evaluable (recorded; 0 turns it off)',
        String(DEFAULT_EXPLORATION_FLOOR),
      )
      .addHelpText('after', `\nParameters of each policy (--param NAME=VALUE):\n${policyParamsText()}`),
    async (ctx, flags) => {
      const p = ctx.config.paths;
      const [{ trainPolicy }, { openStore }] = await Promise.all([import('../../pipelines/train.js'), import('../../registry/create-store.js')]);
      const outcome = await trainPolicy({
        trainingSet: flags.trainingSet === undefined ? p.trainingSet : resolve(flags.trainingSet),
        policy: flags.policy,
        model: flags.model,
        params: parseParams(flags.param),
        explorationFloor: parseNumberFlag('--exploration-floor', flags.explorationFloor, 0, 0.999999),
        store: openStore(ctx.config),
        cardsDir: p.modelCards,
        snapshotsDir: p.snapshots,
        tmpDir: p.tmp,
        now: ctx.now,
      });
      ctx.print(renderTrain(outcome), { model: outcome.model, version: outcome.version, runId: outcome.runId, experimentId: outcome.experimentId, card: outcome.card, evaluation: outcome.evaluation });
    },
  );
}
