import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ARM_COUNT } from '../../src/features/arms.js';
import { PERSONAS, goodReactionProbability, writeReactionProbabilities, type ReactionContext } from '../../src/sim/personas.js';

/**
 * The bits of every value, so +0 and −0 compare apart; every NaN reads the same, because which
 * NaN an operation yields is the engine's choice (on Node 24 the tabled path and the plain one
 * gave NaNs of opposite sign for the same input once one of them was optimised).
 */
const bits = (v: Float64Array): string[] => Array.from(new BigUint64Array(v.buffer, v.byteOffset, v.length), (b, i) => (Number.isNaN(v[i]) ? 'NaN' : b.toString(16)));

/** The plain reference: one goodReactionProbability per arm, arms rotated by `shift`. */
function reference(personaIndex: number, ctx: ReactionContext, shift: number): Float64Array {
  return Float64Array.from({ length: ARM_COUNT }, (_, a) => goodReactionProbability(PERSONAS[personaIndex]!, (a + shift) % ARM_COUNT, ctx));
}

/** Integers the tables hold, mostly, plus edges and arbitrary doubles. */
const count = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 600 }) },
  { weight: 1, arbitrary: fc.constantFrom(-0, 1023, 1024, 1025, 2.5, 1e9, Infinity, NaN, -1) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 2000 }) },
);
const ctxArb: fc.Arbitrary<ReactionContext> = fc.record({
  hourOfDay: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 23 }) }, { weight: 1, arbitrary: fc.constantFrom(-0, 24, 7.5, -3, NaN) }),
  dayOfWeek: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 6 }) }, { weight: 1, arbitrary: fc.constantFrom(4.5, 7, -1, NaN) }),
  openTasks: count,
  overdueTasks: count,
});

describe('tabled reaction probabilities (differential against goodReactionProbability)', () => {
  it('write the same bits as goodReactionProbability for every arm, with and without drift', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: PERSONAS.length - 1 }), ctxArb, fc.constantFrom(0, 3, 5), fc.integer({ min: 0, max: 4 }), (p, ctx, shift, offset) => {
        const out = new Float64Array(ARM_COUNT + 6).fill(7);
        writeReactionProbabilities(p, ctx, shift, out, offset);
        expect(bits(out.subarray(offset, offset + ARM_COUNT))).toEqual(bits(reference(p, ctx, shift)));
        expect([...out.subarray(0, offset), ...out.subarray(offset + ARM_COUNT)].every((v) => v === 7)).toBe(true);
      }),
      { seed: 8_080, numRuns: 20_000 },
    );
  });

  it('agree on every persona, hour, weekday and task count the simulator produces (counts 0…500)', () => {
    const out = new Float64Array(ARM_COUNT);
    let checked = 0;
    const mismatches: string[] = [];
    for (let p = 0; p < PERSONAS.length; p++) {
      for (let h = 0; h < 24; h++) {
        for (const dayOfWeek of [0, 4, 5, 6]) {
          for (let open = 0; open <= 500; open += 7) {
            for (const overdue of [0, 1, Math.floor(open / 3), open]) {
              const ctx = { hourOfDay: h, dayOfWeek, openTasks: open, overdueTasks: overdue };
              writeReactionProbabilities(p, ctx, 0, out, 0);
              const ref = reference(p, ctx, 0);
              if (out.some((v, a) => !Object.is(v, ref[a]))) mismatches.push(JSON.stringify({ p, ...ctx }));
              checked++;
            }
          }
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBe(PERSONAS.length * 24 * 4 * 72 * 4);
    expect(out.every((v) => v > 0 && v < 1)).toBe(true);
  });
});
