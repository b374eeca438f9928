/**
 * Bus subjects, declared once: `<channel>.<event type>` for events and `dlq.<original subject>`
 * for what could not be accepted. `signals` carry what the product observed or decided (serves,
 * task changes), `feedback` what the person did (reactions); the schema is chosen by the
 * subject's event type. What only oo-ml records, its decisions and its resets of learning, is
 * taken on `signals` alone: apps publish on `feedback.>` (and their task changes on
 * `signals.task.>`), so with NATS permissions that grant them just those, no app can forge a serve
 * or wipe what every replica learned (README, "Running it").
 *
 * Event types contain a dot (`tip.served`), so a subject has three tokens (`signals.tip.served`);
 * NATS wildcards `signals.>` / `feedback.>` cover every type, `signals.*` would not.
 */
import { EVENT_TYPES, type EventType } from './schemas.js';

/** The channels events travel on. */
export const CHANNELS = ['signals', 'feedback'] as const;
/** One channel. */
export type Channel = (typeof CHANNELS)[number];
/** The subject of an event: channel, then event type. */
export type EventSubject = `${Channel}.${EventType}`;

/** Prefix of dead-letter subjects: `dlq.<original subject>`. */
export const DLQ_PREFIX = 'dlq';

/** NATS wildcards of every event subject (what the events stream captures). */
export const EVENT_SUBJECT_WILDCARDS: readonly string[] = CHANNELS.map((c) => `${c}.>`);
/** NATS wildcard of every dead-letter subject. */
export const DLQ_SUBJECT_WILDCARD = `${DLQ_PREFIX}.>`;

// Built once: a publish asks for its subject, and a template string would be a new string each time.
const SUBJECT_TABLE = Object.fromEntries(CHANNELS.map((c) => [c, Object.fromEntries(EVENT_TYPES.map((t) => [t, `${c}.${t}` as EventSubject]))])) as Record<Channel, Record<EventType, EventSubject>>;

/** Every event subject, channel-major (signals.tip.served, …, feedback.task.completed). */
export const EVENT_SUBJECTS: readonly EventSubject[] = CHANNELS.flatMap((c) =>
  EVENT_TYPES.map((t) => eventSubject(c, t)),
);

/** Event types taken on `signals` only (see the module doc). */
const SIGNALS_ONLY: ReadonlySet<EventType> = new Set<EventType>(['tip.served', 'learning.reset']);

/** Whether events of `type` are taken on `channel`. */
export function allowedOn(channel: Channel, type: EventType): boolean {
  return channel === 'signals' || !SIGNALS_ONLY.has(type);
}

/** True when `name` is a channel. */
export function isChannel(name: string): name is Channel {
  return (CHANNELS as readonly string[]).includes(name);
}

/** The subject of `type` on `channel`. */
export function eventSubject(channel: Channel, type: EventType): EventSubject {
  return SUBJECT_TABLE[channel][type];
}

/** An event subject taken apart. */
export interface ParsedSubject {
  readonly subject: EventSubject;
  readonly channel: Channel;
  readonly type: EventType;
}

// Looked up, not sliced: every message a consumer decodes starts here (bench:replicas, ingest).
const PARSED = new Map<string, ParsedSubject>(
  CHANNELS.flatMap((channel) => EVENT_TYPES.map((type): [string, ParsedSubject] => [eventSubject(channel, type), { subject: eventSubject(channel, type), channel, type }])),
);

/** Channel and event type of an event subject, or null when `subject` is not one. */
export function parseEventSubject(subject: string): ParsedSubject | null {
  return PARSED.get(subject) ?? null;
}

/** True when `subject` is on a channel (whether or not its event type exists): what consumers read. */
export function isChannelSubject(subject: string): boolean {
  return CHANNELS.some((c) => subject.startsWith(`${c}.`) && subject.length > c.length + 1);
}

/** The dead-letter subject of `original`. */
export function dlqSubject(original: string): string {
  return `${DLQ_PREFIX}.${original}`;
}
