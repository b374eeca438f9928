/**
 * Synthetic event logs: users drawn from the personas live through D days of tasks, app
 * sessions, tip serves (from a logging policy, uniform by default, with its propensity recorded)
 * and reactions. Pure: the seed fixes everything, and each user draws from its own stream
 * (`deriveSeed(seed, userIndex)`), so users can be generated in any order or in parallel.
 */
import { ARM_COUNT, ARM_IDS } from '../features/arms.js';
import type {
  OoEvent,
  Reaction,
  TaskCompletedEvent,
  TaskCreatedEvent,
  TipReactionEvent,
  TipServedEvent,
} from '../events/schemas.js';
import { createRng, deriveSeed, poisson, weightedIndex, type Rng } from '../random/rng.js';
import { PERSONAS, goodReactionProbability, hourWeights, type Persona } from './personas.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

/** Options of a synthetic population. */
export interface SynthOptions {
  users: number;
  days: number;
  seed: number;
  /** Midnight UTC of the first day (epoch ms). */
  startMs: number;
  /** Name recorded as the logging policy on every serve. */
  loggingPolicy?: string;
}

/** One synthetic user: id, persona, and every event in time order. */
export interface SyntheticUser {
  userId: string;
  persona: string;
  events: OoEvent[];
}

/** Day of week (0 = Monday … 6 = Sunday) of an epoch-ms time, in UTC. */
export function dayOfWeekUtc(ms: number): number {
  // 1970-01-01 was a Thursday (index 3 when Monday is 0).
  return (((Math.floor(ms / DAY_MS) + 3) % 7) + 7) % 7;
}

