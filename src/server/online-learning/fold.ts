/**
 * Online learning as a fold over the events stream: every replica reads the same stream in the
 * same order and applies this function to each message, so from the same starting state (a
 * checkpoint, or the registered policies) every replica reaches the same policy states.
 *
 * - `tip.served` (not shadow) puts the serve into the serve window with what learning needs:
 *   the decision's inputs as its event recorded them, its arm, policy version and time.
 * - `tip.reaction` / `tip.reward` names a serve. The first of them in stream order **claims** the
 *   serve; the reward (a reaction's value by events/reward.ts, from the two events' times) is
 *   learned by the live policies of the serve's version, under whichever alias this replica
 *   serves it (learning-key.ts), if it serves that version. Later ones are duplicates. Rewards outside the reward window (later than it after the serve, or stamped more than FEEDBACK_SKEW_MS before the serve) are expired; rewards
 *   for serves made before the last `learning.reset` are not learned.
 * - A reward whose serve is not in the window yet (the serve was spilled during an outage and
 *   reaches the stream later) waits — up to `orphanLimit` rewards, for `orphanWaitMs` of the
 *   fold's clock (the newest serve time folded) — and is applied when its serve arrives; one
 *   that waits in vain is counted unmatched.
 * - `learning.reset` puts every policy back to its registered state.
 *
 * Everything the outcome depends on is in the stream (event contents, their order, event times):
 * never the wall clock, the replica, its memory budget or which replica answered the HTTP call.
 * Claims keep the earliest reward's sequence, so folding a message again (a restart from a
 * checkpoint re-reads what came after it) changes nothing that was already applied.
 */
import type { StreamMessage } from '../../events/event-bus.js';
import { FEEDBACK_SKEW_MS, rewardOf } from '../../events/reward.js';
import type { Reaction, TipReactionEvent, TipRewardEvent, TipServedEvent } from '../../events/schemas.js';
import { armIndex } from '../../features/arms.js';
import { PROFILE_FEATURE_NAMES, type ProfileValues } from '../../features/registry.js';
import { vectorDim, writeVector, type VectorInput, type VectorLayoutName } from '../../features/vectors.js';
import { msFromIso } from '../iso-time.js';
import type { LivePolicy } from '../serving-state.js';
import { learningKey } from './learning-key.js';
import { parseServeId, shadowOf, type ServeIdParts } from './serve-id.js';
import type { ServeRecord } from './serve-record.js';
import type { ServeOwner, ServeWindow } from './serve-window.js';

/** What a reward event came to. */
export type RewardOutcome =
  /** Learned by the serve's policy version. */
  | 'applied'
  /** The serve was already claimed by an earlier reward. */
  | 'duplicate'
  /** Later than the reward window after its serve, or reaching the stream too late behind the newest serve (stale: lateRewardMs). */
  | 'expired'
  /** Names a serve made for another user. */
  | 'other_user'
  /** The first reward of a serve whose policy version this replica does not serve: recorded, not learned. */
  | 'version_changed'
  /** The serve was made before the last reset. */
  | 'before_reset'
  /** Its serve is not in the window yet; settled when it arrives, or counted unmatched. */
  | 'waiting'
  /** Waited for its serve in vain (not in the stream within the wait, or past the window's keep). */
  | 'unmatched'
  /** Names a shadow decision: shadows are never rewarded. */
  | 'shadow'
  /** Names a serve id oo-ml did not issue. */
  | 'untracked';

/** Every outcome, in a fixed order (counters, metrics). */
export const REWARD_OUTCOMES: readonly RewardOutcome[] = ['applied', 'duplicate', 'expired', 'other_user', 'version_changed', 'before_reset', 'waiting', 'unmatched', 'shadow', 'untracked'];

/** A reward event's outcome, as the fold reports it. */
export interface RewardReport {
  seq: number;
  eventId: string;
  serveId: string;
  outcome: RewardOutcome;
  /** The value learned or that would have been (null when the serve is unknown). */
  value: number | null;
  reaction: Reaction | null;
  /** Who made the serve (null when unknown). */
  owner: ServeOwner | null;
  /** Issuer of the serve id (null for ids oo-ml did not issue). */
  issuer: string | null;
  /** The serve id's sequence for its issuer (null with the issuer). */
  serveSeq: number | null;
}

