/**
 * The primitives an event-bus adapter provides: append bytes to a subject with a de-duplication
 * id, read the events stream in order from a sequence number, and pull raw messages through a
 * named durable consumer with explicit acks. Everything above them — validation,
 * dead-lettering, redelivery limits — is written once in event-bus.ts.
 *
 * Both adapters keep two streams: the events stream (`signals.>`, `feedback.>`), one log with
 * one sequence for every subject, and the dead-letter stream (`dlq.>`), with its own sequence.
 */

/** Which adapter carries the events. */
export type TransportKind = 'embedded' | 'nats';

/** Deliveries a message gets before it is dead-lettered with reason `redelivery_limit`. */
export const MAX_DELIVERIES = 5;

/** The largest fetch a consumer accepts (JetStream's max_ack_pending is set from it). */
export const MAX_BATCH = 10_000;

/** A message of the events stream as an ordered reader sees it, before validation. */
export interface RawMessage {
  subject: string;
  data: Uint8Array;
  /** Position in the events stream: 1, 2, 3… in stream order (gaps where retention removed messages). */
  seq: number;
}

/** A message as a durable consumer delivers it, before validation. */
export interface RawDelivery extends RawMessage {
  /** 1 on first delivery; kept across restarts by both adapters. */
  deliveryCount: number;
  /** Acknowledges the message; resolves once the transport has recorded the ack. */
  ack(): Promise<void>;
}

/** Options of a durable consumer. */
export interface RawConsumerOptions {
  name: string;
  /** How long a delivered, unacknowledged message waits before redelivery (JetStream `ack_wait`; the embedded bus redelivers after a restart). */
  ackWaitMs: number;
}

/** A durable consumer pulling raw messages: it resumes after what it acknowledged. */
export interface RawConsumer {
  /** Up to `max` messages; waits at most `maxWaitMs` to fill the batch (returns [] when none came). */
  fetch(max: number, maxWaitMs: number): Promise<RawDelivery[]>;
  /** Messages delivered through this durable consumer, by any process, and not acknowledged yet. */
  unacked(): Promise<number>;
  close(): Promise<void>;
}

/**
 * An ordered reader of the events stream from a sequence number on: it records nothing (no
 * acks, no server-side state to clean up) and follows the stream as it grows.
 */
export interface RawReader {
  /** Up to `max` messages in stream order; resolves as soon as at least one is there, or with [] after `maxWaitMs`. */
  next(max: number, maxWaitMs: number): Promise<RawMessage[]>;
  close(): Promise<void>;
}

/** What a publish did. */
export interface RawPublishAck {
  /** True when the de-duplication id was seen before and the message was not stored again. */
  duplicate: boolean;
  /** The message's sequence in its stream (for a duplicate, the first copy's when the adapter knows it, else 0). */
  seq: number;
}

/** The events stream's extent. */
export interface StreamExtent {
  /** Sequence of the oldest message still held (lastSeq + 1 when empty). */
  firstSeq: number;
  /** Sequence of the newest message (0 when nothing was ever stored). */
  lastSeq: number;
}

/** Whether the adapter can reach its storage. */
export interface TransportHealth {
  connected: boolean;
  /** Epoch ms of the last change. */
  since: number;
  /** What happened last (a disconnect's reason, "reconnected to …"), or null. */
  detail: string | null;
}

/** One adapter. */
export interface Transport {
  readonly kind: TransportKind;
  /** Stores `data` on `subject` (an event subject, or `dlq.…`); `msgId` de-duplicates repeated publishes of the same message. */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<RawPublishAck>;
  /** Opens a durable consumer over every event subject (`signals.>` and `feedback.>`). */
  consumer(options: RawConsumerOptions): Promise<RawConsumer>;
  /** Opens an ordered reader of the events stream from `startSeq` (1 = the beginning; a sequence already removed starts at the oldest held). */
  reader(startSeq: number): Promise<RawReader>;
  /** The events stream's first and last sequence now. */
  extent(): Promise<StreamExtent>;
  /** The newest `last` messages of the dead-letter stream (oldest first), and how many it holds. */
  deadLetters(last: number): Promise<{ held: number; messages: RawMessage[] }>;
  /**
   * Takes now what this process needs to publish, instead of at its first publish: the embedded
   * bus's events writer lock (`conflict` naming the process that holds it); nothing on NATS.
   */
  claimWriter(): Promise<void>;
  /** What setting up the streams found that the operator should know and oo-ml does not change (an existing stream's replicas other than asked for). */
  setupWarnings(): readonly string[];
  /** Connected or not, now (the embedded journal is always connected). */
  health(): TransportHealth;
  /** Calls `listener` on every change of health; returns the unsubscribe function. */
  onHealth(listener: (health: TransportHealth) => void): () => void;
  close(): Promise<void>;
}
