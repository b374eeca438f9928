/**
 * Runs policies through scenarios and summarises them over replications. Pure: scenario, policy
 * state and Rng in, numbers out.
 *
 * Each simulated user keeps the profile features the offline build would compute for them: a
 * 30-day window of daily tip counts (reactions by kind, dwell, serves) refreshed at every
 * simulated midnight (a daily batch, like `features build`), warmed up with the counts the
 * persona would have produced under uniform logging. The preferred hour is the persona's peak.
 * The policy sees the vector of its layout; the oracle sees the true reaction probabilities.
 * Reported regret is expected regret (best arm's probability minus the chosen arm's), which is
 * far less noisy than realised regret; reward is the realised 0/1 reward.
 */
import { ARM_COUNT } from '../features/arms.js';
import type { ProfileValues } from '../features/registry.js';
import { vectorDim, writeVector, type VectorInput } from '../features/vectors.js';
import type { Policy } from '../policies/policy.js';
import type { Rng } from '../random/rng.js';
import { PERSONAS, goodReactionProbability, type ReactionContext } from './personas.js';
import type { Scenario, SimOptions } from './scenario.js';

const WINDOW_DAYS = 30;
/** Fields of the per-user daily counts: n, completed, dismissed, dwell seconds, serves. */
const FIELDS = 5;
const F_N = 0;
const F_COMPLETED = 1;
const F_DISMISSED = 2;
const F_DWELL = 3;
const F_SERVES = 4;

/** A policy entered in a simulation: display name, implementation and starting state. */
export interface SimEntrant {
  name: string;
  policy: Policy<unknown>;
  /** A fresh starting state (called once per replication). */
  initialState: () => unknown;
}

/** What one policy did in one replication. */
export interface PolicyRun {
  name: string;
  decisions: number;
  rewardSum: number;
  expectedRewardSum: number;
  oracleSum: number;
  regretSum: number;
  /** Per persona (index into PERSONAS): decisions and realised reward. */
  personaDecisions: Float64Array;
  personaReward: Float64Array;
  /** Cumulative realised reward and expected regret at the end of each round. */
  cumReward: Float64Array;
  cumRegret: Float64Array;
}

/** Expected daily counts of a persona under uniform logging (the warm-up of its window). */
function warmupDay(personaIndex: number): Float64Array {
  const p = PERSONAS[personaIndex]!;
  const ctx: ReactionContext = { hourOfDay: Math.round(p.peakHour) % 24, dayOfWeek: 2, openTasks: p.initialTasks, overdueTasks: 1 };
  let good = 0;
  for (let a = 0; a < ARM_COUNT; a++) good += goodReactionProbability(p, a, ctx) / ARM_COUNT;
  const n = p.sessionsPerDay;
  const out = new Float64Array(FIELDS);
  out[F_N] = n;
  out[F_COMPLETED] = n * good * (1 - p.likeShare);
  out[F_DISMISSED] = n * (1 - good) * p.dismissShare;
  out[F_DWELL] = (n * (good * p.dwellGoodMs + (1 - good) * p.dismissShare * p.dwellBadMs)) / 1000;
  out[F_SERVES] = n;
  return out;
}

