/**
 * Checks of a job's own arguments, for programs that call the jobs directly (the library): the
 * CLI checks its flags first and names them, so these name the job's fields. An argument that
 * would make a job do something other than asked (0 users, 2.5 days, an invalid Date) is
 * `invalid_usage`, as a bad flag is.
 */
import { invalidUsage } from '../errors.js';

/** `value`, checked to be an integer in [min, max]; `what` names it (e.g. `users`). */
export function requireInteger(what: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw invalidUsage(`${what} must be an integer between ${min} and ${max}, got ${String(value)}`);
  return value;
}

/** `value`, checked to be a valid Date (not `new Date('nonsense')`); `what` names it (e.g. `asOf`). */
export function requireDate(what: string, value: Date): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalidUsage(`${what} must be a valid Date, got ${String(value)}`);
  return value;
}
