/**
 * From a request to a decision: the JIT context (request, else `ts`, else the server clock),
 * the profile (request, else the snapshot by user, with the contract's TTL and fallbacks), the
 * allowed arms, and the draw. No I/O: the serving layer passes the clock and the generator in.
 */
import { invalidInput } from '../errors.js';
import type { TipServedEvent } from '../events/schemas.js';
import { ARM_COUNT, ARM_IDS, armIndex } from '../features/arms.js';
import { PROFILE_FEATURE_NAMES, type ProfileFeatureName, type ProfileValues } from '../features/registry.js';
import type { SnapshotIndex } from '../features/snapshot.js';
import type { VectorInput } from '../features/vectors.js';
import type { Decision, Policy } from '../policies/policy.js';
import type { Rng } from '../random/rng.js';
import { msFromIso, msFromRfc3339 } from './iso-time.js';
import type { RequestContext, ScoreBody } from './schemas.js';

/** The JIT context of a decision and which context features fell back to their rule. */
export interface ResolvedContext {
  hourOfDay: number;
  dayOfWeek: number;
  openTasks: number;
  overdueTasks: number;
  /** Task titles (for the tip writer; a shared empty array when there are none — do not mutate). */
  titles: readonly string[];
  fallbacks: string[];
}

/**
 * Epoch ms of a request time. The schema checks the RFC 3339 shape only (ajv-formats' fast
 * mode); a shaped but impossible time (month 13, 30 February, hour 24) is refused here, naming
 * the field.
 */
function parseTime(text: string, task: number | null): number {
  const ms = msFromRfc3339(text);
  if (Number.isNaN(ms)) {
    const path = task === null ? '/context/ts' : `/context/tasks/${task}/due`;
    throw invalidInput(`body is invalid: ${path}: "${text}" is not a valid date-time`, { details: [{ path, message: 'not a valid date-time' }] });
  }
  return ms;
}

// Shared, never mutated: most requests have no titles.
const NO_TITLES: readonly string[] = Object.freeze([]);

/** Day of week with 0 = Monday, as the `day_of_week` feature. */
export function mondayFirstDay(d: Date): number {
  return (d.getUTCDay() + 6) % 7;
}

/**
 * Resolves the JIT context: explicit fields win; otherwise hour and day come from `ts` (the
 * client's decision time) or, failing that, the server clock (the contract's `server_clock`
 * fallback, reported); no task list is the `empty_list` fallback. A task is overdue when its due
 * time is before the decision time.
 */
export function resolveContext(context: RequestContext | undefined, now: Date): ResolvedContext {
  const fallbacks: string[] = [];
  const at = context?.ts === undefined ? now : new Date(parseTime(context.ts, null));
  const clock = context?.ts === undefined;
  let hourOfDay = context?.hour_of_day;
  if (hourOfDay === undefined) {
    hourOfDay = at.getUTCHours();
    if (clock) fallbacks.push('hour_of_day');
  }
  let dayOfWeek = context?.day_of_week;
  if (dayOfWeek === undefined) {
    dayOfWeek = mondayFirstDay(at);
    if (clock) fallbacks.push('day_of_week');
  }
  const tasks = context?.tasks;
  if (tasks === undefined) fallbacks.push('tasks');
  const atMs = at.getTime();
  let overdueTasks = 0;
  let titles: string[] | null = null;
  for (let i = 0; i < (tasks?.length ?? 0); i++) {
    const t = tasks![i]!;
    if (t.due !== undefined && parseTime(t.due, i) < atMs) overdueTasks++;
    if (t.title !== undefined) (titles ??= []).push(t.title);
  }
  return { hourOfDay, dayOfWeek, openTasks: tasks?.length ?? 0, overdueTasks, titles: titles ?? NO_TITLES, fallbacks };
}

/** A resolved profile and the features that fell back. */
export interface ResolvedProfile {
  values: ProfileValues;
  hasProfile: boolean;
  fallbacks: ProfileFeatureName[];
}

/**
 * The profile of a decision: the snapshot's row for the user (TTL and fallbacks applied at
 * `nowMs`), with what the request gives over it. `given` null: every feature's fallback; an
 * object: each number it holds replaces the snapshot's value, each null asks for the feature's
 * fallback, and a feature it leaves out keeps the snapshot's. An app that knows one value fresher
 * than the snapshot sends that one alone. `fallbackProfile` is the snapshot's all-fallback profile.
 */
export function resolveProfile(
  snapshot: SnapshotIndex,
  fallbackProfile: ProfileValues,
  userId: string,
  given: ScoreBody['profile_features'],
  nowMs: number,
): ResolvedProfile {
  if (given === null) return { values: { ...fallbackProfile }, hasProfile: false, fallbacks: [...PROFILE_FEATURE_NAMES] };
  const found = snapshot.lookup(userId, nowMs);
  if (given === undefined) return { values: found.values, hasProfile: found.found, fallbacks: found.fallbacks };
  const values = { ...found.values };
  const fellBack = new Set(found.fallbacks);
  let hasProfile = found.found;
  const asked = given as Partial<Record<ProfileFeatureName, number | null>>;
  for (const name of PROFILE_FEATURE_NAMES) {
    if (!Object.hasOwn(asked, name)) continue;
    const v = asked[name];
    if (typeof v === 'number') {
      values[name] = v;
      fellBack.delete(name);
      hasProfile = true;
    } else {
      values[name] = fallbackProfile[name];
      fellBack.add(name);
    }
  }
  return { values, hasProfile, fallbacks: PROFILE_FEATURE_NAMES.filter((n) => fellBack.has(n)) };
}

