/**
 * The EventSink of `oo-ml serve`: the server's serves, reactions and rewards go onto the event
 * bus (events/event-bus.ts) — NATS JetStream when NATS_URL is set, else the embedded journal
 * under <home>/data/bus — where `oo-ml ingest` turns them into the Parquet event log, and from
 * where the server replays them at start to rebuild its online learning.
 *
 * `publish` queues the event in memory (the bus validates it when storing); a pump sends the queue to the bus in
 * order, many publishes in flight (JetStream acks; the embedded journal group-commits them into
 * one fsync). So a /score never waits for a disk sync or a network round trip, and the guarantee
 * is the same as a buffered journal's: a crash loses what was queued in the last milliseconds, a
 * graceful shutdown (`close`) nothing.
 *
 * Nothing is dropped: a publish the bus refuses is retried with backoff, in order, while the
 * queue holds it. When the queue reaches `maxQueued`, a publish waits for room (backpressure:
 * a scorer that outruns its bus slows down) and is refused with `unavailable` — 503 from /score
 * and /reward — only when no room comes within `fullWaitMs` (the bus is down), so the server
 * never grows without bound. If the bus is still down when the
 * server shuts down, `close` writes what is left to `spillPath` (NDJSON, one event per line,
 * appended) and the caller says so; an event the bus refuses as invalid goes there at once. The
 * file holds the events exactly as they would have been published.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isOoMlError, unavailable } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { Channel } from '../events/subjects.js';
import type { EventSink, ServerEvent } from './deps.js';

/** Options of the bus sink. */
export interface BusEventSinkOptions {
  /** Events held while the bus is slow or down; past it a publish waits for room (default 50 000). */
  maxQueued?: number;
  /** How long a publish waits for room in a full queue before it is refused (default 2 s). */
  fullWaitMs?: number;
  /** Publishes in flight at once (default 256). */
  concurrency?: number;
  /** Where `close` writes events the bus would not take (NDJSON, appended). */
  spillPath: string;
  /** How long `close` keeps retrying before spilling (default 10 s). */
  closeTimeoutMs?: number;
  /** Called for every refused publish attempt (metrics, logs); the event is retried. */
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
  readAll(): AsyncIterable<ServerEvent>;
  flush(): Promise<void>;
  /** Flushes (retrying up to `closeTimeoutMs`), spills what is left, closes the bus. */
  close(): Promise<void>;
}

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2_000;

/** The channel of a server subject (`signals.tip.served` → `signals`). */
function channelOf(subject: string): Channel {
  return subject.startsWith('feedback.') ? 'feedback' : 'signals';
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A sink over `bus`; the bus is closed by the sink's `close`. */
export function createBusEventSink(bus: EventBus, options: BusEventSinkOptions): BusEventSink {
  const maxQueued = options.maxQueued ?? 50_000;
  const concurrency = options.concurrency ?? 256;
  const closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
  const fullWaitMs = options.fullWaitMs ?? 2_000;
  /** Publishes waiting for room in a full queue, oldest first. */
  const roomWaiters: { admit(): void }[] = [];
  const queue: { channel: Channel; event: ServerEvent }[] = [];
  let pumping: Promise<void> | null = null;
  let stopAt: number | null = null;
  let spilled = 0;
  let skipped = 0;
  let idle: (() => void)[] = [];

  /** Publishes one event until the bus takes it (or `close` gives up); true when stored. */
  async function deliver(item: { channel: Channel; event: ServerEvent }): Promise<boolean> {
    let wait = RETRY_MIN_MS;
    for (;;) {
      try {
        await bus.publish(item.channel, item.event);
        return true;
      } catch (e) {
        options.onError?.(e, item.event);
        if (isOoMlError(e) && e.code === 'invalid_input') {
          // The bus refuses the event itself (publish validated it, so a schema drift between
          // the two): retrying cannot help, so it goes to the spill file now, not lost.
          await spill([item.event]);
          return true;
        }
        if (stopAt !== null && Date.now() >= stopAt) return false;
        await sleep(wait);
        wait = Math.min(wait * 2, RETRY_MAX_MS);
      }
    }
  }

  async function spill(events: ServerEvent[]): Promise<void> {
    await mkdir(dirname(options.spillPath), { recursive: true });
    await appendFile(options.spillPath, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    spilled += events.length;
  }

  async function pump(): Promise<void> {
    while (queue.length > 0) {
      // The batch stays in the queue until stored, so `queued` and a spill both still see it.
      const batch = queue.slice(0, concurrency);
      const stored = await Promise.all(batch.map(deliver));
      const done = stored.indexOf(false) === -1 ? batch.length : stored.indexOf(false);
      queue.splice(0, done);
      while (roomWaiters.length > 0 && queue.length < maxQueued) roomWaiters.shift()!.admit();
      if (done < batch.length) break;
    }
    pumping = null;
    const waiting = idle;
    idle = [];
    for (const resolve of waiting) resolve();
  }

  function flush(): Promise<void> {
    if (pumping === null && queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => idle.push(resolve));
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
    publish(subject, event) {
      // Validation happens once, in bus.publish (the edge); an event it refuses is spilled, not
      // retried (see deliver). Validating here too cost ~2 % of the scorer's CPU.
      if (stopAt !== null) return Promise.reject(unavailable('the event sink is closing'));
      const item = { channel: channelOf(subject), event };
      if (queue.length < maxQueued && roomWaiters.length === 0) {
        queue.push(item);
        pumping ??= pump();
        return Promise.resolve();
      }
      // Full: the caller waits for room (backpressure: a scorer busier than its bus slows down
      // instead of failing), and is refused only if the bus makes no room within fullWaitMs.
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          admit: () => {
            clearTimeout(timer);
            queue.push(item);
            pumping ??= pump();
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
    async *readAll() {
      const consumer = await bus.consumer({ name: options.replayConsumer ?? 'oo-ml-serve-replay', mode: 'replay' });
      skipped = 0;
      // The embedded bus reads subject by subject (feedback.* before signals.*), JetStream in
      // stream order; replay needs each serve before its reward, so events are put in time
      // order (serves first on equal times). That holds the server's events in memory once, at
      // start — what the pending-serve store holds anyway.
      const all: ServerEvent[] = [];
      try {
        for (;;) {
          const got = await consumer.fetch({ max: 1_000, maxWaitMs: bus.kind === 'nats' ? 1_000 : 20 });
          if (got.events.length === 0 && got.rejected.length === 0) break;
          skipped += got.rejected.length;
          for (const d of got.events) {
            const e = d.event;
            if (e.type === 'tip.served' || e.type === 'tip.reaction' || e.type === 'tip.reward') all.push(e);
          }
        }
      } finally {
        await consumer.close();
      }
      const rank = (e: ServerEvent): number => (e.type === 'tip.served' ? 0 : 1);
      const keyed = all.map((e, i) => ({ e, i, t: Date.parse(e.ts) }));
      keyed.sort((x, y) => x.t - y.t || rank(x.e) - rank(y.e) || x.i - y.i);
      for (const k of keyed) yield k.e;
    },
    flush,
    async close() {
      stopAt = Date.now() + closeTimeoutMs;
      await flush();
      if (queue.length > 0) await spill(queue.splice(0).map((q) => q.event));
      await bus.close();
    },
  };
}
