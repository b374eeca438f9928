/**
 * Online learning of one replica, assembled: the publisher (bus, else spill), the serve window,
 * the fold and the follower that feeds it, checkpoints, and version replays at reload. The
 * serving layer publishes events and reads policies; everything a replica learns comes from
 * the stream through here (README.md beside this file tells the whole story).
 */
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { conflict, unavailable } from '../../errors.js';
import { DEFAULT_HEARTBEAT_MS, describeOwner, tryDirLock } from '../../io/dir-lock.js';
import type { EventBus, StreamMessage } from '../../events/event-bus.js';
import type { TipServedEvent } from '../../events/schemas.js';
import type { VectorInput } from '../../features/vectors.js';
import type { SerializedPolicyState } from '../../policies/policy.js';
import { isoFromMs } from '../iso-time.js';
import type { LivePolicy, ServingState } from '../serving-state.js';
import { CHECKPOINT_BY_ALIAS, CHECKPOINT_VERSION, checkpointPath, createFileCheckpointStore, MAX_ENTRIES, type Checkpoint, type CheckpointEntry } from './checkpoint.js';
import { Fold, type FoldCounters, type FoldSnapshot, type Learners, type RewardReport } from './fold.js';
import { learningKey } from './learning-key.js';
import { Follower } from './follower.js';
import { createPublisher, type EventPublisher, type PublisherHealth } from './publisher.js';
import { replayVersions, type ReplaySummary, type ReplayTarget } from './replay.js';
import { parseServeId } from './serve-id.js';
import type { ServeRecord } from './serve-record.js';
import { openServeWindow, type ServeOwner, type ServeWindow, type ServeWindowStats } from './serve-window.js';
import { Spill } from './spill.js';
import { replicaStatePaths } from './state-paths.js';

/** Sizes and timings of online learning (each has a default in serving's DEFAULT_LIMITS). */
export interface LearningLimits {
  rewardWindowMs: number;
  /** How late (behind the newest serve) a reward may reach the stream and still be learned. */
  lateRewardMs: number;
  /** Serves kept in memory; older ones are on disk (serve-window.ts). */
  hotServes: number;
  orphanLimit: number;
  orphanWaitMs: number;
  /** How often a checkpoint is written (0: only at reload, reset and shutdown). */
  checkpointIntervalMs: number;
}

/** Options of `createOnlineLearning`. */
export interface OnlineLearningOptions {
  bus: EventBus;
  /** The replica's own folder: spill, serve window, checkpoint. */
  stateDir: string;
  hash32(s: string): number;
  log: FastifyBaseLogger;
  limits: LearningLimits;
  /** The serving state now (the fold trains its policies). */
  current(): ServingState;
  /** Inputs of an older serve event without `features` (a snapshot lookup), or null. */
  legacyInput?(event: TipServedEvent): VectorInput | null;
  /** Every reward event's outcome (stats of this replica's serves). */
  onReward?(report: RewardReport): void;
}

/** One policy version's learning as /stats shows it. */
export interface PolicyLearning {
  name: string;
  model_version: string | null;
  /** Rewards learned online since the registered state (or the last reset). */
  updates: number;
  /** sha256 (first 16 hex digits) of the serialised live state: equal on replicas that folded the same stream. */
  digest: string;
  served: boolean;
}

/** Online learning as /stats shows it. */
export interface LearningStatus {
  position: number;
  event_time: string | null;
  policies: PolicyLearning[];
  counters: FoldCounters;
  waiting: number;
  window: ServeWindowStats;
  last_checkpoint: { written_at: string; position: number } | null;
}

/** What `start` did. */
export interface StartSummary {
  restored: { position: number; policies: number } | null;
  replay: ReplaySummary | null;
  caughtUpTo: number;
  tookMs: number;
}

