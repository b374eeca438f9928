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
import { vectorDim, vectorWriter, type VectorInput } from '../features/vectors.js';
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

/** Per-persona constants of the feedback bookkeeping, looked up once instead of per decision. */
interface FeedbackConstants {
  likeShare: Float64Array;
  dismissShare: Float64Array;
  dwellGoodSec: Float64Array;
  dwellBadSec: Float64Array;
  preferredHour: Int32Array;
}

function feedbackConstants(): FeedbackConstants {
  return {
    likeShare: Float64Array.from(PERSONAS, (p) => p.likeShare),
    dismissShare: Float64Array.from(PERSONAS, (p) => p.dismissShare),
    dwellGoodSec: Float64Array.from(PERSONAS, (p) => p.dwellGoodMs / 1000),
    dwellBadSec: Float64Array.from(PERSONAS, (p) => p.dwellBadMs / 1000),
    preferredHour: Int32Array.from(PERSONAS, (p) => Math.round(p.peakHour) % 24),
  };
}

/**
 * Runs one policy through one scenario. `state` is mutated; `rng` drives the policy only.
 *
 * Hot loop (2,000 users × 672 h, bench:sim): the daily slots are stored day-major, so one day's
 * counts of every user are one 80 kB block that stays in cache instead of a 2.4 MB user-major
 * array touched at random; the vector encoder and per-persona constants are fetched once.
 * Environment alone (a policy that chooses arm 0 and learns nothing), with writeVectorD12:
 * 2.3 M → 7.2 M decisions/s (0.44 → 0.14 µs; old and new build alternated in one process).
 */
export function runPolicy(
  scenario: Scenario,
  entrant: SimEntrant,
  state: unknown,
  options: Pick<SimOptions, 'delayRounds'>,
  rng: Rng,
): PolicyRun {
  const { policy } = entrant;
  const users = scenario.users;
  const userPersona = scenario.userPersona;
  const write = vectorWriter(policy.layout);
  const x = new Float64Array(vectorDim(policy.layout));
  const fc = feedbackConstants();
  // slots[(day slot · users + user) · FIELDS + field]: the counts of each of the last 30 days.
  const dayStride = users * FIELDS;
  const slots = new Float64Array(WINDOW_DAYS * dayStride);
  const window = new Float64Array(dayStride);
  const warm = PERSONAS.map((_, i) => warmupDay(i));
  for (let u = 0; u < users; u++) {
    const w = warm[userPersona[u]!]!;
    for (let s = 0; s < WINDOW_DAYS; s++) slots.set(w, s * dayStride + u * FIELDS);
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
      p.preferred_hour = fc.preferredHour[userPersona[u]!]!;
      p.tip_volume = Math.round(window[o + F_SERVES]!);
      profiles[u] = p;
    }
  };
  refresh();
  let currentDay = 0;
  // Offset of today's slot block in `slots`.
  let today = 0;
  const rollTo = (day: number): void => {
    while (currentDay < day) {
      currentDay++;
      refresh();
      today = (currentDay % WINDOW_DAYS) * dayStride;
      for (let j = 0; j < dayStride; j++) {
        window[j]! -= slots[today + j]!;
        slots[today + j] = 0;
      }
    }
  };
  const record = (u: number, field: number, value: number): void => {
    slots[today + u * FIELDS + field]! += value;
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
    const pi = userPersona[u]!;
    const k = scenario.kind[i]!;
    record(u, F_N, 1);
    if (reward === 1) {
      if (k >= fc.likeShare[pi]!) record(u, F_COMPLETED, 1);
      record(u, F_DWELL, fc.dwellGoodSec[pi]!);
    } else if (k < fc.dismissShare[pi]!) {
      record(u, F_DISMISSED, 1);
      record(u, F_DWELL, fc.dwellBadSec[pi]!);
    }
  };

  const personaDecisions = new Float64Array(PERSONAS.length);
  const personaReward = new Float64Array(PERSONAS.length);
  const roundReward = new Float64Array(scenario.rounds);
  const roundRegret = new Float64Array(scenario.rounds);
  const input: VectorInput = { hourOfDay: 0, dayOfWeek: 0, openTasks: 0, overdueTasks: 0, hasProfile: true, profile: profiles[0]! };
  const { round: rounds, user: userOf, hour, dow, openTasks, overdueTasks, probs, best: bestOf, u: draw } = scenario;
  let rewardSum = 0;
  let expectedSum = 0;
  let oracleSum = 0;
  let regretSum = 0;
  // The next midnight, in rounds: rollTo runs only when a decision crosses it.
  let midnight = 24;

  for (let i = 0; i < scenario.n; i++) {
    const round = rounds[i]!;
    if (round >= midnight) {
      rollTo(Math.floor(round / 24));
      midnight = (currentDay + 1) * 24;
    }
    while (pendingHead < pendingIdx.length && rounds[pendingIdx[pendingHead]!]! + delay <= round) {
      applyFeedback(pendingIdx[pendingHead]!, pendingArm[pendingHead]!, pendingReward[pendingHead]!, pendingX[pendingHead]!);
      pendingHead++;
    }
    const u = userOf[i]!;
    const pi = userPersona[u]!;
    input.hourOfDay = hour[i]!;
    input.dayOfWeek = dow[i]!;
    input.openTasks = openTasks[i]!;
    input.overdueTasks = overdueTasks[i]!;
    input.profile = profiles[u]!;
    write(input, x, 0);
    const { arm } = policy.choose(state, x, rng);
    const best = bestOf[i]!;
    const p = probs[i * ARM_COUNT + arm]!;
    const reward = draw[i]! < p ? 1 : 0;
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
