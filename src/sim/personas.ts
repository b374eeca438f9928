/**
 * Personas: the synthetic people behind `oo-ml data synth` and the simulator, defined once.
 * Each has an activity rhythm (hour of day, day of week), a task load, a reaction style, and a
 * latent probability of reacting well to each tip arm in each context. Nothing here draws random
 * numbers: the generator and the simulator pass an `Rng` to the draw helpers.
 *
 * The latent model is logistic: logit P(good | persona, arm, context) = base[arm] plus shared
 * context effects (morning, evening, weekend, task load, overdue load, closeness to the
 * persona's peak hour) weighted per arm. Personas differ in their base preferences, so what is
 * best depends on who the user is and when: a policy that uses profile features can win.
 */
import { ARM_COUNT, ARM_IDS, type ArmId } from '../features/arms.js';

/** The observable context a reaction depends on. */
export interface ReactionContext {
  hourOfDay: number;
  dayOfWeek: number;
  openTasks: number;
  overdueTasks: number;
}

/** One persona. Rates are per day; probabilities in [0, 1]. */
export interface Persona {
  name: string;
  description: string;
  /** Share of the population. */
  weight: number;
  /** Hour of peak activity (0–24, fractional allowed) and how concentrated activity is around it. */
  peakHour: number;
  peakConcentration: number;
  /** Activity multiplier per day of week, 0 = Monday … 6 = Sunday. */
  weekdayActivity: readonly number[];
  /** Mean app sessions (tip opportunities) per active day. */
  sessionsPerDay: number;
  /** Mean tasks created per day, probability an open task is completed on a given day. */
  tasksPerDay: number;
  completionPerDay: number;
  /** Share of new tasks that get a due date, and how many days ahead it lands on average. */
  dueShare: number;
  dueDaysMean: number;
  /** Open tasks at the start. */
  initialTasks: number;
  /** Per-day multiplicative decay of activity (churn); 1 = stable. */
  activityDecay: number;
  /** Base logit of a good reaction per arm (keyed by arm id). */
  armBase: Readonly<Record<ArmId, number>>;
  /** Given a bad reaction, probability it is an explicit dismiss (else ignored). */
  dismissShare: number;
  /** Given a good reaction, probability it is `liked` (else completed). */
  likeShare: number;
  /** Median dwell (ms) of a good and of a bad reaction. */
  dwellGoodMs: number;
  dwellBadMs: number;
}

/** Context effect weights per arm: [morning, evening, weekend, load, overdue, peak alignment]. */
const CONTEXT_EFFECTS: Readonly<Record<ArmId, readonly number[]>> = {
  split_task: [0.2, -0.2, 0.0, 0.5, 0.1, 0.2],
  hardest_first: [0.4, -0.6, -0.3, 0.1, -0.2, 0.9],
  quick_win: [0.0, 0.2, 0.2, 0.3, 0.2, -0.3],
  time_block: [0.3, -0.3, -0.4, 0.2, 0.0, 0.6],
  clear_overdue: [0.0, 0.0, 0.1, 0.0, 0.9, 0.0],
  plan_tomorrow: [-0.6, 0.9, 0.2, 0.1, 0.0, -0.2],
  take_break: [-0.2, 0.3, 0.3, 0.2, 0.1, -0.4],
  batch_similar: [0.1, 0.0, 0.3, 0.4, 0.0, 0.1],
};

const base = (v: readonly number[]): Record<ArmId, number> =>
  Object.fromEntries(ARM_IDS.map((id, i) => [id, v[i]!])) as Record<ArmId, number>;

