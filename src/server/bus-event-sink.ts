/**
 * The EventSink of `oo-ml serve`: the server's serves, reactions and rewards go onto the event
 * bus (events/event-bus.ts) — NATS JetStream when NATS_URL is set, else the embedded journal
 * under <home>/data/bus — where `oo-ml ingest` turns them into the Parquet event log, and from
 * where the server replays them at start to rebuild its online learning.
 *
 * `publish` queues the event in memory (the bus validates it when storing); a pump sends the
 * queue to the bus, many publishes in flight (JetStream acks; the embedded journal group-commits
 * them into one fsync). So a /score never waits for a disk sync or a network round trip, and the
 * guarantee is a buffered journal's: a crash loses what was queued in the last milliseconds, a
 * graceful shutdown nothing.
 *
 * Nothing is dropped:
 * - a publish the bus refuses stays queued and is retried with backoff (events after it may be
 *   stored first; replay orders by time, and ingest does not care about order);
 * - an event the bus refuses as invalid (schema drift, a bug) is written to `spillPath` at once;
 * - when the queue reaches `maxQueued`, a publish waits for room (backpressure: a scorer that
 *   outruns its bus slows down) and is refused with `unavailable` — 503 from /score and /reward —
 *   only when no room comes within `fullWaitMs` (the bus is down);
 * - `flush` gives up after `flushTimeoutMs`, so a shutdown with the bus down does not hang, and
 *   `close` writes whatever is still queued to `spillPath` (NDJSON, one event per line as it
 *   would have been published, appended) before it lets go of it. `resendSpilled` publishes the
 *   file at the next start; `readAll` replays what is still in it, so the state of online
 *   learning agrees with the events whether or not the bus has taken them yet.
 */
import { appendFile, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isOoMlError, unavailable } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import { EVENT_VALIDATORS } from '../events/schemas.js';
import { parseEventSubject, type Channel } from '../events/subjects.js';
import { readTextIfExists } from '../io/atomic.js';
import { SUBJECTS, type EventSink, type EventSinkHealth, type ServerEvent } from './deps.js';

/** Options of the bus sink. */
export interface BusEventSinkOptions {
  /** Events held while the bus is slow or down; past it a publish waits for room (default 50 000). */
  maxQueued?: number;
  /** How long a publish waits for room in a full queue before it is refused (default 2 s). */
  fullWaitMs?: number;
  /** Publishes in flight at once (default 256). */
  concurrency?: number;
  /** Where events the bus would not take are written (NDJSON, appended). */
  spillPath: string;
  /** Longest wait of `flush` (and so of `close` before it spills), default 10 s. */
  flushTimeoutMs?: number;
  /** Called for every refused publish attempt and failed spill (logs, metrics). Must not throw. */
  onError?: (error: unknown, event: ServerEvent) => void;
  /** Consumer name of the replay at start (default `oo-ml-serve-replay`). */
  replayConsumer?: string;
}

/** The bus sink, with what it holds and what it had to spill. */
export interface BusEventSink extends EventSink {
  /** Events accepted but not yet stored by the bus. */
  readonly queued: number;
  /** Events written to `spillPath` (0 when the bus took everything). */
  readonly spilled: number;
  /** Messages the last `readAll` met that are not valid events (dead-lettered by `oo-ml ingest`). */
  readonly skipped: number;
  /** Queue, waiting publishes, refusals and spills (oo_ml_event_* in /metrics). */
  health(): EventSinkHealth;
  /** The server events held by the bus (after flushing what is queued), in time order; with `sinceMs`, those at or after it. */
  readAll(sinceMs?: number): AsyncIterable<ServerEvent>;
  /** Resolves when the queue is empty, or after `flushTimeoutMs` with the rest still queued. */
  flush(): Promise<void>;
  /**
   * Publishes the events an earlier process spilled to `spillPath` (its shutdown with the bus
   * down), so ingest logs them and replay learns them; what the bus still refuses (an invalid
   * event, a line that is not one, or everything once the bus is down) is appended back to the
   * file. Call at start, before the replay.
   */
  resendSpilled(): Promise<{ resent: number; kept: number }>;
  /** Flushes, spills what is left, closes the bus. */
  close(): Promise<void>;
}

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2_000;

/** Channel of each server event type, from its subject (`feedback.tip.reaction` → `feedback`). */
const CHANNEL_OF = Object.fromEntries(Object.entries(SUBJECTS).map(([type, subject]) => [type, parseEventSubject(subject)!.channel])) as Record<
  ServerEvent['type'],
  Channel
>;

/** A spill-file line as a server event of a known type (not yet validated), or null for any other line. */
function spilledLine(line: string): { type: ServerEvent['type']; event: unknown } | null {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return null;
  }
  const type = typeof event === 'object' && event !== null ? (event as { type?: unknown }).type : undefined;
  return typeof type === 'string' && Object.hasOwn(CHANNEL_OF, type) ? { type: type as ServerEvent['type'], event } : null;
}

