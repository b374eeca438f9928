/**
 * An HTTP-only failure with no OoMlError code: a missing or wrong admin bearer token (401). (The
 * other, a route asked for with a method it does not take, 405, is answered by app.ts's
 * not-found handler.)
 * OoMlErrors map to statuses through errors.ts's HTTP_STATUS only; this class covers the one
 * status that table has no code for.
 */

/** A failure answered with `status` and body `{error, message, details: null}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}
