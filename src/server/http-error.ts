/**
 * An HTTP-only failure with no OoMlError code: a missing or wrong admin bearer token (401
 * `unauthorized`), a route asked for with a method it does not take (405 `method_not_allowed`).
 * OoMlErrors map to statuses through errors.ts's HTTP_STATUS only; this class covers the statuses
 * that table has no code for, and error-handler.ts shapes it as every other error.
 */

/** A failure answered with `status` and body `{error, message, hint?, details}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly hint?: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}
