import fc from 'fast-check';
import { Format } from 'typebox/format';
import { describe, expect, it } from 'vitest';
import { createDateTimeCheck, isDateTime } from '../src/date-time-format.js';
import { createValidator } from '../src/validation.js';
import Type from 'typebox';

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** Date-times of the common shape, with fields allowed out of range so the range checks are exercised. */
const shaped = fc
  .record({
    year: fc.integer({ min: 0, max: 9999 }),
    month: fc.integer({ min: 0, max: 19 }),
    day: fc.integer({ min: 0, max: 39 }),
    hour: fc.integer({ min: 0, max: 29 }),
    minute: fc.integer({ min: 0, max: 69 }),
    second: fc.integer({ min: 0, max: 69 }),
    fraction: fc.option(fc.stringMatching(/^\d{0,10}$/), { nil: undefined }),
    t: fc.constantFrom('T', 't', ' ', 'x'),
    zone: fc.oneof(
      fc.constantFrom('Z', 'z', '', 'UTC'),
      fc.record({ sign: fc.constantFrom('+', '-', '~'), h: fc.integer({ min: 0, max: 29 }), m: fc.integer({ min: 0, max: 69 }) }).map(({ sign, h, m }) => `${sign}${pad(h, 2)}:${pad(m, 2)}`),
    ),
  })
  .map(({ year, month, day, hour, minute, second, fraction, t, zone }) =>
    `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}${t}${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}${fraction === undefined ? '' : `.${fraction}`}${zone}`,
  );

/** A shaped date-time with one character replaced, inserted or removed. */
const mutated = fc.tuple(shaped, fc.nat(), fc.constantFrom('replace', 'insert', 'delete'), fc.constantFrom(...'0123456789-:.TtZz+[]x '.split(''))).map(([s, at, how, c]) => {
  const i = at % (s.length + 1);
  if (how === 'insert') return s.slice(0, i) + c + s.slice(i);
  if (how === 'delete') return s.slice(0, i) + s.slice(i + 1);
  return s.slice(0, i) + c + s.slice(i + 1);
});

describe('isDateTime', () => {
  it('answers as TypeBox’s date-time format on shaped, mutated and arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(shaped, mutated, fc.string(), fc.string({ unit: 'binary' })), (s) => {
        expect(isDateTime(s)).toBe(Format.IsDateTime(s));
      }),
      { numRuns: 20_000, seed: 20261205 },
    );
  });

  it('reads the common shape itself: only leap seconds and other shapes reach TypeBox’s check', () => {
    let fallbacks = 0;
    const check = createDateTimeCheck((v) => {
      fallbacks++;
      return Format.IsDateTime(v);
    });
    const clockTimes = fc.tuple(fc.integer({ min: Date.parse('1970-01-01T00:00:00Z'), max: Date.parse('2999-12-31T23:59:59Z') }), fc.constantFrom('Z', 'z', '+05:30', '-08:00'), fc.integer({ min: 0, max: 9 })).map(([ms, zone, digits]) => {
      const iso = new Date(ms).toISOString().slice(0, 19);
      return `${iso}${digits === 0 ? '' : `.${'123456789'.slice(0, digits)}`}${zone}`;
    });
    fc.assert(
      fc.property(clockTimes, (s) => {
        expect(check(s)).toBe(true);
      }),
      { numRuns: 2_000, seed: 5 },
    );
    expect(fallbacks).toBe(0);
    expect(check('2026-13-05T04:20:00Z')).toBe(false);
    expect(fallbacks).toBe(0);
    expect(check('2016-12-31T23:59:60Z')).toBe(true);
    expect(check('2026-12-05T04:20:00Z[Europe/Paris]')).toBe(true);
    expect(fallbacks).toBe(2);
  });

  it('decides leap years, leap seconds and suffixes as RFC 3339 does', () => {
    expect(isDateTime('2024-02-29T00:00:00Z')).toBe(true);
    expect(isDateTime('2023-02-29T00:00:00Z')).toBe(false);
    expect(isDateTime('2000-02-29T00:00:00Z')).toBe(true);
    expect(isDateTime('1900-02-29T00:00:00Z')).toBe(false);
    expect(isDateTime('2016-12-31T23:59:60Z')).toBe(true);
    expect(isDateTime('2016-12-31T22:59:60Z')).toBe(false);
    expect(isDateTime('2016-12-31T15:59:60-08:00')).toBe(true);
    expect(isDateTime('2026-12-05T04:20:00.123456789+05:30')).toBe(true);
    expect(isDateTime('2026-12-05T04:20:00.Z')).toBe(false);
    expect(isDateTime('2026-12-05T04:20:00')).toBe(false);
    expect(isDateTime('2026-12-05T04:20:00Z[Europe/Paris]')).toBe(true);
  });

  it('is the date-time format of compiled schemas', () => {
    const v = createValidator(Type.Object({ at: Type.String({ format: 'date-time' }) }));
    expect(v.check({ at: '2026-12-05T04:20:00Z' })).toBe(true);
    expect(v.check({ at: '2026-13-05T04:20:00Z' })).toBe(false);
    expect(Format.Get('date-time')).toBe(isDateTime);
  });
});
