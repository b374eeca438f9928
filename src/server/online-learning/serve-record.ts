/**
 * A serve as the serve window keeps it: a fixed-size little-endian record holding what learning
 * from its reward needs (the decision's inputs, arm, policy version through an owner index) and
 * what a reward needs to be recorded and checked (time, user, the reward that claimed it). The
 * same bytes live in memory and on disk, so a record reads back identically from either tier —
 * which keeps every replica's learning identical whatever its memory budget.
 *
 *   0  serve_seq  f64   the serve event's sequence in the events stream
 *   8  ts_ms      f64   the serve's time
 *  16  claim      f64   sequence of the first reward for it in stream order (0: none yet)
 *  24  value      f64   the reward that claim learned (a version loaded later replays it)
 *  32  profile    f64×P the profile values used (NaN for null), in contract order
 *  ..  open, overdue tasks u32×2;  owner u16;  hour, day, arm, has_profile, present u8×5;
 *      user: length u8 + up to USER_BYTES of UTF-8 — or, for a longer id, 255 + its xxhash32
 *
 * The user id is kept so that /reward on any replica can record the reaction under the serve's
 * user without the caller repeating it; ids longer than USER_BYTES (UUIDs fit) keep only their
 * hash, and /reward then asks for `user_id`.
 */
import { PROFILE_FEATURE_NAMES, type ProfileValues } from '../../features/registry.js';
import type { VectorInput } from '../../features/vectors.js';

const P = PROFILE_FEATURE_NAMES.length;
const SERVE_SEQ = 0;
const TS = 8;
const CLAIM = 16;
const VALUE = 24;
const PROFILE = 32;
const OPEN = PROFILE + 8 * P;
const OVERDUE = OPEN + 4;
const OWNER = OVERDUE + 4;
const HOUR = OWNER + 2;
const DAY = HOUR + 1;
const ARM = DAY + 1;
const HAS_PROFILE = ARM + 1;
const PRESENT = HAS_PROFILE + 1;
const USER_LEN = PRESENT + 1;
const USER = USER_LEN + 1;

/** Longest user id (UTF-8 bytes) a record keeps whole. */
export const USER_BYTES = 40;
const LONG_USER = 255;

/** Bytes per record (8-byte aligned). */
export const RECORD_BYTES = Math.ceil((USER + USER_BYTES) / 8) * 8;

/** Byte offset of the claim and its value within a record (cold claims are written in place, 16 bytes). */
export const CLAIM_OFFSET = CLAIM;

/** Most owners (policy, version, prompt version, experiment, variant) a window can name. */
export const MAX_OWNERS = 65_535;

/** A serve record. */
export interface ServeRecord {
  serveSeq: number;
  tsMs: number;
  /** Sequence of the reward that claimed the serve, 0 when none has. */
  claim: number;
  /** The value that reward gives (0 while unclaimed). */
  claimValue: number;
  input: VectorInput;
  /** The serve's user, or null when the id was too long to keep (then only `userHash`). */
  userId: string | null;
  /** xxhash32 of the user id. */
  userHash: number;
  /** Index in the window's owner table. */
  owner: number;
  arm: number;
}

/** Writes `r` at byte `at` of `view` and marks it present. */
export function writeRecord(view: DataView, at: number, r: ServeRecord): void {
  view.setFloat64(at + SERVE_SEQ, r.serveSeq, true);
  view.setFloat64(at + TS, r.tsMs, true);
  view.setFloat64(at + CLAIM, r.claim, true);
  view.setFloat64(at + VALUE, r.claimValue, true);
  const profile = r.input.profile;
  for (let j = 0; j < P; j++) view.setFloat64(at + PROFILE + 8 * j, profile[PROFILE_FEATURE_NAMES[j]!] ?? NaN, true);
  view.setUint32(at + OPEN, r.input.openTasks, true);
  view.setUint32(at + OVERDUE, r.input.overdueTasks, true);
  view.setUint16(at + OWNER, r.owner, true);
  const bytes = new Uint8Array(view.buffer, view.byteOffset + at + USER, USER_BYTES);
  const written = r.userId === null ? null : encoder.encodeInto(r.userId, bytes);
  if (written !== null && written.read === r.userId!.length) {
    view.setUint8(at + USER_LEN, written.written);
  } else {
    view.setUint8(at + USER_LEN, LONG_USER);
    view.setUint32(at + USER, r.userHash >>> 0, true);
  }
  view.setUint8(at + HOUR, r.input.hourOfDay);
  view.setUint8(at + DAY, r.input.dayOfWeek);
  view.setUint8(at + ARM, r.arm);
  view.setUint8(at + HAS_PROFILE, r.input.hasProfile ? 1 : 0);
  view.setUint8(at + PRESENT, 1);
}

/** The serve time of the record at byte `at` (present or not). */
export function recordTime(view: DataView, at: number): number {
  return view.getFloat64(at + TS, true);
}

/** True when a record was written at byte `at`. */
export function isPresent(view: DataView, at: number): boolean {
  return view.getUint8(at + PRESENT) === 1;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function userOf(view: DataView, at: number, hash32: (s: string) => number): { userId: string | null; userHash: number } {
  const len = view.getUint8(at + USER_LEN);
  if (len === LONG_USER) return { userId: null, userHash: view.getUint32(at + USER, true) };
  const userId = decoder.decode(new Uint8Array(view.buffer, view.byteOffset + at + USER, len));
  return { userId, userHash: hash32(userId) };
}

/** The record at byte `at`, or null when none was written there; `hash32` gives the hash of a kept user id. */
export function readRecord(view: DataView, at: number, hash32: (s: string) => number): ServeRecord | null {
  if (view.getUint8(at + PRESENT) !== 1) return null;
  const profile = {} as ProfileValues;
  for (let j = 0; j < P; j++) {
    const v = view.getFloat64(at + PROFILE + 8 * j, true);
    profile[PROFILE_FEATURE_NAMES[j]!] = Number.isNaN(v) ? null : v;
  }
  return {
    serveSeq: view.getFloat64(at + SERVE_SEQ, true),
    tsMs: view.getFloat64(at + TS, true),
    claim: view.getFloat64(at + CLAIM, true),
    claimValue: view.getFloat64(at + VALUE, true),
    input: {
      hourOfDay: view.getUint8(at + HOUR),
      dayOfWeek: view.getUint8(at + DAY),
      openTasks: view.getUint32(at + OPEN, true),
      overdueTasks: view.getUint32(at + OVERDUE, true),
      hasProfile: view.getUint8(at + HAS_PROFILE) === 1,
      profile,
    },
    ...userOf(view, at, hash32),
    owner: view.getUint16(at + OWNER, true),
    arm: view.getUint8(at + ARM),
  };
}

/** Sets the claim of the record at byte `at`, and the value it learned. */
export function writeClaim(view: DataView, at: number, claim: number, value: number): void {
  view.setFloat64(at + CLAIM, claim, true);
  view.setFloat64(at + VALUE, value, true);
}
