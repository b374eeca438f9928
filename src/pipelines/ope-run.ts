/**
 * An `oo-ml ope` evaluation as an MLflow run in experiment `oo-ml-ope`: what was evaluated on
 * what (params), every estimate with its interval and the weight diagnostics (metrics), the
 * whole report (`report.json`), and a chart of the estimates with their intervals against the
 * logging policy's value (`charts/estimates.svg`, `.png`). A registered target is tagged with its
 * version (`oo-ml.ope.version.<model>`), as simulations are.
 */
import type * as vl from 'vega-lite';
import { renderChart, VEGA_LITE_SCHEMA, type Chart } from '../charts/render.js';
import { opeReportMetrics } from '../models/ope-metrics.js';
import type { Store } from '../registry/store.js';
import type { OpeJob, OpeOutcome } from './ope.js';

/** Experiment that off-policy evaluations are logged to. */
export const OPE_EXPERIMENT = 'oo-ml-ope';

/** The logged run. */
export interface OpeRun {
  runId: string;
  experimentId: string;
}

/** The estimates with their 95% intervals, and the logging policy's value as a rule. */
export async function renderOpeChart(o: OpeOutcome): Promise<Chart> {
  const values = o.report.estimates.map((e) => ({ estimator: e.estimator, value: e.value, low: e.ci95[0], high: e.ci95[1] }));
  const logging = o.report.loggingPolicy.value;
  const y = { field: 'estimator', type: 'nominal', title: null, sort: null } as const;
  const spec: vl.TopLevelSpec = {
    $schema: VEGA_LITE_SCHEMA,
    width: 480,
    height: { step: 28 },
    title: { text: `${o.policy}: estimated reward per decision (95% intervals)`, subtitle: `${o.rows} logged rows; dashed: the logging policy, ${logging.toFixed(4)}`, limit: 0 },
    layer: [
      { data: { values }, mark: { type: 'rule', strokeWidth: 2 }, encoding: { y, x: { field: 'low', type: 'quantitative', title: 'reward per decision' }, x2: { field: 'high' } } },
      { data: { values }, mark: { type: 'point', filled: true, size: 60 }, encoding: { y, x: { field: 'value', type: 'quantitative' } } },
      { data: { values: [{ logging }] }, mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' }, encoding: { x: { field: 'logging', type: 'quantitative' } } },
    ],
  };
  return renderChart('estimates', spec);
}

/** Logs `o` (from `job`) as a finished run; a failure after the run exists marks it FAILED. */
export async function logOpeRun(store: Store, job: Pick<OpeJob, 'logs' | 'policy' | 'folds' | 'clip' | 'tau' | 'osLambda'>, o: OpeOutcome, now: () => Date, registered: { model: string; version: number } | null): Promise<OpeRun> {
  const experiment = await store.getOrCreateExperiment(OPE_EXPERIMENT);
  const run = await store.createRun(experiment.experimentId, {
    runName: `ope-${o.policy}`.slice(0, 100),
    startTime: now().getTime(),
    tags: {
      'oo-ml.kind': 'ope',
      'oo-ml.ope.policy': o.policy,
      ...(registered === null ? {} : { [`oo-ml.ope.version.${registered.model}`]: String(registered.version) }),
    },
  });
  const runId = run.info.runId;
  try {
    const optional = (key: string, v: number | undefined): { key: string; value: string }[] => (v === undefined ? [] : [{ key, value: String(v) }]);
    await store.logBatch(runId, {
      params: [
        { key: 'logs', value: o.logs },
        { key: 'log_kind', value: o.logKind },
        { key: 'policy', value: o.policy },
        { key: 'rows', value: String(o.rows) },
        { key: 'k', value: String(o.k) },
        { key: 'estimators', value: o.report.estimates.map((e) => e.estimator).join(',') },
        ...optional('folds', o.report.rewardModel?.folds ?? undefined),
        ...optional('clip', job.clip),
        ...optional('tau', job.tau),
        ...optional('os_lambda', job.osLambda),
      ],
      metrics: opeReportMetrics(o.report),
    });
    await store.logArtifact(runId, 'report.json', JSON.stringify(o, null, 2) + '\n');
    const chart = await renderOpeChart(o);
    await store.logArtifact(runId, `charts/${chart.name}.svg`, chart.svg);
    await store.logArtifact(runId, `charts/${chart.name}.png`, chart.png);
    await store.finishRun(runId, 'FINISHED', now().getTime());
  } catch (e) {
    await store.finishRun(runId, 'FAILED', now().getTime()).catch(() => undefined);
    throw e;
  }
  return { runId, experimentId: experiment.experimentId };
}
