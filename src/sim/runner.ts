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
 * The profile features each simulated user is served, from a 30-day window of daily counts:
 * `slots[(day slot · users + user) · FIELDS + field]` holds the counts of each of the last 30
 * days and `window` their sums; `profiles` is recomputed from `window` at each midnight (a daily
 * batch). Module-level (not closures inside runPolicy), so the optimised runPolicy is reused by
 * the next replication instead of being deoptimised by a new closure's call target: fewer
 * background recompilations competing with the workers (bench:sim, 2 workers, warm: 539–551 k →
 * 575–585 k decisions/s per core).
 */
class ProfileWindow {
  readonly profiles: ProfileValues[] = [];
  private day = 0;
  /** Offset of today's slot block in `slots`. */
  private today = 0;
  private readonly dayStride: number;
  private readonly slots: Float64Array;
  private readonly window: Float64Array;

  constructor(
    private readonly users: number,
    private readonly userPersona: Int8Array,
    private readonly preferredHour: Int32Array,
  ) {
    this.dayStride = users * FIELDS;
    this.slots = new Float64Array(WINDOW_DAYS * this.dayStride);
    this.window = new Float64Array(this.dayStride);
    const warm = PERSONAS.map((_, i) => warmupDay(i));
    for (let u = 0; u < users; u++) {
      const w = warm[userPersona[u]!]!;
      for (let s = 0; s < WINDOW_DAYS; s++) this.slots.set(w, s * this.dayStride + u * FIELDS);
      for (let f = 0; f < FIELDS; f++) this.window[u * FIELDS + f] = w[f]! * WINDOW_DAYS;
    }
    this.refresh();
  }

  /** The simulated day the window has rolled to. */
  get currentDay(): number {
    return this.day;
  }

  /** The served profiles, recomputed from the window. */
  refresh(): void {
    const { window, profiles, userPersona, preferredHour } = this;
    for (let u = 0; u < this.users; u++) {
      const o = u * FIELDS;
      const n = window[o + F_N]!;
      const p = profiles[u] ?? ({} as ProfileValues);
      p.completion_rate = n > 0 ? window[o + F_COMPLETED]! / n : null;
      p.dismiss_rate = n > 0 ? window[o + F_DISMISSED]! / n : null;
      p.mean_dwell_sec = n > 0 ? window[o + F_DWELL]! / n : null;
      p.preferred_hour = preferredHour[userPersona[u]!]!;
      p.tip_volume = Math.round(window[o + F_SERVES]!);
      profiles[u] = p;
    }
  }

  /** Advances to `day`: each midnight refreshes the profiles and empties the oldest day. */
  rollTo(day: number): void {
    const { slots, window, dayStride } = this;
    while (this.day < day) {
      this.day++;
      this.refresh();
      const today = (this.day % WINDOW_DAYS) * dayStride;
      this.today = today;
      for (let j = 0; j < dayStride; j++) {
        window[j]! -= slots[today + j]!;
        slots[today + j] = 0;
      }
    }
  }

  /** Adds `value` to today's count `field` of user `u`. */
  record(u: number, field: number, value: number): void {
    this.slots[this.today + u * FIELDS + field]! += value;
    this.window[u * FIELDS + field]! += value;
  }
}

/** What applying feedback needs: the policy and its state, the scenario, the window. */
interface FeedbackContext {
  policy: Policy<unknown>;
  state: unknown;
  scenario: Scenario;
  fc: FeedbackConstants;
  profile: ProfileWindow;
}

/** The policy learns the reward of decision i, and the user's window counts the reaction. */
function applyFeedback(c: FeedbackContext, i: number, arm: number, reward: number, seen: Float64Array): void {
  c.policy.update(c.state, seen, arm, reward);
  const u = c.scenario.user[i]!;
  const pi = c.scenario.userPersona[u]!;
  const k = c.scenario.kind[i]!;
  const { fc, profile } = c;
  profile.record(u, F_N, 1);
  if (reward === 1) {
    if (k >= fc.likeShare[pi]!) profile.record(u, F_COMPLETED, 1);
    profile.record(u, F_DWELL, fc.dwellGoodSec[pi]!);
  } else if (k < fc.dismissShare[pi]!) {
    profile.record(u, F_DISMISSED, 1);
    profile.record(u, F_DWELL, fc.dwellBadSec[pi]!);
  }
}

/**
 * Runs one policy through one scenario. `state` is mutated; `rng` drives the policy only.
 *
 * Hot loop (2,000 users × 672 h, bench:sim): the daily slots are stored day-major, so one day's
 * counts of every user are one 80 kB block that stays in cache instead of a 2.4 MB user-major
 * array touched at random; the vector encoder and per-persona constants are fetched once
 * (bench:sim).
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
  const profile = new ProfileWindow(users, userPersona, fc.preferredHour);
  const { profiles } = profile;

  const delay = options.delayRounds ?? 0;
  // Pending (delayed) feedback: decision index, arm, reward and the vector the policy saw.
  const pendingIdx: number[] = [];
  const pendingArm: number[] = [];
  const pendingReward: number[] = [];
  const pendingX: Float64Array[] = [];
  let pendingHead = 0;
  const feedback: FeedbackContext = { policy, state, scenario, fc, profile };

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
      profile.rollTo(Math.floor(round / 24));
      midnight = (profile.currentDay + 1) * 24;
    }
    while (pendingHead < pendingIdx.length && rounds[pendingIdx[pendingHead]!]! + delay <= round) {
      applyFeedback(feedback, pendingIdx[pendingHead]!, pendingArm[pendingHead]!, pendingReward[pendingHead]!, pendingX[pendingHead]!);
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
    // The arm only: the simulator logs no propensity (Thompson's would cost ~70 µs of quadrature).
    const arm = policy.chooseArm(state, x, rng);
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
    profile.record(u, F_SERVES, 1);
    if (delay === 0) {
      applyFeedback(feedback, i, arm, reward, x);
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
