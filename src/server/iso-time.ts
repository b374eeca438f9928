/**
 * ISO-8601 timestamps on the /score hot path. `Date.prototype.toISOString` and `Date.parse` were
 * the two most expensive lines of a decision in a CPU profile (each a C++ runtime call with
 * locale-free but general parsing/formatting); every serve formats one time and parses each
 * task's due time. These do the common shapes with integer arithmetic: `isoFromMs` and
 * `msFromIso` fall back to the built-ins for anything else (and are tested against them), while
 * `msFromRfc3339`, for request times, parses the rest itself and refuses what names no instant
 * (tested against Date.UTC). test/server/iso-time.test.ts holds both.
 */

const DAY_MS = 86_400_000;
let cachedDay = NaN;
let cachedPrefix = '';
// Requests of one millisecond share their time: under load a dozen serves format the same one.
let lastMs = NaN;
let lastIso = '';

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

/** Same string as `new Date(ms).toISOString()`. */
export function isoFromMs(ms: number): string {
  if (ms === lastMs) return lastIso;
  // Years outside 0000–9999 use the expanded (±YYYYYY) form: leave them (and fractions of a
  // millisecond, which Date truncates) to the built-in.
  if (!(ms >= -62_167_219_200_000 && ms < 253_402_300_800_000) || !Number.isInteger(ms)) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    // The date part changes once a day: the built-in formats it, and it is cached.
    cachedPrefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    cachedDay = day;
  }
  let rest = ms - day * DAY_MS;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  lastIso = `${cachedPrefix}${pad2(h)}:${pad2(m)}:${pad2(s)}.${pad3(rest - s * 1000)}Z`;
  lastMs = ms;
  return lastIso;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;
const daysInMonth = (y: number, m: number): number =>
  m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : MONTH_DAYS[m - 1]!;

const digit = (s: string, i: number): number => s.charCodeAt(i) - 48;
const two = (s: string, i: number): number => {
  const a = digit(s, i);
  const b = digit(s, i + 1);
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : NaN;
};

// The fold reads back every serve's time, and serves of one millisecond share the string
// `isoFromMs` made for them: the last one parsed is answered without parsing. A text without an
// offset is local time to `Date.parse`; its cached instant assumes TZ does not change while the
// process runs (event times always carry an offset).
let lastParsedIso = '';
let lastParsedMs = NaN;

/**
 * Same number as `Date.parse(text)` for RFC 3339 date-times (`YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)`,
 * what the request schema's `date-time` format admits); anything else goes to `Date.parse`.
 */
export function msFromIso(text: string): number {
  if (text === lastParsedIso) return lastParsedMs;
  const fast = fastMsFromIso(text);
  const ms = fast === undefined ? Date.parse(text) : fast;
  lastParsedIso = text;
  lastParsedMs = ms;
  return ms;
}

// RFC 3339 date-times and the looser shapes around them: `T`, `t` or a space between date and
// time (the request schema admits `T` and `t` only), an optional fraction, `Z`, `z` or an offset
// `±HH`, `±HHMM`, `±HH:MM`.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2})(?::?(\d{2}))?)$/;

/**
 * Epoch ms of an RFC 3339 date-time, or NaN when it names no instant: month 13, 30 February, hour
 * 24, minute or offset out of range. `Date.parse` rolls such fields over (T24:00 is the next
 * day, 30 February is 2 March), so a request's times are read with this instead. A leap second
 * (second 60, as RFC 3339 allows) counts as the last millisecond of its minute.
 */
export function msFromRfc3339(text: string): number {
  const fast = fastMsFromIso(text);
  if (fast !== undefined) return fast;
  const m = RFC3339.exec(text);
  if (m === null) return NaN;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((k) => Number(m[k]));
  const oh = m[9] === undefined ? 0 : Number(m[9]);
  const om = m[10] === undefined ? 0 : Number(m[10]);
  if (!(month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth(year!, month!) && hour! <= 23 && minute! <= 59 && second! <= 60 && oh <= 23 && om <= 59)) return NaN;
  const offsetMin = (m[8] === '-' ? -1 : 1) * (oh * 60 + om);
  const millis = second === 60 ? 999 : m[7] === undefined ? 0 : Number(`${m[7]}00`.slice(0, 3));
  return daysFromCivil(year!, month!, day!) * DAY_MS + ((hour! * 60 + minute! - offsetMin) * 60 + Math.min(second!, 59)) * 1000 + millis;
}

/** msFromIso's integer-arithmetic path: undefined for any shape or value it leaves to `Date.parse`. */
function fastMsFromIso(text: string): number | undefined {
  const n = text.length;
  if (n < 20 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) {
    return undefined;
  }
  if (text.charCodeAt(10) !== 84) return undefined;
  const year = two(text, 0) * 100 + two(text, 2);
  const month = two(text, 5);
  const day = two(text, 8);
  const hour = two(text, 11);
  const minute = two(text, 14);
  const second = two(text, 17);
  let i = 19;
  let millis = 0;
  if (text.charCodeAt(i) === 46) {
    // Fraction: Date.parse keeps milliseconds and truncates further digits.
    let scale = 100;
    i++;
    const start = i;
    while (i < n) {
      const d = digit(text, i);
      if (d < 0 || d > 9) break;
      if (scale >= 1) millis += d * scale;
      scale /= 10;
      i++;
    }
    if (i === start) return undefined;
  }
  let offsetMin = 0;
  const z = text.charCodeAt(i);
  if (z === 90 && i === n - 1) {
    offsetMin = 0;
  } else if ((z === 43 || z === 45) && i === n - 6 && text.charCodeAt(i + 3) === 58) {
    const oh = two(text, i + 1);
    const om = two(text, i + 4);
    if (!(oh <= 23 && om <= 59)) return undefined;
    offsetMin = (z === 45 ? -1 : 1) * (oh * 60 + om);
  } else {
    return undefined;
  }
  // Out-of-range fields (month 13, 30 February, hour 24, leap second 60…) and years below 100
  // (which Date.UTC maps to 19xx) are for the callers to judge.
  if (!(year >= 100 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && hour <= 23 && minute <= 59 && second <= 59 && Number.isFinite(offsetMin))) {
    return undefined;
  }
  return daysFromCivil(year, month, day) * DAY_MS + ((hour * 60 + minute - offsetMin) * 60 + second) * 1000 + millis;
}

/**
 * Days since 1970-01-01 of a proleptic Gregorian date (years ≥ 0), in integer arithmetic
 * (H. Hinnant, "chrono-compatible low-level date algorithms", days_from_civil). Date.UTC is a
 * runtime call, and /score parses every task's due time (BENCHMARKS.md, "Figures moved out of
 * comments").
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719_468;
}
