/**
 * The embedded bus's duplicate window: which message ids were published in the last
 * `windowMs` (JetStream's Nats-Msg-Id de-duplication, within one process).
 *
 * Ids live in a few generations. The newest collects ids for `windowMs / (generations - 1)` or
 * until it holds `maxIds / generations`, and a generation is dropped once its newest id is older
 * than the window: so an id is remembered for at least the window, and at most one generation's
 * span longer.
 *
 * A generation is an open-addressing hash table in typed arrays holding a 64-bit hash of each id
 * and the stream sequence of its first copy (so a duplicate can answer with it, as JetStream's
 * publish ack does), not a Map of the id strings: the tables are allocated once and reused, so
 * the window puts nothing on the heap per publish. With a Map, every id string lived until its
 * generation was dropped, long enough to be promoted to the old space, and the mark-compacts
 * that garbage caused set /score's p99 (bench:serve, bench:dedupe; BENCHMARKS.md).
 * Two ids collide with probability about 2^-64 per pair (two of the 2^64 hashes mark free slots
 * and are moved): over the 524,288 ids of a full window that is one false "duplicate" in ~10^8
 * windows.
 *
 * Memory is fixed: 33 bytes per id of `maxIds` (default 524,288: 16.5 MB), tables at most half
 * full. An id sits in the oldest generation once the newer ones fill, so it is kept for the
 * window only below `(generations − 1) / generations · maxIds / windowMs` ids per ms: ~3,300 a
 * second for the defaults. Above that the window is shorter (about 20 s at 20,000 events a
 * second). The window guards against a publish retried after an outcome the publisher did not
 * see, which within one process comes back within seconds; duplicates beyond it are left to the
 * ingest, which de-duplicates by event_id.
 */

import { capacityFor, hashId, type IdHasher } from './id-hash.js';

/**
 * One generation: a fixed hash table (capacity a power of two, at least twice its id limit).
 * A slot is its id's two hash halves, and two values no id hashes to mark the other states:
 * (0, 0) an empty slot, (0, 1) a forgotten one, which lookups probe past. So a probe reads one
 * array, one cache line, where a separate array of slot states was a second line per probe, and
 * a fresh id probes every generation (BENCHMARKS.md, "three cuts per decision").
 */
class Generation {
  /** Two 32-bit halves of each slot's id hash. */
  readonly hashes: Int32Array;
  /**
   * Four bits per slot, one set by each id's second hash half: a clear bit proves the id absent
   * without reading the table. A fresh id is looked up in every generation; the bits of all of
   * them fit in a core's cache where the tables do not, so most of those lookups read no table
   * line (BENCHMARKS.md, "The duplicate window's fresh ids").
   */
  readonly bits: Int32Array;
  private readonly bitMask: number;
  readonly seqs: Float64Array;
  readonly mask: number;
  /** Slots taken (forgotten ones included: they still lengthen probes). */
  used = 0;
  /** When its first id was added. */
  startMs = 0;
  /** When its last id was added. */
  newestMs = 0;
  /** Which use of the table this is (a token names the generation of its entry by it). */
  epoch = 0;

  constructor(capacity: number) {
    this.hashes = new Int32Array(capacity * 2);
    this.seqs = new Float64Array(capacity);
    this.mask = capacity - 1;
    // capacity × 4 bits, a power of two (capacity is one: id-hash.ts capacityFor), one word at least.
    this.bits = new Int32Array(Math.max(1, capacity >>> 3));
    this.bitMask = this.bits.length * 32 - 1;
  }

  /** False when an id whose hash's second half is `h2` is certainly not in the table; true when it may be. */
  mayHold(h2: number): boolean {
    const b = h2 & this.bitMask;
    return (this.bits[b >>> 5]! & (1 << (b & 31))) !== 0;
  }

  /** Empties the table and its bits for reuse as the newest generation (once per generation span). */
  reset(nowMs: number, epoch: number): void {
    this.epoch = epoch;
    this.hashes.fill(0);
    this.bits.fill(0);
    this.used = 0;
    this.startMs = nowMs;
    this.newestMs = nowMs;
  }

  /** The slot holding hash (h1, h2), or -1. */
  find(h1: number, h2: number): number {
    const t = this.hashes;
    for (let i = h1 & this.mask; ; i = (i + 1) & this.mask) {
      const a = t[2 * i]!;
      const b = t[2 * i + 1]!;
      if (a === h1 && b === h2) return i;
      if (a === 0 && b === 0) return -1;
    }
  }

  /** Stores hash (h1, h2) with seq 0 in a free slot (the caller checked it is absent); returns the slot. */
  insert(h1: number, h2: number): number {
    const t = this.hashes;
    let i = h1 & this.mask;
    while (!isFree(t[2 * i]!, t[2 * i + 1]!)) i = (i + 1) & this.mask;
    if (t[2 * i + 1] === 0) this.used++;
    t[2 * i] = h1;
    t[2 * i + 1] = h2;
    this.seqs[i] = 0;
    const b = h2 & this.bitMask;
    this.bits[b >>> 5]! |= 1 << (b & 31);
    return i;
  }