/** The valid server events in the spill file at `path` (none when there is no file); other lines are left to resendSpilled's count. */
async function readSpilled(path: string): Promise<ServerEvent[]> {
  const text = await readTextIfExists(path);
  if (text === undefined) return [];
  const events: ServerEvent[] = [];
  for (const line of text.split('\n')) {
    const parsed = line.trim() === '' ? null : spilledLine(line);
    if (parsed !== null && EVENT_VALIDATORS[parsed.type].check(parsed.event)) events.push(parsed.event as ServerEvent);
  }
  return events;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Outcome = 'stored' | 'spilled' | 'retry';

/** A sink over `bus`; the bus is closed by the sink's `close`. */
export function createBusEventSink(bus: EventBus, options: BusEventSinkOptions): BusEventSink {
  const maxQueued = options.maxQueued ?? 50_000;
  const concurrency = options.concurrency ?? 256;
  const flushTimeoutMs = options.flushTimeoutMs ?? 10_000;
  const fullWaitMs = options.fullWaitMs ?? 2_000;
  const report = (e: unknown, event: ServerEvent): void => {
    try {
      options.onError?.(e, event);
    } catch {
      // A failing reporter must not stop the pump.
    }
  };
  /** Publishes waiting for room in a full queue, oldest first. */
  const roomWaiters: { admit(): void }[] = [];
  let queue: ServerEvent[] = [];
  let pumping: Promise<void> | null = null;
  let closing = false;
  let spilled = 0;
  let skipped = 0;
  let refused = 0;
  /** Flushes waiting for the pump to drain the queue; each says whether it is done. */
  let idle: (() => boolean)[] = [];

  async function spill(events: readonly ServerEvent[]): Promise<void> {
    await mkdir(dirname(options.spillPath), { recursive: true });
    await appendFile(options.spillPath, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    spilled += events.length;
  }

  /** One attempt to store `event`; never throws. */
  async function attempt(event: ServerEvent): Promise<Outcome> {
    try {
      await bus.publish(CHANNEL_OF[event.type], event);
      return 'stored';
    } catch (e) {
      refused++;
      report(e, event);
      if (!(isOoMlError(e) && e.code === 'invalid_input')) return 'retry';
      // The bus refuses the event itself: retrying cannot help, so it is spilled now.
      try {
        await spill([event]);
        return 'spilled';
      } catch (spillError) {
        report(spillError, event);
        return 'retry';
      }
    }
  }

  async function pump(): Promise<void> {
    let wait = RETRY_MIN_MS;
    while (queue.length > 0 && !closing) {
      const batch = queue.slice(0, concurrency);
      const outcomes = await Promise.all(batch.map(attempt));
      const failed = batch.filter((_, i) => outcomes[i] === 'retry');
      // Events published meanwhile went to the end of `queue`; the failed ones stay in front.
      // The common case (all stored) drops the batch in place instead of copying the queue.
      if (failed.length === 0) queue.splice(0, batch.length);
      else queue = [...failed, ...queue.slice(batch.length)];
      while (roomWaiters.length > 0 && queue.length < maxQueued) roomWaiters.shift()!.admit();
      if (failed.length > 0) {
        await sleep(wait);
        wait = Math.min(wait * 2, RETRY_MAX_MS);
      } else {
        wait = RETRY_MIN_MS;
      }
    }
  }

  function startPump(): void {
    pumping ??= pump()
      .catch((e: unknown) => report(e, queue[0]!))
      .finally(() => {
        pumping = null;
        idle = idle.filter((done) => !done());
        // Events queued while the last round finished are picked up by a new pump.
        if (queue.length > 0 && !closing) startPump();
      });
  }

  function flush(): Promise<void> {
    if (pumping === null && queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): boolean => {
        if (queue.length > 0 && !closing) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      const timer = setTimeout(() => {
        idle = idle.filter((d) => d !== done);
        resolve();
      }, flushTimeoutMs);
      idle.push(done);
    });
  }

  return {
    get queued() {
      return queue.length;
    },
    get spilled() {
      return spilled;
    },
    get skipped() {
      return skipped;
    },
    health: () => ({ queued: queue.length, waiting: roomWaiters.length, refused, spilled }),
    publish(_subject, event) {
      if (closing) return Promise.reject(unavailable('the event sink is closing'));
      if (queue.length < maxQueued && roomWaiters.length === 0) {
        queue.push(event);
        startPump();
        return Promise.resolve();
      }
      // Full: the caller waits for room (backpressure: a scorer busier than its bus slows down
      // instead of failing), and is refused only if the bus makes no room within fullWaitMs.
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          admit: () => {
            clearTimeout(timer);
            queue.push(event);
            startPump();
            resolve();
          },
        };
        const timer = setTimeout(() => {
          roomWaiters.splice(roomWaiters.indexOf(waiter), 1);
          reject(
            unavailable(`the event bus (${bus.kind}) is behind: ${queue.length} events are waiting to be stored`, {
              hint: bus.kind === 'nats' ? 'check that NATS_URL is reachable and JetStream is enabled' : 'check the disk under <home>/data/bus',
            }),
          );
        }, fullWaitMs);
        roomWaiters.push(waiter);
      });
    },
    async *readAll(sinceMs = -Infinity) {
      // What this process queued (a replay after /admin/reload) belongs in the replay too.
      await flush();
      const consumer = await bus.consumer({ name: options.replayConsumer ?? 'oo-ml-serve-replay', mode: 'replay' });
      skipped = 0;
      // The embedded bus reads subject by subject (feedback.* before signals.*), JetStream in
      // stream order; replay needs each serve before its reward, so the events are put in time
      // order (serves first on equal times). That holds every retained server event in memory
      // at start: fine for days of traffic, not for months (the embedded journal has no
      // retention yet; JetStream keeps 7 days). `sinceMs` (from an online-learning checkpoint)
      // drops what the replay no longer needs as it is read, which bounds that memory.
      const all: { e: ServerEvent; t: number; i: number }[] = [];
      // Events a shutdown spilled and the bus still refuses happened all the same: a reward
      // among them is in the checkpointed state, and without it its serve would be pending
      // again and a retried /reward learned twice. So the replay reads them from the file too
      // (valid events only, and not those the bus holds as well).
      const spilledOnly = new Map((await readSpilled(options.spillPath)).map((e) => [e.event_id, e]));
      try {
        for (;;) {
          const got = await consumer.fetch({ max: 1_000, maxWaitMs: bus.kind === 'nats' ? 1_000 : 20 });
          if (got.events.length === 0 && got.rejected.length === 0) break;
          skipped += got.rejected.length;
          for (const d of got.events) {
            if (!Object.hasOwn(CHANNEL_OF, d.event.type)) continue;
            if (spilledOnly.size > 0) spilledOnly.delete(d.event.event_id);
            const t = Date.parse(d.event.ts);
            if (t >= sinceMs) all.push({ e: d.event as ServerEvent, t, i: all.length });
          }
        }
      } finally {
        await consumer.close();
      }
      for (const event of spilledOnly.values()) {
        const t = Date.parse(event.ts);
        if (t >= sinceMs) all.push({ e: event, t, i: all.length });
      }
      const rank = (e: ServerEvent): number => (e.type === 'tip.served' ? 0 : 1);
      all.sort((x, y) => x.t - y.t || rank(x.e) - rank(y.e) || x.i - y.i);
      for (const k of all) yield k.e;
    },
    flush,
    async resendSpilled() {
      // The file is first renamed aside, so what another process appends meanwhile lands in a
      // new spill file instead of being overwritten; asides left by a crash are picked up too.
      const dir = dirname(options.spillPath);
      const prefix = `${basename(options.spillPath)}.resending-`;
      const aside = `${options.spillPath}.resending-${process.pid}-${Date.now()}`;
      try {
        await rename(options.spillPath, aside);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return [] as string[];
        throw e;
      });
      let resent = 0;
      let kept = 0;
      let busDown = false;
      for (const name of names.filter((n) => n.startsWith(prefix)).sort()) {
        const path = join(dir, name);
        const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim() !== '');
        const keep: string[] = [];
        // In batches, like the pump: a publish per event would be a disk sync per event.
        for (let i = 0; i < lines.length; i += concurrency) {
          const batch = lines.slice(i, i + concurrency);
          if (busDown) {
            keep.push(...batch);
            continue;
          }
          const outcomes = await Promise.all(
            batch.map(async (line): Promise<'sent' | 'bad' | 'down'> => {
              const parsed = spilledLine(line);
              if (parsed === null) return 'bad';
              try {
                // The bus validates it; an event stored before the spill too is stored again
                // (ingest de-duplicates by event_id, replay skips a second reward).
                await bus.publish(CHANNEL_OF[parsed.type], parsed.event as ServerEvent);
                return 'sent';
              } catch (e) {
                report(e, parsed.event as ServerEvent);
                return isOoMlError(e) && e.code === 'invalid_input' ? 'bad' : 'down';
              }
            }),
          );
          outcomes.forEach((o, j) => (o === 'sent' ? resent++ : keep.push(batch[j]!)));
          // Once the bus fails for another reason than the event itself, the rest waits too.
          if (outcomes.includes('down')) busDown = true;
        }
        if (keep.length > 0) await appendFile(options.spillPath, keep.join('\n') + '\n');
        kept += keep.length;
        await rm(path, { force: true });
      }
      return { resent, kept };
    },
    async close() {
      await flush();
      closing = true;
      // A publish the bus never answers must not hang the shutdown either; an event in flight
      // then may end up both stored and spilled (ingest de-duplicates by event_id).
      // The timer is cleared when the pump finishes first: left pending it kept every process
      // that closed a sink alive for flushTimeoutMs (10 s) after its work was done.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([pumping, new Promise<void>((resolve) => (timer = setTimeout(resolve, flushTimeoutMs)))]);
      clearTimeout(timer);
      for (const w of roomWaiters.splice(0)) w.admit();
      if (queue.length > 0) {
        const left = queue;
        // Written first, let go of after: a failed spill throws with the events still held.
        await spill(left);
        queue = [];
      }
      await bus.close();
    },
  };
}
