/**
 * The primitives an event-bus adapter provides: append bytes to a subject with a de-duplication
 * id, and pull raw messages through a named consumer with explicit acks. Everything above them —
 * validation, dead-lettering, redelivery limits — is written once in event-bus.ts.
 */

/** Which adapter carries the events. */
export type TransportKind = 'embedded' | 'nats';

/** Deliveries a message gets before it is dead-lettered with reason `redelivery_limit`. */
export const MAX_DELIVERIES = 5;

/** The largest fetch a consumer accepts (JetStream's max_ack_pending is set from it). */
export const MAX_BATCH = 10_000;

/** A message as a transport delivers it, before validation. */
export interface RawDelivery {
  subject: string;
  data: Uint8Array;
  /** JetStream stream sequence, or line number (1-based) in the embedded journal of the subject. */
  seq: number;
  /** 1 on first delivery. */
  deliveryCount: number;
  /** Acknowledges the message; resolves once the transport has recorded the ack. */
  ack(): Promise<void>;
}

/**
 * How a consumer reads: `durable` resumes after what it acknowledged last time (and records its
 * acks); `replay` reads everything still held from the start and records nothing.
 */
export type ConsumeMode = 'durable' | 'replay';

/** Options of a raw consumer. */
export interface RawConsumerOptions {
  name: string;
  mode: ConsumeMode;
  /** How long a delivered, unacknowledged message waits before redelivery (JetStream `ack_wait`). */
  ackWaitMs: number;
}

/** A consumer pulling raw messages. */
export interface RawConsumer {
  /** Up to `max` messages; waits at most `maxWaitMs` to fill the batch (returns [] when none came). */
  fetch(max: number, maxWaitMs: number): Promise<RawDelivery[]>;
  close(): Promise<void>;
}

/** What a publish did. */
export interface RawPublishAck {
  /** True when the de-duplication id was seen before and the message was not stored again. */
  duplicate: boolean;
}

/** One adapter. */
export interface Transport {
  readonly kind: TransportKind;
  /** Stores `data` on `subject`; `msgId` de-duplicates repeated publishes of the same message. */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<RawPublishAck>;
  /** Opens a consumer over every event subject (`signals.>` and `feedback.>`). */
  consumer(options: RawConsumerOptions): Promise<RawConsumer>;
  close(): Promise<void>;
}
