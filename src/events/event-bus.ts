/**
 * The event bus: publish validated events to `signals.<type>` / `feedback.<type>`, consume them
 * through named consumers with explicit acks. Two adapters provide the raw primitives
 * (transport.ts): the embedded journal under `<home>/data/bus` (default) and NATS JetStream
 * (`NATS_URL=nats://…`). The behaviour that matters is written once here, over either:
 *
 * - publish validates against the event schema and uses `event_id` as the de-duplication id;
 * - consume validates again (the bus may hold bytes from other publishers); a message that fails
 *   — unknown subject, not JSON, type not matching the subject, schema — or that was delivered
 *   more than MAX_DELIVERIES times is published as a dead-letter envelope on
 *   `dlq.<original subject>` and only then acknowledged: never dropped, never redelivered forever.
 */
import type { Config } from '../config.js';
import { invalidInput, invalidUsage, notFound } from '../errors.js';
import { exists } from '../io/atomic.js';
import { DEAD_LETTER_VALIDATOR, deadLetterOf, type DeadLetterEnvelope, type DeadLetterReason, type Rejection } from './dead-letter.js';
import { issueSummary, type FieldIssue, type Validator } from '../validation.js';
import { createEmbeddedTransport } from './embedded-transport.js';
import { decodeEvent } from './event-decoder.js';
import { encodeValid } from './event-encoder.js';
import { createNatsTransport } from './nats-transport.js';
import { PublishedEvents } from './published-events.js';
import { EVENT_TYPES, EVENT_VALIDATORS, isEventType, type OoEvent } from './schemas.js';
import { allowedOn, CHANNELS, dlqSubject, eventSubject, isChannel, type Channel, type EventSubject } from './subjects.js';
import { MAX_BATCH, MAX_DELIVERIES, type RawDelivery, type RawMessage, type StreamExtent, type Transport, type TransportHealth, type TransportKind } from './transport.js';
import { redactUrl } from '../redact.js';

/** How long a delivered message may stay unacknowledged before it is redelivered, by default. */
export const DEFAULT_ACK_WAIT_MS = 60_000;

/** What a publish did. */
export interface PublishResult {
  subject: EventSubject;
  /** True when a message with the same event_id was already stored (within the dedupe window). */
  duplicate: boolean;
  /** Its sequence in the events stream (a duplicate's: the first copy's when known, else 0). */
  seq: number;
}

/** A valid event as a consumer receives it. */
export interface EventDelivery {
  subject: EventSubject;
  event: OoEvent;
  /** Its sequence in the events stream. */
  seq: number;
  deliveryCount: number;
  /** The payload as stored (the event's compact JSON), for consumers that pass it on as is. */
  data: Uint8Array;
  /** Acknowledges the event; call only once it is safely processed. */
  ack(): Promise<void>;
  /**
   * Publishes the event to `dlq.<subject>` with `reason` (the consumer could not process it,
   * e.g. the event log cannot store it), then acknowledges it: it is parked, never dropped.
   */
  deadLetter(reason: DeadLetterReason, message: string, issues?: FieldIssue[]): Promise<DeadLetterEnvelope>;
}

/**
 * A delivery as the bus hands it out: one object over the transport's, with no closure of its
 * own until it is dead-lettered. A batch in hand outlives young-generation collections, so every
 * object kept per delivery is copied and promoted (bench:replicas, ingest).
 */
class BusDelivery implements EventDelivery {
  readonly seq: number;
  readonly deliveryCount: number;
  readonly data: Uint8Array;
  constructor(
    readonly subject: EventSubject,
    readonly event: OoEvent,
    private readonly raw: RawDelivery,
    private readonly park: (delivery: RawDelivery, reason: DeadLetterReason, message: string, issues: FieldIssue[]) => Promise<DeadLetterEnvelope>,
  ) {
    this.seq = raw.seq;
    this.deliveryCount = raw.deliveryCount;
    this.data = raw.data;
  }

  ack(): Promise<void> {
    return this.raw.ack();
  }

  deadLetter(reason: DeadLetterReason, message: string, issues: FieldIssue[] = []): Promise<DeadLetterEnvelope> {
    return this.park(this.raw, reason, message, issues);
  }
}

/** One message of the events stream as an ordered reader sees it: a valid event, or why it is not one. */
export type StreamMessage =
  | { ok: true; seq: number; subject: EventSubject; event: OoEvent }
  | { ok: false; seq: number; subject: string; reason: DeadLetterReason; message: string };

/** An ordered, validating reader of the events stream (nothing is acked or dead-lettered: a durable consumer does that). */
export interface EventReader {
  /** Up to `max` messages in stream order; resolves as soon as one is there, or with [] after `maxWaitMs`. */
  next(max: number, maxWaitMs: number): Promise<StreamMessage[]>;
  close(): Promise<void>;
}