/**
 * The all-fallback profile of a snapshot. User ids are non-empty (events/schemas.ts `Id`), so
 * `''` is never a row and its lookup is exactly the contract's fallbacks, without restating them.
 */
export function fallbackProfileOf(snapshot: SnapshotIndex, nowMs: number): ProfileValues {
  return snapshot.lookup('', nowMs).values;
}

/** Allowed-arm mask of a request (null: every arm). Unknown arms → invalid_input naming them. */
export function allowedArms(arms: readonly string[] | undefined): Uint8Array | null {
  if (arms === undefined) return null;
  const mask = new Uint8Array(ARM_COUNT);
  const unknown: { path: string; message: string }[] = [];
  const names: string[] = [];
  arms.forEach((a, i) => {
    const j = armIndex(a);
    if (j >= 0) {
      mask[j] = 1;
    } else {
      unknown.push({ path: `/arms/${i}`, message: `unknown arm "${a}"` });
      names.push(JSON.stringify(a));
    }
  });
  if (unknown.length > 0) {
    throw invalidInput(`unknown arm(s): ${names.join(', ')}`, {
      hint: `known arms: ${ARM_IDS.join(', ')}`,
      details: unknown,
    });
  }
  return mask.every((m) => m === 1) ? null : mask;
}

/** Scratch buffers of one decision (reused: the server decides one request at a time). */
export interface DecisionScratch {
  probabilities: Float64Array;
  scores: Float64Array;
}

/** Fresh scratch buffers. */
export function createScratch(): DecisionScratch {
  return { probabilities: new Float64Array(ARM_COUNT), scores: new Float64Array(ARM_COUNT) };
}

/** A decision and the chosen arm's score (null when the policy's score is not finite). */
export interface ScoredDecision extends Decision {
  score: number | null;
}

/**
 * Draws an arm. Unrestricted: the policy's own `choose` (as `chooseScored`, so the arms are
 * scored once). Restricted to `mask`: the policy's action distribution renormalised over the
 * allowed arms, so the propensity stays exact for the distribution actually sampled. When the
 * policy puts no mass on any allowed arm (a greedy policy whose argmax is excluded), the
 * best-scoring allowed arm is taken, ties broken uniformly, and the propensity is that rule's
 * (1 / number of tied arms).
 */
export function decide(
  policy: Policy<unknown>,
  state: unknown,
  x: Float64Array,
  mask: Uint8Array | null,
  rng: Rng,
  scratch: DecisionScratch,
): ScoredDecision {
  let decision: Decision;
  let scores: Float64Array | null = null;
  if (mask === null) {
    decision = policy.chooseScored(state, x, rng, scratch.scores);
    scores = scratch.scores;
  } else {
    const p = policy.probabilities(state, x, scratch.probabilities);
    let total = 0;
    for (let i = 0; i < ARM_COUNT; i++) if (mask[i] === 1) total += p[i]!;
    if (total > 0) {
      let u = rng.next() * total;
      let arm = -1;
      for (let i = 0; i < ARM_COUNT; i++) {
        if (mask[i] !== 1 || !(p[i]! > 0)) continue;
        arm = i;
        u -= p[i]!;
        if (u < 0) break;
      }
      decision = { arm, propensity: p[arm]! / total };
    } else {
      scores = policy.score(state, x, scratch.scores);
      decision = bestAllowed(scores, mask, rng);
    }
  }
  const s = (scores ?? policy.score(state, x, scratch.scores))[decision.arm]!;
  return { arm: decision.arm, propensity: decision.propensity, score: Number.isFinite(s) ? s : null };
}

function bestAllowed(scores: Float64Array, mask: Uint8Array, rng: Rng): Decision {
  let best = -Infinity;
  let ties = 0;
  for (let i = 0; i < ARM_COUNT; i++) {
    if (mask[i] !== 1) continue;
    const s = Number.isNaN(scores[i]!) ? -Infinity : scores[i]!;
    if (s > best) {
      best = s;
      ties = 1;
    } else if (s === best) {
      ties++;
    }
  }
  let pick = rng.int(ties);
  for (let i = 0; i < ARM_COUNT; i++) {
    if (mask[i] !== 1) continue;
    const s = Number.isNaN(scores[i]!) ? -Infinity : scores[i]!;
    if (s === best && pick-- === 0) return { arm: i, propensity: 1 / ties };
  }
  throw new Error('unreachable: a non-empty mask has a best arm');
}

/** The vector input a recorded serve saw: its context, and the snapshot's profile at its time. */
export function inputOfServe(event: TipServedEvent, snapshot: SnapshotIndex): VectorInput {
  const found = snapshot.lookup(event.user_id, msFromIso(event.ts));
  return {
    hourOfDay: event.context.hour_of_day,
    dayOfWeek: event.context.day_of_week,
    openTasks: event.context.open_tasks,
    overdueTasks: event.context.overdue_tasks,
    hasProfile: found.found,
    profile: found.values,
  };
}
