import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRng, deriveSeed, poisson, rngFromState, weightedIndex } from '../../src/random/rng.js';

describe('seeded generator', () => {
  it('gives unrelated first draws for neighbouring small seeds', () => {
    const first = Array.from({ length: 200 }, (_, s) => createRng(s).next());
    const mean = first.reduce((a, b) => a + b, 0) / first.length;
    expect(mean).toBeGreaterThan(0.4);
    expect(mean).toBeLessThan(0.6);
    expect(new Set(first.map((x) => Math.floor(x * 10))).size).toBe(10);
  });

  it('is reproducible and resumable from its state (property)', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const a = createRng(seed);
        const b = createRng(seed);
        for (let i = 0; i < 5; i++) expect(a.next()).toBe(b.next());
        const resumed = rngFromState(a.state());
        expect(resumed.next()).toBe(a.next());
        const u = a.next();
        expect(u).toBeGreaterThanOrEqual(0);
        expect(u).toBeLessThan(1);
      }),
      { seed: 9, numRuns: 200 },
    );
  });

  it('draws integers, normals, Poisson counts and weighted indices with the right moments', () => {
    const rng = createRng(deriveSeed(1, 2));
    const n = 20_000;
    let ints = 0, normals = 0, sq = 0, pois = 0;
    const w = [0, 1, 3];
    const hits = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      ints += rng.int(10);
      const z = rng.normal();
      normals += z;
      sq += z * z;
      pois += poisson(rng, 3);
      hits[weightedIndex(rng, w)]!++;
    }
    expect(ints / n).toBeCloseTo(4.5, 0);
    expect(Math.abs(normals / n)).toBeLessThan(0.03);
    expect(sq / n).toBeCloseTo(1, 1);
    expect(pois / n).toBeCloseTo(3, 1);
    expect(hits[0]).toBe(0);
    expect(hits[2]! / n).toBeCloseTo(0.75, 1);
  });
});
