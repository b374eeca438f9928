/**
 * Decoding a message off the bus: subject → event type → JSON → schema. The subject decides the
 * schema, so a payload cannot smuggle another type past a consumer that trusts the subject;
 * every failure says why and names the fields, ready for a dead-letter envelope.
 */
import { issueSummary, namedIssues, type FieldIssue, type Validator } from '../validation.js';
import { utf8OrNull, type DeadLetterReason } from './dead-letter.js';
import { EVENT_VALIDATORS, type EventType, type OoEvent } from './schemas.js';
import { allowedOn, parseEventSubject, type EventSubject } from './subjects.js';

/** A decoded message, or why it was refused. */
export type Decoded =
  | { ok: true; subject: EventSubject; event: OoEvent }
  | { ok: false; reason: DeadLetterReason; message: string; issues: FieldIssue[] };

/** Decodes and validates the payload `data` received on `subject`. */
export function decodeEvent(subject: string, data: Uint8Array): Decoded {
  const parsed = parseEventSubject(subject);
  if (parsed === null) {
    return {
      ok: false,
      reason: 'unknown_subject',
      message: `subject "${subject}" is not signals.<event type> or feedback.<event type>`,
      issues: [],
    };
  }
  if (!allowedOn(parsed.channel, parsed.type)) {
    return {
      ok: false,
      reason: 'wrong_channel',
      message: `${parsed.type} is taken on signals.${parsed.type} only, not on ${subject}: apps publish reactions and rewards on feedback`,
      issues: [],
    };
  }
  const text = utf8OrNull(data);
  if (text === null) {
    return { ok: false, reason: 'not_json', message: `payload on ${subject} is not UTF-8 text`, issues: [] };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { ok: false, reason: 'not_json', message: `payload on ${subject} is not JSON: ${why}`, issues: [] };
  }
  const { type } = parsed;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'type' in value && value.type !== type) {
    const got = JSON.stringify(value.type);
    return {
      ok: false,
      reason: 'type_mismatch',
      message: `payload on ${subject}: /type is ${got}, but the subject carries ${type}`,
      issues: [{ path: '/type', message: `expected "${type}" (from the subject), got ${got}` }],
    };
  }
  const checked = checkEventAs(type, value, text);
  if (checked.ok) return { ok: true, subject: parsed.subject, event: checked.event };
  return {
    ok: false,
    reason: 'invalid_event',
    message: `${type} on ${subject} is invalid: ${issueSummary(checked.issues)}`,
    issues: namedIssues(checked.issues),
  };
}

/**
 * `value`, parsed from `text`, checked against the schema of `type`: the one check every event
 * gets on its way into the log, off the bus or from a file (pipelines/event-import.ts).
 */
export function checkEventAs(type: EventType, value: unknown, text: string): { ok: true; event: OoEvent } | { ok: false; issues: FieldIssue[] } {
  const validator: Validator<OoEvent> = EVENT_VALIDATORS[type];
  // A lone surrogate can only come from a `\u` escape in the text: most payloads have none and
  // skip the walk over their strings (bench:replicas, ingest).
  if (text.includes('\\u') ? validator.check(value) : validator.checkParsedWithoutEscapes(value)) return { ok: true, event: value as OoEvent };
  return { ok: false, issues: validator.issues(value) };
}
