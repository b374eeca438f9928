/**
 * A simulation scenario: everything about a replication that does not depend on the policy —
 * who has a session when, the context they are in, and the uniform draws that decide their
 * reactions. Every policy replays the same scenario (common random numbers), so differences
 * between policies are not drowned in environment noise.
 *
 * Time runs in rounds of one simulated hour from a Monday midnight. In each round each user has
 * a session with probability given by the persona's rhythm (hour, weekday, churn decay). Task
 * lists grow and shrink once a day: new tasks arrive (Poisson), open ones complete (binomial),
 * and a share of the rest turns overdue. The reaction to a tip is drawn later from `u`:
 * good when u < P(good | persona, arm, context).
 */
import { invalidUsage } from '../errors.js';
import { createRng, deriveSeed, poisson, type Rng } from '../random/rng.js';
import { ARM_COUNT } from '../features/arms.js';
import { PERSONAS, PERSONA_NAMES, goodReactionProbability, hourWeights, type Persona, type ReactionContext } from './personas.js';
import { syntheticPersona } from './event-generator.js';

/** Options shared by every replication of a simulation. */
export interface SimOptions {
  users: number;
  /** Simulated hours. */
  rounds: number;
  seed: number;
  /** Restrict the population to these personas (default: all, by their weights). */
  personas?: readonly string[];
  /** Round from which preferences drift (arm preferences rotate); null = no drift. */
  driftAtRound?: number | null;
  /** Hours between a tip and its reaction reaching the policy (0 = immediate). */
  delayRounds?: number;
}

/** One replication's decisions, in time order, as columns. */
export interface Scenario {
  rep: number;
  n: number;
  users: number;
  rounds: number;
  /** Persona index (into PERSONAS) of each user. */
  userPersona: Int8Array;
  round: Int32Array;
  user: Int32Array;
  hour: Uint8Array;
  dow: Uint8Array;
  openTasks: Int16Array;
  overdueTasks: Int16Array;
  /** Uniform draw deciding good vs bad reaction. */
  u: Float64Array;
  /** Uniform draw deciding the kind within good (liked/completed) or bad (dismissed/ignored). */
  kind: Float64Array;
  /**
   * True probability of a good reaction for every arm at every decision (n × K, row-major),
   * with drift applied. It depends only on the scenario, so it is computed once here and shared
   * by every policy instead of once per policy and decision.
   */
  probs: Float64Array;
  /** The best arm's probability at each decision (the oracle). */
  best: Float64Array;
}

/** Arms rotate by this many places when preferences drift. */
export const DRIFT_SHIFT = 3;

/** Checks options and resolves persona names to indices; errors name the bad option. */
export function validateSimOptions(options: SimOptions): number[] {
  if (!Number.isInteger(options.users) || options.users < 1) throw invalidUsage(`--users must be a positive integer, got ${options.users}`);
  if (!Number.isInteger(options.rounds) || options.rounds < 1) throw invalidUsage(`--rounds must be a positive integer, got ${options.rounds}`);
  if (options.delayRounds !== undefined && (!Number.isInteger(options.delayRounds) || options.delayRounds < 0)) {
    throw invalidUsage(`--delay must be a non-negative integer number of hours, got ${options.delayRounds}`);
  }
  const names = options.personas ?? PERSONA_NAMES;
  const unknown = names.filter((n) => !PERSONA_NAMES.includes(n));
  if (unknown.length > 0) {
    throw invalidUsage(`unknown persona(s): ${unknown.join(', ')}`, { hint: `known personas: ${PERSONA_NAMES.join(', ')}` });
  }
  if (names.length === 0) throw invalidUsage('--personas must name at least one persona');
  return names.map((n) => PERSONA_NAMES.indexOf(n));
}

/** Persona of user `i`: the synthetic population's, restricted to `allowed` when given. */
function personaOf(seed: number, i: number, allowed: readonly number[]): number {
  const p = PERSONAS.indexOf(syntheticPersona(seed, i));
  if (allowed.length === PERSONAS.length || allowed.includes(p)) return p;
  return allowed[i % allowed.length]!;
}

interface TaskState {
  open: number;
  overdue: number;
}

function binomial(rng: Rng, n: number, p: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (rng.next() < p) k++;
  return k;
}