  /** Marks a slot forgotten. */
  forget(slot: number): void {
    this.hashes[2 * slot] = 0;
    this.hashes[2 * slot + 1] = 1;
  }

  /** Ids held. */
  get size(): number {
    let n = 0;
    for (let i = 0; i <= this.mask; i++) if (!isFree(this.hashes[2 * i]!, this.hashes[2 * i + 1]!)) n++;
    return n;
  }
}

/** Whether a slot is empty (0, 0) or forgotten (0, 1). */
const isFree = (a: number, b: number): boolean => a === 0 && (b === 0 || b === 1);

/**
 * Which entry `add` made: its generation's epoch and its slot (`epoch · capacity + slot`), so
 * `settle` and `forget` reach it without hashing the id and probing again. A slot holds its id
 * for as long as its generation's epoch lasts: an entry is only ever forgotten through its own
 * token, and a table is emptied only when it starts a new epoch.
 */
export type DedupeToken = number;

/** Options of a DedupeWindow. */
export interface DedupeWindowOptions {
  /** Most ids kept in all, default 524,288. */
  maxIds?: number;
  /** Generations (at least 2), default 4. */
  generations?: number;
  /** The id hash (default hashId). */
  hash?: IdHasher;
}

// The hash of the last id looked up: one scratch pair, so a lookup allocates nothing.
const H = new Int32Array(2);

/** The hash of `id` into H, moved off the two values that mark free slots. */
function hashInto(id: string, hash: IdHasher): void {
  hash(id, H);
  if (isFree(H[0]!, H[1]!)) H[1] = 2;
}

/** Remembers message ids for a time window (see the module comment). */
export class DedupeWindow {
  /** Live generations, oldest first. */
  private readonly generations: Generation[] = [];
  /** Dropped generations, kept for reuse. */
  private readonly spare: Generation[] = [];
  private readonly spanMs: number;
  private readonly generationSize: number;
  private readonly maxGenerations: number;
  /** Slots of every generation's table (a power of two). */
  private readonly capacity: number;
  private readonly hash: IdHasher;
  private epochs = 0;

  constructor(
    private readonly windowMs: number,
    options: DedupeWindowOptions = {},
  ) {
    this.maxGenerations = Math.max(2, options.generations ?? 4);
    this.spanMs = windowMs / (this.maxGenerations - 1);
    this.generationSize = Math.max(1, Math.floor((options.maxIds ?? 524_288) / this.maxGenerations));
    this.capacity = capacityFor(this.generationSize);
    this.hash = options.hash ?? hashId;
  }

  /**
   * Null when `id` was added within the window before `nowMs` (a duplicate); otherwise adds it and
   * returns the entry's token, for `settle` and `forget`.
   */
  add(id: string, nowMs: number): DedupeToken | null {
    const gens = this.generations;
    while (gens.length > 0 && gens[0]!.newestMs + this.windowMs <= nowMs) this.spare.push(gens.shift()!);
    hashInto(id, this.hash);
    const h1 = H[0]!;
    const h2 = H[1]!;
    for (let i = gens.length - 1; i >= 0; i--) {
      const gen = gens[i]!;
      if (gen.mayHold(h2) && gen.find(h1, h2) >= 0) return null;
    }
    let current = gens.at(-1);
    if (current === undefined || current.used >= this.generationSize || nowMs - current.startMs >= this.spanMs) {
      if (gens.length >= this.maxGenerations) this.spare.push(gens.shift()!);
      current = this.spare.pop() ?? new Generation(this.capacity);
      current.reset(nowMs, ++this.epochs);
      gens.push(current);
    }
    const slot = current.insert(h1, h2);
    current.newestMs = nowMs;
    return current.epoch * this.capacity + slot;
  }

  /** The live generation of the entry `token` names, or undefined once it was dropped (its table may hold other ids by now). */
  private generationOf(token: DedupeToken): Generation | undefined {
    const epoch = Math.floor(token / this.capacity);
    for (const g of this.generations) if (g.epoch === epoch) return g;
    return undefined;
  }

  /** Records the sequence its message was stored at on the entry `add` made (if still held). */
  settle(token: DedupeToken, seq: number): void {
    const gen = this.generationOf(token);
    if (gen !== undefined) gen.seqs[token % this.capacity] = seq;
  }

  /** The sequence recorded for `id` (0 when unknown, or its first publish is still being stored). */
  seqOf(id: string): number {
    hashInto(id, this.hash);
    for (let i = this.generations.length - 1; i >= 0; i--) {
      const gen = this.generations[i]!;
      const slot = gen.mayHold(H[1]!) ? gen.find(H[0]!, H[1]!) : -1;
      if (slot >= 0) return gen.seqs[slot]!;
    }
    return 0;
  }

  /**
   * Forgets the entry `add` made (its publish failed, so a retry is not a duplicate).
   * Only that entry: if it has expired and a later publish of the id made a new one, that stays.
   */
  forget(token: DedupeToken): void {
    const gen = this.generationOf(token);
    if (gen !== undefined) gen.forget(token % this.capacity);
  }

  /** Ids remembered now. */
  get size(): number {
    let n = 0;
    for (const g of this.generations) n += g.size;
    return n;
  }
}
