/**
 * Everything the models browser shows of one version, read from the registry: its listing row,
 * its training run's evaluation (off-policy estimates on the holdout, support, fairness) and model
 * card, and the simulations it took part in (runs of `oo-ml-sim` tagged with its version).
 */
import { isOoMlError, nullIfNotFound } from '../errors.js';
import type { Store } from '../registry/store.js';
import type { VersionEvaluation } from './model-card.js';
import { CARD_ARTIFACT, readEvaluation } from './model-cards.js';
import type { ListedVersion } from './model-listing.js';
import { parseModelRef } from './policy-artifacts.js';
import { SIM_EXPERIMENT, simMetricKey } from './sim-runs.js';

/** One simulation the version took part in. */
export interface VersionSimulation {
  runId: string;
  startedAt: string;
  /** The name it ran under (`MODEL@ALIAS` or `MODEL/N`) and the run's baseline (its first entrant). */
  entrant: string;
  baseline: string;
  meanReward: number | null;
  meanRewardCi: [number, number] | null;
  /** Paired difference with the baseline (null for the baseline itself). */
  vsBaseline: number | null;
  vsBaselineCi: [number, number] | null;
}

/** What the browser shows of one version. */
export interface VersionDetails {
  model: string;
  version: ListedVersion;
  evaluation: VersionEvaluation | null;
  /** The card its training run logged (null: none). */
  card: string | null;
  /** Newest first, at most `maxSimulations`. */
  simulations: VersionSimulation[];
}

/** Reads the details of `version` (a row of `listModels`) of `model`. */
export async function versionDetails(store: Store, model: string, version: ListedVersion, maxSimulations = 5): Promise<VersionDetails> {
  const evaluation = await readEvaluation(store, version.runId).catch((e: unknown) => {
    if (isOoMlError(e, 'invalid_input')) return null;
    throw e;
  });
  let card: string | null = null;
  if (version.runId !== '') {
    try {
      card = new TextDecoder().decode(await store.downloadArtifact(version.runId, CARD_ARTIFACT));
    } catch (e) {
      if (!isOoMlError(e, 'not_found')) throw e;
    }
  }
  return { model, version, evaluation, card, simulations: await simulationsOf(store, model, version.version, maxSimulations) };
}

async function simulationsOf(store: Store, model: string, version: number, max: number): Promise<VersionSimulation[]> {
  const experiment = await nullIfNotFound(store.getExperimentByName(SIM_EXPERIMENT));
  if (experiment === null) return [];
  const runs = await store.searchRuns({ experimentIds: [experiment.experimentId], status: 'FINISHED', orderBy: 'start_time DESC', maxResults: 500 });
  const out: VersionSimulation[] = [];
  for (const run of runs) {
    const versions = (run.data.tags[`oo-ml.sim.version.${model}`] ?? '').split(',').filter((v) => v !== '').map(Number);
    if (!versions.includes(version)) continue;
    // The registered entrants of this model, in order, carry the versions in that order.
    const entrants = (run.data.tags['oo-ml.sim.policies'] ?? '').split(',').filter((p) => p !== '');
    const ofModel = entrants.filter((p) => parseModelRef(p)?.model === model);
    const entrant = ofModel[versions.indexOf(version)];
    if (entrant === undefined) continue;
    const metric = (what: string): number | null => run.data.metrics[simMetricKey(entrant, what)]?.value ?? null;
    const pair = (low: number | null, high: number | null): [number, number] | null => (low === null || high === null ? null : [low, high]);
    out.push({
      runId: run.info.runId,
      startedAt: new Date(run.info.startTime).toISOString(),
      entrant,
      baseline: entrants[0] ?? '',
      meanReward: metric('mean_reward'),
      meanRewardCi: pair(metric('mean_reward_ci_low'), metric('mean_reward_ci_high')),
      vsBaseline: metric('diff_vs_baseline'),
      vsBaselineCi: pair(metric('diff_vs_baseline_ci_low'), metric('diff_vs_baseline_ci_high')),
    });
    if (out.length >= max) break;
  }
  return out;
}
