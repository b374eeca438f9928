import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROFILE_FEATURE_NAMES, type ProfileValues } from '../../src/features/registry.js';
import { toVector, vectorDim, vectorNames, writeVector, type VectorInput } from '../../src/features/vectors.js';

const profile = (p: Partial<ProfileValues> = {}): ProfileValues => ({
  completion_rate: 0.5,
  dismiss_rate: 0.25,
  mean_dwell_sec: 300,
  preferred_hour: 9,
  tip_volume: 20,
  ...p,
});

const input = (over: Partial<VectorInput> = {}): VectorInput => ({
  hourOfDay: 9,
  dayOfWeek: 2,
  openTasks: 4,
  overdueTasks: 1,
  hasProfile: true,
  profile: profile(),
  ...over,
});

describe('feature vectors', () => {
  it('v1 has D=7 and v2 has D=12, v2 extending v1', () => {
    expect(vectorDim('v1')).toBe(7);
    expect(vectorDim('v2')).toBe(12);
    expect(vectorNames('v2').slice(0, 7)).toEqual(vectorNames('v1'));
  });

  it('computes each component from its definition', () => {
    const v = toVector('v2', input({ hourOfDay: 6, dayOfWeek: 6 }));
    expect(v[0]).toBe(1);
    expect(v[1]).toBeCloseTo(1, 12); // sin(2π·6/24)
    expect(v[2]).toBeCloseTo(0, 12);
    expect(v[3]).toBe(1); // Sunday is weekend
    expect(v[4]).toBeCloseTo(Math.log(5), 12);
    expect(v[5]).toBeCloseTo(Math.log(2), 12);
    expect(v[6]).toBe(1);
    expect(v[7]).toBe(0.5);
    expect(v[8]).toBe(0.25);
    expect(v[9]).toBe(0.5); // 300 s of 600
    expect(v[10]).toBeCloseTo(Math.cos((2 * Math.PI * (6 - 9)) / 24), 12);
    expect(v[11]).toBeCloseTo(Math.log(21), 12);
  });

  it('treats an unknown preferred hour as alignment 0 and clips dwell to 600 s', () => {
    const v = toVector('v2', input({ profile: profile({ preferred_hour: null, mean_dwell_sec: 5000 }) }));
    expect(v[10]).toBe(0);
    expect(v[9]).toBe(1);
  });

  it('writes in place at an offset without touching neighbours', () => {
    const out = new Float64Array(7 * 3).fill(-1);
    writeVector('v1', input(), out, 7);
    expect([...out.slice(0, 7)]).toEqual(Array(7).fill(-1));
    expect([...out.slice(14)]).toEqual(Array(7).fill(-1));
    expect([...out.slice(7, 14)]).toEqual([...toVector('v1', input())]);
  });

  it('is finite and bounded for every valid input (property)', () => {
    const nullable = (a: fc.Arbitrary<number>) => fc.option(a, { nil: null });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 23 }),
        fc.integer({ min: 0, max: 6 }),
        fc.nat({ max: 10_000 }),
        fc.nat({ max: 10_000 }),
        fc.boolean(),
        nullable(fc.double({ min: 0, max: 1, noNaN: true })),
        nullable(fc.double({ min: 0, max: 1, noNaN: true })),
        nullable(fc.double({ min: 0, max: 1e6, noNaN: true })),
        nullable(fc.integer({ min: 0, max: 23 })),
        nullable(fc.nat({ max: 1e6 })),
        (h, d, open, overdue, has, cr, dr, dwell, ph, vol) => {
          const v = toVector('v2', {
            hourOfDay: h,
            dayOfWeek: d,
            openTasks: open,
            overdueTasks: overdue,
            hasProfile: has,
            profile: { completion_rate: cr, dismiss_rate: dr, mean_dwell_sec: dwell, preferred_hour: ph, tip_volume: vol },
          });
          for (const x of v) expect(Number.isFinite(x)).toBe(true);
          expect(Math.abs(v[1]!)).toBeLessThanOrEqual(1);
          expect(v[9]!).toBeGreaterThanOrEqual(0);
          expect(v[9]!).toBeLessThanOrEqual(1);
          expect(Math.abs(v[10]!)).toBeLessThanOrEqual(1);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it('covers every profile feature of the contract in v2', () => {
    // A profile feature the v2 layout ignores would be computed for nothing.
    const names = vectorNames('v2').join(' ');
    for (const f of PROFILE_FEATURE_NAMES) expect(names).toContain(f.split('_')[0]!);
  });
});
