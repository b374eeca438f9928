/**
 * `oo-ml sim`: resolve the policies (built-in names, or MODEL@ALIAS from the registry), run the
 * replications (on worker threads), and log the results as an MLflow run in experiment
 * `oo-ml-sim`: params, per-policy metrics with interval bounds, the results JSON, and the
 * cumulative reward/regret charts (SVG + PNG). Each registered version that took part is tagged
 * on the run (`oo-ml.sim.version.<model>` = comma-separated versions), so the promotion gate can
 * find "a simulation including this version".
 */
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidUsage } from '../errors.js';
import { ARM_COUNT } from '../features/arms.js';
import { egreedyV1 } from '../policies/epsilon-greedy.js';
import { POLICY_NAMES } from '../policies/policy.js';
import { loadRegisteredPolicy, parseModelRef } from '../models/policy-artifacts.js';
import type { Store } from '../registry/store.js';
import { renderSimCharts } from '../sim/charts.js';
import type { EntrantSpec } from '../sim/entrants.js';
import { simulateParallel, type ReplicationListener } from '../sim/parallel.js';
import type { SimOptions } from '../sim/scenario.js';
import type { SimResults } from '../sim/summary.js';
import { SIM_EXPERIMENT, simMetricKey } from '../models/sim-runs.js';
import { validateSimOptions } from '../sim/scenario.js';
import { SEED_RANGE, SIM_RANGES, requireInteger } from './job-arguments.js';

/**
 * The entrant `uniform`: uniform random over the arms, the baseline of a first champion. It is
 * ε-greedy with ε = 1, which never exploits what it learns.
 */
export const UNIFORM_ENTRANT = 'uniform';

function uniformSpec(): EntrantSpec {
  return { name: UNIFORM_ENTRANT, policy: 'egreedy-v1', state: egreedyV1.toJSON(egreedyV1.init(ARM_COUNT, { epsilon: 1 })) };
}

/** Experiment that simulation runs are logged to. */
export { SIM_EXPERIMENT } from '../models/sim-runs.js';

/** Options of `runSimulation`. */
export interface SimulationJob {
  options: SimOptions;
  /** Replications (seeds), SIM_RANGES.reps: the 95 % intervals are over them. */
  reps: number;
  /** Built-in policy names and/or MODEL@ALIAS references; the first is the baseline. */
  policies: readonly string[];
  /** Worker threads, SIM_RANGES.workers (0: this thread); `oo-ml sim` uses one per core, at most one per replication. */
  workers: number;
  store: Store;
  now: () => Date;
  onReplication?: ReplicationListener;
  /** Called once the options and policies are checked and loaded, before the first replication (a live view starts here, not over a usage error). */
  onStart?: () => void;
  /** More tags for the run (the promotion gate marks its own simulations). */
  tags?: Record<string, string>;
}

/** What a simulation produced. */
export interface SimulationOutcome {
  results: SimResults;
  runId: string;
  experimentId: string;
  /** Registered versions that took part, by reference. */
  versions: Record<string, number>;
  /** Where the charts are: file paths when the artifact store is local, else their URIs. */
  charts: string[];
}

/** Where an artifact of a run with artifact root `artifactUri` is: a file path when it is local, else a URI. */
export function artifactLocation(artifactUri: string, path: string): string {
  if (artifactUri.startsWith('file:')) return join(fileURLToPath(artifactUri), path);
  if (isAbsolute(artifactUri)) return join(artifactUri, path);
  return `${artifactUri.replace(/\/+$/, '')}/${path}`;
}

/** Turns the --policies list into entrant specs, loading registered versions. */
export async function resolveEntrants(store: Store, policies: readonly string[]): Promise<{ specs: EntrantSpec[]; versions: Record<string, number>; models: Map<string, number[]> }> {
  if (policies.length === 0) throw invalidUsage('--policies must name at least one policy');
  const dupes = policies.filter((p, i) => policies.indexOf(p) !== i);
  if (dupes.length > 0) throw invalidUsage(`--policies names ${dupes.join(', ')} twice`);
  const specs: EntrantSpec[] = [];
  const versions: Record<string, number> = {};
  const models = new Map<string, number[]>();
  for (const p of policies) {
    if (p === UNIFORM_ENTRANT) {
      specs.push(uniformSpec());
      continue;
    }
    if ((POLICY_NAMES as readonly string[]).includes(p)) {
      specs.push({ name: p, policy: p });
      continue;
    }
    if (parseModelRef(p) === null) {
      throw invalidUsage(`unknown policy "${p}"`, { hint: `use ${UNIFORM_ENTRANT}, one of ${POLICY_NAMES.join(', ')}, or MODEL@ALIAS (e.g. tip-policy@champion)` });
    }
    const registered = await loadRegisteredPolicy(store, p);
    specs.push({ name: p, policy: registered.state.policy, state: registered.state, explorationFloor: registered.explorationFloor });
    versions[p] = registered.version.version;
    const list = models.get(registered.version.name) ?? [];
    list.push(registered.version.version);
    models.set(registered.version.name, list);
  }
  return { specs, versions, models };
}

