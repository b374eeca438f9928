/**
 * JSON serializers compiled from schemas by fast-json-stringify (Fastify's serializer), for the
 * bus's events (events/event-encoder.ts) and the server's responses (server/app.ts).
 *
 * A schema is compiled as `withTypeLists` rewrites it: fast-json-stringify picks an `anyOf`
 * branch by running a compiled validator of each branch on the value, which allocated more per
 * serve event than the whole JSON it writes, while a `type` list is a `typeof` test
 * (bench:event-encoding, both the serve event and the /score response).
 */
import fastJson from 'fast-json-stringify';

type SchemaNode = Record<string, unknown>;

/**
 * `schema` as a serializer needs it: each `anyOf` of plain typed branches (`string | null`,
 * `number | null`, …) written as one `type` list. Only serializing reads this: a valid value
 * matches one branch, and the branches' other keywords (bounds, formats) do not change how it
 * is written. String formats and untyped string enums are made plain strings for the same
 * reason (a format only tells fast-json-stringify to accept Date objects too, at a cost per
 * call; a plain string field still writes a Date as its ISO text).
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
    if (k === 'format' && node['type'] === 'string') continue;
    out[k] = withTypeLists(v);
  }
  // An enum of strings (the arm) is written as a string, not through the generic path.
  if (!('type' in node) && Array.isArray(node['enum']) && node['enum'].every((v) => typeof v === 'string')) out['type'] = 'string';
  return out;
}

/** The serializer of values valid for `schema` (fields outside it are left out). */
export function compileSerializer<T>(schema: unknown): (value: T) => string {
  return fastJson(withTypeLists(schema) as Parameters<typeof fastJson>[0]) as (value: T) => string;
}
