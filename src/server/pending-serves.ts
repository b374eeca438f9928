/**
 * Serves waiting for their reward, bounded in count (`maxEntries`, the oldest overwritten first)
 * and age (`ttlMs`, the reward window).
 *
 * Layout: a ring of typed arrays (struct of arrays) indexed by a per-process sequence number,
 * and serve ids that encode it (`<process prefix>-<sequence in base 36>`), so adding a serve is
 * a few array writes and finding one is a parse and an index — no hash map, and no object per
 * serve for the garbage collector to promote and trace. (An object-per-serve Map was the largest
 * part of our own /score CPU in a profile: V8 promoted every entry to old space, and evicting
 * through Map order walked deleted holes.) Serves rebuilt from the journal keep their recorded
 * ids, mapped to their slot by a side Map that forgets an id when its slot is overwritten.
 *
 * Memory: about 130 bytes a serve (the decision's 10 vector inputs as doubles, time, sequence,
 * reward, arm, owner index, and a reference to the user id string), allocated as the ring
 * grows: the default bound of 100 000 serves is ~13 MB; 1 million ~130 MB. A serve dropped by
 * the bound or older than the window answers 404.
 *
 * Shadow decisions are not stored: their ids are `<serve id>:shadow:<n>`, recognised while
 * the serve they shadowed is pending (a reward for one is refused).
 */
import { randomBytes } from 'node:crypto';
import { PROFILE_FEATURE_NAMES, type ProfileValues } from '../features/registry.js';
import type { VectorInput } from '../features/vectors.js';

/** Who made a serve: its policy and version, prompt version and /stats row. Interned. */
export interface ServeOwner {
  policy: string;
  modelVersion: string | null;
  promptVersion: string | null;
  /** The /stats row (null for serves rebuilt from the journal). */
  statsKey: string | null;
}

/** A pending serve as read back. */
export interface PendingServe {
  serveId: string;
  userId: string;
  tsMs: number;
  owner: ServeOwner;
  arm: number;
  input: VectorInput;
  rewardedAtMs: number | null;
  reward: number;
  /** Where it lives (for setReward). */
  readonly seq: number;
}

/** What `get` finds. */
export type PendingLookup = { kind: 'serve'; serve: PendingServe } | { kind: 'shadow'; serveId: string } | { kind: 'none' };

const WIDTH = 5 + PROFILE_FEATURE_NAMES.length;
const SHADOW = /:shadow:\d+$/;
const FIRST_CAPACITY = 1024;

/** The bounded store of pending serves. */
export class PendingServes {
  private readonly prefix: string;
  private capacity = 0;
  private seqs = new Float64Array(0);
  private times = new Float64Array(0);
  private rewardedAt = new Float64Array(0);
  private rewards = new Float64Array(0);
  private inputs = new Float64Array(0);
  private arms = new Uint8Array(0);
  private ownerIndex = new Uint32Array(0);
  private users: (string | undefined)[] = [];
  private foreignIds: (string | undefined)[] = [];
  private readonly foreign = new Map<string, number>();
  private readonly owners: ServeOwner[] = [];
  private readonly ownerIds = new Map<string, number>();
  private nextSeq = 0;
  private live = 0;

  constructor(
    readonly maxEntries: number,
    readonly ttlMs: number,
    prefix: string = randomBytes(6).toString('hex'),
  ) {
    this.prefix = `${prefix}-`;
  }

  /** Number of serves held (some may be past the window until overwritten). */
  get size(): number {
    return this.live;
  }

  /** The interned index of an owner (call once per owner, not per serve). */
  owner(owner: ServeOwner): number {
    const key = `${owner.policy}\u0000${owner.modelVersion ?? ''}\u0000${owner.promptVersion ?? ''}\u0000${owner.statsKey ?? ''}`;
    let i = this.ownerIds.get(key);
    if (i === undefined) {
      i = this.owners.push(owner) - 1;
      this.ownerIds.set(key, i);
    }
    return i;
  }

  /** Stores a serve and returns its id (`id` keeps a recorded id, for serves from the journal). */
  add(ownerIndex: number, userId: string, tsMs: number, arm: number, input: VectorInput, id?: string): string {
    const seq = this.nextSeq++;
    if (seq >= this.capacity && this.capacity < this.maxEntries) this.grow();
    const slot = seq % this.capacity;
    if (this.users[slot] !== undefined) this.live--;
    const old = this.foreignIds[slot];
    if (old !== undefined) this.foreign.delete(old);
    this.seqs[slot] = seq;
    this.times[slot] = tsMs;
    this.rewardedAt[slot] = NaN;
    this.rewards[slot] = 0;
    this.arms[slot] = arm;
    this.ownerIndex[slot] = ownerIndex;
    this.users[slot] = userId;
    const base = slot * WIDTH;
    const x = this.inputs;
    x[base] = input.hourOfDay;
    x[base + 1] = input.dayOfWeek;
    x[base + 2] = input.openTasks;
    x[base + 3] = input.overdueTasks;
    x[base + 4] = input.hasProfile ? 1 : 0;
    for (let j = 0; j < PROFILE_FEATURE_NAMES.length; j++) x[base + 5 + j] = input.profile[PROFILE_FEATURE_NAMES[j]!] ?? NaN;
    this.live++;
    if (id === undefined) {
      this.foreignIds[slot] = undefined;
      return this.prefix + seq.toString(36);
    }
    this.foreignIds[slot] = id;
    this.foreign.set(id, seq);
    return id;
  }

