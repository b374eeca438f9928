/**
 * The dead-letter envelope: what a consumer publishes to `dlq.<original subject>` for a message
 * it cannot accept, so nothing is dropped silently. It carries the original bytes (base64, plus
 * the text when they are valid UTF-8), the reason, and the field issues naming what is wrong.
 *
 * Of an original larger than DLQ_PAYLOAD_LIMIT only the first bytes travel, with its full size
 * and SHA-256 (the original stays in the events stream at `seq` until retention removes it): a
 * whole copy, in base64 and as text, would be 2–3 times the original and could not be published
 * at all past a third of NATS's 1 MB `max_payload`, and a message that cannot be parked is never
 * acked — it and the valid messages fetched with it went round until JetStream gave up on them.
 */
import { createHash } from 'node:crypto';
import Type, { type Static } from 'typebox';
import { createValidator, namedIssues, type FieldIssue } from '../validation.js';

/** Why a message was dead-lettered. */
export const DEAD_LETTER_REASONS = [
  /** The subject is not `signals.<event type>` or `feedback.<event type>`. */
  'unknown_subject',
  /** The payload is not UTF-8 JSON. */
  'not_json',
  /** The payload's `type` differs from the subject's event type. */
  'type_mismatch',
  /** An event type oo-ml takes on `signals` only (a serve, a reset) arrived on `feedback` (subjects.ts). */
  'wrong_channel',
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
    /** The original's size in bytes, when `payload_base64` holds only its first DLQ_PAYLOAD_LIMIT bytes (absent: it holds them all). */
    payload_bytes: Type.Optional(Type.Integer({ minimum: 0 })),
    /** SHA-256 (hex) of the whole original, when only its first bytes are here. */
    payload_sha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
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

/** Bytes of an original that an envelope carries whole; of a larger one, its first this many. */
export const DLQ_PAYLOAD_LIMIT = 64 * 1024;

/** The first `limit` bytes of `data`, cut back to the start of a UTF-8 character. */
function utf8Prefix(data: Uint8Array, limit: number): Uint8Array {
  let end = Math.min(limit, data.length);
  // A continuation byte (10xxxxxx) does not start a character.
  while (end > 0 && end < data.length && (data[end]! & 0xc0) === 0x80) end--;
  return data.subarray(0, end);
}

/** Characters of the envelope's message, and of each issue's, past which they are cut: a message built from the payload (a huge `type`, a deep path) must not outgrow the payload's own cap. */
const TEXT_LIMIT = 1_000;
const cut = (text: string): string => (text.length <= TEXT_LIMIT ? text : `${text.slice(0, TEXT_LIMIT)}…`);

/** Builds the envelope of a rejected message received at `receivedAt` (see the module doc on large originals). */
export function deadLetterOf(r: Rejection, receivedAt: Date): DeadLetterEnvelope {
  const whole = r.data.length <= DLQ_PAYLOAD_LIMIT;
  const kept = whole ? r.data : utf8Prefix(r.data, DLQ_PAYLOAD_LIMIT);
  return {
    original_subject: r.subject,
    reason: r.reason,
    message: cut(r.message),
    issues: namedIssues(r.issues).map((i) => ({ path: i.path, message: cut(i.message) })),
    payload_base64: Buffer.from(kept.buffer, kept.byteOffset, kept.byteLength).toString('base64'),
    payload_text: utf8OrNull(kept),
    received_at: receivedAt.toISOString(),
    consumer: r.consumer,
    delivery_count: r.deliveryCount,
    seq: r.seq,
    ...(whole ? {} : { payload_bytes: r.data.length, payload_sha256: createHash('sha256').update(r.data).digest('hex') }),
  };
}
