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
import { PERSONAS, PERSONA_NAMES, hourWeights, writeReactionProbabilities, type Persona, type ReactionContext } from './personas.js';
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
  // Accepted, either would silently simulate something other than what was asked.
  if ((options.delayRounds ?? 0) >= options.rounds) {
    throw invalidUsage(`--delay ${options.delayRounds} is not shorter than the ${options.rounds} simulated hours: no reaction would reach the policies`);
  }
  if (options.driftAtRound != null && options.driftAtRound >= options.rounds) {
    throw invalidUsage(`--drift-at ${options.driftAtRound} is past the last simulated hour (${options.rounds - 1}): preferences would never drift`);
  }
  const names = options.personas ?? PERSONA_NAMES;
  const unknown = names.filter((n) => !PERSONA_NAMES.includes(n));
  if (unknown.length > 0) {
    throw invalidUsage(`unknown persona(s): ${unknown.join(', ')}`, { hint: `known personas: ${PERSONA_NAMES.join(', ')}` });
  }
  if (names.length === 0) throw invalidUsage('--personas must name at least one persona');
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) throw invalidUsage(`--personas names ${[...new Set(twice)].join(', ')} more than once`);
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

/** Columns of the decisions as they are drawn, in typed arrays that double when full. */
class DecisionColumns {
  n = 0;
  round = new Int32Array(1 << 14);
  user = new Int32Array(1 << 14);
  hour = new Uint8Array(1 << 14);
  dow = new Uint8Array(1 << 14);
  open = new Int16Array(1 << 14);
  overdue = new Int16Array(1 << 14);
  u = new Float64Array(1 << 14);
  kind = new Float64Array(1 << 14);

  push(round: number, user: number, hour: number, dow: number, open: number, overdue: number, u: number, kind: number): void {
    if (this.n === this.round.length) this.grow();
    const i = this.n++;
    this.round[i] = round;
    this.user[i] = user;
    this.hour[i] = hour;
    this.dow[i] = dow;
    this.open[i] = open;
    this.overdue[i] = overdue;
    this.u[i] = u;
    this.kind[i] = kind;
  }

  private grow(): void {
    const double = <T extends Int32Array | Uint8Array | Int16Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    this.round = double(this.round);
    this.user = double(this.user);
    this.hour = double(this.hour);
    this.dow = double(this.dow);
    this.open = double(this.open);
    this.overdue = double(this.overdue);
    this.u = double(this.u);
    this.kind = double(this.kind);
  }
}

/**
 * Builds replication `rep` of a simulation. Pure: (options, rep) fix the result.
 *
 * Per (user, hour) only the session draw happens; the session probability of every persona and
 * hour is computed once per simulated day, the columns go straight into typed arrays, and the
 * arms' probabilities come from writeReactionProbabilities (tables). Same draws, same doubles as
 * the plain per-(user, hour) version (pinned by test/sim/pinned-results.test.ts; bench:sim).
 */
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
  const cols = new DecisionColumns();
  // Today's activity of each persona, and its session probability at each hour (persona · 24 + hour).
  const activity = new Float64Array(PERSONAS.length);
  const pSession = new Float64Array(PERSONAS.length * 24);
  for (let r = 0; r < rounds; r++) {
    const hour = r % 24;
    const day = Math.floor(r / 24);
    const dow = day % 7;
    if (hour === 0) {
      PERSONAS.forEach((persona, p) => {
        activity[p] = persona.weekdayActivity[dow]! * Math.pow(persona.activityDecay, day);
        for (let h = 0; h < 24; h++) pSession[p * 24 + h] = Math.min(1, persona.sessionsPerDay * activity[p]! * weights[p]![h]!);
      });
    }
    for (let i = 0; i < users; i++) {
      const p = userPersona[i]!;
      const rng = rngs[i]!;
      if (hour === 0 && r > 0) nextDay(rng, PERSONAS[p]!, tasks[i]!, activity[p]!);
      if (rng.next() >= pSession[p * 24 + hour]!) continue;
      const t = tasks[i]!;
      const u = rng.next();
      cols.push(r, i, hour, dow, t.open, t.overdue, u, rng.next());
    }
  }
  const n = cols.n;
  const probs = new Float64Array(n * ARM_COUNT);
  const best = new Float64Array(n);
  const driftAt = options.driftAtRound ?? null;
  const ctx: ReactionContext = { hourOfDay: 0, dayOfWeek: 0, openTasks: 0, overdueTasks: 0 };
  for (let i = 0; i < n; i++) {
    ctx.hourOfDay = cols.hour[i]!;
    ctx.dayOfWeek = cols.dow[i]!;
    ctx.openTasks = cols.open[i]!;
    ctx.overdueTasks = cols.overdue[i]!;
    const shift = driftAt !== null && cols.round[i]! >= driftAt ? DRIFT_SHIFT : 0;
    writeReactionProbabilities(userPersona[cols.user[i]!]!, ctx, shift, probs, i * ARM_COUNT);
    let top = 0;
    for (let a = 0; a < ARM_COUNT; a++) {
      const p = probs[i * ARM_COUNT + a]!;
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
    round: cols.round.slice(0, n),
    user: cols.user.slice(0, n),
    hour: cols.hour.slice(0, n),
    dow: cols.dow.slice(0, n),
    openTasks: cols.open.slice(0, n),
    overdueTasks: cols.overdue.slice(0, n),
    u: cols.u.slice(0, n),
    kind: cols.kind.slice(0, n),
    probs,
    best,
  };
}
