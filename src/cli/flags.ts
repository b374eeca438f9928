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

/** `YYYY-MM-DD[Thh:mm[:ss]]` at the start of a time: the fields Date would roll over. */
const CALENDAR = /^\s*(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2}))?)?/;

/** Whether the calendar fields of `raw`, when it has them, name a real day and time (30 February, hour 24 do not). */
function realCalendarFields(raw: string): boolean {
  const m = CALENDAR.exec(raw);
  if (m === null) return true;
  const [year, month, day] = [1, 2, 3].map((k) => Number(m[k])) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return false;
  return (m[4] === undefined || Number(m[4]) <= 23) && (m[5] === undefined || Number(m[5]) <= 59) && (m[6] === undefined || Number(m[6]) <= 59);
}

/** Parses a timestamp flag (ISO-8601), naming the flag when it does not parse or names no real day (30 February). */
export function parseTimeFlag(flag: string, raw: string): Date {
  const d = new Date(raw);
  if (raw.trim() === '' || Number.isNaN(d.getTime()) || !realCalendarFields(raw)) {
    throw invalidUsage(`${flag} must be an ISO-8601 time such as 2026-01-31T00:00:00Z, got "${raw}"`);
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
