/**
 * Encoding a valid event for the bus: one serializer per event type, compiled from its schema
 * (json-serializer.ts). For a valid event it writes the same JSON value as JSON.stringify, with
 * the keys in schema order, at about half the CPU of JSON.stringify of a serve event
 * (bench:event-encoding).
 */
import { compileSerializer } from '../json-serializer.js';
import { wellFormed, type Validator } from '../validation.js';
import { EVENT_SCHEMAS, type EventType, type OoEvent } from './schemas.js';

const serializers = new Map<EventType, (event: OoEvent) => string>();

/** The compact JSON of `event`, which must be valid for its type (validate first: fields outside the schema are left out). */
export function encodeEvent(event: OoEvent): string {
  let serialize = serializers.get(event.type);
  if (serialize === undefined) {
    serialize = compileSerializer<OoEvent>(EVENT_SCHEMAS[event.type]);
    serializers.set(event.type, serialize);
  }
  return serialize(event);
}

/**
 * The compact JSON of `event` once `validator` admits it, else throws `invalid_input` naming
 * `what` and every bad field. The schema is checked first, then lone surrogates from the encoded
 * text: the encoder writes a lone surrogate as a `\udxxx` escape and a proper pair or any other
 * character never as one, so only an event whose text holds `\ud` needs the walk of its strings,
 * which cost about as much as the schema check (bench:event-encoding). A literal backslash
 * before "ud" only costs that walk.
 */
export function encodeValid(event: OoEvent, validator: Validator<OoEvent>, what: string): string {
  const valid = validator.checkParsedWithoutEscapes(event) ? event : validator.parse(event, what);
  const json = encodeEvent(valid);
  if (json.includes('\\ud') && !wellFormed(valid)) validator.parse(valid, what);
  return json;
}