/** The live policies the fold trains, looked up at each reward (a reload swaps them). */
export interface Learners {
  /** The loaded policies that learn under `key` (learning-key.ts): the aliases serving one version, shadows excepted. */
  of(key: string): readonly LivePolicy[];
  /** Every loaded policy (a reset puts them all back). */
  all(): Iterable<LivePolicy>;
}

/** A reward waiting for its serve. */
export interface Orphan {
  seq: number;
  event: TipReactionEvent | TipRewardEvent;
}

/** What a checkpoint keeps of the fold besides the policies. */
export interface FoldSnapshot {
  /** Last sequence folded. */
  position: number;
  /** Newest serve time folded (the fold's clock). */
  eventTimeMs: number;
  /** Sequences of the `learning.reset` events folded, oldest first (the last 64). */
  resetSeqs: number[];
  /** Their event ids, in the same order (a reset re-published after a lost ack is folded once). */
  resetIds: string[];
  /** Per policy version, the sequence of its first serve (a version loaded later replays from there). */
  firstServes: { policy: string; modelVersion: string | null; seq: number }[];
  orphans: Orphan[];
  counters: FoldCounters;
}

/** Counts since the fold's start (carried over by checkpoints). */
export interface FoldCounters {
  events: number;
  /** Serve events folded, shadows not included; the next three count some of them again. */
  serves: number;
  shadowServes: number;
  /** Of `serves`: those whose event had no recorded features (older events): their inputs came from the snapshot. */
  legacyServes: number;
  /** Of `serves`: a serve published twice (same serve id), counted again; the first one is kept. */
  duplicateServes: number;
  /** Of `serves`: those not kept: an id oo-ml did not issue, or the window's owner table is full. */
  untrackedServes: number;
  resets: number;
  /** A reset published twice (same event id): folded once. */
  duplicateResets: number;
  /** Messages that are not valid events (the durable consumer of `oo-ml ingest` dead-letters them). */
  invalid: number;
  rewards: Record<RewardOutcome, number>;
}

/** Options of the fold. */
export interface FoldOptions {
  window: ServeWindow;
  learners: Learners;
  hash32(s: string): number;
  /** Rewards later than this after their serve are not learned (events/reward.ts: 24 h). */
  rewardWindowMs: number;
  /** How late (behind the fold's clock) a reward may reach the stream and still be learned (default 6 h). */
  lateRewardMs?: number;
  /** Most rewards waiting for their serve (default 100,000). */
  orphanLimit?: number;
  /** How long (the fold's clock: serve times) a reward waits for its serve (default 24 h). */
  orphanWaitMs?: number;
  /** Inputs of a serve event without `features` (written by an older server): looked up in the snapshot, or null to leave it untracked. */
  legacyInput?(event: TipServedEvent): VectorInput | null;
  /** Called with every reward event's outcome (a waiting one again when settled or given up). */
  onReward?(report: RewardReport): void;
  /** Called when a `learning.reset` is folded, after the live policies went back to their registered states. */
  onReset?(seq: number): void;
}

const MAX_RESETS_KEPT = 64;
/** How late a reward may reach the stream, behind the newest serve, by default. */
export const DEFAULT_LATE_REWARD_MS = 6 * 60 * 60_000;

/** The input of a serve as its event recorded it (context + features). */
export function inputOfEvent(event: TipServedEvent): VectorInput | null {
  const f = event.features;
  if (f === undefined) return null;
  const profile = {} as ProfileValues;
  const values = f as unknown as Partial<ProfileValues>;
  for (const name of PROFILE_FEATURE_NAMES) profile[name] = values[name] ?? null;
  return {
    hourOfDay: event.context.hour_of_day,
    dayOfWeek: event.context.day_of_week,
    openTasks: event.context.open_tasks,
    overdueTasks: event.context.overdue_tasks,
    hasProfile: f.has_profile,
    profile,
  };
}

/** The verdict of the one reward rule. */
export type Verdict = 'before_reset' | 'expired' | 'other_user' | 'duplicate' | 'claims';

