/**
 * The one error type of oo-ml. Every failure a user can cause or fix is an `OoMlError` with a
 * stable `code`; only `cli/main.ts` and the server's error handler translate it (to an exit code
 * or an HTTP status, through the tables below). `internal` means a bug: it may show a stack.
 */

/** Stable error codes. `invalid_usage` is a bad flag or argument (exit 2); the rest exit 1. */
export type ErrorCode =
  | 'invalid_usage'
  | 'invalid_input'
  | 'not_found'
  | 'already_exists'
  | 'conflict'
  | 'unavailable'
  | 'internal';

/** Code → HTTP status, the one table the server uses. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid_usage: 400,
  invalid_input: 400,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

/** Code → process exit code, the one table the CLI uses (0 ok, 1 failure, 2 bad usage). */
export const EXIT_CODE: Readonly<Record<ErrorCode, number>> = {
  invalid_usage: 2,
  invalid_input: 1,
  not_found: 1,
  already_exists: 1,
  conflict: 1,
  unavailable: 1,
  internal: 1,
};

/** Optional parts of an error: what to do about it, and structured detail (field paths…). */
export interface ErrorExtras {
  hint?: string;
  details?: unknown;
  cause?: unknown;
}

/** A typed, user-facing error: `message` names the bad input, `hint` says what to do. */
export class OoMlError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, extras: ErrorExtras = {}) {
    super(message, extras.cause === undefined ? undefined : { cause: extras.cause });
    this.name = 'OoMlError';
    this.code = code;
    this.hint = extras.hint;
    this.details = extras.details;
  }

  /** A plain object for `--json` output and HTTP bodies; never includes a stack. */
  toJSON(): { error: ErrorCode; message: string; hint?: string; details?: unknown } {
    return {
      error: this.code,
      message: this.message,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** Shorthand constructors, so call sites read as the kind of failure they report. */
export const invalidUsage = (message: string, extras?: ErrorExtras): OoMlError =>
  new OoMlError('invalid_usage', message, extras);
/** A file, body or payload that does not meet its contract. */
export const invalidInput = (message: string, extras?: ErrorExtras): OoMlError =>
  new OoMlError('invalid_input', message, extras);
/** Something named that does not exist. */
export const notFound = (message: string, extras?: ErrorExtras): OoMlError =>
  new OoMlError('not_found', message, extras);
/** A create that collides with an existing entity. */
export const alreadyExists = (message: string, extras?: ErrorExtras): OoMlError =>
  new OoMlError('already_exists', message, extras);
/** A state that forbids the operation (already champion, concurrent writer…). */
export const conflict = (message: string, extras?: ErrorExtras): OoMlError =>
  new OoMlError('conflict', message, extras);
/** A service or resource that cannot be reached or is not ready. */
export const unavailable = (message: string, extras?: ErrorExtras): OoMlError =>
  new OoMlError('unavailable', message, extras);
/** A bug: an invariant that should hold did not. */
export const internal = (message: string, extras?: ErrorExtras): OoMlError =>
  new OoMlError('internal', message, extras);

/** Runs `fn`, reporting an `invalid_input` it throws as `invalid_usage`: for a job's own choices (names, parameters) that came from flags. */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!isOoMlError(e, 'invalid_input')) throw e;
    throw invalidUsage(e.message, { hint: e.hint, details: e.details, cause: e });
  }
}

/** `promise`'s value, or null when it fails with `not_found` (any other failure is passed on). */
export function nullIfNotFound<T>(promise: Promise<T>): Promise<T | null> {
  return promise.catch((e: unknown) => {
    if (isOoMlError(e, 'not_found')) return null;
    throw e;
  });
}

/** True when `e` is an OoMlError (optionally of one code). */
export function isOoMlError(e: unknown, code?: ErrorCode): e is OoMlError {
  return e instanceof OoMlError && (code === undefined || e.code === code);
}

/** File-system failures that are the machine's or the user's paths, not a bug, with what to do about each. */
const FS_FAILURES: Readonly<Record<string, { code: 'invalid_input' | 'unavailable'; hint: string }>> = {
  ENOTDIR: { code: 'invalid_input', hint: 'a path that must be a folder (--home, --out, …) names a file' },
  EISDIR: { code: 'invalid_input', hint: 'a path that must be a file names a folder' },
  ENAMETOOLONG: { code: 'invalid_input', hint: 'use a shorter path' },
  EACCES: { code: 'unavailable', hint: 'this user may not write (or read) there: check the folder’s permissions' },
  EPERM: { code: 'unavailable', hint: 'the operation is not permitted there: check the folder’s permissions' },
  ENOSPC: { code: 'unavailable', hint: 'the disk is full: free space and run the command again (nothing was half-written)' },
  EROFS: { code: 'unavailable', hint: 'that file system is read-only: choose a writable --home or --out' },
};

/**
 * Turns anything thrown into an OoMlError: the file-system failures above keep their message
 * (which names the path) as the user's or the machine's problem; every other foreign error
 * becomes `internal` and keeps its cause.
 */
export function toOoMlError(e: unknown): OoMlError {
  if (e instanceof OoMlError) return e;
  const message = e instanceof Error ? e.message : String(e);
  // A system call's failure (it names its `syscall`), not any error that carries such a code.
  const errno = e instanceof Error ? (e as NodeJS.ErrnoException) : null;
  const fs = errno?.syscall === undefined || errno.code === undefined ? undefined : FS_FAILURES[errno.code];
  if (fs !== undefined) return new OoMlError(fs.code, message, { hint: fs.hint, cause: e });
  return internal(message, { cause: e });
}

/** The errno code behind an error (fetch wraps it in `cause`, sometimes twice), or undefined when there is none. */
export function errnoOf(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 4 && cur !== undefined && cur !== null; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}
