import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { isoFromMs, msFromIso, msFromRfc3339 } from '../../src/server/iso-time.js';

// Fast paths against the built-ins they replace, and proof that the fast paths are taken.
describe('iso-time fast paths', () => {
  it('formats exactly like Date.prototype.toISOString', () => {
    fc.assert(
      fc.property(fc.integer({ min: -70_000_000_000_000, max: 300_000_000_000_000 }), (ms) => {
        expect(isoFromMs(ms)).toBe(new Date(ms).toISOString());
      }),
      { seed: 1, numRuns: 5000 },
    );
    for (const ms of [0, -1, 86_399_999, 86_400_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(0, 0, 1) - 1, 1.5]) {
      expect(isoFromMs(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it('formats runs of repeated and alternating times exactly like toISOString (the last one is cached)', () => {
    const near = fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_005 });
    fc.assert(
      fc.property(fc.array(fc.oneof(near, fc.integer({ min: -70_000_000_000_000, max: 300_000_000_000_000 })), { minLength: 1, maxLength: 20 }), (times) => {
        for (const ms of times) expect(isoFromMs(ms)).toBe(new Date(ms).toISOString());
      }),
      { seed: 2, numRuns: 500 },
    );
  });

  it('parses exactly like Date.parse, on RFC 3339 date-times and on near misses', () => {
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
    const rfc3339 = fc
      .tuple(
        fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')),
        two(13),
        two(32),
        fc.constantFrom('T', 't', ' '),
        two(25),
        two(60),
        two(61),
        fc.oneof(fc.constant(''), fc.integer({ min: 0, max: 9_999_999 }).map((f) => `.${f}`), fc.constant('.')),
        fc.oneof(fc.constantFrom('Z', 'z', ''), fc.tuple(fc.constantFrom('+', '-'), two(24), two(59)).map(([s, h, m]) => `${s}${h}:${m}`)),
      )
      .map(([y, mo, d, t, h, mi, s, f, z]) => `${y}-${mo}-${d}${t}${h}:${mi}:${s}${f}${z}`);
    fc.assert(
      fc.property(fc.oneof(rfc3339, fc.string({ maxLength: 30 })), (text) => {
        expect(Object.is(msFromIso(text), Date.parse(text))).toBe(true);
      }),
      { seed: 2, numRuns: 20_000 },
    );
    // The last text parsed is remembered: repeats and alternations still read each text's own instant.
    fc.assert(
      fc.property(fc.array(fc.oneof(rfc3339, fc.string({ maxLength: 30 })), { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 12 }), (texts, picks) => {
        for (const k of [0, 0, ...picks, 0]) {
          const text = texts[k % texts.length]!;
          expect(Object.is(msFromIso(text), Date.parse(text))).toBe(true);
        }
      }),
      { seed: 3, numRuns: 2_000 },
    );
    // A repeat of the last text is answered without parsing it again.
    const parse = vi.spyOn(Date, 'parse');
    try {
      msFromIso('2026-02-05');
      msFromIso('2026-02-05');
      expect(parse).toHaveBeenCalledTimes(1);
    } finally {
      parse.mockRestore();
    }
    expect(msFromIso('2026-02-29T10:00:00Z')).toBe(Date.parse('2026-02-29T10:00:00Z'));
    expect(msFromIso('2024-02-29T10:00:00.123456+05:30')).toBe(Date.parse('2024-02-29T10:00:00.123456+05:30'));
  });

  it('reads request times strictly: the instant of a valid RFC 3339 date-time, NaN for impossible fields', () => {
    const two = (max: number) => fc.integer({ min: 0, max });
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 9999 }),
        two(13),
        two(32),
        fc.constantFrom('T', 't', ' '),
        two(25),
        two(60),
        two(60),
        fc.option(fc.integer({ min: 0, max: 9_999_999 }), { nil: undefined }),
        fc.oneof(fc.constantFrom('Z', 'z'), fc.tuple(fc.constantFrom('+', '-'), two(24), two(60), fc.constantFrom(':', ''))),
        (y, mo, d, t, h, mi, s, frac, zone) => {
          const z = typeof zone === 'string' ? zone : `${zone[0]}${pad(zone[1])}${zone[3]}${pad(zone[2])}`;
          const fraction = frac === undefined ? '' : `.${frac}`;
          const text = `${pad(y, 4)}-${pad(mo)}-${pad(d)}${t}${pad(h)}:${pad(mi)}:${pad(s)}${fraction}${z}`;
          const offsetMin = typeof zone === 'string' ? 0 : (zone[0] === '-' ? -1 : 1) * (zone[1] * 60 + zone[2]);
          const monthDays = new Date(Date.UTC(2000, mo, 0));
          monthDays.setUTCFullYear(y, mo, 0);
          const valid =
            mo >= 1 && mo <= 12 && d >= 1 && d <= monthDays.getUTCDate() && h <= 23 && mi <= 59 && s <= 60 && (typeof zone === 'string' || (zone[1] <= 23 && zone[2] <= 59));
          const millis = s === 60 ? 999 : frac === undefined ? 0 : Number(String(frac).padEnd(3, '0').slice(0, 3));
          // setUTCFullYear takes years below 100 as they are (Date.UTC would read 19xx).
          const at = new Date(0);
          at.setUTCFullYear(y, mo - 1, d);
          at.setUTCHours(h, mi - offsetMin, Math.min(s, 59), millis);
          const expected = valid ? at.getTime() : NaN;
          expect(Object.is(msFromRfc3339(text), expected)).toBe(true);
        },
      ),
      { seed: 3, numRuns: 20_000 },
    );
    // What Date.parse rolls over is refused; the shapes the schema refuses are not instants either.
    for (const text of ['2026-02-05T24:00:00Z', '2026-02-30T10:00:00Z', '2026-04-31T23:00:00Z', '2026-02-05T10:00:00+24:00', '2026-02-05', 'yesterday']) {
      expect(msFromRfc3339(text), text).toBeNaN();
    }
    // Years below 100 are years, not 19xx (Date.UTC's reading).
    expect(msFromRfc3339('0050-03-01 12:00:00.5+01')).toBe(new Date('0050-03-01T11:00:00.500Z').getTime());
  });

  it('takes the fast paths on the shapes the server sees', () => {
    const parse = vi.spyOn(Date, 'parse');
    const format = vi.spyOn(Date.prototype, 'toISOString');
    try {
      const base = Date.UTC(2026, 1, 5, 12);
      for (let i = 0; i < 1000; i++) {
        const ms = base + i * 60_013;
        expect(msFromIso(isoFromMs(ms))).toBe(ms);
        expect(msFromIso(`2026-02-05T10:00:${String(i % 60).padStart(2, '0')}+01:00`)).toBe(Date.UTC(2026, 1, 5, 9, 0, i % 60));
      }
      expect(parse).not.toHaveBeenCalled();
      // The date part is formatted by the built-in once per day crossed (1000 minutes: ≤ 2 days).
      expect(format.mock.calls.length).toBeLessThanOrEqual(2);
    } finally {
      parse.mockRestore();
      format.mockRestore();
    }
  });
});