/** Every persona, in a fixed order (the order is part of the synthetic data's determinism). */
export const PERSONAS: readonly Persona[] = [
  {
    name: 'morning_planner',
    description: 'Plans early, completes most tasks before noon, likes structure.',
    weight: 0.2,
    peakHour: 8,
    peakConcentration: 2.0,
    weekdayActivity: [1.1, 1.1, 1.1, 1.1, 1.0, 0.6, 0.5],
    sessionsPerDay: 3,
    tasksPerDay: 4,
    completionPerDay: 0.45,
    dueShare: 0.7,
    dueDaysMean: 2,
    initialTasks: 6,
    activityDecay: 1,
    armBase: base([-1.4, -0.4, -1.6, -0.6, -1.5, -0.9, -1.8, -1.2]),
    dismissShare: 0.3,
    likeShare: 0.25,
    dwellGoodMs: 25_000,
    dwellBadMs: 3_000,
  },
  {
    name: 'night_owl',
    description: 'Active late in the evening, plans the next day at night.',
    weight: 0.18,
    peakHour: 22,
    peakConcentration: 1.8,
    weekdayActivity: [0.9, 0.9, 1.0, 1.0, 1.1, 1.2, 1.0],
    sessionsPerDay: 3,
    tasksPerDay: 3,
    completionPerDay: 0.35,
    dueShare: 0.5,
    dueDaysMean: 3,
    initialTasks: 8,
    activityDecay: 1,
    armBase: base([-1.5, -1.6, -1.0, -1.3, -1.4, -0.3, -1.0, -1.3]),
    dismissShare: 0.4,
    likeShare: 0.3,
    dwellGoodMs: 20_000,
    dwellBadMs: 2_500,
  },
  {
    name: 'procrastinator',
    description: 'Lets tasks slip past their due dates; small wins get them going.',
    weight: 0.18,
    peakHour: 15,
    peakConcentration: 0.8,
    weekdayActivity: [0.9, 0.9, 0.9, 1.0, 1.0, 1.1, 1.2],
    sessionsPerDay: 2.5,
    tasksPerDay: 3,
    completionPerDay: 0.2,
    dueShare: 0.8,
    dueDaysMean: 1.5,
    initialTasks: 12,
    activityDecay: 1,
    armBase: base([-1.3, -2.0, -0.5, -1.8, -0.9, -1.5, -1.2, -1.4]),
    dismissShare: 0.6,
    likeShare: 0.2,
    dwellGoodMs: 12_000,
    dwellBadMs: 1_500,
  },
  {
    name: 'power_user',
    description: 'Many tasks, many sessions, responds to focus techniques.',
    weight: 0.14,
    peakHour: 11,
    peakConcentration: 1.0,
    weekdayActivity: [1.2, 1.2, 1.2, 1.2, 1.1, 0.8, 0.7],
    sessionsPerDay: 6,
    tasksPerDay: 9,
    completionPerDay: 0.5,
    dueShare: 0.6,
    dueDaysMean: 2,
    initialTasks: 15,
    activityDecay: 1,
    armBase: base([-1.0, -0.7, -1.4, -0.2, -1.2, -1.0, -1.9, -0.5]),
    dismissShare: 0.35,
    likeShare: 0.35,
    dwellGoodMs: 15_000,
    dwellBadMs: 2_000,
  },
  {
    name: 'overwhelmed',
    description: 'A long, overdue list; splitting and clearing help, ambition backfires.',
    weight: 0.16,
    peakHour: 13,
    peakConcentration: 0.6,
    weekdayActivity: [1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.9],
    sessionsPerDay: 3,
    tasksPerDay: 6,
    completionPerDay: 0.15,
    dueShare: 0.85,
    dueDaysMean: 1,
    initialTasks: 25,
    activityDecay: 1,
    armBase: base([-0.5, -2.2, -0.9, -1.9, -0.4, -1.4, -0.8, -1.1]),
    dismissShare: 0.5,
    likeShare: 0.2,
    dwellGoodMs: 30_000,
    dwellBadMs: 4_000,
  },
  {
    name: 'churn_risk',
    description: 'Fading engagement: fewer sessions each week, mostly ignores tips.',
    weight: 0.14,
    peakHour: 19,
    peakConcentration: 0.7,
    weekdayActivity: [1.0, 0.9, 0.9, 0.9, 1.0, 1.1, 1.1],
    sessionsPerDay: 2,
    tasksPerDay: 1.5,
    completionPerDay: 0.25,
    dueShare: 0.4,
    dueDaysMean: 3,
    initialTasks: 5,
    activityDecay: 0.96,
    armBase: base([-2.2, -2.5, -1.6, -2.4, -2.0, -2.0, -1.4, -2.1]),
    dismissShare: 0.2,
    likeShare: 0.15,
    dwellGoodMs: 8_000,
    dwellBadMs: 800,
  },
];

/** Persona names, in order. */
export const PERSONA_NAMES: readonly string[] = PERSONAS.map((p) => p.name);

/** The persona of that name, or undefined. */
export function findPersona(name: string): Persona | undefined {
  return PERSONAS.find((p) => p.name === name);
}

/** Unnormalised activity weight of `persona` at fractional hour `hour` (von Mises bump + floor). */
export function hourActivity(persona: Persona, hour: number): number {
  const angle = (2 * Math.PI * (hour - persona.peakHour)) / 24;
  // The floor keeps some activity at every hour, so no context is unobserved.
  return Math.exp(persona.peakConcentration * (Math.cos(angle) - 1)) + 0.03;
}

