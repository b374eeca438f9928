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

const SERVE_ID = /^([0-9a-f]{12})-([0-9a-z]{1,8})$/;
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

/**
 * Issuer and sequence of a serve id in its one canonical spelling, or null for anything else
 * (a shadow id, an id from another system, `…-0a` instead of `…-a`).
 */
export function parseServeId(id: string): ServeIdParts | null {
  const m = SERVE_ID.exec(id);
  if (m === null) return null;
  const seq = parseInt(m[2]!, 36);
  if (!(seq < MAX_SERVE_SEQ) || seq.toString(36) !== m[2]) return null;
  return { issuer: m[1]!, seq };
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
