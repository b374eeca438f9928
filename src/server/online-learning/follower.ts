/**
 * Follows the events stream into the fold: an ordered reader from the position after the
 * fold's, applying each message in order as it arrives. When the bus is down the reader waits
 * (JetStream's ordered consumer resumes by itself after a reconnect); if reading fails, the
 * reader is reopened from the fold's position after a backoff, so no message is skipped or
 * applied twice.
 *
 * `exclusive` runs work with the fold paused between two batches (a checkpoint, a reload that
 * replays new policy versions up to the fold's position and swaps them in).
 */
import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import type { EventBus, EventReader, StreamMessage } from '../../events/event-bus.js';
import type { Fold } from './fold.js';

/** Options of the follower. */
export interface FollowerOptions {
  bus: EventBus;
  fold: Fold;
  /** Called after each message is folded. Must not throw. */
  onMessage?(m: StreamMessage): void;
  /** Called when reading fails (it is retried). */
  onError?(e: unknown): void;
  /** Messages per read (default 1,000). */
  batch?: number;
}

const BACKOFF_MIN_MS = 100;
/** How long reads must find nothing (while connected) for the fold to count as caught up with a stream whose tail is gone. */
const QUIET_MS = 3_000;
const BACKOFF_MAX_MS = 5_000;

/** The loop feeding the fold. */
export class Follower {
  private closed = false;
  private running: Promise<void> | null = null;
  private reader: EventReader | null = null;
  /** One holder at a time: the loop while it folds a batch, or an exclusive section. */
  private lock: Promise<void> = Promise.resolve();
  private waiters: { seq: number; resolve(reached: boolean): void; timer: NodeJS.Timeout | null }[] = [];
  /** Since when reads have come back empty while the bus was connected (null: not quiet). */
  private quietSince: number | null = null;

  constructor(private readonly options: FollowerOptions) {}

  /** Starts following from the fold's position. */
  start(): void {
    this.running ??= this.loop();
  }

  /**
   * Resolves once the fold has reached the stream's last message as of now — or, when messages
   * up to it are gone (retention, a purge: JetStream keeps the last sequence of a purged
   * stream), once reads have found nothing more for QUIET_MS while connected.
   */
  async catchUp(): Promise<void> {
    const { lastSeq } = await this.options.bus.extent();
    while (this.options.fold.position < lastSeq && !this.closed) {
      if (await this.waitForPosition(lastSeq, QUIET_MS)) return;
      if (this.quietSince !== null && performance.now() - this.quietSince >= QUIET_MS) return;
    }
  }

  /** Resolves true once the fold's position is at least `seq`, false after `timeoutMs` (null: no limit). */
  waitForPosition(seq: number, timeoutMs: number | null): Promise<boolean> {
    if (this.options.fold.position >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { seq, resolve, timer: null as NodeJS.Timeout | null };
      if (timeoutMs !== null) {
        waiter.timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs);
      }
      this.waiters.push(waiter);
    });
  }

  /** Runs `fn` while the fold is paused (between two batches). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Stops following (after the batch in hand) and closes the reader. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
    for (const w of this.waiters) {
      if (w.timer !== null) clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiters = [];
  }

  private async loop(): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    const fold = this.options.fold;
    const size = this.options.batch ?? 1_000;
    while (!this.closed) {
      let batch: StreamMessage[];
      try {
        this.reader ??= await this.options.bus.reader(fold.position + 1);
        batch = await this.reader.next(size, 200);
        backoff = BACKOFF_MIN_MS;
        if (batch.length > 0 || !this.options.bus.health().connected) this.quietSince = null;
        else this.quietSince ??= performance.now();
      } catch (e) {
        backoff = await this.recover(e, backoff);
        continue;
      }
      // Read while closing: not folded (a halted replica writes nothing more to its window).
      if (batch.length === 0 || this.closed) continue;
      try {
        await this.exclusive(async () => {
          // Closed while waiting its turn (behind a checkpoint or a reload): not folded.
          if (this.closed) return;
          for (const m of batch) {
            const pending = fold.apply(m);
            if (pending !== undefined) await pending;
            this.options.onMessage?.(m);
          }
        });
      } catch (e) {
        // The window's disk failed (or a bug): read again from the last message folded.
        backoff = await this.recover(e, backoff);
      }
      this.notify();
      // A full batch: more is likely waiting (a backlog after a checkpoint's pause, a start-up),
      // and reads from memory never wait for I/O. Requests get their turn between batches.
      if (batch.length === size) await yieldToIo();
    }
    await this.reader?.close().catch(() => undefined);
    this.reader = null;
  }

  /** Reports `e`, drops the reader (the next one starts after the last message folded), waits `backoff`; returns the next backoff. */
  private async recover(e: unknown, backoff: number): Promise<number> {
    this.options.onError?.(e);
    await this.reader?.close().catch(() => undefined);
    this.reader = null;
    await sleep(backoff);
    return Math.min(backoff * 2, BACKOFF_MAX_MS);
  }

  private notify(): void {
    if (this.waiters.length === 0) return;
    const position = this.options.fold.position;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.seq <= position) {
        if (w.timer !== null) clearTimeout(w.timer);
        w.resolve(true);
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }
}