/** Runs one policy through one scenario. `state` is mutated; `rng` drives the policy only. */
export function runPolicy(
  scenario: Scenario,
  entrant: SimEntrant,
  state: unknown,
  options: Pick<SimOptions, 'delayRounds'>,
  rng: Rng,
): PolicyRun {
  const { policy } = entrant;
  const users = scenario.users;
  const d = vectorDim(policy.layout);
  const x = new Float64Array(d);
  const slots = new Float64Array(users * WINDOW_DAYS * FIELDS);
  const window = new Float64Array(users * FIELDS);
  const warm = PERSONAS.map((_, i) => warmupDay(i));
  for (let u = 0; u < users; u++) {
    const w = warm[scenario.userPersona[u]!]!;
    for (let s = 0; s < WINDOW_DAYS; s++) slots.set(w, (u * WINDOW_DAYS + s) * FIELDS);
    for (let f = 0; f < FIELDS; f++) window[u * FIELDS + f] = w[f]! * WINDOW_DAYS;
  }
  // The served profile: recomputed from the window at each midnight (daily batch).
  const profiles: ProfileValues[] = [];
  const refresh = (): void => {
    for (let u = 0; u < users; u++) {
      const o = u * FIELDS;
      const n = window[o + F_N]!;
      const p = profiles[u] ?? ({} as ProfileValues);
      p.completion_rate = n > 0 ? window[o + F_COMPLETED]! / n : null;
      p.dismiss_rate = n > 0 ? window[o + F_DISMISSED]! / n : null;
      p.mean_dwell_sec = n > 0 ? window[o + F_DWELL]! / n : null;
      p.preferred_hour = Math.round(PERSONAS[scenario.userPersona[u]!]!.peakHour) % 24;
      p.tip_volume = Math.round(window[o + F_SERVES]!);
      profiles[u] = p;
    }
  };
  refresh();
  let currentDay = 0;
  const rollTo = (day: number): void => {
    while (currentDay < day) {
      currentDay++;
      refresh();
      const slot = currentDay % WINDOW_DAYS;
      for (let u = 0; u < users; u++) {
        const so = (u * WINDOW_DAYS + slot) * FIELDS;
        for (let f = 0; f < FIELDS; f++) {
          window[u * FIELDS + f]! -= slots[so + f]!;
          slots[so + f] = 0;
        }
      }
    }
  };
  const record = (u: number, field: number, value: number): void => {
    slots[(u * WINDOW_DAYS + (currentDay % WINDOW_DAYS)) * FIELDS + field]! += value;
    window[u * FIELDS + field]! += value;
  };

  const delay = options.delayRounds ?? 0;
  // Pending (delayed) feedback: decision index, arm, reward and the vector the policy saw.
  const pendingIdx: number[] = [];
  const pendingArm: number[] = [];
  const pendingReward: number[] = [];
  const pendingX: Float64Array[] = [];
  let pendingHead = 0;
  const applyFeedback = (i: number, arm: number, reward: number, seen: Float64Array): void => {
    policy.update(state, seen, arm, reward);
    const u = scenario.user[i]!;
    const p = PERSONAS[scenario.userPersona[u]!]!;
    const k = scenario.kind[i]!;
    record(u, F_N, 1);
    if (reward === 1) {
      if (k >= p.likeShare) record(u, F_COMPLETED, 1);
      record(u, F_DWELL, p.dwellGoodMs / 1000);
    } else if (k < p.dismissShare) {
      record(u, F_DISMISSED, 1);
      record(u, F_DWELL, p.dwellBadMs / 1000);
    }
  };

  const personaDecisions = new Float64Array(PERSONAS.length);
  const personaReward = new Float64Array(PERSONAS.length);
  const roundReward = new Float64Array(scenario.rounds);
  const roundRegret = new Float64Array(scenario.rounds);
  const input: VectorInput = { hourOfDay: 0, dayOfWeek: 0, openTasks: 0, overdueTasks: 0, hasProfile: true, profile: profiles[0]! };
  let rewardSum = 0;
  let expectedSum = 0;
  let oracleSum = 0;
  let regretSum = 0;

  for (let i = 0; i < scenario.n; i++) {
    const round = scenario.round[i]!;
    rollTo(Math.floor(round / 24));
    while (pendingHead < pendingIdx.length && scenario.round[pendingIdx[pendingHead]!]! + delay <= round) {
      applyFeedback(pendingIdx[pendingHead]!, pendingArm[pendingHead]!, pendingReward[pendingHead]!, pendingX[pendingHead]!);
      pendingHead++;
    }
    const u = scenario.user[i]!;
    const pi = scenario.userPersona[u]!;
    input.hourOfDay = scenario.hour[i]!;
    input.dayOfWeek = scenario.dow[i]!;
    input.openTasks = scenario.openTasks[i]!;
    input.overdueTasks = scenario.overdueTasks[i]!;
    input.profile = profiles[u]!;
    writeVector(policy.layout, input, x);
    const { arm } = policy.choose(state, x, rng);
    const best = scenario.best[i]!;
    const p = scenario.probs[i * ARM_COUNT + arm]!;
    const reward = scenario.u[i]! < p ? 1 : 0;
    rewardSum += reward;
    expectedSum += p;
    oracleSum += best;
    regretSum += best - p;
    roundReward[round]! += reward;
    roundRegret[round]! += best - p;
    personaDecisions[pi]!++;
    personaReward[pi]! += reward;
    record(u, F_SERVES, 1);
    if (delay === 0) {
      applyFeedback(i, arm, reward, x);
    } else {
      pendingIdx.push(i);
      pendingArm.push(arm);
      pendingReward.push(reward);
      pendingX.push(Float64Array.from(x));
    }
  }
  for (let r = 1; r < scenario.rounds; r++) {
    roundReward[r]! += roundReward[r - 1]!;
    roundRegret[r]! += roundRegret[r - 1]!;
  }
  return {
    name: entrant.name,
    decisions: scenario.n,
    rewardSum,
    expectedRewardSum: expectedSum,
    oracleSum,
    regretSum,
    personaDecisions,
    personaReward,
    cumReward: roundReward,
    cumRegret: roundRegret,
  };
}
