/**
 * Command-line flag parsers. Kept free of heavy imports so that `oo-ml --help` and every
 * command start fast; errors are `invalid_usage` (exit 2) naming the flag.
 */
import { invalidUsage } from '../errors.js';

/** Parses an integer flag, naming the flag when it is not an integer in range. */
export function parseIntFlag(flag: string, raw: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw invalidUsage(`${flag} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return n;
}

/**
 * An ISO-8601 date, or date and time with an optional zone: `YYYY-MM-DD[Thh:mm[:ss[.fff]]][Z|±hh:mm]`.
 * Only this: `Date` also reads "Jan 10 2026" or "2026/01/10", and a time without a zone, in the
 * machine's zone, so the same command meant other instants on other machines.
 */
const ISO_TIME = /^\s*(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?\s*$/;

/** The instant `raw` names (UTC when it names no zone), or null when it is not ISO-8601 or names no real day and time (30 February, hour 24). */
function isoInstant(raw: string): Date | null {
  const m = ISO_TIME.exec(raw);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((k) => Number(m[k] ?? 0)) as [number, number, number, number, number, number];
  const utc = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, Number(`0.${m[7] ?? '0'}`) * 1000));
  utc.setUTCFullYear(year);
  if (utc.getUTCMonth() !== month - 1 || utc.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return null;
  if (m[9] === undefined) return utc;
  const offsetHours = Number(m[10]);
  const offsetMinutes = Number(m[11]);
  if (offsetHours > 23 || offsetMinutes > 59) return null;
  const sign = m[9] === '-' ? -1 : 1;
  return new Date(utc.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000);
}

/**
 * Parses a timestamp flag (ISO-8601; a time without a zone is UTC, as every day of the event log
 * is), naming the flag when it does not parse or names no real day (30 February).
 */
export function parseTimeFlag(flag: string, raw: string): Date {
  const d = isoInstant(raw);
  if (d === null) {
    throw invalidUsage(`${flag} must be an ISO-8601 time such as 2026-01-31T00:00:00Z (UTC when it names no zone), got "${raw}"`);
  }
  // Date takes years up to ±275760; the event log and DuckDB's timestamps take 4-digit years.
  if (d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999) {
    throw invalidUsage(`${flag} must be a time between the years 0001 and 9999, got "${raw}"`);
  }
  return d;
}

/** Parses a positive number flag (or undefined when absent). */
export function parsePositiveFlag(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw invalidUsage(`${flag} must be a positive number, got "${raw}"`);
  return v;
}

/** Parses a number flag in [min, max], naming the flag when it is not one. */
export function parseNumberFlag(flag: string, raw: string, min: number, max: number): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v < min || v > max) throw invalidUsage(`${flag} must be a number between ${min} and ${max}, got "${raw}"`);
  return v;
}
