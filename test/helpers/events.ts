/** Hand-made events for pipeline tests: terse constructors that fill the schema's fields. */
import type {
  Reaction,
  TaskCompletedEvent,
  TaskCreatedEvent,
  TipReactionEvent,
  TipRewardEvent,
  TipServedEvent,
} from '../../src/events/schemas.js';
import type { ArmId } from '../../src/features/arms.js';

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