/** One fetch: the valid events, and the messages that were refused. */
export interface FetchedEvents {
  events: EventDelivery[];
  /** Refused messages: each already published on `dlq.<subject>` and acknowledged. */
  rejected: DeadLetterEnvelope[];
}

/** Options of a durable consumer (it resumes after its last ack). */
export interface ConsumerOptions {
  /** Durable name: letters, digits, `-` and `_` (NATS durable names may not hold `.`, `*`, `>`). */
  name: string;
  /** Redelivery delay of unacknowledged messages (default DEFAULT_ACK_WAIT_MS). */
  ackWaitMs?: number;
}

/** Options of one fetch. */
export interface FetchOptions {
  /** At most this many messages (valid or refused), 1..MAX_BATCH. */
  max: number;
  /** Wait at most this long to fill the batch (JetStream pulls wait at least 1 s). */
  maxWaitMs: number;
}

/** A durable consumer of every event subject. */
export interface EventConsumer {
  readonly name: string;
  /** How long a delivered, unacknowledged message waits before it is delivered again. */
  readonly ackWaitMs: number;
  fetch(options: FetchOptions): Promise<FetchedEvents>;
  /**
   * Messages delivered through this consumer, by this process or an earlier one, and not
   * acknowledged yet: those of a process that died come back after `ackWaitMs` (on NATS; the
   * embedded bus delivers them again when the consumer opens).
   */
  unacked(): Promise<number>;
  close(): Promise<void>;
}

/** A dead letter as the dead-letter stream holds it: its envelope, or why it cannot be read as one. */
export interface StoredDeadLetter {
  /** Its sequence in the dead-letter stream. */
  seq: number;
  /** `dlq.<original subject>`. */
  subject: string;
  envelope: DeadLetterEnvelope | null;
  /** Why the stored bytes are not an envelope (another publisher on dlq.>), else null. */
  unreadable: string | null;
}

/** The newest dead letters, and how many the stream holds. */
export interface DeadLetters {
  held: number;
  letters: StoredDeadLetter[];
}

/** Reads `m`, a message of the dead-letter stream, as an envelope. */
function storedDeadLetter(m: RawMessage): StoredDeadLetter {
  const base = { seq: m.seq, subject: m.subject };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(m.data));
  } catch (e) {
    return { ...base, envelope: null, unreadable: `not UTF-8 JSON: ${(e as Error).message}` };
  }
  if (DEAD_LETTER_VALIDATOR.check(value)) return { ...base, envelope: value, unreadable: null };
  return { ...base, envelope: null, unreadable: `not a dead-letter envelope: ${issueSummary(DEAD_LETTER_VALIDATOR.issues(value))}` };
}

/** The event bus. */
export interface EventBus {
  readonly kind: TransportKind;
  /** Validates `event` (invalid_input naming the fields) and stores it on `<channel>.<event type>`; this bus's readers may receive the object itself, so it must not change afterwards. */
  publish(channel: Channel, event: OoEvent): Promise<PublishResult>;
  /** Opens a durable consumer over `signals.>` and `feedback.>`. */
  consumer(options: ConsumerOptions): Promise<EventConsumer>;
  /** Opens an ordered reader of the events stream from `startSeq` (1: from the oldest message held). */
  reader(startSeq: number): Promise<EventReader>;
  /** The events stream's first and last sequence now. */
  extent(): Promise<StreamExtent>;
  /** The newest `last` dead letters (oldest first), and how many the dead-letter stream holds. */
  deadLetters(last: number): Promise<DeadLetters>;
  /** Takes now what publishing needs (the embedded bus's writer lock: `conflict` while another process holds it), so a conflict shows before the first publish. */
  claimWriter(): Promise<void>;
  /** What setting up the bus found that an operator should know (transport.ts). */
  setupWarnings(): readonly string[];
  /** Whether the bus is reachable now. */
  health(): TransportHealth;
  /** Calls `listener` on every change of health; returns the unsubscribe function. */
  onHealth(listener: (health: TransportHealth) => void): () => void;
  /** Closes open consumers and readers, then the transport. */
  close(): Promise<void>;
}

/** Options of the bus. */
export interface EventBusOptions {
  /** Clock for dead-letter `received_at` (default: the system clock). */
  now?: () => Date;
  /** Embedded bus only: how often an idle fetch looks for lines another process appended (default 50 ms). */
  pollMs?: number;
  /** NATS only: replicas of the streams it creates (default 1; 3 on a 3-node cluster). */
  streamReplicas?: number;
  /** NATS only: how long a publish waits for its JetStream ack (default 2 s). */
  publishTimeoutMs?: number;
  /** NATS only: retry a failed first connection until it succeeds, reporting each failure (nats-transport.ts). */
  onWaitingForServer?: (error: unknown) => void;
}