/**
 * What a reward at `seq` (time `tsMs`, for `userHash`) does to `serve`: its serve was made
 * before the last reset at or before `seq`, it is outside the window around its serve, it names
 * another user's serve, the serve was claimed by an earlier reward, or it claims the serve.
 * Clocks disagree, so a reward stamped up to FEEDBACK_SKEW_MS before its serve counts as
 * immediate; stamped earlier, it cannot be feedback to it, and is outside the window too.
 */
export function verdict(serve: ServeRecord, seq: number, tsMs: number, userHash: number, resetSeq: number, windowMs: number): Verdict {
  if (serve.serveSeq < resetSeq) return 'before_reset';
  // Folded again (a restart from a checkpoint), the reward that claimed the serve claims it again,
  // whatever rule a later version of this code would judge it by: replicas that claimed under one
  // version and replay under another keep the same state.
  if (serve.claim === seq) return 'claims';
  if (Math.max(0, tsMs - serve.tsMs) > windowMs || tsMs < serve.tsMs - FEEDBACK_SKEW_MS) return 'expired';
  if (serve.userHash !== userHash) return 'other_user';
  if (serve.claim !== 0 && serve.claim < seq) return 'duplicate';
  return 'claims';
}

/**
 * True when a reward stamped `tsMs` reaches the fold when its clock (the newest serve time) is
 * already more than `lateMs` past it. Such a reward may name a serve the window has dropped (it
 * keeps the reward window plus `lateMs` plus an hour), so it is judged stale by this rule alone
 * — the same on every replica, whatever its window still holds.
 */
export function isStale(tsMs: number, clockMs: number, lateMs: number): boolean {
  return tsMs < clockMs - lateMs;
}

/** The value a reward event gives its serve. */
export function rewardValue(event: TipReactionEvent | TipRewardEvent, serve: ServeRecord): number {
  if (event.type === 'tip.reward') return event.reward;
  return rewardOf(event.reaction, Math.max(0, msFromIso(event.ts) - serve.tsMs));
}

/** Learns `value` for `serve` on `lp`, with a vector buffer per layout. */
export function learnOn(lp: LivePolicy, serve: ServeRecord, value: number, buffers: Map<VectorLayoutName, Float64Array>): void {
  let x = buffers.get(lp.layout);
  if (x === undefined) buffers.set(lp.layout, (x = new Float64Array(vectorDim(lp.layout))));
  lp.policy.update(lp.live, writeVector(lp.layout, serve.input, x), serve.arm, value);
  lp.updates++;
}

const NO_LEARNERS: readonly LivePolicy[] = [];

/** Fresh counters. */
export function zeroCounters(): FoldCounters {
  return {
    events: 0,
    serves: 0,
    shadowServes: 0,
    legacyServes: 0,
    duplicateServes: 0,
    untrackedServes: 0,
    resets: 0,
    duplicateResets: 0,
    invalid: 0,
    rewards: Object.fromEntries(REWARD_OUTCOMES.map((o) => [o, 0])) as Record<RewardOutcome, number>,
  };
}

/** The fold. Call `apply` with each message of the stream in order; await it when it returns a promise. */
export class Fold {
  position = 0;
  eventTimeMs = -Infinity;
  private resetSeqs: number[] = [];
  private resetIds: string[] = [];
  private readonly firstServes = new Map<string, { policy: string; modelVersion: string | null; seq: number }>();
  /** Rewards waiting for their serve, by serve id, and in arrival order for eviction. */
  private readonly orphans = new Map<string, Orphan[]>();
  private orphanQueue: { serveId: string; orphan: Orphan; tsMs: number }[] = [];
  private orphanHead = 0;
  private orphanCount = 0;
  readonly counters: FoldCounters = zeroCounters();
  private readonly buffers = new Map<VectorLayoutName, Float64Array>();
  private readonly orphanLimit: number;
  private readonly orphanWaitMs: number;
  /** The owner fields of the last serve folded, and their index in the window. */
  private lastOwner: (ServeOwner & { index: number }) | null = null;
  private readonly ownerKeys = new WeakMap<ServeOwner, string>();

  constructor(private readonly options: FoldOptions) {
    this.orphanLimit = options.orphanLimit ?? 100_000;
    this.orphanWaitMs = options.orphanWaitMs ?? 24 * 60 * 60_000;
  }