/** The assembled online learning of a replica. */
export interface OnlineLearning {
  readonly publisher: EventPublisher;
  readonly window: ServeWindow;
  readonly fold: Fold;
  /** Restores the checkpoint into the state's policies, replays what they lack, catches up with the stream, then follows it. */
  start(): Promise<StartSummary>;
  /**
   * Swaps in a reloaded state with the fold paused: its new policy versions get their learning
   * back (a checkpointed state of theirs, then the stream since) or from the stream, and
   * versions leaving service keep theirs for a rollback; then `swap` runs.
   */
  swap(next: ServingState, swap: () => void): Promise<ReplaySummary>;
  /** The outcome the fold reported for a reward event, once it folded it; null after `timeoutMs`. */
  waitForReward(eventId: string, timeoutMs: number): Promise<RewardReport | null>;
  /** The record of a serve, waiting up to `timeoutMs` for the fold to see it. */
  waitForServe(serveId: string, timeoutMs: number): Promise<{ record: ServeRecord; owner: ServeOwner } | null>;
  /** Resolves true once the fold passed `seq`. */
  waitForPosition(seq: number, timeoutMs: number): Promise<boolean>;
  /** Writes a checkpoint now (the fold paused meanwhile). */
  checkpoint(): Promise<void>;
  status(): LearningStatus;
  publisherHealth(): PublisherHealth;
  /** The user of a serve this replica spilled and has not drained yet, else null. */
  spilledServeUser(serveId: string): string | null;
  /** Why the last checkpoint could not be written (a restart then replays from the one before), or null. */
  checkpointFailure(): string | null;
  /** Events the stream had removed (retention, a purge) before this replica, restored at an earlier position, could fold them; null when none. */
  streamGap(): string | null;
  /** Why this replica no longer holds its state folder's lock (it stood still and another process took it), or null. */
  lockLost(): string | null;
  /** A last checkpoint, then stops following and closes what it opened (the bus is the caller's). */
  close(): Promise<void>;
}

interface Retired {
  name: string;
  modelVersion: string | null;
  state: SerializedPolicyState;
  updates: number;
  position: number;
}

const RECENT_OUTCOMES = 8192;

/** Events folded at start past which the catch-up is checkpointed at once, not at the first interval. */
const CATCH_UP_CHECKPOINT_EVENTS = 10_000;

/** The versions a per-alias checkpoint (layout 2) holds or saw served under more than one alias. */
function byAliasPartial(checkpoint: Checkpoint): Set<string> {
  const aliases = new Map<string, Set<string>>();
  const add = (name: string, version: string | null): void => {
    const key = learningKey(name, version);
    aliases.set(key, (aliases.get(key) ?? new Set()).add(name));
  };
  for (const e of checkpoint.policies) add(e.name, e.model_version);
  for (const f of checkpoint.fold.firstServes) add(f.policy, f.modelVersion);
  return new Set([...aliases].filter(([, names]) => names.size > 1).map(([key]) => key));
}

/** The policies of `state` that learn: all but its shadows, which never receive reward (DESIGN), whatever version they run. */
function learnersIn(state: ServingState): LivePolicy[] {
  return [...state.policies.values()].filter((lp) => !state.shadows.includes(lp.name));
}

/** Two consecutive replays as one summary. */
function mergeReplays(a: ReplaySummary, b: ReplaySummary): ReplaySummary {
  const later = new Map(b.targets.map((t) => [`${t.name}\u0000${t.model_version ?? ''}`, t]));
  return {
    targets: a.targets.map((t) => ({ ...t, updates: t.updates + (later.get(`${t.name}\u0000${t.model_version ?? ''}`)?.updates ?? 0) })),
    fromSeq: Math.min(a.fromSeq, b.fromSeq),
    toSeq: Math.max(a.toSeq, b.toSeq),
    events: a.events + b.events,
    updates: a.updates + b.updates,
    tookMs: a.tookMs + b.tookMs,
  };
}

/** The digest /stats shows for a live policy. */
export function stateDigest(lp: LivePolicy): string {
  return createHash('sha256').update(JSON.stringify(lp.policy.toJSON(lp.live))).digest('hex').slice(0, 16);
}