const CONSUMER_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const encoder = new TextEncoder();

/** The bus of `config`: NATS JetStream when NATS_URL is set, else the embedded journal of the home. */
export async function createEventBus(config: Config, options: EventBusOptions = {}): Promise<EventBus> {
  const transport =
    config.natsUrl === undefined
      ? createEmbeddedTransport(config.paths.bus, { pollMs: options.pollMs, syncMs: config.busSyncMs() })
      : await createNatsTransport(checkNatsUrl(config.natsUrl), {
          streamReplicas: options.streamReplicas ?? config.natsStreamReplicas(),
          publishTimeoutMs: options.publishTimeoutMs,
          onWaitingForServer: options.onWaitingForServer,
        });
  return createEventBusOver(transport, options);
}

/**
 * Throws `not_found` when `config` names the embedded bus and its folder does not exist: a
 * command that only reads the bus (ingest, dlq) would otherwise read nothing from a mistyped
 * --home and report success. `oo-ml serve` and the quickstart make the folder.
 */
export async function requireEmbeddedBus(config: Config): Promise<void> {
  if (config.natsUrl !== undefined || (await exists(config.paths.bus))) return;
  throw notFound(`no folder ${config.paths.bus}: no embedded bus there`, {
    hint: 'is --home the folder oo-ml serve uses (it makes the bus when it starts)? With NATS, set NATS_URL',
  });
}

/** NATS_URL, checked: nats:// or tls:// URLs (comma-separated for a cluster). */
function checkNatsUrl(raw: string): string {
  for (const part of raw.split(',')) {
    let ok = false;
    try {
      const u = new URL(part.trim());
      ok = (u.protocol === 'nats:' || u.protocol === 'tls:') && u.hostname !== '';
    } catch {
      ok = false;
    }
    if (!ok) {
      throw invalidUsage(`NATS_URL must be nats://host:port (or tls://…), got "${redactUrl(raw)}"`, {
        hint: 'fix NATS_URL, or unset it to use the embedded bus under <home>/data/bus',
      });
    }
  }
  return raw;
}