  /** The sequence of the last reset folded (0: none). */
  get resetSeq(): number {
    return this.resetSeqs.at(-1) ?? 0;
  }

  /** The last reset at or before `seq` (0: none). */
  resetAt(seq: number): number {
    for (let i = this.resetSeqs.length - 1; i >= 0; i--) if (this.resetSeqs[i]! <= seq) return this.resetSeqs[i]!;
    return 0;
  }

  /** Sequence of the first serve of a policy version (under any alias: learning-key.ts), or null when the fold never saw one. */
  firstServe(policy: string, modelVersion: string | null): number | null {
    return this.firstServes.get(learningKey(policy, modelVersion))?.seq ?? null;
  }

  /** Rewards waiting for their serve now. */
  get waiting(): number {
    return this.orphanCount;
  }

  /** Folds one message; a promise only when the window must touch its disk tier. */
  apply(m: StreamMessage): void | Promise<void> {
    if (m.seq <= this.position) return;
    if (!m.ok) {
      this.counters.invalid++;
      this.position = m.seq;
      return;
    }
    this.counters.events++;
    const event = m.event;
    const tsMs = msFromIso(event.ts);
    // The fold's clock follows the serves, stamped by oo-ml servers; an app publishing a
    // reaction with a wild time must not age the whole window out at once.
    if (event.type === 'tip.served' && tsMs > this.eventTimeMs) this.eventTimeMs = tsMs;
    let pending: void | Promise<void> = undefined;
    switch (event.type) {
      case 'tip.served':
        pending = this.serve(m.seq, event, tsMs);
        break;
      case 'tip.reaction':
      case 'tip.reward':
        pending = this.reward({ seq: m.seq, event });
        break;
      case 'learning.reset':
        this.reset(m.seq, event.event_id);
        break;
      default:
        break;
    }
    if (pending === undefined) {
      this.position = m.seq;
      this.expireOrphans();
      return;
    }
    return pending.then(() => {
      this.position = m.seq;
      this.expireOrphans();
    });
  }

  /** The fold's state for a checkpoint (policies are checkpointed by the caller). */
  snapshot(): FoldSnapshot {
    const orphans: Orphan[] = [];
    for (const list of this.orphans.values()) orphans.push(...list);
    orphans.sort((a, b) => a.seq - b.seq);
    return {
      position: this.position,
      eventTimeMs: this.eventTimeMs,
      resetSeqs: [...this.resetSeqs],
      resetIds: [...this.resetIds],
      firstServes: [...this.firstServes.values()],
      orphans,
      counters: structuredClone(this.counters),
    };
  }

  /** Restores what `snapshot` returned (the window and the policies are restored by the caller). */
  restore(s: FoldSnapshot): void {
    this.position = s.position;
    this.eventTimeMs = s.eventTimeMs;
    this.resetSeqs = [...s.resetSeqs];
    this.resetIds = [...s.resetIds];
    this.firstServes.clear();
    this.lastOwner = null;
    // A checkpoint from before learning was kept by version holds a first serve per alias: the earliest counts.
    for (const f of s.firstServes) {
      const key = learningKey(f.policy, f.modelVersion);
      const known = this.firstServes.get(key);
      if (known === undefined || f.seq < known.seq) this.firstServes.set(key, { ...f });
    }
    this.orphans.clear();
    this.orphanQueue = [];
    this.orphanHead = 0;
    this.orphanCount = 0;
    for (const o of s.orphans) this.hold(o, msFromIso(o.event.ts));
    Object.assign(this.counters, structuredClone(s.counters));
  }

