/** The command line's time flags: every real day and time is taken as written, none is rolled over. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTimeFlag } from '../../src/cli/flags.js';

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** Days in a month of the proleptic Gregorian calendar, written out rather than through Date. */
const daysIn = (y: number, m: number) => (m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31);

describe('time flags', () => {
  it('takes every real date and time as written, and refuses a day past its month or an hour, minute or second out of range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 60 }), (y, m, d, hh, mm) => {
        const date = `${pad(y, 4)}-${pad(m)}-${pad(d)}`;
        const time = `${date}T${pad(hh)}:${pad(mm)}:00Z`;
        const realDay = d <= daysIn(y, m);
        if (realDay) expect(parseTimeFlag('--as-of', date).toISOString().slice(0, 10)).toBe(date);
        else expect(() => parseTimeFlag('--as-of', date)).toThrow(/--as-of must be an ISO-8601 time/);
        if (realDay && hh <= 23 && mm <= 59) expect(parseTimeFlag('--as-of', time).toISOString()).toBe(time.replace('Z', '.000Z'));
        else expect(() => parseTimeFlag('--as-of', time)).toThrow(/--as-of must be/);
      }),
      { seed: 2026, numRuns: 3000 },
    );
  });

  it('refuses the rolled-over days the command line used to take', () => {
    for (const raw of ['2026-02-30', '2026-02-29', '2026-04-31T10:00:00Z', '2026-02-05T24:00:00Z', '2026-01-01T10:60Z']) {
      expect(() => parseTimeFlag('--start', raw), raw).toThrow(`--start must be an ISO-8601 time such as 2026-01-31T00:00:00Z (UTC when it names no zone), got "${raw}"`);
    }
    expect(parseTimeFlag('--start', '2028-02-29').toISOString()).toBe('2028-02-29T00:00:00.000Z');
    expect(parseTimeFlag('--start', '2026-03-01T01:00:00+02:00').toISOString()).toBe('2026-02-28T23:00:00.000Z');
  });

  it('reads a time without a zone as UTC on a machine in any zone, and refuses what is not ISO-8601', () => {
    const zone = process.env['TZ'];
    try {
      for (const tz of ['America/New_York', 'Asia/Kolkata', 'UTC']) {
        process.env['TZ'] = tz;
        expect(parseTimeFlag('--as-of', '2026-01-10T12:00:00').toISOString(), tz).toBe('2026-01-10T12:00:00.000Z');
        expect(parseTimeFlag('--as-of', '2026-01-10T12:00').toISOString(), tz).toBe('2026-01-10T12:00:00.000Z');
        expect(parseTimeFlag('--as-of', '2026-01-10').toISOString(), tz).toBe('2026-01-10T00:00:00.000Z');
        expect(parseTimeFlag('--as-of', '2026-01-10T12:00:00.25-05:30').toISOString(), tz).toBe('2026-01-10T17:30:00.250Z');
        expect(parseTimeFlag('--as-of', '2026-01-10 12:00:00z').toISOString(), tz).toBe('2026-01-10T12:00:00.000Z');
      }
    } finally {
      if (zone === undefined) delete process.env['TZ'];
      else process.env['TZ'] = zone;
    }
    for (const raw of ['Jan 10 2026', '2026/01/10', '10 January 2026', '2026-01-10T12', '2026-01-10T12:00:00+25:00', '1768046400000', '']) {
      expect(() => parseTimeFlag('--as-of', raw), raw).toThrow(/--as-of must be an ISO-8601 time/);
    }
    // Zones can carry an instant out of the years the event log takes.
    expect(() => parseTimeFlag('--as-of', '9999-12-31T23:00:00-02:00')).toThrow(/between the years 0001 and 9999/);
  });
});
