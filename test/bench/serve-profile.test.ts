/**
 * bench:serve's split of a CPU profile into parts (bench/serve/profile.ts): compiled validators
 * count as validation, while the serializers fast-json-stringify compiles, and its helpers, count
 * where they are called from (an event's encoding on the event path, a response's in the framework).
 */
import { describe, expect, it } from 'vitest';
import { breakdownOf, partOf, type ProfileNode } from '../../bench/serve/profile.js';

const DIST = 'file:///work/oo-ml/dist';
const NM = 'file:///work/oo-ml/node_modules';

describe('bench:serve profile parts', () => {
  it('names compiled validators as validation and leaves compiled serializers and their helpers to their callers', () => {
    expect(partOf('validate10', '')).toBe('validation');
    expect(partOf('check_0', '')).toBe('validation');
    expect(partOf('anonymous0', '')).toBeNull();
    expect(partOf('asNumber', `${NM}/fast-json-stringify/lib/serializer.js`)).toBeNull();
    expect(partOf('encodeEvent', `${DIST}/events/event-encoder.js`)).toBe('event publish + journal');
    expect(partOf('serialize', `${NM}/fastify/lib/reply.js`)).toBe('HTTP + framework');
    expect(partOf('(garbage collector)', '')).toBe('garbage collection');
  });

  it("gives a serializer's time to the event path under an event's encoding and to the framework under a reply", () => {
    const node = (id: number, functionName: string, url: string, children: number[] = []): ProfileNode => ({ id, callFrame: { functionName, url }, children });
    const profile = {
      nodes: [
        node(1, '(root)', '', [2, 5, 8]),
        node(2, 'encodeEvent', `${DIST}/events/event-encoder.js`, [3]),
        node(3, 'anonymous0', '', [4]),
        node(4, 'asString', `${NM}/fast-json-stringify/lib/serializer.js`),
        node(5, 'serialize', `${NM}/fastify/lib/reply.js`, [6]),
        node(6, 'anonymous0', '', [7]),
        node(7, 'asNumber', `${NM}/fast-json-stringify/lib/serializer.js`),
        node(8, 'validate10', ''),
      ],
      // Time spent in: the event serializer and its helper (3 + 1), the response serializer and its helper (2 + 2), a validator (2).
      samples: [3, 4, 6, 7, 8],
      timeDeltas: [3, 1, 2, 2, 2],
    };
    const shares = breakdownOf(profile);
    expect(shares['event publish + journal']).toBeCloseTo(0.4, 12);
    expect(shares['HTTP + framework']).toBeCloseTo(0.4, 12);
    expect(shares.validation).toBeCloseTo(0.2, 12);
  });
});
