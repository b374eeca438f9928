/**
 * Serve ids: `<issuer>-<sequence in base 36>`, where the issuer is 12 random hex digits drawn
 * once per server process and the sequence counts that process's serves from 0. Ids are unique
 * across processes and replicas (two of n processes ever started share an issuer with
 * probability ~n² / 2^49), and dense per issuer, which is what lets the serve window address a
 * serve's record by (issuer, sequence) with no hash map of ids (serve-window.ts).
 *
 * A shadow decision's id is `<serve id>:shadow:<n>`: it names the serve it was made beside.
 */
import { randomBytes } from 'node:crypto';

/** The largest sequence an issuer may use (2^40: ~35 years at 1,000 serves a second). */
export const MAX_SERVE_SEQ = 2 ** 40;

const SHADOW = /:shadow:\d+$/;

/** A serve id taken apart. */
export interface ServeIdParts {
  issuer: string;
  seq: number;
}

/** A new issuer (12 random hex digits). */
export function newIssuer(): string {
  return randomBytes(6).toString('hex');
}

/** The id of serve `seq` of `issuer`. */
export function formatServeId(issuer: string, seq: number): string {
  return `${issuer}-${seq.toString(36)}`;
}

/** 0–9 → 0–9, a–z → 10–35 for a char code, else -1. */
function base36Digit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  return -1;
}

/** The issuer string of the last id parsed: the fold meets the same few issuers in long runs, and reuses it instead of slicing a new one. */
let lastIssuer = '';

/**
 * Issuer and sequence of a serve id in its one canonical spelling, or null for anything else
 * (a shadow id, an id from another system, `…-0a` instead of `…-a`). Read by character: every
 * serve the fold meets is parsed, and the regex's match array was most of its garbage
 * (bench:serve); the property test holds it to the pattern `^[0-9a-f]{12}-[0-9a-z]{1,8}$`.
 */
export function parseServeId(id: string): ServeIdParts | null {
  const n = id.length;
  if (n < 14 || n > 21 || id.charCodeAt(12) !== 45) return null;
  for (let i = 0; i < 12; i++) {
    const c = id.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return null;
  }
  // No leading zero unless the sequence is 0 itself: one spelling per serve.
  if (id.charCodeAt(13) === 48 && n > 14) return null;
  let seq = 0;
  for (let i = 13; i < n; i++) {
    const d = base36Digit(id.charCodeAt(i));
    if (d < 0) return null;
    seq = seq * 36 + d;
  }
  if (!(seq < MAX_SERVE_SEQ)) return null;
  if (!id.startsWith(lastIssuer) || lastIssuer.length !== 12) lastIssuer = id.slice(0, 12);
  return { issuer: lastIssuer, seq };
}

/** The serve a shadow decision id was made beside, or null when `id` is not a shadow id. */
export function shadowOf(id: string): string | null {
  const m = SHADOW.exec(id);
  return m === null ? null : id.slice(0, m.index);
}

/** Serve ids of one process: a fixed issuer and a counter. */
export class ServeIds {
  private next = 0;
  constructor(readonly issuer: string = newIssuer()) {}

  /** The next id. */
  take(): string {
    return formatServeId(this.issuer, this.next++);
  }

  /** The counter of the id `take` returned last (-1 before the first). */
  get lastSeq(): number {
    return this.next - 1;
  }
}