  private serve(seq: number, event: TipServedEvent, tsMs: number): void | Promise<void> {
    if (event.shadow) {
      this.counters.shadowServes++;
      return;
    }
    this.counters.serves++;
    const owner = this.ownerOf(event, seq);
    const id = parseServeId(event.serve_id);
    let input = id === null ? null : inputOfEvent(event);
    if (id !== null && input === null) {
      input = this.options.legacyInput?.(event) ?? null;
      if (input !== null) this.counters.legacyServes++;
    }
    const window = this.options.window;
    if (id === null || input === null || owner === null) {
      this.counters.untrackedServes++;
      return;
    }
    const record: ServeRecord = {
      serveSeq: seq,
      tsMs,
      claim: 0,
      claimValue: 0,
      input,
      userId: event.user_id,
      userHash: this.options.hash32(event.user_id) >>> 0,
      owner,
      arm: armIndex(event.arm),
    };
    const added = window.add(id, record);
    if (added === true && this.orphans.size === 0) return;
    const after = (isNew: boolean): void | Promise<void> => {
      if (!isNew) this.counters.duplicateServes++;
      const waiting = this.orphans.get(event.serve_id);
      if (waiting === undefined) return;
      this.orphans.delete(event.serve_id);
      this.orphanCount -= waiting.length;
      this.counters.rewards.waiting -= waiting.length;
      // Against the record the window holds: a serve folded again after a restart was already
      // there (its claim too, when the window got ahead of the checkpoint).
      const held = isNew ? record : window.get(id);
      const settleAll = (serve: ServeRecord | null): void | Promise<void> => {
        if (serve === null) return;
        // In sequence order: the earliest claims the serve, the others are duplicates.
        let chain: void | Promise<void> = undefined;
        for (const o of waiting.sort((a, b) => a.seq - b.seq)) {
          chain = chain === undefined ? this.settle(o, id, serve) : chain.then(() => this.settle(o, id, serve));
        }
        return chain;
      };
      return held instanceof Promise ? held.then(settleAll) : settleAll(held);
    };
    return typeof added === 'boolean' ? after(added) : added.then(after);
  }

  /**
   * The window's owner index of the serve at `seq` (null: the owner table is full); an owner new
   * since the last serve also records its policy version's first serve. Runs of serves share an
   * owner: compared field by field with the previous serve's instead of building a key string and
   * an owner object for each (bench:serve).
   */
  private ownerOf(event: TipServedEvent, seq: number): number | null {
    const experiment = event.experiment ?? null;
    const variant = event.variant ?? null;
    const last = this.lastOwner;
    if (
      last !== null &&
      last.policy === event.policy &&
      last.modelVersion === event.model_version &&
      last.promptVersion === event.prompt_version &&
      last.experiment === experiment &&
      last.variant === variant
    ) {
      return last.index;
    }
    const key = learningKey(event.policy, event.model_version);
    if (!this.firstServes.has(key)) this.firstServes.set(key, { policy: event.policy, modelVersion: event.model_version, seq });
    const owner = { policy: event.policy, modelVersion: event.model_version, promptVersion: event.prompt_version, experiment, variant };
    const index = this.options.window.owner(owner);
    // A full table may free no slot later, but keep asking: the window decides, not a cached null.
    this.lastOwner = index === null ? null : { ...owner, index };
    return index;
  }

  private reward(o: Orphan): void | Promise<void> {
    const serveId = o.event.serve_id;
    if (shadowOf(serveId) !== null) return this.report(o, 'shadow', null, null, null);
    const id = parseServeId(serveId);
    if (id === null) return this.report(o, 'untracked', null, null, null);
    if (isStale(msFromIso(o.event.ts), this.eventTimeMs, this.options.lateRewardMs ?? DEFAULT_LATE_REWARD_MS)) return this.report(o, 'expired', null, null, id);
    const found = this.options.window.get(id);
    if (found === null) return this.wait(o);
    if (!(found instanceof Promise)) return this.settle(o, id, found);
    return found.then((r) => (r === null ? this.wait(o) : this.settle(o, id, r)));
  }

  /** Applies the rule to a reward whose serve is known. */
  private settle(o: Orphan, id: ServeIdParts, serve: ServeRecord): void | Promise<void> {
    const owner = this.options.window.ownerAt(serve.owner) ?? null;
    const value = rewardValue(o.event, serve);
    const v = verdict(serve, o.seq, msFromIso(o.event.ts), this.options.hash32(o.event.user_id) >>> 0, this.resetAt(o.seq), this.options.rewardWindowMs);
    if (v !== 'claims') return this.report(o, v, value, owner, id);
    const learn = (): void => {
      const lps = owner === null ? NO_LEARNERS : this.options.learners.of(this.keyOf(owner));
      for (const lp of lps) learnOn(lp, serve, value, this.buffers);
      this.report(o, lps.length > 0 ? 'applied' : 'version_changed', value, owner, id);
    };
    if (serve.claim === o.seq) return learn();
    serve.claim = o.seq;
    serve.claimValue = value;
    // The claim is stored before the policy learns: should storing it fail (a full disk), the
    // follower folds this message again and it is learned once, not twice.
    const claimed = this.options.window.setClaim(id, o.seq, value);
    return claimed === undefined ? learn() : claimed.then(learn);
  }

