/**
 * The events a bus published, kept by stream sequence for this process's readers: a reader that
 * meets one of them (same subject, same bytes) takes the validated event instead of decoding its
 * bytes again — the server's fold reads back every serve it made.
 *
 * A ring of fixed slots indexed by sequence, not a Map: a Map that filled and emptied by a turn's
 * events at a time carried what it held through the scavenges into the old generation, whose
 * collections then took the server's core for tens of milliseconds (BENCHMARKS.md, "the
 * published events' Map"). Here nothing is allocated per event. An event stays until a reader
 * takes it or a sequence `capacity` later reuses its slot; a reader that far behind decodes the
 * bytes instead.
 */
import type { OoEvent } from './schemas.js';

/** Slots kept by default. */
export const PUBLISHED_KEPT = 4096;

/** A ring of recently published events by sequence. */
export class PublishedEvents {
  private readonly mask: number;
  /** The sequence each slot holds; 0 when empty (sequences start at 1). */
  private readonly seqs: Float64Array;
  private readonly subjects: string[];
  private readonly data: (Buffer | null)[];
  private readonly events: (OoEvent | null)[];

  /** `capacity` slots, a power of two. */
  constructor(capacity = PUBLISHED_KEPT) {
    if (!Number.isInteger(capacity) || capacity < 1 || (capacity & (capacity - 1)) !== 0) throw new RangeError(`capacity must be a power of two, got ${capacity}`);
    this.mask = capacity - 1;
    this.seqs = new Float64Array(capacity);
    this.subjects = new Array<string>(capacity).fill('');
    this.data = new Array<Buffer | null>(capacity).fill(null);
    this.events = new Array<OoEvent | null>(capacity).fill(null);
  }

  /** Keeps `event`, published on `subject` as `data` at `seq` (≥ 1), in place of what its slot held. */
  put(seq: number, subject: string, data: Buffer, event: OoEvent): void {
    const i = seq & this.mask;
    this.seqs[i] = seq;
    this.subjects[i] = subject;
    this.data[i] = data;
    this.events[i] = event;
  }

  /** The event kept at `seq` when its subject and bytes are `subject` and `data`, else null; its slot is freed either way. */
  take(seq: number, subject: string, data: Uint8Array): OoEvent | null {
    const i = seq & this.mask;
    if (this.seqs[i] !== seq) return null;
    const keptData = this.data[i]!;
    const event = this.events[i]!;
    const same = this.subjects[i] === subject && keptData.equals(data);
    this.seqs[i] = 0;
    this.data[i] = null;
    this.events[i] = null;
    return same ? event : null;
  }

  /** Forgets every event. */
  clear(): void {
    this.seqs.fill(0);
    this.data.fill(null);
    this.events.fill(null);
  }
}