/** Opens the spill, the publisher (draining at once if the spill holds events) and the window; `start` restores and follows. */
export async function createOnlineLearning(options: OnlineLearningOptions): Promise<OnlineLearning> {
  let lockLost: string | null = null;
  let unlocked: Unlocked | null = null;
  const release = await lockStateDir(options.stateDir, options.log, (why) => {
    lockLost = why;
    unlocked?.halt(why);
  });
  try {
    const learning = await createUnlocked(options);
    unlocked = learning;
    if (lockLost !== null) learning.halt(lockLost);
    return {
      ...learning,
      lockLost: () => lockLost,
      async close() {
        try {
          await learning.close();
        } finally {
          await release();
        }
      },
    };
  } catch (e) {
    await release();
    throw e;
  }
}

/**
 * Takes the replica's state folder for this process: two servers on one folder would append to
 * one spill and write one checkpoint and window over each other (a lock of a process that died
 * is taken over).
 */
async function lockStateDir(stateDir: string, log: FastifyBaseLogger, onLost: (why: string) => void): Promise<() => Promise<void>> {
  await mkdir(stateDir, { recursive: true });
  const path = join(stateDir, 'replica.lock');
  const got = await tryDirLock(path, {
    heartbeatMs: DEFAULT_HEARTBEAT_MS,
    // A container restarted under the same pid and hostname finds its previous life's lock: it
    // is taken over once its beat has been silent long enough.
    onWatch: (owner, forMs) => log.warn(`${path} names ${describeOwner(owner)}: waiting up to ${(forMs / 1000).toFixed(0)} s for its heartbeat before taking it over`),
    onLost: () => {
      const why = `${path} is no longer this server's: the process stood still past the lock's heartbeat and another may have taken the folder`;
      log.error(why);
      onLost(why);
    },
  });
  if (got.held) return got.release;
  throw conflict(`the replica state folder ${stateDir} is in use by ${describeOwner(got.owner)}`, {
    hint:
      got.owner.pid === process.pid && got.owner.heartbeatMs === null
        ? // An earlier version's lock (no beat): only a person can tell it from another container's.
          `each replica needs a --state-dir of its own; if no other server uses this one (a container restarted under the same pid and hostname, its folder on a volume), delete ${path}`
        : 'each replica needs a --state-dir of its own: pass another one, or stop the other server (the lock of a process that died, or whose heartbeat stopped, is taken over)',
    details: { lock: path, ...(got.owner.pid === null ? {} : { pid: got.owner.pid }) },
  });
}

/** Online learning without its state folder's lock, and the halt the lock's loss calls. */
type Unlocked = Omit<OnlineLearning, 'lockLost'> & {
  /** Stops every write to the state folder (another process may hold it now): no fold, checkpoint, spill or window writes. */
  halt(why: string): void;
};

