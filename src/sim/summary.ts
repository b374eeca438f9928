/**
 * Simulation results: per policy, the mean reward per decision, cumulative reward and
 * cumulative expected regret with 95% t-intervals over replications, the same per persona, and
 * the paired difference to a baseline (same scenarios, so the difference per replication is
 * what varies). The results object is plain JSON with a fixed key order, so one seed gives one
 * byte-identical file.
 */
import { meanInterval, type MeanInterval } from '../evaluation/t-interval.js';
import { PERSONAS } from './personas.js';
import type { PolicyRun } from './runner.js';
import type { SimOptions } from './scenario.js';

/** One policy's summary. */
export interface PolicySummary {
  name: string;
  decisions: number;
  meanReward: MeanInterval;
  cumulativeReward: MeanInterval;
  cumulativeRegret: MeanInterval;
  perPersona: Record<string, MeanInterval>;
  /** Difference in mean reward to the baseline, paired by replication (absent for the baseline). */
  vsBaseline: MeanInterval | null;
}

/** Averaged curves over replications, sampled at `rounds`. */
export interface Curves {
  rounds: number[];
  cumReward: Record<string, number[]>;
  cumRegret: Record<string, number[]>;
  /** The 95% t-interval of each point over the replications, [low, high] (the mean itself with one replication). */
  cumRewardBand: Record<string, [number, number][]>;
  cumRegretBand: Record<string, [number, number][]>;
}

/** Everything a simulation reports. */
export interface SimResults {
  format: 'oo-ml-sim/1';
  options: Required<Pick<SimOptions, 'users' | 'rounds' | 'seed'>> & {
    reps: number;
    personas: string[];
    driftAtRound: number | null;
    delayRounds: number;
  };
  baseline: string;
  oracleMeanReward: MeanInterval;
  policies: PolicySummary[];
  curves: Curves;
}

/** Rounds (0-based) at which curves are sampled: at most `points`, always the last round. */
export function curveRounds(rounds: number, points = 120): number[] {
  const step = Math.max(1, Math.ceil(rounds / points));
  const out: number[] = [];
  for (let r = step - 1; r < rounds; r += step) out.push(r);
  if (out.at(-1) !== rounds - 1) out.push(rounds - 1);
  return out;
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

// Where the summaries lie: rewards are 0 or 1, and expected regret is never negative.
const RATE = [0, 1] as const;
const NON_NEGATIVE = [0, Infinity] as const;

/** Summarises `runs[rep][policy]` (every replication lists the policies in the same order). */
export function summarize(
  options: SimResults['options'],
  runs: readonly (readonly PolicyRun[])[],
  baselineIndex = 0,
): SimResults {
  const names = runs[0]!.map((r) => r.name);
  const perPolicy = names.map((_, p) => runs.map((rep) => rep[p]!));
  const meanOf = (r: PolicyRun): number => (r.decisions === 0 ? 0 : r.rewardSum / r.decisions);
  const baseline = perPolicy[baselineIndex]!;
  const sampled = curveRounds(options.rounds);
  const policies: PolicySummary[] = perPolicy.map((reps, p) => ({
    name: names[p]!,
    decisions: reps.reduce((a, r) => a + r.decisions, 0),
    meanReward: meanInterval(reps.map(meanOf), RATE),
    cumulativeReward: meanInterval(reps.map((r) => r.rewardSum), NON_NEGATIVE),
    cumulativeRegret: meanInterval(reps.map((r) => r.regretSum), NON_NEGATIVE),
    perPersona: Object.fromEntries(
      PERSONAS.map((persona, i) => [persona.name, reps.map((r) => (r.personaDecisions[i]! > 0 ? r.personaReward[i]! / r.personaDecisions[i]! : NaN))] as const)
        .filter(([, xs]) => xs.every((x) => !Number.isNaN(x)))
        .map(([name, xs]) => [name, meanInterval(xs, RATE)]),
    ),
    vsBaseline: p === baselineIndex ? null : meanInterval(reps.map((r, k) => meanOf(r) - meanOf(baseline[k]!)), [-1, 1]),
  }));
  const curve = (pick: (r: PolicyRun) => Float64Array) =>
    Object.fromEntries(
      perPolicy.map((reps, p) => [names[p]!, sampled.map((round) => round6(reps.reduce((a, r) => a + pick(r)[round]!, 0) / reps.length))]),
    );
  const band = (pick: (r: PolicyRun) => Float64Array): Record<string, [number, number][]> =>
    Object.fromEntries(
      perPolicy.map((reps, p) => [
        names[p]!,
        sampled.map((round): [number, number] => {
          const values = reps.map((r) => pick(r)[round]!);
          if (values.length < 2) return [round6(values[0]!), round6(values[0]!)];
          const ci = meanInterval(values, NON_NEGATIVE).ci95;
          return [round6(ci[0]), round6(ci[1])];
        }),
      ]),
    );
  return {
    format: 'oo-ml-sim/1',
    options,
    baseline: names[baselineIndex]!,
    oracleMeanReward: meanInterval(perPolicy[0]!.map((r) => (r.decisions === 0 ? 0 : r.oracleSum / r.decisions)), RATE),
    policies,
    curves: {
      rounds: sampled,
      cumReward: curve((r) => r.cumReward),
      cumRegret: curve((r) => r.cumRegret),
      cumRewardBand: band((r) => r.cumReward),
      cumRegretBand: band((r) => r.cumRegret),
    },
  };
}
