/** Serializers compiled from schemas: type lists for nullable unions, and the same JSON as JSON.stringify for valid values. */
import fc from 'fast-check';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { EVENT_SCHEMAS, EVENT_TYPES } from '../src/events/schemas.js';
import { compileSerializer, withTypeLists } from '../src/json-serializer.js';
import * as serverSchemas from '../src/server/schemas.js';
import { ScoreResponse } from '../src/server/schemas.js';

/** The TypeBox schemas server/schemas.ts exports (its types are erased; its objects are schemas). */
const SERVER_SCHEMAS = Object.entries(serverSchemas).filter(([, v]) => typeof v === 'object' && v !== null && ('type' in v || 'anyOf' in v)) as [string, TSchema][];

const text = fc.string({ maxLength: 12, unit: 'grapheme' });
const scoreResponse = fc.record({
  serve_id: text,
  arm: text,
  score: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: null }),
  propensity: fc.double({ min: 0, max: 1, noNaN: true }),
  policy: text,
  model_version: fc.option(text, { nil: null }),
  experiment: fc.option(text, { nil: null }),
  variant: fc.option(text, { nil: null }),
  prompt_version: fc.option(text, { nil: null }),
  fallbacks: fc.array(text, { maxLength: 4 }),
});

/** `v` with undefined object fields set to null. */
function withNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withNulls);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x === undefined ? null : withNulls(x)]));
}

describe('withTypeLists', () => {
  it('compiles schemas whose nullable unions are type lists, with no format or untyped enum left', () => {
    for (const type of EVENT_TYPES) {
      const json = JSON.stringify(withTypeLists(EVENT_SCHEMAS[type]));
      expect(json, type).not.toContain('"anyOf"');
      expect(json, type).not.toContain('"format"');
    }
    const served = withTypeLists(EVENT_SCHEMAS['tip.served']) as { properties: Record<string, { type?: unknown }> };
    expect(served.properties['model_version']!.type).toEqual(['string', 'null']);
    expect(served.properties['arm']!.type).toBe('string');
    const response = withTypeLists(ScoreResponse) as { properties: Record<string, { type?: unknown }> };
    expect(response.properties['score']!.type).toEqual(['number', 'null']);
  });
});

describe('compileSerializer', () => {
  it('writes a /score response as JSON.stringify does, keys in schema order (property)', () => {
    const serialize = compileSerializer<unknown>(ScoreResponse);
    fc.assert(
      fc.property(scoreResponse, (response) => {
        expect(Value.Check(ScoreResponse, response)).toBe(true);
        const json = serialize(response);
        expect(json).toBe(JSON.stringify(JSON.parse(json)));
        expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(response)));
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it("compiles every server schema and writes its default value as JSON.stringify's value", () => {
    expect(SERVER_SCHEMAS.length).toBeGreaterThan(10);
    for (const [name, schema] of SERVER_SCHEMAS) {
      // An `unknown` field (an error's details) is created undefined, which no answer sends.
      const value = withNulls(Value.Create(schema));
      expect(JSON.parse(compileSerializer<unknown>(schema)(value)), name).toEqual(JSON.parse(JSON.stringify(value)));
    }
  });
});