/** Hourly activity weights of a persona (24 values, unnormalised). */
export function hourWeights(persona: Persona): Float64Array {
  const w = new Float64Array(24);
  for (let h = 0; h < 24; h++) w[h] = hourActivity(persona, h + 0.5);
  return w;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/**
 * Probability that `persona` reacts well (completed or liked) to arm `arm` (index) in `ctx`.
 * This is the simulator's ground truth and the oracle of regret.
 */
export function goodReactionProbability(persona: Persona, arm: number, ctx: ReactionContext): number {
  const id = ARM_IDS[arm]!;
  const e = CONTEXT_EFFECTS[id];
  const h = ctx.hourOfDay;
  const morning = h >= 6 && h < 12 ? 1 : 0;
  const evening = h >= 18 ? 1 : 0;
  const weekend = ctx.dayOfWeek >= 5 ? 1 : 0;
  const load = Math.log1p(ctx.openTasks) / 3;
  const overdue = Math.log1p(ctx.overdueTasks) / 2;
  const alignment = Math.cos((2 * Math.PI * (h - persona.peakHour)) / 24);
  const z =
    persona.armBase[id] +
    e[0]! * morning +
    e[1]! * evening +
    e[2]! * weekend +
    e[3]! * load +
    e[4]! * overdue +
    e[5]! * alignment;
  return sigmoid(z);
}

/** Good-reaction probabilities of every arm, written into `out` (length K). */
export function armProbabilities(persona: Persona, ctx: ReactionContext, out: Float64Array): Float64Array {
  for (let a = 0; a < ARM_COUNT; a++) out[a] = goodReactionProbability(persona, a, ctx);
  return out;
}

// Tables for writeReactionProbabilities: goodReactionProbability's terms over the integer contexts
// the simulator produces, each filled with the very expression goodReactionProbability evaluates.
const HOURS = 24;
/** log1p terms are tabulated for task counts 0 ≤ n < COUNT_TABLE_SIZE (the simulator caps at 500). */
const COUNT_TABLE_SIZE = 1024;
const EFFECTS = ARM_IDS.map((id) => CONTEXT_EFFECTS[id]);
const E_LOAD = Float64Array.from(EFFECTS, (e) => e[3]!);
const E_OVERDUE = Float64Array.from(EFFECTS, (e) => e[4]!);
const E_ALIGNMENT = Float64Array.from(EFFECTS, (e) => e[5]!);
/** base[arm] + e0·morning + e1·evening + e2·weekend at ((persona · 24 + hour) · 2 + weekend) · K + arm. */
const PREFIX = new Float64Array(PERSONAS.length * HOURS * 2 * ARM_COUNT);
/** cos(2π(hour − peak)/24) at persona · 24 + hour. */
const ALIGNMENT = new Float64Array(PERSONAS.length * HOURS);
PERSONAS.forEach((persona, p) => {
  for (let h = 0; h < HOURS; h++) {
    ALIGNMENT[p * HOURS + h] = Math.cos((2 * Math.PI * (h - persona.peakHour)) / 24);
    const morning = h >= 6 && h < 12 ? 1 : 0;
    const evening = h >= 18 ? 1 : 0;
    for (let weekend = 0; weekend < 2; weekend++) {
      for (let a = 0; a < ARM_COUNT; a++) {
        const e = EFFECTS[a]!;
        PREFIX[((p * HOURS + h) * 2 + weekend) * ARM_COUNT + a] = persona.armBase[ARM_IDS[a]!] + e[0]! * morning + e[1]! * evening + e[2]! * weekend;
      }
    }
  }
});
const LOAD = Float64Array.from({ length: COUNT_TABLE_SIZE }, (_, n) => Math.log1p(n) / 3);
const OVERDUE = Float64Array.from({ length: COUNT_TABLE_SIZE }, (_, n) => Math.log1p(n) / 2);

/** True when `n` is an integer 0 ≤ n < size other than −0 (log1p(−0) is −0, the table's is +0). */
const isIndex = (n: number, size: number): boolean => (n | 0) === n && n >= 0 && n < size && (n !== 0 || 1 / n > 0);

/**
 * The good-reaction probability of every arm for persona `personaIndex` in `ctx`, with arm
 * preferences rotated by `shift` (drift): out[offset + a] = goodReactionProbability(persona,
 * (a + shift) mod K, ctx), bit for bit (test/sim/personas.test.ts checks that on generated
 * contexts). Integer hours and task counts read the tables above and only the sigmoid is
 * computed; anything else takes goodReactionProbability itself: one call per decision instead
 * of eight, each arm only its sigmoid (bench:sim).
 */
export function writeReactionProbabilities(personaIndex: number, ctx: ReactionContext, shift: number, out: Float64Array, offset: number): void {
  const h = ctx.hourOfDay;
  const open = ctx.openTasks;
  const overdueTasks = ctx.overdueTasks;
  if (!isIndex(h, HOURS) || !isIndex(open, COUNT_TABLE_SIZE) || !isIndex(overdueTasks, COUNT_TABLE_SIZE)) {
    const persona = PERSONAS[personaIndex]!;
    for (let a = 0; a < ARM_COUNT; a++) out[offset + a] = goodReactionProbability(persona, (a + shift) % ARM_COUNT, ctx);
    return;
  }
  const prefix = ((personaIndex * HOURS + h) * 2 + (ctx.dayOfWeek >= 5 ? 1 : 0)) * ARM_COUNT;
  const load = LOAD[open]!;
  const overdue = OVERDUE[overdueTasks]!;
  const alignment = ALIGNMENT[personaIndex * HOURS + h]!;
  for (let a = 0; a < ARM_COUNT; a++) {
    const arm = (a + shift) % ARM_COUNT;
    const z = PREFIX[prefix + arm]! + E_LOAD[arm]! * load + E_OVERDUE[arm]! * overdue + E_ALIGNMENT[arm]! * alignment;
    out[offset + a] = sigmoid(z);
  }
}