/** Hour of day (0–23) of an epoch-ms time, in UTC. */
export function hourOfDayUtc(ms: number): number {
  return Math.floor((((ms % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS);
}

/** The user id of the `index`-th synthetic user (zero-based). */
export function syntheticUserId(index: number): string {
  return `u${String(index + 1).padStart(7, '0')}`;
}

/** The persona of the `index`-th synthetic user under `seed` (stable, independent of N). */
export function syntheticPersona(seed: number, index: number): Persona {
  const rng = createRng(deriveSeed(seed, index, 0x5045));
  return PERSONAS[weightedIndex(rng, PERSONAS.map((p) => p.weight))]!;
}

interface OpenTask {
  id: string;
  dueMs: number | null;
}

type Moment = { t: number; kind: 'create' } | { t: number; kind: 'session' } | { t: number; kind: 'complete'; task: OpenTask };

const iso = (ms: number): string => new Date(ms).toISOString();

/** Draws a time within the day starting at `dayStart`, following the persona's hourly rhythm. */
function drawTime(rng: Rng, weights: Float64Array, dayStart: number): number {
  const h = weightedIndex(rng, weights);
  return dayStart + h * HOUR_MS + Math.floor(rng.next() * HOUR_MS);
}

/** Lognormal draw around a median (σ = 0.6). */
function lognormal(rng: Rng, median: number): number {
  return Math.round(median * Math.exp(0.6 * rng.normal()));
}

/** Generates the `index`-th user of the population. */
export function generateUser(options: SynthOptions, index: number): SyntheticUser {
  const persona = syntheticPersona(options.seed, index);
  const rng = createRng(deriveSeed(options.seed, index));
  const userId = syntheticUserId(index);
  const weights = hourWeights(persona);
  const policy = options.loggingPolicy ?? 'uniform-logging';
  const events: OoEvent[] = [];
  let eventNo = 0;
  let taskNo = 0;
  let serveNo = 0;
  const nextEventId = (): string => `e-${userId}-${++eventNo}`;
  const open: OpenTask[] = [];

  const createTask = (t: number): void => {
    const id = `t-${userId}-${++taskNo}`;
    const due = rng.next() < persona.dueShare ? t + Math.round(-Math.log(1 - rng.next()) * persona.dueDaysMean * DAY_MS) : null;
    open.push({ id, dueMs: due });
    const ev: TaskCreatedEvent = {
      type: 'task.created',
      event_id: nextEventId(),
      ts: iso(t),
      user_id: userId,
      task_id: id,
      due_ts: due === null ? null : iso(due),
    };
    events.push(ev);
  };

  for (let i = 0; i < persona.initialTasks; i++) createTask(options.startMs + Math.floor(rng.next() * 10 * MINUTE_MS));

  for (let day = 0; day < options.days; day++) {
    const dayStart = options.startMs + day * DAY_MS;
    const dow = dayOfWeekUtc(dayStart);
    const activity = persona.weekdayActivity[dow]! * Math.pow(persona.activityDecay, day);
    const moments: Moment[] = [];
    const creations = poisson(rng, persona.tasksPerDay * activity);
    for (let i = 0; i < creations; i++) moments.push({ t: drawTime(rng, weights, dayStart), kind: 'create' });
    const sessions = poisson(rng, persona.sessionsPerDay * activity);
    for (let i = 0; i < sessions; i++) moments.push({ t: drawTime(rng, weights, dayStart), kind: 'session' });
    const pComplete = Math.min(1, persona.completionPerDay * activity);
    for (const task of open) {
      if (rng.next() < pComplete) moments.push({ t: drawTime(rng, weights, dayStart), kind: 'complete', task });
    }
    // Stable order: by time, then by kind, so equal times never depend on sort internals.
    const rank = { create: 0, complete: 1, session: 2 } as const;
    moments.sort((a, b) => a.t - b.t || rank[a.kind] - rank[b.kind]);

    for (const m of moments) {
      if (m.kind === 'create') {
        createTask(m.t);
      } else if (m.kind === 'complete') {
        const at = open.indexOf(m.task);
        if (at < 0) continue;
        open.splice(at, 1);
        const ev: TaskCompletedEvent = {
          type: 'task.completed',
          event_id: nextEventId(),
          ts: iso(m.t),
          user_id: userId,
          task_id: m.task.id,
        };
        events.push(ev);
      } else {
        serve(m.t);
      }
    }
  }

  function serve(t: number): void {
    const ctx = {
      hourOfDay: hourOfDayUtc(t),
      dayOfWeek: dayOfWeekUtc(t),
      openTasks: open.length,
      overdueTasks: open.filter((task) => task.dueMs !== null && task.dueMs < t).length,
    };
    const arm = rng.int(ARM_COUNT);
    const serveId = `s-${userId}-${++serveNo}`;
    const served: TipServedEvent = {
      type: 'tip.served',
      event_id: nextEventId(),
      ts: iso(t),
      user_id: userId,
      serve_id: serveId,
      arm: ARM_IDS[arm]!,
      propensity: 1 / ARM_COUNT,
      policy,
      model_version: null,
      prompt_version: 'v1',
      context: {
        hour_of_day: ctx.hourOfDay,
        day_of_week: ctx.dayOfWeek,
        open_tasks: ctx.openTasks,
        overdue_tasks: ctx.overdueTasks,
      },
      shadow: false,
    };
    events.push(served);
    const good = rng.next() < goodReactionProbability(persona, arm, ctx);
    let reaction: Reaction;
    let delay: number;
    if (good) {
      reaction = rng.next() < persona.likeShare ? 'liked' : 'completed';
      // A few completions arrive after the reward window, so the window matters.
      delay =
        reaction === 'liked'
          ? 2_000 + Math.floor(rng.next() * 58_000)
          : rng.next() < 0.03
            ? 26 * HOUR_MS + Math.floor(rng.next() * 12 * HOUR_MS)
            : 5 * MINUTE_MS + Math.floor(-Math.log(1 - rng.next()) * 60 * MINUTE_MS);
    } else {
      reaction = rng.next() < persona.dismissShare ? 'dismissed' : 'ignored';
      delay = reaction === 'dismissed' ? 1_000 + Math.floor(rng.next() * 9_000) : 60_000;
    }
    const dwell = reaction === 'ignored' ? 0 : lognormal(rng, good ? persona.dwellGoodMs : persona.dwellBadMs);
    const reacted: TipReactionEvent = {
      type: 'tip.reaction',
      event_id: nextEventId(),
      ts: iso(t + delay),
      user_id: userId,
      serve_id: serveId,
      reaction,
      dwell_ms: dwell,
    };
    events.push(reacted);
  }

  return { userId, persona: persona.name, events };
}
