/**
 * 64-bit hashes of message and event ids, and a set of them: how the embedded bus's duplicate
 * window and the ingest's "already in the log" check remember millions of ids without a string
 * (and its GC cost) per id.
 */

/**
 * 64 bits of hash of `id` into out[0], out[1]: two multiplicative lanes over its UTF-16 code
 * units, each finalised with the other mixed in (cyrb53's construction, kept to 64 bits). Written
 * here, not taken from a hashing package, because it runs for every publish and every ingested
 * event and must not allocate (a BigInt or a byte buffer per call would; bench:dedupe).
 */
export function hashId(id: string, out: Int32Array): void {
  let a = 0xdeadbeef ^ id.length;
  let b = 0x41c6ce57 ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 2654435761);
    b = Math.imul(b ^ c, 1597334677);
  }
  a = Math.imul(a ^ (a >>> 16), 2246822507);
  a ^= Math.imul(b ^ (b >>> 13), 3266489909);
  b = Math.imul(b ^ (b >>> 16), 2246822507);
  b ^= Math.imul(a ^ (a >>> 13), 3266489909);
  out[0] = a;
  out[1] = b;
}

/** Writes an id's 64-bit hash into out[0], out[1] (`hashId`; tests give ids chosen hashes). */
export type IdHasher = (id: string, out: Int32Array) => void;

/** The smallest power of two at least twice `ids`: tables stay at most half full. */
export function capacityFor(ids: number): number {
  let c = 2;
  while (c < ids * 2) c *= 2;
  return c;
}

/**
 * A growing set of id hashes: an open-addressing table of 64-bit hashes in one Int32Array
 * (8 bytes a slot, at most half full, so 16–32 bytes an id). A hit means "probably held": two
 * ids share a hash with probability 2^-64, so a caller that must never drop a new id confirms
 * hits against the ids themselves.
 */
export class IdHashSet {
  /** Slot i holds (hashes[2i], hashes[2i+1]); (0, 0) marks an empty slot. */
  private hashes: Int32Array;
  private mask: number;
  private count = 0;
  private readonly scratch = new Int32Array(2);

  /** `hash` is the id hash (default hashId). */
  constructor(
    expected = 1024,
    private readonly hash: IdHasher = hashId,
  ) {
    const capacity = capacityFor(Math.max(1, expected));
    this.hashes = new Int32Array(capacity * 2);
    this.mask = capacity - 1;
  }

  /** Ids added (distinct hashes). */
  get size(): number {
    return this.count;
  }

  /** Bytes the table takes. */
  get bytes(): number {
    return this.hashes.byteLength;
  }

  /** Whether `id` was probably added (see the class comment). */
  has(id: string): boolean {
    this.hashOf(id);
    return this.slotOf(this.scratch[0]!, this.scratch[1]!) >= 0;
  }

  /** Adds `id`. */
  add(id: string): void {
    this.hashOf(id);
    const h1 = this.scratch[0]!;
    const h2 = this.scratch[1]!;
    if (this.slotOf(h1, h2) >= 0) return;
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    this.place(h1, h2);
    this.count++;
  }

  /** The hash of `id` into scratch, never (0, 0): that marks empty slots. */
  private hashOf(id: string): void {
    this.hash(id, this.scratch);
    if (this.scratch[0] === 0 && this.scratch[1] === 0) this.scratch[1] = 1;
  }

  private slotOf(h1: number, h2: number): number {
    const t = this.hashes;
    for (let i = h1 & this.mask; ; i = (i + 1) & this.mask) {
      const a = t[2 * i]!;
      const b = t[2 * i + 1]!;
      if (a === h1 && b === h2) return i;
      if (a === 0 && b === 0) return -1;
    }
  }

  private place(h1: number, h2: number): void {
    const t = this.hashes;
    let i = h1 & this.mask;
    while (t[2 * i] !== 0 || t[2 * i + 1] !== 0) i = (i + 1) & this.mask;
    t[2 * i] = h1;
    t[2 * i + 1] = h2;
  }

  private grow(): void {
    const old = this.hashes;
    const capacity = (this.mask + 1) * 2;
    this.hashes = new Int32Array(capacity * 2);
    this.mask = capacity - 1;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0 || old[i + 1] !== 0) this.place(old[i]!, old[i + 1]!);
  }
}