/** Advances one user's task list by a day. */
function nextDay(rng: Rng, persona: Persona, tasks: TaskState, activity: number): void {
  const done = binomial(rng, tasks.open, Math.min(1, persona.completionPerDay * activity));
  const doneOverdue = tasks.open === 0 ? 0 : Math.round((done * tasks.overdue) / tasks.open);
  tasks.open -= done;
  tasks.overdue = Math.max(0, tasks.overdue - doneOverdue);
  const fresh = poisson(rng, persona.tasksPerDay * activity);
  // Tasks with a due date fall overdue after about dueDaysMean days.
  tasks.overdue += binomial(rng, tasks.open - tasks.overdue, persona.dueShare / Math.max(0.5, persona.dueDaysMean));
  tasks.open += fresh;
  tasks.open = Math.min(tasks.open, 500);
  tasks.overdue = Math.min(tasks.overdue, tasks.open);
}

/** Builds replication `rep` of a simulation. Pure: (options, rep) fix the result. */
export function createScenario(options: SimOptions, rep: number): Scenario {
  const allowed = validateSimOptions(options);
  const { users, rounds, seed } = options;
  const userPersona = new Int8Array(users);
  const rngs: Rng[] = [];
  const tasks: TaskState[] = [];
  const weights: Float64Array[] = PERSONAS.map((p) => {
    const w = hourWeights(p);
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((x) => x / total);
  });
  for (let i = 0; i < users; i++) {
    userPersona[i] = personaOf(seed, i, allowed);
    rngs.push(createRng(deriveSeed(seed, rep, i, 0x5ce7)));
    tasks.push({ open: PERSONAS[userPersona[i]!]!.initialTasks, overdue: 0 });
  }
  const cols = {
    round: [] as number[],
    user: [] as number[],
    hour: [] as number[],
    dow: [] as number[],
    open: [] as number[],
    overdue: [] as number[],
    u: [] as number[],
    kind: [] as number[],
  };
  for (let r = 0; r < rounds; r++) {
    const hour = r % 24;
    const day = Math.floor(r / 24);
    const dow = day % 7;
    for (let i = 0; i < users; i++) {
      const persona = PERSONAS[userPersona[i]!]!;
      const rng = rngs[i]!;
      const activity = persona.weekdayActivity[dow]! * Math.pow(persona.activityDecay, day);
      if (hour === 0 && r > 0) nextDay(rng, persona, tasks[i]!, activity);
      const pSession = Math.min(1, persona.sessionsPerDay * activity * weights[userPersona[i]!]![hour]!);
      if (rng.next() >= pSession) continue;
      cols.round.push(r);
      cols.user.push(i);
      cols.hour.push(hour);
      cols.dow.push(dow);
      cols.open.push(tasks[i]!.open);
      cols.overdue.push(tasks[i]!.overdue);
      cols.u.push(rng.next());
      cols.kind.push(rng.next());
    }
  }
  const n = cols.round.length;
  const probs = new Float64Array(n * ARM_COUNT);
  const best = new Float64Array(n);
  const driftAt = options.driftAtRound ?? null;
  const ctx: ReactionContext = { hourOfDay: 0, dayOfWeek: 0, openTasks: 0, overdueTasks: 0 };
  for (let i = 0; i < n; i++) {
    const persona = PERSONAS[userPersona[cols.user[i]!]!]!;
    ctx.hourOfDay = cols.hour[i]!;
    ctx.dayOfWeek = cols.dow[i]!;
    ctx.openTasks = cols.open[i]!;
    ctx.overdueTasks = cols.overdue[i]!;
    const shift = driftAt !== null && cols.round[i]! >= driftAt ? DRIFT_SHIFT : 0;
    let top = 0;
    for (let a = 0; a < ARM_COUNT; a++) {
      const p = goodReactionProbability(persona, (a + shift) % ARM_COUNT, ctx);
      probs[i * ARM_COUNT + a] = p;
      if (p > top) top = p;
    }
    best[i] = top;
  }
  return {
    rep,
    n,
    users,
    rounds,
    userPersona,
    round: Int32Array.from(cols.round),
    user: Int32Array.from(cols.user),
    hour: Uint8Array.from(cols.hour),
    dow: Uint8Array.from(cols.dow),
    openTasks: Int16Array.from(cols.open),
    overdueTasks: Int16Array.from(cols.overdue),
    u: Float64Array.from(cols.u),
    kind: Float64Array.from(cols.kind),
    probs,
    best,
  };
}
