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

  it('tells apart keys whose 32-bit hashes are equal', () => {
    // Known FNV-1a collisions: each pair lands in one chain with the same hash in its slots.
    const pairs = [
      ['costarring', 'liquid'],
      ['declinate', 'macallums'],
      ['altarage', 'zinke'],
    ] as const;
    for (const [a, b] of pairs) expect(fnv1a(a)).toBe(fnv1a(b));
    const keys = pairs.flat();
    const index = createStringIndex(keys);
    keys.forEach((k, row) => expect(index.get(k)).toBe(row));
    // Only the first of two colliding keys is in this index: the second is absent, not the first's row.
    const half = createStringIndex(pairs.map(([a]) => a));
    pairs.forEach(([a, b], row) => {
      expect(half.get(a)).toBe(row);
      expect(half.get(b)).toBe(-1);
    });
  });

  it('keeps the first row of a key given twice', () => {
    const index = createStringIndex(['a', 'b', 'a', 'c']);
    expect([index.get('a'), index.get('b'), index.get('c')]).toEqual([0, 1, 3]);
  });

  it('hashes with 32-bit FNV-1a', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });
});
