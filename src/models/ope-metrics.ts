/**
 * An off-policy report as MLflow metrics, one naming for every run that logs one (`train`,
 * `ope`): `ope/<estimator>` with `_ci_low`, `_ci_high` and `_std_err`, the logging policy's
 * value, and the weight diagnostics. `oo-ml models` reads its headline columns back by these names.
 */
import type { OpeReport } from '../evaluation/evaluate.js';
import { HEADLINE_METRICS } from './model-listing.js';
import type { MetricInput } from '../registry/store.js';

/** The metrics of `report`. */
export function opeReportMetrics(report: OpeReport): MetricInput[] {
  const d = report.diagnostics;
  return [
    ...report.estimates.flatMap((e) => [
      { key: `ope/${e.estimator}`, value: e.value },
      { key: `ope/${e.estimator}_ci_low`, value: e.ci95[0] },
      { key: `ope/${e.estimator}_ci_high`, value: e.ci95[1] },
      { key: `ope/${e.estimator}_std_err`, value: e.stdErr },
    ]),
    { key: HEADLINE_METRICS.loggingValue, value: report.loggingPolicy.value },
    { key: 'logging/value_ci_low', value: report.loggingPolicy.ci95[0] },
    { key: 'logging/value_ci_high', value: report.loggingPolicy.ci95[1] },
    { key: 'ope/effective_sample_size', value: d.effectiveSampleSize },
    { key: 'ope/max_weight', value: d.maxWeight },
    { key: 'ope/support', value: d.support },
    { key: 'ope/min_logged_propensity', value: d.minLoggedPropensity },
  ];
}
