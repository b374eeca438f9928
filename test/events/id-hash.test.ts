import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashId, IdHashSet } from '../../src/events/id-hash.js';

describe('IdHashSet', () => {
  it('holds every id added, across growth, and counts distinct ids', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 24 }), { maxLength: 400 }), fc.integer({ min: 1, max: 64 }), (ids, expected) => {
        const set = new IdHashSet(expected);
        for (const id of ids) set.add(id);
        for (const id of ids) expect(set.has(id)).toBe(true);
        expect(set.size).toBe(new Set(ids).size);
      }),
      { seed: 13 },
    );
  });

  it('tells new ids from added ones (no false hit among 200,000 others) and grows to at most half full', () => {
    const set = new IdHashSet();
    for (let i = 0; i < 100_000; i++) set.add(`evt-${i}`);
    let hits = 0;
    for (let i = 100_000; i < 300_000; i++) if (set.has(`evt-${i}`)) hits++;
    expect(hits).toBe(0);
    expect(set.size).toBe(100_000);
    // 8 bytes a slot, at least twice as many slots as ids.
    expect(set.bytes).toBe(262_144 * 8);
  });

  it('keeps an id whose hash is (0, 0), the empty-slot mark, as an id, and tells absent ids apart from it', () => {
    const chosen: Record<string, [number, number]> = { zero: [0, 0], near: [0, 3], far: [8, 8] };
    const set = new IdHashSet(1, (id, out) => {
      const h = chosen[id] ?? [0, 5];
      out[0] = h[0];
      out[1] = h[1];
    });
    expect(set.has('zero')).toBe(false);
    const slotsAtFirst = set.bytes;
    set.add('near');
    expect(set.has('zero')).toBe(false);
    set.add('zero');
    set.add('zero');
    expect(set.size).toBe(2);
    expect(set.has('zero')).toBe(true);
    expect(set.has('absent')).toBe(false);
    // The table grew from two slots on the way: every held hash moved with it.
    set.add('far');
    set.add('absent');
    for (const id of ['zero', 'near', 'far', 'absent']) expect(set.has(id), id).toBe(true);
    expect(set.size).toBe(4);
    expect(set.bytes).toBeGreaterThan(slotsAtFirst);
  });

  it('hashes the same id the same way, and differing ids apart', () => {
    const a = new Int32Array(2);
    const b = new Int32Array(2);
    fc.assert(
      fc.property(fc.string(), fc.string(), (x, y) => {
        hashId(x, a);
        hashId(x, b);
        expect([...a]).toEqual([...b]);
        hashId(y, b);
        if (x !== y) expect([...a]).not.toEqual([...b]);
      }),
      { seed: 5 },
    );
  });
});
