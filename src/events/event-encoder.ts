/**
 * Encoding a valid event for the bus: one serializer per event type, compiled from its schema by
 * fast-json-stringify (Fastify's serializer). For a valid event it writes the same JSON value as
 * JSON.stringify, with the keys in schema order, at about half the CPU of JSON.stringify of a
 * serve event (bench:serve, the event path of /score).
 */
import fastJson from 'fast-json-stringify';
import { wellFormed, type Validator } from '../validation.js';
import { EVENT_SCHEMAS, type EventType, type OoEvent } from './schemas.js';

const serializers = new Map<EventType, (event: OoEvent) => string>();

type SchemaNode = Record<string, unknown>;

/**
 * `schema` as the encoder needs it: each `anyOf` of plain typed branches (`string | null`, `number | null`, …)
 * written as one `type` list. fast-json-stringify picks an `anyOf` branch by running a compiled
 * validator of each branch on the value, which allocated more per serve event than the whole
 * JSON it writes; a `type` list is a `typeof` test (bench:event-encoding). Only the encoding
 * reads this: a valid event matches one branch, and the branches' other keywords (bounds,
 * formats) do not change how a value is written. String formats and untyped string enums are
 * made plain strings for the same reason.
 */
export function withTypeLists(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withTypeLists);
  if (typeof schema !== 'object' || schema === null) return schema;
  const node = schema as SchemaNode;
  const anyOf = node['anyOf'];
  if (Array.isArray(anyOf) && anyOf.length > 1) {
    const branches = anyOf as SchemaNode[];
    const types = branches.map((b) => b['type']);
    const simple = branches.every((b) => typeof b['type'] === 'string' && b['type'] !== 'object' && b['type'] !== 'array' && !('anyOf' in b) && !('enum' in b) && !('const' in b));
    if (simple && new Set(types).size === types.length) {
      const { anyOf: _anyOf, ...rest } = node;
      return { ...rest, type: types };
    }
  }
  const out: SchemaNode = {};
  for (const [k, v] of Object.entries(node)) {
    // A string's format only tells fast-json-stringify to accept Date objects too, at a cost per call.
    if (k === 'format' && node['type'] === 'string') continue;
    out[k] = withTypeLists(v);
  }
  // An enum of strings (the arm) is written as a string, not through the generic path.
  if (!('type' in node) && Array.isArray(node['enum']) && node['enum'].every((v) => typeof v === 'string')) out['type'] = 'string';
  return out;
}

/** The compact JSON of `event`, which must be valid for its type (validate first: fields outside the schema are left out). */
export function encodeEvent(event: OoEvent): string {
  let serialize = serializers.get(event.type);
  if (serialize === undefined) {
    serialize = fastJson(withTypeLists(EVENT_SCHEMAS[event.type]) as Parameters<typeof fastJson>[0]) as (event: OoEvent) => string;
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
