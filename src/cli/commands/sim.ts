/** `oo-ml sim`: policies against the personas, with common random numbers over replications. */
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import type { PolicyRun } from '../../sim/runner.js';
import type { SimResults } from '../../sim/summary.js';
import { SEED_RANGE, SIM_RANGES } from '../../pipelines/job-arguments.js';
import { PERSONA_NAMES } from '../../sim/personas.js';
import { parseIntFlag } from '../flags.js';
import { action } from '../command.js';
import { table } from '../format.js';

interface SimFlags {
  policies: string;
  users: string;
  rounds: string;
  reps: string;
  seed: string;
  workers?: string;
  personas?: string;
  driftAt?: string;
  delay?: string;
}

const ci = (m: { mean: number; ci95: [number, number] }, digits = 4): string =>
  `${m.mean.toFixed(digits)} [${m.ci95[0].toFixed(digits)}, ${m.ci95[1].toFixed(digits)}]`;

/** Plain-text rendering of simulation results. */
export function renderSimResults(r: SimResults, runId: string, charts: readonly string[] = []): string {
  const o = r.options;
  const head = `${o.users} users × ${o.rounds} rounds × ${o.reps} reps, seed ${o.seed}; oracle mean reward ${ci(r.oracleMeanReward)}`;
  const rows = r.policies.map((p) => [
    p.name,
    ci(p.meanReward),
    ci(p.cumulativeReward, 1),
    ci(p.cumulativeRegret, 1),
    p.vsBaseline === null ? '(baseline)' : ci(p.vsBaseline),
  ]);
  const personas = Object.keys(r.policies[0]?.perPersona ?? {});
  const personaRows = personas.map((name) => [name, ...r.policies.map((p) => (p.perPersona[name] === undefined ? '–' : p.perPersona[name].mean.toFixed(4)))]);
  return [
    head,
    '',
    table(['policy', 'mean reward [95% CI]', 'total reward', 'total expected regret', `Δ vs ${r.baseline}`], rows),
    '',
    table(['persona', ...r.policies.map((p) => p.name)], personaRows),
    '',
    `logged as MLflow run ${runId} (experiment oo-ml-sim), with results.json and the charts:`,
    ...charts.map((c) => `  ${c}`),
  ].join('\n');
}

/** Registers `sim`. */
export function registerSim(program: Command): void {
  action<SimFlags>(
    program
      .command('sim')
      .description('simulate policies against the personas and log the comparison to MLflow')
      .option('--policies <list>', 'comma-separated: uniform (random), built-in policy names, MODEL@ALIAS or MODEL/N (version N); the first is the baseline', 'uniform,egreedy-v1,linucb,thompson')
      .option('--users <n>', 'simulated users', '200')
      .option('--rounds <n>', 'simulated hours', String(24 * 14))
      .option('--reps <k>', 'replications (seeds), at least 2: the 95% intervals are over them', '5')
      .option('--seed <s>', 'random seed (same seed, byte-identical results.json)', '42')
      .option('--workers <n>', 'worker threads (default: one per core; 0 = this thread)')
      .option('--personas <list>', `only these personas, comma-separated: ${PERSONA_NAMES.join(', ')} (default: all)`)
      .option('--drift-at <round>', 'round from which arm preferences drift (default: no drift)')
      .option('--delay <hours>', 'hours before a reaction reaches the policy', '0'),
    async (ctx, flags) => {
      const reps = parseIntFlag('--reps', flags.reps, ...SIM_RANGES.reps);
      const options = {
        users: parseIntFlag('--users', flags.users, ...SIM_RANGES.users),
        rounds: parseIntFlag('--rounds', flags.rounds, ...SIM_RANGES.rounds),
        seed: parseIntFlag('--seed', flags.seed, ...SEED_RANGE),
        delayRounds: parseIntFlag('--delay', flags.delay ?? '0', ...SIM_RANGES.delayRounds),
        driftAtRound: flags.driftAt === undefined ? null : parseIntFlag('--drift-at', flags.driftAt, ...SIM_RANGES.driftAtRound),
        ...(flags.personas === undefined ? {} : { personas: flags.personas.split(',').map((s) => s.trim()) }),
      };
      const policies = flags.policies.split(',').map((s) => s.trim()).filter((s) => s !== '');
      const workers = flags.workers === undefined ? Math.max(1, Math.min(availableParallelism(), reps)) : parseIntFlag('--workers', flags.workers, ...SIM_RANGES.workers);
      const [{ runSimulation }, { openStore }] = await Promise.all([import('../../pipelines/simulation.js'), import('../../registry/create-store.js')]);
      const startView = !ctx.json && process.stderr.isTTY === true ? (await import('../ui/sim-live.js')).startSimView : null;
      // Drawn once the options and policies are checked: a usage error is not drawn over a view.
      const view: { live: ReturnType<NonNullable<typeof startView>> | null } = { live: null };
      try {
        const outcome = await runSimulation({
          options,
          reps,
          policies,
          workers,
          store: openStore(ctx.config),
          now: ctx.now,
          onStart: () => {
            view.live = startView?.(`sim: ${policies.length} policies × ${reps} reps`, policies, reps) ?? null;
          },
          onReplication: (_rep: number, runs: readonly PolicyRun[]) => view.live?.replicationDone(runs),
        });
        view.live?.stop();
        ctx.print(renderSimResults(outcome.results, outcome.runId, outcome.charts), {
          runId: outcome.runId,
          experimentId: outcome.experimentId,
          versions: outcome.versions,
          charts: outcome.charts,
          results: outcome.results,
        });
      } catch (e) {
        view.live?.stop();
        throw e;
      }
    },
  );
}
