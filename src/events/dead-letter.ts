/**
 * The dead-letter envelope: what a consumer publishes to `dlq.<original subject>` for a message
 * it cannot accept, so nothing is dropped silently. It carries the original bytes (base64, plus
 * the text when they are valid UTF-8), the reason, and the field issues naming what is wrong.
 */
import Type, { type Static } from 'typebox';
import { createValidator, type FieldIssue } from '../validation.js';

/** Why a message was dead-lettered. */
export const DEAD_LETTER_REASONS = [
  /** The subject is not `signals.<event type>` or `feedback.<event type>`. */
  'unknown_subject',
  /** The payload is not UTF-8 JSON. */
  'not_json',
  /** The payload's `type` differs from the subject's event type. */
  'type_mismatch',
  /** The payload does not match the schema of its event type. */
  'invalid_event',
  /** Delivered MAX_DELIVERIES times without being acknowledged. */
  'redelivery_limit',
  /** Valid, but the consumer could not store it (the event log refused this event alone). */
  'unstorable',
] as const;
/** One reason. */
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

const Issue = Type.Object(
  { path: Type.String(), message: Type.String() },
  { additionalProperties: false },
);

/** The envelope published on `dlq.<original subject>` (JSON). */
export const DeadLetter = Type.Object(
  {
    original_subject: Type.String({ minLength: 1 }),
    reason: Type.Enum(DEAD_LETTER_REASONS),
    /** One line naming the problem (and every bad field), for people. */
    message: Type.String(),
    /** JSON paths and problems, for tools (empty when the reason is not about fields). */
    issues: Type.Array(Issue),
    /** The original bytes, exactly. */
    payload_base64: Type.String(),
    /** The original bytes as text when they are valid UTF-8, else null. */
    payload_text: Type.Union([Type.String(), Type.Null()]),
    received_at: Type.String({ format: 'date-time' }),
    /** The consumer that rejected the message. */
    consumer: Type.String({ minLength: 1 }),
    /** Which delivery of the message this was (1 = first). */
    delivery_count: Type.Integer({ minimum: 1 }),
    /** Position of the original: JetStream stream sequence, or line number in the embedded journal. */
    seq: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
/** A dead-letter envelope. */
export type DeadLetterEnvelope = Static<typeof DeadLetter>;
/** Validator of envelopes (tests and DLQ readers). */
export const DEAD_LETTER_VALIDATOR = createValidator(DeadLetter);

/** What a consumer knows about a message it rejects. */
export interface Rejection {
  subject: string;
  data: Uint8Array;
  reason: DeadLetterReason;
  message: string;
  issues: FieldIssue[];
  consumer: string;
  deliveryCount: number;
  seq: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The original bytes as text, or null when they are not valid UTF-8. */
export function utf8OrNull(data: Uint8Array): string | null {
  try {
    return strictUtf8.decode(data);
  } catch {
    return null;
  }
}

/** Builds the envelope of a rejected message received at `receivedAt`. */
export function deadLetterOf(r: Rejection, receivedAt: Date): DeadLetterEnvelope {
  return {
    original_subject: r.subject,
    reason: r.reason,
    message: r.message,
    issues: r.issues.map((i) => ({ path: i.path, message: i.message })),
    payload_base64: Buffer.from(r.data).toString('base64'),
    payload_text: utf8OrNull(r.data),
    received_at: receivedAt.toISOString(),
    consumer: r.consumer,
    delivery_count: r.deliveryCount,
    seq: r.seq,
  };
}
