import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createStringIndex, fnv1a } from '../../src/features/string-index.js';

describe('string index (fast path of snapshot lookups)', () => {
  it('answers exactly like a Map for present and absent keys (differential)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 10 }), { maxLength: 300 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 50 }), (keys, probes) => {
        const index = createStringIndex(keys);
        const reference = new Map(keys.map((k, i) => [k, i]));
        expect(index.size).toBe(keys.length);
        for (const k of [...keys, ...probes]) expect(index.get(k)).toBe(reference.get(k) ?? -1);
      }),
      { seed: 3, numRuns: 300 },
    );
  });

  it('finds keys sharing long prefixes and stops probing on a miss', () => {
    // Ids differing only in their last characters exercise probe chains in a dense table.
    const keys = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
    const index = createStringIndex(keys);
    for (let i = 0; i < keys.length; i += 97) expect(index.get(keys[i]!)).toBe(i);
    expect(index.get('user-2000')).toBe(-1);
  });

  it('hashes with 32-bit FNV-1a', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });
});
