import fc from 'fast-check';
import xxhash from 'xxhash-wasm';
import { describe, expect, it } from 'vitest';
import { BUCKETS, MAX_VARIANTS, assign, parseExperimentsConfig } from '../../src/experiments/assignment.js';

const { h32 } = await xxhash();

const config = parseExperimentsConfig(
  {
    experiments: [
      {
        name: 'policy-ab',
        salt: '2026-02',
        variants: [
          { name: 'control', weight: 80, policy: 'tip-policy@champion' },
          { name: 'treatment', weight: 20, policy: 'linucb' },
        ],
      },
    ],
  },
  'test.json',
);

describe('experiment assignment', () => {
  it('is stable per user and honours the weights', () => {
    const counts = { control: 0, treatment: 0 };
    for (let i = 0; i < 20_000; i++) {
      const a = assign(config, `u${i}`, h32, 'x');
      expect(assign(config, `u${i}`, h32, 'x')).toEqual(a);
      counts[a.variant as 'control' | 'treatment']++;
    }
    expect(counts.treatment / 20_000).toBeGreaterThan(0.18);
    expect(counts.treatment / 20_000).toBeLessThan(0.22);
  });

  it('keeps every bucket edge of weights that sum finitely where it always was (60/40: bucket 6000 is the second variant)', () => {
    const split = (weights: number[]) =>
      parseExperimentsConfig({ experiments: [{ name: 'e', salt: 's', variants: weights.map((weight, i) => ({ name: `v${i}`, weight, policy: 'x' })) }] }, 't');
    // The arithmetic of every release so far: edges at (weight / sum) × BUCKETS, summed in order.
    const edges = (weights: number[]) => {
      const sum = weights.reduce((a, w) => a + w, 0);
      let edge = 0;
      return weights.map((w) => (edge += (w / sum) * BUCKETS));
    };
    for (const weights of [[60, 40], [3, 2], [0.7, 0.2, 0.1], [1, 1, 1], [80, 20]]) {
      const config = split(weights);
      const expected = edges(weights);
      for (let bucket = 0; bucket < BUCKETS; bucket++) {
        const variant = expected.findIndex((edge) => bucket < edge);
        const got = assign(config, `bucket-${bucket}`, () => bucket, 'x');
        if (got.variant !== `v${variant === -1 ? weights.length - 1 : variant}`) throw new Error(`${weights.join('/')}: bucket ${bucket} went to ${got.variant}`);
      }
    }
  });

  it('refuses an experiment of more than MAX_VARIANTS variants, naming the field', () => {
    const variants = Array.from({ length: MAX_VARIANTS + 1 }, (_, i) => ({ name: `v${i}`, weight: 1, policy: 'linucb' }));
    expect(() => parseExperimentsConfig({ experiments: [{ name: 'e', salt: 's', variants }] }, 'big.json')).toThrow(/big\.json.*\/experiments\/0\/variants/);
  });

  it("splits by the weights' ratio however large they are (1e308 each summed to Infinity and sent everyone to the last)", () => {
    const huge = parseExperimentsConfig({ experiments: [{ name: 'e', salt: 's', variants: [{ name: 'a', weight: 1e308, policy: 'x' }, { name: 'b', weight: 1e308, policy: 'y' }] }] }, 't');
    let a = 0;
    for (let i = 0; i < 2_000; i++) if (assign(huge, `u${i}`, h32, 'x').variant === 'a') a++;
    expect(a / 2_000).toBeGreaterThan(0.45);
    expect(a / 2_000).toBeLessThan(0.55);
  });

  it('maps every user to a bucket in range and a declared variant (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (user) => {
        const a = assign(config, user, h32, 'x');
        expect(a.bucket).toBeGreaterThanOrEqual(0);
        expect(a.bucket).toBeLessThan(BUCKETS);
        expect(['control', 'treatment']).toContain(a.variant);
      }),
      { seed: 1, numRuns: 500 },
    );
  });

  it('assigns by the standard XXH32 of "<salt>:<user id>", so every replica and release agrees', () => {
    // XXH32's published test vectors (seed 0): the hash is the library's standard one.
    expect([h32(''), h32('abc')]).toEqual([0x02cc5d05, 0x32d153ff]);
    // Pinned buckets: a change here moves live users between variants.
    const pinned = { u0: [9884, 'treatment'], u1: [3911, 'control'], alice: [1645, 'control'], 'someone-new': [7329, 'control'] } as const;
    for (const [user, [bucket, variant]] of Object.entries(pinned)) {
      expect(assign(config, user, h32, 'x'), user).toMatchObject({ experiment: 'policy-ab', bucket, variant });
    }
  });

  it('reshuffles users when the salt changes', () => {
    const other = parseExperimentsConfig({ experiments: [{ ...config.experiments[0]!, salt: 'new' }] }, 't');
    let moved = 0;
    for (let i = 0; i < 2000; i++) if (assign(config, `u${i}`, h32, 'x').bucket !== assign(other, `u${i}`, h32, 'x').bucket) moved++;
    expect(moved).toBeGreaterThan(1900);
  });

  it('gives the default policy without experiments and rejects bad configs naming the problem', () => {
    expect(assign(parseExperimentsConfig({ experiments: [] }, 't'), 'u', h32, 'tip-policy@champion')).toEqual({
      experiment: null,
      variant: null,
      policy: 'tip-policy@champion',
      bucket: null,
    });
    expect(() => parseExperimentsConfig({ experiments: [{ name: 'e', salt: 's', variants: [] }] }, 'x.json')).toThrow(/x\.json.*\/experiments\/0\/variants/);
    expect(() => parseExperimentsConfig({ experiments: [], extra: 1 }, 'x.json')).toThrow(/unknown field\(s\): extra/);
    expect(() =>
      parseExperimentsConfig({ experiments: [{ name: 'e', salt: 's', variants: [{ name: 'a', weight: 1, policy: 'p' }, { name: 'a', weight: 1, policy: 'q' }] }] }, 'x.json'),
    ).toThrow(/repeats a variant name/);
  });
});