async function createUnlocked(options: OnlineLearningOptions): Promise<Unlocked> {
  const { bus, stateDir, log, limits } = options;
  const store = createFileCheckpointStore(checkpointPath(stateDir));
  const spill = await Spill.open(stateDir);
  const publisher = createPublisher({
    bus,
    spill,
    stateDir,
    onChange: (h, why) => {
      if (h.mode === 'spill' || !h.busConnected) log.warn({ bus: h }, why);
      else log.info({ bus: h }, why);
    },
  });
  if (spill.backlog > 0) log.warn(`${spill.backlog} events an earlier run spilled are being published first (${spill.path})`);

  // A checkpoint of another bus, or past the end of this stream (a new or recreated stream),
  // says nothing about this one: learning starts over from the stream, with a window rebuilt
  // from it too.
  let checkpoint: Checkpoint | null = null;
  try {
    checkpoint = await store.read();
  } catch (e) {
    log.warn(`ignoring the online-learning checkpoint: ${e instanceof Error ? e.message : String(e)}`);
  }
  const extent = await bus.extent();
  if (checkpoint !== null && (checkpoint.bus !== bus.kind || checkpoint.fold.position > extent.lastSeq)) {
    log.warn(
      checkpoint.bus !== bus.kind
        ? `the online-learning checkpoint was written on the ${checkpoint.bus} bus, not this ${bus.kind} bus: learning is rebuilt from the stream`
        : `the online-learning checkpoint is at position ${checkpoint.fold.position} but the stream ends at ${extent.lastSeq} (a new or recreated stream): learning is rebuilt from it`,
    );
    checkpoint = null;
  }
  const windowDir = replicaStatePaths(stateDir).window;
  // The reward window, how late a reward may come, and an hour: a reward the fold does not judge
  // stale (fold.ts isStale) names a serve younger than that, so dropping older files never
  // changes what a replica learns.
  const openWindow = () => openServeWindow({ dir: windowDir, hotRecords: limits.hotServes, keepMs: limits.rewardWindowMs + limits.lateRewardMs + 60 * 60_000, hash32: options.hash32 });
  if (checkpoint === null) await rm(windowDir, { recursive: true, force: true });
  let window = await openWindow();
  // A checkpoint without the serves it rests on would take every reward of them for one whose
  // serve has not come yet, for good: rebuilt from the stream instead.
  const short = checkpoint?.window === undefined ? null : await window.shortOf(checkpoint.window);
  if (short !== null) {
    log.warn(`the serve window the online-learning checkpoint rests on is gone (${short}): learning is rebuilt from the stream`);
    checkpoint = null;
    await window.close();
    await rm(windowDir, { recursive: true, force: true });
    window = await openWindow();
  }

  // The learners of each key, for the state they were read from (a state is never changed: a
  // reload swaps in another).
  let learnersOf: { state: ServingState; byKey: Map<string, LivePolicy[]> } | null = null;
  const learners: Learners = {
    of(key) {
      const state = options.current();
      if (learnersOf?.state !== state) {
        const byKey = new Map<string, LivePolicy[]>();
        for (const lp of learnersIn(state)) {
          const k = learningKey(lp.name, lp.modelVersion);
          const group = byKey.get(k);
          if (group === undefined) byKey.set(k, [lp]);
          else group.push(lp);
        }
        learnersOf = { state, byKey };
      }
      return learnersOf.byKey.get(key) ?? [];
    },
    all: () => options.current().policies.values(),
  };
  const retired = new Map<string, Retired>();
  const rewardWaiters = new Map<string, ((r: RewardReport) => void)[]>();
  const recent = new Map<string, RewardReport>();
  const serveWaiters = new Map<string, (() => void)[]>();
  let lastCheckpoint: { written_at: string; position: number } | null = null;

  /** What the stream had removed before this replica could fold it (a /readyz warning until a reset makes it moot). */
  let streamGap: string | null = null;
  const fold = new Fold({
    window,
    learners,
    hash32: options.hash32,
    rewardWindowMs: limits.rewardWindowMs,
    lateRewardMs: limits.lateRewardMs,
    orphanLimit: limits.orphanLimit,
    orphanWaitMs: limits.orphanWaitMs,
    ...(options.legacyInput === undefined ? {} : { legacyInput: options.legacyInput }),
    onReward(report) {
      options.onReward?.(report);
      // Kept, a bounded number, even when a call waits for it: /reward gives a feedback event the
      // same id each time it is sent (rewards.ts), so a retry, whose publish the bus de-duplicates,
      // is answered from here with what the first call's event did.
      recent.set(report.eventId, report);
      if (recent.size > RECENT_OUTCOMES) recent.delete(recent.keys().next().value!);
      const waiters = rewardWaiters.get(report.eventId);
      if (waiters !== undefined) {
        rewardWaiters.delete(report.eventId);
        for (const waiter of waiters) waiter(report);
      }
    },
    onReset() {
      // Every version's learning is gone, served or not; what this replica missed no longer counts.
      retired.clear();
      streamGap = null;
    },
  });
  const follower = new Follower({
    bus,
    fold,
    onMessage(m: StreamMessage) {
      if (!m.ok || m.event.type !== 'tip.served' || serveWaiters.size === 0) return;
      const waiting = serveWaiters.get(m.event.serve_id);
      if (waiting === undefined) return;
      serveWaiters.delete(m.event.serve_id);
      for (const w of waiting) w();
    },
    onError: (e) => log.warn(`reading the events stream failed (retrying): ${e instanceof Error ? e.message : String(e)}`),
  });

  function entries(): CheckpointEntry[] {
    const served = learnersIn(options.current()).map((lp) => ({
      name: lp.name,
      model_version: lp.modelVersion,
      position: fold.position,
      updates: lp.updates,
      served: true,
      state: lp.policy.toJSON(lp.live),
    }));
    const keys = new Set(served.map((e) => learningKey(e.name, e.model_version)));
    const others = [...retired.values()]
      .filter((r) => !keys.has(learningKey(r.name, r.modelVersion)))
      .sort((a, b) => b.position - a.position)
      .map((r) => ({ name: r.name, model_version: r.modelVersion, position: r.position, updates: r.updates, served: false, state: r.state }));
    return [...served, ...others].slice(0, MAX_ENTRIES);
  }

  /** Throws once the state folder may no longer be written: checked after every wait, as the lock may be lost during one. */
  function stillOurs(): void {
    if (halted !== null) throw halted;
  }

  async function writeCheckpoint(): Promise<void> {
    stillOurs();
    await window.flush();
    stillOurs();
    const manifest = window.manifest(fold.eventTimeMs);
    // The window's folder deleted under the server: a checkpoint written now would rest on
    // serves that are not there. The last good one stays (a restart replays from it).
    const gone = await window.shortOf(manifest);
    if (gone !== null) throw unavailable(`the serve window is not on disk as the fold left it (${gone}): no checkpoint written; a restart rebuilds learning from the stream`);
    stillOurs();
    const snap = fold.snapshot();
    const written = new Date().toISOString();
    await store.write({
      version: CHECKPOINT_VERSION,
      written_at: written,
      bus: bus.kind,
      fold: { ...snap, eventTimeMs: Number.isFinite(snap.eventTimeMs) ? snap.eventTimeMs : null },
      policies: entries(),
      window: manifest,
    });
    lastCheckpoint = { written_at: written, position: snap.position };
    stillOurs();
    if (Number.isFinite(fold.eventTimeMs)) await window.prune(fold.eventTimeMs);
  }

  /**
   * Where each of `fresh` starts: its retired state if there is one, else the registered state;
   * replays from there. (Their retired entries stay until the swap: a checkpoint meanwhile still
   * holds them.)
   */
  function targetsFor(fresh: LivePolicy[]): ReplayTarget[] {
    const targets: ReplayTarget[] = [];
    for (const lp of fresh) {
      const r = retired.get(learningKey(lp.name, lp.modelVersion));
      let from: number | null = null;
      if (r !== undefined) {
        try {
          lp.live = lp.policy.fromJSON(r.state);
          lp.updates = r.updates;
          from = r.position + 1;
        } catch (e) {
          log.warn(`checkpointed state of ${lp.name} (version ${lp.modelVersion ?? 'built-in'}) not restored: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      from ??= fold.firstServe(lp.name, lp.modelVersion);
      if (from !== null && from <= fold.position) targets.push({ lp, from });
    }
    return targets;
  }

  let timer: NodeJS.Timeout | null = null;
  /** Why the state folder may no longer be written (its lock was lost), or null. */
  let halted: Error | null = null;
  let checkpointing: Promise<void> = Promise.resolve();
  let checkpointFailure: string | null = null;
  const checkpointNow = (): Promise<void> => {
    checkpointing = checkpointing
      .then(() => follower.exclusive(writeCheckpoint))
      .then(
        () => {
          checkpointFailure = null;
        },
        (e: unknown) => {
          checkpointFailure = e instanceof Error ? e.message : String(e);
          log.error({ err: e }, 'writing the online-learning checkpoint failed');
        },
      );
    return checkpointing;
  };

  return {
    publisher,
    window,
    fold,
    async start() {
      stillOurs();
      const t0 = performance.now();
      let restored: StartSummary['restored'] = null;
      if (checkpoint !== null) {
        fold.restore({ ...checkpoint.fold, eventTimeMs: checkpoint.fold.eventTimeMs ?? -Infinity } as FoldSnapshot);
        // A checkpoint that kept learning per alias holds a version served under several aliases
        // as several partial states: none is the version's, so it is replayed from its first serve.
        const partial = checkpoint.version === CHECKPOINT_BY_ALIAS ? byAliasPartial(checkpoint) : new Set<string>();
        for (const e of checkpoint.policies) {
          const key = learningKey(e.name, e.model_version);
          if (partial.has(key)) continue;
          // Entries of one version under two aliases (an A/A test) hold one state: the one furthest along.
          if ((retired.get(key)?.position ?? -1) >= e.position) continue;
          retired.set(key, { name: e.name, modelVersion: e.model_version, state: e.state as SerializedPolicyState, updates: e.updates, position: e.position });
        }
        lastCheckpoint = { written_at: checkpoint.written_at, position: checkpoint.fold.position };
        restored = { position: checkpoint.fold.position, policies: checkpoint.policies.length };
      }
      const current = learnersIn(options.current());
      const targets = targetsFor(current);
      for (const lp of current) retired.delete(learningKey(lp.name, lp.modelVersion));
      const replay = targets.length === 0 ? null : await replayVersions({ bus, window, fold, targets, to: fold.position, rewardWindowMs: limits.rewardWindowMs });
      const { firstSeq } = await bus.extent();
      if (firstSeq > fold.position + 1) {
        const from = restored === null ? 'this replica started without a checkpoint' : `online learning was restored at stream position ${fold.position}`;
        streamGap = `${from}, but the events stream starts at ${firstSeq}: the ${firstSeq - fold.position - 1} events before were removed (retention, a purge) before this replica folded them, so its policies lack them and differ from replicas that folded them (POST /admin/reset puts every replica back on the registered states)`;
        log.warn(streamGap);
      }
      const from = fold.position;
      follower.start();
      await follower.catchUp();
      if (limits.checkpointIntervalMs > 0) timer = setInterval(() => void checkpointNow(), limits.checkpointIntervalMs).unref();
      // A long catch-up is checkpointed at once, not at the first interval: a crash meanwhile
      // would repeat all of it at the next start.
      if (fold.position - from >= CATCH_UP_CHECKPOINT_EVENTS || (replay !== null && targets.length > 0)) void checkpointNow();
      const summary = { restored, replay, caughtUpTo: fold.position, tookMs: performance.now() - t0 };
      log.info({ learning: summary }, 'online learning restored and caught up with the stream');
      return summary;
    },
    async swap(next, swap) {
      const before = new Set(learnersIn(options.current()));
      const after = new Set(learnersIn(next));
      // A version served now under another alias (a promotion moved `@champion` onto the
      // experiment's `@candidate`) goes on from that alias's state, copied with the fold paused;
      // the rest start from a checkpointed state or their registered one and are replayed.
      const live = new Map<string, LivePolicy>();
      for (const lp of before) live.set(learningKey(lp.name, lp.modelVersion), lp);
      const fresh = [...after].filter((lp) => !before.has(lp));
      const siblings = fresh.flatMap((lp) => {
        const from = live.get(learningKey(lp.name, lp.modelVersion));
        return from === undefined ? [] : [{ lp, from }];
      });
      const targets = targetsFor(fresh.filter((lp) => !siblings.some((s) => s.lp === lp)));
      // The long part while the fold goes on (rewards keep being learned and answered): the
      // new versions up to the fold's position now; then, paused, the little that came since.
      const upTo = fold.position;
      const first = await replayVersions({ bus, window, fold, targets, to: upTo, rewardWindowMs: limits.rewardWindowMs });
      return follower.exclusive(async () => {
        const rest = await replayVersions({ bus, window, fold, targets: targets.map((t) => ({ lp: t.lp, from: Math.max(t.from, upTo + 1) })), to: fold.position, rewardWindowMs: limits.rewardWindowMs });
        for (const { lp, from } of siblings) {
          lp.live = from.policy.cloneState(from.live);
          lp.updates = from.updates;
        }
        const kept = new Set([...after].map((lp) => learningKey(lp.name, lp.modelVersion)));
        for (const key of kept) retired.delete(key);
        for (const lp of before) {
          if (after.has(lp) || kept.has(learningKey(lp.name, lp.modelVersion))) continue;
          retired.set(learningKey(lp.name, lp.modelVersion), { name: lp.name, modelVersion: lp.modelVersion, state: lp.policy.toJSON(lp.live), updates: lp.updates, position: fold.position });
        }
        swap();
        return mergeReplays(first, rest);
      });
    },
    waitForReward(eventId, timeoutMs) {
      const known = recent.get(eventId);
      if (known !== undefined) return Promise.resolve(known);
      return new Promise((resolve) => {
        const waiter = (r: RewardReport): void => {
          clearTimeout(timer);
          resolve(r);
        };
        const timer = setTimeout(() => {
          const left = rewardWaiters.get(eventId)?.filter((w) => w !== waiter) ?? [];
          if (left.length === 0) rewardWaiters.delete(eventId);
          else rewardWaiters.set(eventId, left);
          resolve(null);
        }, timeoutMs);
        // Two calls may wait for one event: the same reward sent twice at once.
        const waiting = rewardWaiters.get(eventId);
        if (waiting === undefined) rewardWaiters.set(eventId, [waiter]);
        else waiting.push(waiter);
      });
    },
    async waitForServe(serveId, timeoutMs) {
      const id = parseServeId(serveId);
      if (id === null) return null;
      const lookup = async (): Promise<{ record: ServeRecord; owner: ServeOwner } | null> => {
        const record = await window.get(id);
        const owner = record === null ? undefined : window.ownerAt(record.owner);
        return record === null || owner === undefined ? null : { record, owner };
      };
      const now = await lookup();
      if (now !== null || timeoutMs <= 0) return now;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, timeoutMs);
        function done(): void {
          clearTimeout(timer);
          const list = serveWaiters.get(serveId)?.filter((w) => w !== done) ?? [];
          if (list.length === 0) serveWaiters.delete(serveId);
          else serveWaiters.set(serveId, list);
          resolve();
        }
        serveWaiters.set(serveId, [...(serveWaiters.get(serveId) ?? []), done]);
      });
      return lookup();
    },
    waitForPosition: (seq, timeoutMs) => follower.waitForPosition(seq, timeoutMs),
    checkpoint: checkpointNow,
    status() {
      const policies: PolicyLearning[] = [...options.current().policies.values()].map((lp) => ({
        name: lp.name,
        model_version: lp.modelVersion,
        updates: lp.updates,
        digest: stateDigest(lp),
        served: true,
      }));
      return {
        position: fold.position,
        event_time: Number.isFinite(fold.eventTimeMs) ? isoFromMs(fold.eventTimeMs) : null,
        policies,
        counters: structuredClone(fold.counters),
        waiting: fold.waiting,
        window: window.stats(),
        last_checkpoint: lastCheckpoint,
      };
    },
    publisherHealth: () => publisher.health(),
    spilledServeUser: (serveId) => publisher.spilledServeUser(serveId),
    checkpointFailure: () => checkpointFailure,
    streamGap: () => streamGap,
    halt(why) {
      if (halted !== null) return;
      halted = unavailable(why, { hint: 'restart this server; each replica needs a --state-dir of its own' });
      if (timer !== null) clearInterval(timer);
      spill.refuse(halted);
      void follower.close();
    },
    async close() {
      if (timer !== null) clearInterval(timer);
      // A halted replica writes nothing more to a folder another process may hold.
      if (halted === null) {
        // Fold what this replica published last (its final answers) into the last checkpoint,
        // unless the bus is too slow to tell: then the next start folds it.
        await Promise.race([follower.catchUp().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
        await checkpointNow();
      }
      await follower.close();
      await publisher.close();
      await spill.close();
      await window.close(halted === null);
    },
  };
}
