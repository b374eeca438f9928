/**
 * The embedded bus's duplicate window: which message ids were published in the last
 * `windowMs` (JetStream's Nats-Msg-Id de-duplication, within one process).
 *
 * Ids live in a few generations (Maps of id → the stream sequence of the first copy, so a
 * duplicate can answer with it, as JetStream's publish ack does). The newest collects ids for `windowMs / (generations -
 * 1)` or until it holds `maxIds / generations`, and a generation is dropped once its newest id is
 * older than the window: so an id is remembered for at least the window, and at most one
 * generation's span longer. Why not one Map of id → expiry, as before: at the server's event rate
 * under bench:serve (~20,000 serve and shadow events a second) it held 2.4 M ids (~200 MB), and a
 * hash table that size stops the event loop to rehash. `npm run bench:dedupe` (3 M ids at that
 * rate, 2026-11-23): the Map's worst call 400 ms and 1.6–2.0 s of calls over 1 ms in all; 4
 * generations of 32 Ki ids 33–51 ms worst (a scavenge) and 0.8–0.9 s, at the same mean
 * (1.5–1.8 µs per call). 16 generations of 16 Ki cost 6 µs mean (every generation is asked),
 * hence few, larger ones. (Sets then; Maps of id → seq since the streams got seqs, 2026-12-04:
 * worst call 35 ms, 0.8 s of calls over 1 ms, 1.1 µs mean on the same bench.)
 *
 * Memory is bounded: at most `maxIds` ids (default 131,072, ~12 MB). An id sits in the oldest
 * generation once the newer ones fill, so it is kept for the window only below
 * `(generations − 1) / generations · maxIds / windowMs` ids per ms: ~820 a second for the
 * defaults. Above that the window is shorter (about 4.9 s at 20,000 events a second). The window
 * guards against a publish retried after an outcome the publisher did not see, which within one
 * process comes back within seconds; duplicates beyond it are left to the ingest, which
 * de-duplicates by event_id.
 */

interface Generation {
  /** Id → the sequence its message got (0 until its publish is stored, see `settle`). */
  ids: Map<string, number>;
  /** When its first id was added. */
  startMs: number;
  /** When its last id was added. */
  newestMs: number;
}

/** Which entry `add` made: pass it to `forget`. */
export type DedupeToken = object;

/** Options of a DedupeWindow. */
export interface DedupeWindowOptions {
  /** Most ids kept in all, default 131,072. */
  maxIds?: number;
  /** Generations (at least 2), default 4. */
  generations?: number;
}

/** Remembers message ids for a time window (see the module comment). */
export class DedupeWindow {
  private readonly generations: Generation[] = [];
  private readonly spanMs: number;
  private readonly generationSize: number;
  private readonly maxGenerations: number;

  constructor(
    private readonly windowMs: number,
    options: DedupeWindowOptions = {},
  ) {
    this.maxGenerations = Math.max(2, options.generations ?? 4);
    this.spanMs = windowMs / (this.maxGenerations - 1);
    this.generationSize = Math.max(1, Math.floor((options.maxIds ?? 131_072) / this.maxGenerations));
  }

  /**
   * Null when `id` was added within the window before `nowMs` (a duplicate); otherwise adds it and
   * returns the entry's token, for `forget`.
   */
  add(id: string, nowMs: number): DedupeToken | null {
    const gens = this.generations;
    while (gens.length > 0 && gens[0]!.newestMs + this.windowMs <= nowMs) gens.shift();
    for (let i = gens.length - 1; i >= 0; i--) if (gens[i]!.ids.has(id)) return null;
    let current = gens.at(-1);
    if (current === undefined || current.ids.size >= this.generationSize || nowMs - current.startMs >= this.spanMs) {
      current = { ids: new Map(), startMs: nowMs, newestMs: nowMs };
      gens.push(current);
      if (gens.length > this.maxGenerations) gens.shift();
    }
    current.ids.set(id, 0);
    current.newestMs = nowMs;
    return current;
  }

  /** Records the sequence the message of `id` was stored at, on the entry `add` made. */
  settle(id: string, token: DedupeToken, seq: number): void {
    const ids = (token as Generation).ids;
    if (ids.has(id)) ids.set(id, seq);
  }

  /** The sequence recorded for `id` (0 when unknown, or its first publish is still being stored). */
  seqOf(id: string): number {
    for (let i = this.generations.length - 1; i >= 0; i--) {
      const seq = this.generations[i]!.ids.get(id);
      if (seq !== undefined) return seq;
    }
    return 0;
  }

  /**
   * Forgets the entry `add` made for `id` (its publish failed, so a retry is not a duplicate).
   * Only that entry: if it has expired and a later publish of the id made a new one, that stays.
   */
  forget(id: string, token: DedupeToken): void {
    (token as Generation).ids.delete(id);
  }

  /** Ids remembered now. */
  get size(): number {
    return this.generations.reduce((n, g) => n + g.ids.size, 0);
  }
}
