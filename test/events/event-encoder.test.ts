/** Encoding events for the bus: the schema-compiled serializer writes what JSON.stringify writes. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeEvent } from '../../src/events/event-encoder.js';
import { EVENT_VALIDATORS } from '../../src/events/schemas.js';
import { anyEvent } from '../helpers/event-arbitraries.js';

describe('encodeEvent', () => {
  it('writes, for every valid event, JSON that parses back to the event (property)', () => {
    let checked = 0;
    fc.assert(
      fc.property(anyEvent, (event) => {
        // Only valid events reach the encoder (the bus validates first).
        fc.pre(EVENT_VALIDATORS[event.type].check(event));
        checked++;
        const text = encodeEvent(event);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(event)));
        // Same bytes once the keys are in the same order: the same escapes and number forms.
        const reordered = JSON.parse(text) as Record<string, unknown>;
        expect(text).toBe(JSON.stringify(reordered));
      }),
      { numRuns: 500, seed: 42 },
    );
    expect(checked).toBeGreaterThan(250);
  });
});
