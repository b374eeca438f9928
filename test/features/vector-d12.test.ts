import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ProfileValues } from '../../src/features/registry.js';
import { writeVectorD12 } from '../../src/features/vector-d12.js';
import { vectorDim, vectorWriter, writeVector, writeVectorGeneric, type VectorInput } from '../../src/features/vectors.js';

const D = vectorDim('v2');

/** The bits of every component, so +0/−0 and NaN payloads compare exactly. */
const bits = (v: Float64Array): string[] => Array.from(new BigUint64Array(v.buffer, v.byteOffset, v.length), (b) => b.toString(16));

/** Numbers a vector input may carry, weighted towards the ones the tables serve. */
const anyNumber = (smallInts: fc.Arbitrary<number>): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 6, arbitrary: smallInts },
    { weight: 1, arbitrary: fc.constantFrom(-0, 0, -1, 23, 24, 4095, 4096, 4097, 0.5, -23.5, 2 ** 31, -(2 ** 31) - 1, NaN, Infinity, -Infinity) },
    { weight: 2, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.integer() },
  );

const nullable = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(a, { nil: null, freq: 4 });

const profileArb: fc.Arbitrary<ProfileValues> = fc.record({
  completion_rate: nullable(fc.oneof(fc.double({ min: 0, max: 1 }), fc.double())),
  dismiss_rate: nullable(fc.oneof(fc.double({ min: 0, max: 1 }), fc.double())),
  mean_dwell_sec: nullable(fc.oneof(fc.double({ min: 0, max: 1000 }), fc.double())),
  preferred_hour: nullable(anyNumber(fc.integer({ min: 0, max: 23 }))),
  tip_volume: nullable(anyNumber(fc.integer({ min: 0, max: 5000 }))),
});

const inputArb: fc.Arbitrary<VectorInput> = fc.record({
  hourOfDay: anyNumber(fc.integer({ min: 0, max: 23 })),
  dayOfWeek: anyNumber(fc.integer({ min: 0, max: 6 })),
  openTasks: anyNumber(fc.integer({ min: 0, max: 600 })),
  overdueTasks: anyNumber(fc.integer({ min: 0, max: 600 })),
  hasProfile: fc.boolean(),
  profile: profileArb,
});

describe('hand-written v2 vector (differential against the component list)', () => {
  it('is the encoder writeVector runs for v2, and v1 is not', () => {
    expect(vectorWriter('v2')).toBe(writeVectorD12);
    expect(vectorWriter('v1')).not.toBe(writeVectorD12);
  });

  it('writes the same bits as the component list for generated inputs, at an offset, touching nothing else', () => {
    fc.assert(
      fc.property(inputArb, fc.integer({ min: 0, max: 5 }), (input, offset) => {
        const fast = new Float64Array(D + 10).fill(7);
        const plain = new Float64Array(D + 10).fill(7);
        expect(writeVectorD12(input, fast, offset)).toBe(fast);
        writeVectorGeneric('v2', input, plain, offset);
        expect(bits(fast)).toEqual(bits(plain));
        expect(bits(writeVector('v2', input, new Float64Array(D)))).toEqual(bits(plain.subarray(offset, offset + D)));
      }),
      { seed: 20_511, numRuns: 20_000 },
    );
  });

  it('agrees on every integer hour, hour difference and small count the tables hold, and on −0', () => {
    const base: VectorInput = {
      hourOfDay: 0,
      dayOfWeek: 0,
      openTasks: 0,
      overdueTasks: 0,
      hasProfile: true,
      profile: { completion_rate: 0.5, dismiss_rate: 0.1, mean_dwell_sec: 30, preferred_hour: 0, tip_volume: 0 },
    };
    const check = (input: VectorInput): void => {
      expect(bits(writeVectorD12(input, new Float64Array(D), 0))).toEqual(bits(writeVectorGeneric('v2', input, new Float64Array(D))));
    };
    let checked = 0;
    for (const h of [-0, ...Array.from({ length: 24 }, (_, i) => i)]) {
      for (const p of [-0, ...Array.from({ length: 24 }, (_, i) => i), null]) {
        check({ ...base, hourOfDay: h, profile: { ...base.profile, preferred_hour: p } });
        checked++;
      }
    }
    for (let n = -2; n < 4100; n++) {
      check({ ...base, openTasks: n, overdueTasks: 4099 - n, profile: { ...base.profile, tip_volume: n } });
      checked++;
    }
    check({ ...base, openTasks: -0, overdueTasks: -0, profile: { ...base.profile, tip_volume: -0 } });
    expect(checked).toBe(25 * 26 + 4102);
    // −0 hour: sin(−0) is −0, which a table lookup at 0 would turn into +0.
    expect(Object.is(writeVectorD12({ ...base, hourOfDay: -0 }, new Float64Array(D), 0)[1], -0)).toBe(true);
  });
});