const metricKey = simMetricKey;

/** Runs the simulation and logs it; returns the results and the run. */
export async function runSimulation(job: SimulationJob): Promise<SimulationOutcome> {
  requireInteger('reps', job.reps, SIM_RANGES.reps);
  requireInteger('workers', job.workers, SIM_RANGES.workers);
  requireInteger('options.users', job.options.users, SIM_RANGES.users);
  requireInteger('options.rounds', job.options.rounds, SIM_RANGES.rounds);
  requireInteger('options.seed', job.options.seed, SEED_RANGE);
  if (job.options.delayRounds !== undefined) requireInteger('options.delayRounds', job.options.delayRounds, SIM_RANGES.delayRounds);
  if (job.options.driftAtRound != null) requireInteger('options.driftAtRound', job.options.driftAtRound, SIM_RANGES.driftAtRound);
  validateSimOptions(job.options);
  const { specs, versions, models } = await resolveEntrants(job.store, job.policies);
  job.onStart?.();
  const results = await simulateParallel(job.options, job.reps, specs, job.workers, 0, job.onReplication);
  // No decision, no result: every figure would read 0, an exact tie (and be logged as a run).
  if (results.policies[0]!.decisions === 0) {
    throw invalidUsage(`the simulation made no decisions: none of ${job.options.users} simulated user(s) was active in ${job.options.rounds} simulated hour(s)`, {
      hint: 'give more --users or --rounds (each persona is active only some hours of the day)',
    });
  }
  const store = job.store;
  const experiment = await store.getOrCreateExperiment(SIM_EXPERIMENT);
  const tags: Record<string, string> = { ...job.tags, 'oo-ml.kind': 'sim', 'oo-ml.sim.policies': job.policies.join(',') };
  for (const [model, vs] of models) tags[`oo-ml.sim.version.${model}`] = vs.join(',');
  const run = await store.createRun(experiment.experimentId, {
    runName: `sim-${job.policies.join('-vs-').slice(0, 80)}`,
    tags,
    startTime: job.now().getTime(),
  });
  const runId = run.info.runId;
  const charts: string[] = [];
  try {
    const o = results.options;
    await store.logBatch(runId, {
      params: [
        { key: 'users', value: String(o.users) },
        { key: 'rounds', value: String(o.rounds) },
        { key: 'reps', value: String(o.reps) },
        { key: 'seed', value: String(o.seed) },
        { key: 'policies', value: job.policies.join(',') },
        { key: 'baseline', value: results.baseline },
        { key: 'personas', value: o.personas.join(',') },
        // No drift: no param (MLflow params are strings; "null" would read as a value).
        ...(o.driftAtRound === null ? [] : [{ key: 'drift_at_round', value: String(o.driftAtRound) }]),
        { key: 'delay_rounds', value: String(o.delayRounds) },
      ],
      metrics: results.policies.flatMap((p) => [
        { key: metricKey(p.name, 'mean_reward'), value: p.meanReward.mean },
        { key: metricKey(p.name, 'mean_reward_ci_low'), value: p.meanReward.ci95[0] },
        { key: metricKey(p.name, 'mean_reward_ci_high'), value: p.meanReward.ci95[1] },
        { key: metricKey(p.name, 'cumulative_reward'), value: p.cumulativeReward.mean },
        { key: metricKey(p.name, 'cumulative_regret'), value: p.cumulativeRegret.mean },
        ...(p.vsBaseline === null
          ? []
          : [
              { key: metricKey(p.name, 'diff_vs_baseline'), value: p.vsBaseline.mean },
              { key: metricKey(p.name, 'diff_vs_baseline_ci_low'), value: p.vsBaseline.ci95[0] },
              { key: metricKey(p.name, 'diff_vs_baseline_ci_high'), value: p.vsBaseline.ci95[1] },
            ]),
        // The curves as metric steps (step = simulated hour): MLflow's UI draws them.
        ...results.curves.rounds.flatMap((round, i) => [
          { key: metricKey(p.name, 'cumulative_reward_by_round'), value: results.curves.cumReward[p.name]![i]!, step: round + 1 },
          { key: metricKey(p.name, 'cumulative_regret_by_round'), value: results.curves.cumRegret[p.name]![i]!, step: round + 1 },
        ]),
      ]),
    });
    await store.logArtifact(runId, 'results.json', JSON.stringify(results, null, 2) + '\n');
    for (const chart of await renderSimCharts(results)) {
      await store.logArtifact(runId, `charts/${chart.name}.svg`, chart.svg);
      await store.logArtifact(runId, `charts/${chart.name}.png`, chart.png);
      charts.push(artifactLocation(run.info.artifactUri, `charts/${chart.name}.png`), artifactLocation(run.info.artifactUri, `charts/${chart.name}.svg`));
    }
    await store.finishRun(runId, 'FINISHED', job.now().getTime());
  } catch (e) {
    await store.finishRun(runId, 'FAILED', job.now().getTime()).catch(() => undefined);
    throw e;
  }
  return { results, runId, experimentId: experiment.experimentId, versions, charts };
}