  /** The serve with this id (or the shadow decision of a pending serve), within the window at `nowMs`. */
  get(serveId: string, nowMs: number): PendingLookup {
    const shadow = SHADOW.exec(serveId);
    if (shadow !== null) {
      const base = serveId.slice(0, shadow.index);
      return this.find(base, nowMs) === -1 ? { kind: 'none' } : { kind: 'shadow', serveId: base };
    }
    const seq = this.find(serveId, nowMs);
    if (seq === -1) return { kind: 'none' };
    const slot = seq % this.capacity;
    const rewardedAt = this.rewardedAt[slot]!;
    return {
      kind: 'serve',
      serve: {
        serveId,
        seq,
        userId: this.users[slot]!,
        tsMs: this.times[slot]!,
        owner: this.owners[this.ownerIndex[slot]!]!,
        arm: this.arms[slot]!,
        input: this.inputAt(slot),
        rewardedAtMs: Number.isNaN(rewardedAt) ? null : rewardedAt,
        reward: this.rewards[slot]!,
      },
    };
  }

  /** Records (or, with null, clears) the reward of a serve read by `get`, if it is still held. */
  setReward(serve: PendingServe, rewardedAtMs: number | null, reward: number): void {
    serve.rewardedAtMs = rewardedAtMs;
    serve.reward = reward;
    const slot = serve.seq % this.capacity;
    if (this.seqs[slot] !== serve.seq || this.users[slot] === undefined) return;
    this.rewardedAt[slot] = rewardedAtMs ?? NaN;
    this.rewards[slot] = reward;
  }

  /** Forgets one serve (its event could not be recorded). */
  drop(serveId: string): void {
    const seq = this.find(serveId, -Infinity);
    if (seq === -1) return;
    const slot = seq % this.capacity;
    this.users[slot] = undefined;
    this.live--;
  }

  /** Forgets every serve; returns how many there were. */
  clear(): number {
    const n = this.live;
    this.users.fill(undefined);
    this.foreignIds.fill(undefined);
    this.foreign.clear();
    this.live = 0;
    return n;
  }

  /** Sequence number of a held, unexpired serve, or -1. */
  private find(serveId: string, nowMs: number): number {
    let seq: number;
    if (serveId.startsWith(this.prefix)) {
      seq = parseInt(serveId.slice(this.prefix.length), 36);
      // parseInt stops at the first non-digit: only the canonical spelling is ours.
      if (!(seq >= 0 && seq < this.nextSeq) || this.prefix + seq.toString(36) !== serveId) return -1;
    } else {
      const found = this.foreign.get(serveId);
      if (found === undefined) return -1;
      seq = found;
    }
    if (seq < this.nextSeq - this.capacity) return -1;
    const slot = seq % this.capacity;
    if (this.seqs[slot] !== seq || this.users[slot] === undefined) return -1;
    if (nowMs - this.times[slot]! > this.ttlMs) return -1;
    return seq;
  }

  private inputAt(slot: number): VectorInput {
    const base = slot * WIDTH;
    const x = this.inputs;
    const profile = {} as ProfileValues;
    for (let j = 0; j < PROFILE_FEATURE_NAMES.length; j++) {
      const v = x[base + 5 + j]!;
      profile[PROFILE_FEATURE_NAMES[j]!] = Number.isNaN(v) ? null : v;
    }
    return { hourOfDay: x[base]!, dayOfWeek: x[base + 1]!, openTasks: x[base + 2]!, overdueTasks: x[base + 3]!, hasProfile: x[base + 4] === 1, profile };
  }

  // Grows before the first wrap only: until then every sequence number is its own slot, so the
  // arrays are copied as they are.
  private grow(): void {
    const next = Math.min(this.maxEntries, Math.max(FIRST_CAPACITY, this.capacity * 2));
    const copy = <T extends Float64Array | Uint8Array | Uint32Array>(old: T, make: (n: number) => T, width = 1): T => {
      const a = make(next * width);
      a.set(old);
      return a;
    };
    this.seqs = copy(this.seqs, (n) => new Float64Array(n).fill(-1));
    this.times = copy(this.times, (n) => new Float64Array(n));
    this.rewardedAt = copy(this.rewardedAt, (n) => new Float64Array(n));
    this.rewards = copy(this.rewards, (n) => new Float64Array(n));
    this.inputs = copy(this.inputs, (n) => new Float64Array(n), WIDTH);
    this.arms = copy(this.arms, (n) => new Uint8Array(n));
    this.ownerIndex = copy(this.ownerIndex, (n) => new Uint32Array(n));
    this.users.length = next;
    this.foreignIds.length = next;
    this.capacity = next;
  }
}