/** The bus behaviour (validation, dead-lettering, redelivery limit) over one transport. */
export function createEventBusOver(transport: Transport, options: EventBusOptions = {}): EventBus {
  const now = options.now ?? (() => new Date());
  const open = new Set<{ close(): Promise<void> }>();
  /** While a reader is open, what this bus published, for its readers to take rather than decode (published-events.ts). */
  const published = new PublishedEvents();
  let readers = 0;

  return {
    kind: transport.kind,

    // Not async, and the payload through Buffer.from (pooled) rather than TextEncoder (one
    // ArrayBuffer per event, a GC cost): the event path of every /score (bench:serve).
    publish(channel, event) {
      try {
        if (!isChannel(channel)) {
          throw invalidInput(`channel "${String(channel)}" is not one of ${CHANNELS.join(', ')}`);
        }
        const type: unknown = (event as { type?: unknown }).type;
        if (typeof type !== 'string' || !isEventType(type)) {
          const message = `event type ${JSON.stringify(type)} is not one of ${EVENT_TYPES.join(', ')}`;
          throw invalidInput(message, { details: [{ path: '/type', message }] });
        }
        if (!allowedOn(channel, type)) throw invalidInput(`${type} events go on signals only, not on ${channel}`, { details: [{ path: '/type', message: `not taken on ${channel}` }] });
        const validator: Validator<OoEvent> = EVENT_VALIDATORS[type];
        const data = Buffer.from(encodeValid(event, validator, `${type} event`));
        const subject = eventSubject(channel, type);
        return transport.publish(subject, data, event.event_id).then((ack) => {
          if (readers > 0 && !ack.duplicate && ack.seq > 0) {
            published.put(ack.seq, subject, data, event);
          }
          return { subject, duplicate: ack.duplicate, seq: ack.seq };
        });
      } catch (e) {
        return Promise.reject(e);
      }
    },

    async consumer(consumerOptions) {
      const { name } = consumerOptions;
      if (!CONSUMER_NAME.test(name)) {
        throw invalidUsage(`consumer name "${name}" must be 1–64 letters, digits, "-" or "_"`);
      }
      const ackWaitMs = consumerOptions.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
      if (!Number.isInteger(ackWaitMs) || ackWaitMs < 1000) {
        throw invalidUsage(`ack wait must be an integer of at least 1000 ms, got ${ackWaitMs}`);
      }
      const raw = await transport.consumer({ name, ackWaitMs });
      /** Publishes the envelope of `rejection` first and acks second: a crash in between redelivers the message, and the dedupe id (original subject + position) keeps the second envelope out. */
      const park = async (rejection: Rejection, ack: () => Promise<void>): Promise<DeadLetterEnvelope> => {
        const envelope = deadLetterOf(rejection, now());
        await transport.publish(dlqSubject(rejection.subject), encoder.encode(JSON.stringify(envelope)), `dlq:${rejection.subject}:${rejection.seq}`);
        await ack();
        return envelope;
      };
      // Built only for a rejection: a batch in hand outlives young-generation collections, so
      // every object kept per delivery is copied and promoted (bench:replicas, ingest).
      const rejectionOf = (m: RawDelivery, reason: DeadLetterReason, message: string, issues: FieldIssue[]): Rejection => ({
        subject: m.subject,
        data: m.data,
        consumer: name,
        deliveryCount: m.deliveryCount,
        seq: m.seq,
        reason,
        message,
        issues,
      });
      const parkDelivery = (m: RawDelivery, reason: DeadLetterReason, message: string, issues: FieldIssue[]): Promise<DeadLetterEnvelope> =>
        park(rejectionOf(m, reason, message, issues), () => m.ack());
      const consumer: EventConsumer = {
        name,
        ackWaitMs,
        unacked: () => raw.unacked(),
        async fetch({ max, maxWaitMs }) {
          if (!Number.isInteger(max) || max < 1 || max > MAX_BATCH) {
            throw invalidUsage(`fetch size must be an integer between 1 and ${MAX_BATCH}, got ${max}`);
          }
          const events: EventDelivery[] = [];
          const rejected: DeadLetterEnvelope[] = [];
          const got = await raw.fetch(max, Math.max(0, maxWaitMs));
          for (let i = 0; i < got.length; i++) {
            // Decoding is this thread's work: yield every 250 messages, so a consumer that
            // fetches ahead (oo-ml ingest) keeps its other work (DuckDB's queries) flowing.
            if (i > 0 && i % 250 === 0) await new Promise((resolve) => setImmediate(resolve));
            const m = got[i]!;
            const decoded = decodeEvent(m.subject, m.data);
            if (!decoded.ok) {
              rejected.push(await parkDelivery(m, decoded.reason, decoded.message, decoded.issues));
            } else if (m.deliveryCount > MAX_DELIVERIES) {
              // The consumer was given this message MAX_DELIVERIES times and never acked it (each
              // attempt crashed or timed out): park it instead of looping on it.
              const why = `${decoded.event.type} ${decoded.event.event_id} on ${m.subject} was delivered ${m.deliveryCount} times without an ack`;
              rejected.push(await parkDelivery(m, 'redelivery_limit', why, []));
            } else {
              events.push(new BusDelivery(decoded.subject, decoded.event, m, parkDelivery));
            }
          }
          return { events, rejected };
        },
        async close() {
          open.delete(consumer);
          await raw.close();
        },
      };
      open.add(consumer);
      return consumer;
    },

    async reader(startSeq) {
      if (!Number.isInteger(startSeq) || startSeq < 1) throw invalidUsage(`a reader starts at a sequence ≥ 1, got ${startSeq}`);
      const raw = await transport.reader(startSeq);
      readers++;
      const reader: EventReader = {
        async next(max, maxWaitMs) {
          if (!Number.isInteger(max) || max < 1 || max > MAX_BATCH) {
            throw invalidUsage(`read size must be an integer between 1 and ${MAX_BATCH}, got ${max}`);
          }
          const out: StreamMessage[] = [];
          for (const m of await raw.next(max, Math.max(0, maxWaitMs))) {
            // The bytes decide: a recreated stream may hold another message at this sequence.
            const own = published.take(m.seq, m.subject, m.data);
            if (own !== null) {
              out.push({ ok: true, seq: m.seq, subject: m.subject as EventSubject, event: own });
              continue;
            }
            const decoded = decodeEvent(m.subject, m.data);
            out.push(decoded.ok ? { ok: true, seq: m.seq, subject: decoded.subject, event: decoded.event } : { ok: false, seq: m.seq, subject: m.subject, reason: decoded.reason, message: decoded.message });
          }
          return out;
        },
        async close() {
          if (!open.delete(reader)) return;
          if (--readers === 0) published.clear();
          await raw.close();
        },
      };
      open.add(reader);
      return reader;
    },

    extent: () => transport.extent(),
    async deadLetters(last) {
      if (!Number.isSafeInteger(last) || last < 0) throw invalidUsage(`the number of dead letters to read must be a whole number ≥ 0, got ${last}`);
      const { held, messages } = await transport.deadLetters(last);
      return { held, letters: messages.map(storedDeadLetter) };
    },
    claimWriter: () => transport.claimWriter(),
    setupWarnings: () => transport.setupWarnings(),
    health: () => transport.health(),
    onHealth: (listener) => transport.onHealth(listener),

    async close() {
      for (const c of [...open]) await c.close();
      await transport.close();
    },
  };
}