  /** The learning key of a window owner (owners are few and kept: computed once each). */
  private keyOf(owner: ServeOwner): string {
    let key = this.ownerKeys.get(owner);
    if (key === undefined) this.ownerKeys.set(owner, (key = learningKey(owner.policy, owner.modelVersion)));
    return key;
  }

  private wait(o: Orphan): void {
    this.hold(o, msFromIso(o.event.ts));
    this.report(o, 'waiting', null, null, parseServeId(o.event.serve_id));
  }

  private hold(o: Orphan, tsMs: number): void {
    const list = this.orphans.get(o.event.serve_id);
    if (list === undefined) this.orphans.set(o.event.serve_id, [o]);
    else list.push(o);
    this.orphanQueue.push({ serveId: o.event.serve_id, orphan: o, tsMs });
    this.orphanCount++;
  }

  /** Gives up on rewards that waited past their time, and the oldest beyond the limit. */
  private expireOrphans(): void {
    if (this.orphanCount === 0) {
      if (this.orphanHead > 0) {
        this.orphanQueue = [];
        this.orphanHead = 0;
      }
      return;
    }
    const horizon = this.eventTimeMs - this.orphanWaitMs;
    while (this.orphanHead < this.orphanQueue.length) {
      const head = this.orphanQueue[this.orphanHead]!;
      const list = this.orphans.get(head.serveId);
      const i = list === undefined ? -1 : list.indexOf(head.orphan);
      if (i < 0) {
        this.orphanHead++; // settled when its serve arrived
        continue;
      }
      if (head.tsMs >= horizon && this.orphanCount <= this.orphanLimit) break;
      list!.splice(i, 1);
      if (list!.length === 0) this.orphans.delete(head.serveId);
      this.orphanCount--;
      this.counters.rewards.waiting--;
      this.orphanHead++;
      this.report(head.orphan, 'unmatched', null, null, parseServeId(head.serveId));
    }
    if (this.orphanHead > 1024 && this.orphanHead * 2 > this.orphanQueue.length) {
      this.orphanQueue = this.orphanQueue.slice(this.orphanHead);
      this.orphanHead = 0;
    }
  }

  private reset(seq: number, eventId: string): void {
    if (this.resetIds.includes(eventId)) {
      this.counters.duplicateResets++;
      return;
    }
    this.counters.resets++;
    this.resetSeqs.push(seq);
    this.resetIds.push(eventId);
    if (this.resetSeqs.length > MAX_RESETS_KEPT) {
      this.resetSeqs.shift();
      this.resetIds.shift();
    }
    for (const lp of this.options.learners.all()) {
      lp.live = lp.policy.cloneState(lp.registered);
      lp.updates = 0;
    }
    // Rewards waiting for a serve are rewards from before the reset: forgotten with it.
    for (const list of this.orphans.values()) for (const o of list) this.report(o, 'before_reset', null, null, parseServeId(o.event.serve_id));
    this.counters.rewards.waiting -= this.orphanCount;
    this.orphans.clear();
    this.orphanQueue = [];
    this.orphanHead = 0;
    this.orphanCount = 0;
    this.options.onReset?.(seq);
  }

  private report(o: Orphan, outcome: RewardOutcome, value: number | null, owner: ServeOwner | null, id: ServeIdParts | null): void {
    this.counters.rewards[outcome]++;
    this.options.onReward?.({
      seq: o.seq,
      eventId: o.event.event_id,
      serveId: o.event.serve_id,
      outcome,
      value,
      reaction: o.event.type === 'tip.reaction' ? o.event.reaction : null,
      owner,
      issuer: id?.issuer ?? null,
      serveSeq: id?.seq ?? null,
    });
  }
}
