/** Hand-made events for pipeline tests: terse constructors that fill the schema's fields. */
import type {
  LearningResetEvent,
  OoEvent,
  Reaction,
  ServeFeaturesValue,
  TaskCompletedEvent,
  TaskCreatedEvent,
  TipReactionEvent,
  TipRewardEvent,
  TipServedEvent,
} from '../../src/events/schemas.js';
import type { ArmId } from '../../src/features/arms.js';
import { PROFILE_FEATURES } from '../../src/features/registry.js';

let n = 0;
const id = (p: string): string => `${p}-${++n}`;

/** A tip.served at `ts` (context derived from ts unless given). */
export function served(user: string, ts: string, serveId: string, arm: ArmId = 'split_task', propensity = 0.125): TipServedEvent {
  const d = new Date(ts);
  return {
    type: 'tip.served',
    event_id: id('es'),
    ts,
    user_id: user,
    serve_id: serveId,
    arm,
    propensity,
    policy: 'uniform-logging',
    model_version: null,
    prompt_version: 'v1',
    context: { hour_of_day: d.getUTCHours(), day_of_week: (d.getUTCDay() + 6) % 7, open_tasks: 3, overdue_tasks: 1 },
    shadow: false,
  };
}

/** A tip.reaction at `ts`. */
export function reacted(user: string, ts: string, serveId: string, reaction: Reaction, dwellMs = 1000): TipReactionEvent {
  return { type: 'tip.reaction', event_id: id('er'), ts, user_id: user, serve_id: serveId, reaction, dwell_ms: dwellMs };
}

/** A tip.reward (a numeric reward given to /reward) at `ts`. */
export function rewarded(user: string, ts: string, serveId: string, reward: number): TipRewardEvent {
  return { type: 'tip.reward', event_id: id('ew'), ts, user_id: user, serve_id: serveId, reward };
}

/** A task.completed at `ts`. */
export function completed(user: string, ts: string): TaskCompletedEvent {
  return { type: 'task.completed', event_id: id('ec'), ts, user_id: user, task_id: id('t') };
}

/** A task.created at `ts`. */
export function created(user: string, ts: string, due: string | null = null): TaskCreatedEvent {
  return { type: 'task.created', event_id: id('en'), ts, user_id: user, task_id: id('t'), due_ts: due };
}

/** A learning.reset (`POST /admin/reset`) at `ts`. */
export function reset(ts: string, reason: string | null = null): LearningResetEvent {
  return { type: 'learning.reset', event_id: id('ex'), ts, reason };
}

/** The `features` of a serve: a profile with one missing value (the first feature) and the others set within their bounds. */
export function serveFeatures(): ServeFeaturesValue {
  const values = PROFILE_FEATURES.map((f, i) => [f.name, i === 0 ? null : f.dtype === 'int' ? i : 1 / (i + 1)]);
  return { has_profile: true, ...Object.fromEntries(values) } as ServeFeaturesValue;
}

/** One event of every type on 2026-01-05, and a serve carrying its features, experiment and variant. */
export function everyEventType(user: string): OoEvent[] {
  return [
    served(user, '2026-01-05T09:00:00.000Z', `${user}-s1`, 'quick_win', 0.25),
    { ...served(user, '2026-01-05T09:30:00.000Z', `${user}-s2`, 'split_task', 0.5), features: serveFeatures(), experiment: 'exp-1', variant: 'treatment' },
    reacted(user, '2026-01-05T09:05:00.000Z', `${user}-s1`, 'completed', 4200),
    rewarded(user, '2026-01-05T09:06:00.000Z', `${user}-s1`, 0.5),
    created(user, '2026-01-05T08:00:00.000Z', '2026-01-06T17:00:00.000Z'),
    completed(user, '2026-01-05T10:00:00.000Z'),
    reset('2026-01-05T11:00:00.000Z', `reset by ${user}`),
  ];
}
