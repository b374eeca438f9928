/**
 * The `date-time` string format of every schema: RFC 3339 exactly as TypeBox's own check
 * (`Format.IsDateTime`) decides it, but without allocating on the shape every clock writes. Its
 * check splits the string and runs two capturing regular expressions, three allocations per
 * timestamp on each event a bus consumer validates (bench:replicas, ingest); this one reads the
 * characters where they must be. Anything off that shape (a leap second, an RFC 9557 suffix,
 * a malformed string) goes to TypeBox's check, so the answers are the same for every string
 * (test/date-time-format.test.ts checks both on generated strings).
 *
 * validation.ts registers it before any schema is compiled.
 */
import { Format } from 'typebox/format';

const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The ASCII digit at `i`, or -1. */
function digitAt(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1;
}

/** The two ASCII digits at `i` as a number, or -1. */
function twoDigitsAt(s: string, i: number): number {
  const a = digitAt(s, i);
  const b = digitAt(s, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

/** The check, handing every string off the common shape to `fallback` (TypeBox's check; tests count its calls). */
export function createDateTimeCheck(fallback: (value: string) => boolean): (value: string) => boolean {
  return (value) => {
    // YYYY-MM-DDTHH:MM:SS[.digits](Z|±HH:MM), `T` and `Z` in either case.
    const n = value.length;
    const yHigh = twoDigitsAt(value, 0);
    const yLow = twoDigitsAt(value, 2);
    const month = twoDigitsAt(value, 5);
    const day = twoDigitsAt(value, 8);
    const hour = twoDigitsAt(value, 11);
    const minute = twoDigitsAt(value, 14);
    const second = twoDigitsAt(value, 17);
    const t = value.charCodeAt(10);
    if (
      yHigh < 0 || yLow < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 ||
      value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45 || (t !== 84 && t !== 116) ||
      value.charCodeAt(13) !== 58 || value.charCodeAt(16) !== 58
    ) {
      return fallback(value);
    }
    let i = 19;
    if (value.charCodeAt(i) === 46) {
      const first = ++i;
      while (digitAt(value, i) >= 0) i++;
      if (i === first) return fallback(value);
    }
    const zone = value.charCodeAt(i);
    let zoneHour = 0;
    let zoneMinute = 0;
    const utc = (zone === 90 || zone === 122) && i + 1 === n;
    if (!utc) {
      if (!((zone === 43 || zone === 45) && i + 6 === n && value.charCodeAt(i + 3) === 58)) return fallback(value);
      zoneHour = twoDigitsAt(value, i + 1);
      zoneMinute = twoDigitsAt(value, i + 4);
      if (zoneHour < 0 || zoneMinute < 0) return fallback(value);
    }
    // Second 60 is valid only where it falls on 23:59:60 UTC: TypeBox's check works that out.
    if (second === 60) return fallback(value);
    const year = yHigh * 100 + yLow;
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    return (
      month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && leap ? 29 : DAYS[month]!) &&
      hour <= 23 && minute <= 59 && second <= 59 && zoneHour <= 23 && zoneMinute <= 59
    );
  };
}

/** True when `value` is an RFC 3339 date-time (with an optional RFC 9557 suffix), as TypeBox's `date-time` format says. */
export const isDateTime: (value: string) => boolean = createDateTimeCheck(Format.IsDateTime);

/** Makes `isDateTime` the `date-time` format of schemas compiled from now on. */
export function registerDateTimeFormat(): void {
  Format.Set('date-time', isDateTime);
}
