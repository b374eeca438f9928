/**
 * The embedded bus (no services): two streams under `<home>/data/bus` in the format of
 * journal.ts, so whatever was published survives a restart and can be read again in order.
 *
 *   <bus>/events/<first seq>.ndjson     the events stream (signals.*, feedback.*): one log, one seq
 *   <bus>/dlq/<first seq>.ndjson        the dead-letter stream (dlq.*), with its own seq
 *   <bus>/events.writer/pid             held by the one process appending to the events stream
 *   <bus>/dlq.writer/pid                … to the dead-letter stream
 *   <bus>/consumers/<name>.json         {"version":2,"consumer":"…","acked":<seq>,"deliveries":[[<first seq>,<last seq>,<count>],…]}
 *   <bus>/consumers/<name>.lock/pid     held while a process consumes as <name>
 *
 * Semantics, as close to JetStream as files allow:
 * - one process at a time appends to a stream (its writer lock, taken at its first publish and
 *   released at close; seqs are counted from the files, so two appenders would hand out the
 *   same one). Within a process every transport on a folder shares one writer per stream, so
 *   the server, its sink and a test's second transport publish side by side;
 * - a durable consumer resumes after `acked`, the longest acknowledged prefix (acks may arrive
 *   out of order; it only moves over a contiguous acked run), written atomically once per burst
 *   of acks. Delivery counts are written before a fetch returns, so a message that crashes its
 *   consumer every time comes back with a higher count after each restart and is dead-lettered
 *   past MAX_DELIVERIES (event-bus.ts) instead of stalling the consumer forever. Within one
 *   process a delivered message is not redelivered (there is no ack timer);
 * - publish de-duplicates message ids for EMBEDDED_DEDUPE_WINDOW_MS within one process (JetStream's
 *   default duplicate window; shorter above ~820 publishes a second, where memory is bounded
 *   instead: dedupe-window.ts); duplicates from other processes are left to the ingest, which
 *   de-duplicates by event_id when it writes;
 * - retention by age and size per stream, as the NATS streams' limits (journal.ts).
 *
 * The previous layout (one journal per subject) is migrated on first use: legacy-journals.ts.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import Type from 'typebox';
import { conflict, invalidInput, isOoMlError, unavailable } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { DEFAULT_HEARTBEAT_MS, describeOwner, lostLockError, tryDirLock, type LockOwner } from '../io/dir-lock.js';
import { createValidator } from '../validation.js';
import { DedupeWindow } from './dedupe-window.js';
import {
  LineCounter,
  openStreamReader,
  openStreamWriter,
  streamExtent,
  type AppendedBatch,
  type StreamLine,
  type StreamReaderOptions,
  type StreamWriter,
  type StreamWriterOptions,
  type WrittenTo,
} from './journal.js';
import { legacyLeftovers, migrateLegacy, type StreamName } from './legacy-journals.js';
import { DLQ_PREFIX, isChannelSubject } from './subjects.js';
import type { RawConsumer, RawConsumerOptions, RawDelivery, RawMessage, RawPublishAck, RawReader, Transport, TransportHealth } from './transport.js';

/** How long a message id is remembered for de-duplication (JetStream's default duplicate window). */
export const EMBEDDED_DEDUPE_WINDOW_MS = 2 * 60 * 1000;
/** How often an idle fetch or read looks for lines another process appended, by default. */
export const EMBEDDED_POLL_MS = 50;
/** Size at which a segment is sealed and the next one started, by default. */
export const EMBEDDED_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Age past which sealed segments of the events stream are deleted (the NATS stream's max_age). */
export const EMBEDDED_EVENTS_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;
/** Age past which sealed segments of the dead-letter stream are deleted (the NATS stream's max_age). */
export const EMBEDDED_DLQ_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** Bytes a stream may hold before its oldest sealed segments are deleted, by default. */
export const EMBEDDED_MAX_BYTES = 8 * 1024 * 1024 * 1024;
/**
 * fdatasync of the streams at most this long after a write, by default: a publish is acknowledged
 * once written (it survives `kill -9`), and a crash of the machine loses at most this last
 * second, as with JetStream's sync_interval (2 min by default). OO_ML_BUS_SYNC_MS=0 syncs before
 * each acknowledgement instead (a group commit per batch: the disk's sync latency then bounds
 * /score's, bench:serve).
 */
export const EMBEDDED_SYNC_MS = 1000;

/** How often a transport kept from the events stream by another process's writer lock tries to take it again. */
const RETAKE_MS = 1_000;

/** Options of the embedded transport (the first transport of a process to publish to a folder sets its writers' limits). */
export interface EmbeddedTransportOptions {
  pollMs?: number | undefined;
  /** Size at which a segment is sealed (default EMBEDDED_SEGMENT_BYTES). */
  segmentBytes?: number | undefined;
  /** Age limit of the events stream's sealed segments (default EMBEDDED_EVENTS_MAX_AGE_MS). */
  maxAgeMs?: number | undefined;
  /** Age limit of the dead-letter stream's sealed segments (default EMBEDDED_DLQ_MAX_AGE_MS). */
  dlqMaxAgeMs?: number | undefined;
  /** Size limit of each stream (default EMBEDDED_MAX_BYTES). */
  maxBytes?: number | undefined;
  /** fdatasync policy of the streams: 0 before each publish resolves, else at most this many ms after a write (default EMBEDDED_SYNC_MS). */
  syncMs?: number | undefined;
}

// -- Writers shared by every transport of this process on one folder ---------------------------

type WriterLimits = Pick<StreamWriterOptions, 'segmentBytes' | 'maxAgeMs' | 'maxBytes' | 'syncMs'>;

/** One stream's writer and duplicate window, shared within the process. */
interface SharedStream {
  writer: StreamWriter;
  seen: DedupeWindow;
  /** Set when the writer lock was lost (this process stood still and another took it): every append fails with it. */
  lost: Error | null;
  close(): Promise<void>;
}

interface RegistryEntry {
  refs: number;
  ready: Promise<SharedStream>;
}

/** A reference to a shared stream; `release` once. */
interface StreamRef {
  shared: SharedStream;
  release(): Promise<void>;
}

/** Open writers by stream folder (resolved). */
const registry = new Map<string, RegistryEntry>();
/** Writers being closed, by stream folder: a new one waits for the old one's lock to go. */
const closing = new Map<string, Promise<void>>();
/** This process's readers of each stream folder, handed every appended batch. */
const listeners = new Map<string, Set<(batch: AppendedBatch) => void>>();
/** Where this process's writer of each stream folder has written to (no entry: no writer here). */
const written = new Map<string, WrittenTo>();

function subscribe(key: string, wake: (batch: AppendedBatch) => void): () => void {
  let set = listeners.get(key);
  if (set === undefined) {
    set = new Set();
    listeners.set(key, set);
  }
  set.add(wake);
  return () => {
    set.delete(wake);
    if (set.size === 0 && listeners.get(key) === set) listeners.delete(key);
  };
}

function notify(key: string, batch: AppendedBatch): void {
  written.set(key, { segment: batch.segment, end: batch.offset + batch.chunk.length });
  const set = listeners.get(key);
  if (set !== undefined) for (const wake of set) wake(batch);
}

/** Takes a reference to the writer of `stream` in `bus`, opening it (lock, migration, count) for the first. */
async function acquireStream(bus: string, stream: StreamName, limits: WriterLimits): Promise<StreamRef> {
  const key = resolve(bus, stream);
  let entry = registry.get(key);
  if (entry === undefined) {
    const created: RegistryEntry = { refs: 0, ready: openShared(bus, stream, key, limits) };
    registry.set(key, created);
    created.ready.catch(() => {
      if (registry.get(key) === created) registry.delete(key);
    });
    entry = created;
  }
  const held = entry;
  held.refs++;
  let shared: SharedStream;
  try {
    shared = await held.ready;
  } catch (e) {
    held.refs--;
    throw e;
  }
  let released = false;
  return {
    shared,
    release() {
      if (released) return Promise.resolve();
      released = true;
      if (--held.refs > 0 || registry.get(key) !== held) return Promise.resolve();
      registry.delete(key);
      const done = shared.close();
      closing.set(key, done);
      const forget = (): void => {
        if (closing.get(key) === done) closing.delete(key);
      };
      done.then(forget, forget);
      return done;
    },
  };
}

async function openShared(bus: string, stream: StreamName, key: string, limits: WriterLimits): Promise<SharedStream> {
  await closing.get(key)?.catch(() => undefined);
  // The bus folder is created on first publish (or first migration).
  await mkdir(bus, { recursive: true });
  const lock = join(bus, `${stream}.writer`);
  let shared: SharedStream | null = null;
  // Lost while the writer was still opening: the stream starts out refusing.
  let lostEarly: Error | null = null;
  const unlock = await acquireDirLock(
    lock,
    (owner) =>
      conflict(`the embedded bus's ${stream} stream under ${bus} is being written by ${describeOwner(owner)}`, {
        hint: 'only one process at a time may publish to the embedded bus: stop the other one (a lock of a dead process is taken over); to publish from more than one process, run NATS JetStream and set NATS_URL',
        details: { lock, ...(owner.pid === null ? {} : { pid: owner.pid }) },
      }),
    () => {
      const lost = lostLock(lock, `the embedded bus's ${stream} stream`);
      if (shared !== null) shared.lost = lost;
      else lostEarly = lost;
    },
  );
  try {
    const writer = await openStreamWriter(join(bus, stream), {
      ...limits,
      onAppend: (batch) => notify(key, batch),
      beforeAppend: (nextSeq) => migrateLegacy(bus, stream, nextSeq),
    });
    shared = {
      writer,
      seen: new DedupeWindow(EMBEDDED_DEDUPE_WINDOW_MS),
      lost: lostEarly,
      async close() {
        try {
          await writer.close();
        } finally {
          // From here on another process may write: readers go back to the files.
          written.delete(key);
          await unlock();
        }
      },
    };
    return shared;
  } catch (e) {
    await unlock();
    throw e;
  }
}

/**
 * Migrates what the previous layout left in `bus` (legacy-journals.ts), stream by stream, by
 * opening each stream's writer for a moment. A stream another process writes is skipped: that
 * process migrated it when its writer opened.
 */
async function migrateLeftovers(bus: string, limits: Record<StreamName, WriterLimits>): Promise<void> {
  const left = await legacyLeftovers(bus);
  for (const stream of ['events', 'dlq'] as const) {
    if (!left[stream]) continue;
    let ref: StreamRef;
    try {
      ref = await acquireStream(bus, stream, limits[stream]);
    } catch (e) {
      if (isOoMlError(e) && e.code === 'conflict') continue;
      throw e;
    }
    await ref.release();
  }
}

// -- The transport ------------------------------------------------------------------------------

/** The embedded transport over the bus folder `dir`. */
export function createEmbeddedTransport(dir: string, options: EmbeddedTransportOptions = {}): Transport {
  const pollMs = options.pollMs ?? EMBEDDED_POLL_MS;
  const segmentBytes = options.segmentBytes ?? EMBEDDED_SEGMENT_BYTES;
  const maxBytes = options.maxBytes ?? EMBEDDED_MAX_BYTES;
  const syncMs = options.syncMs ?? EMBEDDED_SYNC_MS;
  const limits: Record<StreamName, WriterLimits> = {
    events: { segmentBytes, maxBytes, syncMs, maxAgeMs: options.maxAgeMs ?? EMBEDDED_EVENTS_MAX_AGE_MS },
    dlq: { segmentBytes, maxBytes, syncMs, maxAgeMs: options.dlqMaxAgeMs ?? EMBEDDED_DLQ_MAX_AGE_MS },
  };
  const eventsDir = join(dir, 'events');
  const eventsKey = resolve(eventsDir);
  // This process's appends reach its readers from memory (journal.ts openStreamReader).
  const follow: Pick<StreamReaderOptions, 'subscribe' | 'writtenTo'> = {
    subscribe: (onAppend) => subscribe(eventsKey, onAppend),
    writtenTo: () => written.get(eventsKey) ?? null,
  };
  // The files are always there; what can stop this process's publishes is another process
  // writing the stream (its writer lock): reported as not connected until this one takes it.
  let health: TransportHealth = { connected: true, since: Date.now(), detail: null };
  const healthListeners = new Set<(h: TransportHealth) => void>();
  const setHealth = (connected: boolean, detail: string | null): void => {
    if (health.connected === connected) return;
    health = { connected, since: Date.now(), detail };
    for (const listener of healthListeners) listener({ ...health });
  };
  const held: Record<StreamName, StreamRef | null> = { events: null, dlq: null };
  const holding: Record<StreamName, Promise<StreamRef> | null> = { events: null, dlq: null };
  const open = new Set<{ close(): Promise<void> }>();
  const counter = new LineCounter();
  let migrated: Promise<void> | null = null;
  let closed = false;

  // Once per transport; a failed migration (a full disk…) is tried again at the next use.
  const firstUse = (): Promise<void> =>
    (migrated ??= migrateLeftovers(dir, limits).catch((e: unknown) => {
      migrated = null;
      throw e;
    }));
  const closedError = () => unavailable(`the embedded bus transport on ${dir} is closed`);

  /** This transport's reference to the writer of `stream`, taken at its first publish. */
  const hold = (stream: StreamName): Promise<StreamRef> =>
    (holding[stream] ??= (async () => {
      try {
        await firstUse();
        const ref = await acquireStream(dir, stream, limits[stream]);
        if (closed) {
          await ref.release();
          throw closedError();
        }
        held[stream] = ref;
        if (stream === 'events') setHealth(true, `took the events stream under ${dir}`);
        return ref;
      } catch (e) {
        // A refused lock (another process writes) is tried again at the next publish.
        holding[stream] = null;
        if (stream === 'events' && isOoMlError(e, 'conflict')) setHealth(false, e.message);
        // Whatever failed while not connected (the lock, a full disk), it is tried again: a
        // publisher that spills makes no publish that would.
        if (stream === 'events' && !health.connected) retakeLater();
        throw e;
      }
    })());

  /**
   * While another process writes the events stream, tries to take it every RETAKE_MS, so this
   * one reports connected again once that process is gone (a publisher that spills while the bus
   * is not connected makes no publish that would take it).
   */
  let retake: NodeJS.Timeout | null = null;
  function retakeLater(): void {
    if (retake !== null || closed) return;
    retake = setTimeout(() => {
      retake = null;
      if (!closed && held.events === null) hold('events').catch(() => undefined);
    }, RETAKE_MS);
    retake.unref();
  }

  const publishOn = ({ shared }: StreamRef, subject: string, data: Uint8Array, msgId: string): Promise<RawPublishAck> => {
    if (shared.lost !== null) return Promise.reject(shared.lost);
    const entry = shared.seen.add(msgId, performance.now());
    if (entry === null) return Promise.resolve({ duplicate: true, seq: shared.seen.seqOf(msgId) });
    return shared.writer.append(subject, data).then(
      (seq) => {
        shared.seen.settle(entry, seq);
        return { duplicate: false, seq };
      },
      (e: unknown) => {
        shared.seen.forget(entry);
        throw e;
      },
    );
  };

  return {
    kind: 'embedded',

    // Not async: an open stream's publish is two promises (see event-bus.ts on what each costs).
    publish(subject, data, msgId) {
      if (closed) return Promise.reject(closedError());
      const stream: StreamName | null = subject.startsWith(`${DLQ_PREFIX}.`) ? 'dlq' : isChannelSubject(subject) ? 'events' : null;
      if (stream === null) {
        return Promise.reject(invalidInput(`subject "${subject}" is on no stream of the bus`, { hint: 'events go on signals.<type> or feedback.<type>, dead letters on dlq.<subject>' }));
      }
      const ref = held[stream];
      if (ref !== null) return publishOn(ref, subject, data, msgId);
      return hold(stream).then((r) => publishOn(r, subject, data, msgId));
    },

    setupWarnings: () => [],

    async claimWriter() {
      if (closed) throw closedError();
      await hold('events');
    },

    async consumer(consumerOptions) {
      if (closed) throw closedError();
      await firstUse();
      const consumer = await openConsumer(dir, consumerOptions, pollMs, follow, () => open.delete(consumer));
      open.add(consumer);
      return consumer;
    },

    async reader(startSeq) {
      if (closed) throw closedError();
      await firstUse();
      const lines = openStreamReader(eventsDir, startSeq, { pollMs, ...follow });
      const reader: RawReader = {
        next: (max, maxWaitMs) => lines.next(max, maxWaitMs),
        async close() {
          open.delete(reader);
          await lines.close();
        },
      };
      open.add(reader);
      return reader;
    },

    async extent() {
      if (closed) throw closedError();
      await firstUse();
      return streamExtent(eventsDir, counter);
    },

    async deadLetters(last) {
      if (closed) throw closedError();
      await firstUse();
      const dlqDir = join(dir, 'dlq');
      const { firstSeq, lastSeq } = await streamExtent(dlqDir);
      const held = Math.max(0, lastSeq - firstSeq + 1);
      const want = Math.min(last, held);
      if (want <= 0) return { held, messages: [] };
      const lines = openStreamReader(dlqDir, lastSeq - want + 1, { pollMs });
      try {
        const messages: RawMessage[] = [];
        while (messages.length < want) {
          const got = await lines.next(want - messages.length, 0);
          if (got.length === 0) break;
          messages.push(...got);
        }
        return { held, messages };
      } finally {
        await lines.close();
      }
    },

    health: () => ({ ...health }),
    onHealth: (listener) => {
      healthListeners.add(listener);
      return () => healthListeners.delete(listener);
    },

    async close() {
      if (closed) return;
      closed = true;
      if (retake !== null) clearTimeout(retake);
      await migrated?.catch(() => undefined);
      for (const c of [...open]) await c.close();
      // Both streams are released even when one fails (a background disk failure its writer's
      // close reports): the other's lock and handle must not stay behind.
      const released = await Promise.allSettled(
        (['events', 'dlq'] as const).map(async (stream) => {
          await holding[stream]?.catch(() => undefined);
          const ref = held[stream];
          held[stream] = null;
          await ref?.release();
        }),
      );
      const failed = released.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
  };
}

// -- Durable consumers --------------------------------------------------------------------------

const ConsumerState = Type.Object(
  {
    version: Type.Literal(2),
    consumer: Type.String(),
    /** Every message up to this seq is acknowledged. */
    acked: Type.Integer({ minimum: 0 }),
    /**
     * Deliveries so far of the delivered, unacknowledged messages, as runs `[first seq, last
     * seq, count]` in stream order: a batch of 10,000 is one run, not 10,000 keys to write at
     * every fetch and ack (bench:replicas, ingest).
     */
    deliveries: Type.Array(Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })]), { maxItems: 1_000_000 }),
  },
  { additionalProperties: false },
);
const CONSUMER_STATE = createValidator(ConsumerState);

/** A consumer's stored state: acknowledged prefix and delivery counts. */
interface StoredState {
  acked: number;
  deliveries: Map<number, number>;
}

/**
 * A delivered message, also its own in-flight record: one object per message until its ack
 * rather than a record, a delivery and an ack closure (bench:replicas, ingest).
 */
class EmbeddedDelivery implements RawDelivery {
  acked = false;
  constructor(
    readonly subject: string,
    readonly data: Uint8Array,
    readonly seq: number,
    readonly deliveryCount: number,
    private readonly owner: { ack(delivery: EmbeddedDelivery): Promise<void> },
  ) {}

  ack(): Promise<void> {
    return this.owner.ack(this);
  }
}

async function openConsumer(
  bus: string,
  options: RawConsumerOptions,
  pollMs: number,
  follow: Pick<StreamReaderOptions, 'subscribe' | 'writtenTo'>,
  onClose: () => void,
): Promise<RawConsumer> {
  const { name } = options;
  const eventsDir = join(bus, 'events');
  const stateDir = join(bus, 'consumers');
  const statePath = join(stateDir, `${name}.json`);
  await mkdir(stateDir, { recursive: true });
  const lock = join(stateDir, `${name}.lock`);
  let lost: Error | null = null;
  const unlock = await acquireDirLock(
    lock,
    (owner) =>
      conflict(`embedded bus consumer "${name}" is in use by ${describeOwner(owner)}`, {
        hint: 'stop the other `oo-ml ingest` (or pick another consumer name); a lock of a dead process is taken over',
        details: { lock },
      }),
    () => {
      lost = lostLock(lock, `embedded bus consumer "${name}"`);
    },
  );
  let state: StoredState;
  try {
    state = await readState(statePath, name);
    const { lastSeq } = await streamExtent(eventsDir);
    if (state.acked > lastSeq) {
      throw conflict(`the events stream under ${bus} ends at seq ${lastSeq}, before consumer "${name}"'s acknowledged seq ${state.acked}`, {
        hint: `the stream was deleted or replaced behind the consumer; delete ${statePath} to consume it from the start`,
        details: { state: statePath, acked: state.acked, lastSeq },
      });
    }
  } catch (e) {
    await unlock();
    throw e;
  }
  const { deliveries } = state;
  let acked = state.acked;
  const reader = openStreamReader(eventsDir, acked + 1, { pollMs, ...follow });
  /** Delivered messages in stream order; `head` is the first not folded into `acked`. */
  let inflight: EmbeddedDelivery[] = [];
  let head = 0;
  /** Delivered by this process and not acknowledged (those of an earlier one were delivered again at the open). */
  let unacked = 0;
  /** Lines read whose delivery counts could not be stored: delivered first by the next fetch. */
  let carried: StreamLine[] = [];
  let closed = false;

  // Writes within one tick share one atomic write of the state file; writes run one at a time so
  // an older state can never land after a newer one. Each takes the state as it is when it runs.
  let writes: Promise<void> = Promise.resolve();
  let scheduled: Promise<void> | null = null;
  const persist = (): Promise<void> => {
    if (scheduled !== null) return scheduled;
    const next = writes
      .catch(() => undefined)
      .then(() => new Promise<void>((resolveTick) => setImmediate(resolveTick)))
      .then(async () => {
        scheduled = null;
        const stored = { version: 2, consumer: name, acked, deliveries: deliveryRuns(deliveries) };
        await writeFileAtomic(statePath, JSON.stringify(stored) + '\n');
      });
    scheduled = next;
    writes = next;
    return next;
  };

  const ack = (entry: EmbeddedDelivery): Promise<void> => {
    if (lost !== null) return Promise.reject(lost);
    if (closed) return Promise.reject(unavailable(`consumer ${name} is closed; the ack of message ${entry.seq} was not recorded`));
    if (entry.acked) return Promise.resolve();
    entry.acked = true;
    unacked--;
    deliveries.delete(entry.seq);
    while (head < inflight.length && inflight[head]!.acked) acked = inflight[head++]!.seq;
    if (head > 1024 && head * 2 > inflight.length) {
      inflight = inflight.slice(head);
      head = 0;
    }
    return persist();
  };

  const owner = { ack };
  const consumer: RawConsumer = {
    async fetch(max, maxWaitMs) {
      if (lost !== null) throw lost;
      if (closed) throw unavailable(`consumer ${name} is closed`);
      const deadline = performance.now() + maxWaitMs;
      const lines = carried.splice(0, max);
      for (;;) {
        if (lines.length < max) for (const l of await reader.read(max - lines.length)) lines.push(l);
        const left = deadline - performance.now();
        if (lines.length >= max || left <= 0 || closed) break;
        await reader.wait(Math.min(pollMs, left));
      }
      // Closed meanwhile: deliver nothing (and write nothing after the lock is gone); the lines
      // come again at the next start, uncounted, as they were never handed out.
      if (lines.length === 0 || closed) return [];
      // The counts reach the disk before anyone sees the messages: a consumer that crashes on
      // one still leaves its count behind, and the next run delivers it with a higher one.
      const counts = lines.map((l) => {
        const count = (deliveries.get(l.seq) ?? 0) + 1;
        deliveries.set(l.seq, count);
        return count;
      });
      try {
        await persist();
      } catch (e) {
        for (const [i, l] of lines.entries()) {
          if (counts[i]! > 1) deliveries.set(l.seq, counts[i]! - 1);
          else deliveries.delete(l.seq);
        }
        carried = [...lines, ...carried];
        throw e;
      }
      unacked += lines.length;
      return lines.map((l, i) => {
        const delivery = new EmbeddedDelivery(l.subject, l.data, l.seq, counts[i]!, owner);
        inflight.push(delivery);
        return delivery;
      });
    },
    unacked: async () => unacked,
    async close() {
      if (closed) return;
      closed = true;
      onClose();
      try {
        await reader.close();
        await writes;
      } finally {
        await unlock();
      }
    },
  };
  return consumer;
}

/** The state stored for consumer `name` (from the start when there is none, or only the previous layout's). */
async function readState(path: string, name: string): Promise<StoredState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { acked: 0, deliveries: new Map() };
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidInput(`consumer state ${path} is not JSON`, { hint: 'delete it to consume the events stream from the start' });
  }
  // Positions per subject of the previous layout mean nothing in the one stream: start over
  // (the migration moves the file aside; `oo-ml ingest` skips events it already stored).
  if (typeof value === 'object' && value !== null && (value as { version?: unknown }).version === 1) return { acked: 0, deliveries: new Map() };
  const state = CONSUMER_STATE.parse(value, `consumer state ${path}`);
  if (state.consumer !== name) throw invalidInput(`consumer state ${path} belongs to consumer "${state.consumer}", not "${name}"`);
  const deliveries = new Map<number, number>();
  for (const [first, last, count] of state.deliveries) {
    if (last < first || last - first > 10_000_000) throw invalidInput(`consumer state ${path} has a delivery run ${first}..${last}`, { hint: 'delete it to consume the events stream from the start' });
    for (let seq = Math.max(first, state.acked + 1); seq <= last; seq++) deliveries.set(seq, count);
  }
  return { acked: state.acked, deliveries };
}

/** Delivery counts as runs of consecutive sequences with one count, in sequence order. */
export function deliveryRuns(deliveries: ReadonlyMap<number, number>): [number, number, number][] {
  let seqs = [...deliveries.keys()];
  // Delivered in stream order, so the map's order is nearly always sorted already.
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i]! < seqs[i - 1]!) {
      seqs = seqs.sort((a, b) => a - b);
      break;
    }
  }
  const runs: [number, number, number][] = [];
  for (const seq of seqs) {
    const count = deliveries.get(seq)!;
    const run = runs.at(-1);
    if (run !== undefined && run[1] === seq - 1 && run[2] === count) run[1] = seq;
    else runs.push([seq, seq, count]);
  }
  return runs;
}

// -- Locks --------------------------------------------------------------------------------------

/**
 * Takes the lock folder `path` (io/dir-lock.ts), beating while held, or throws `busy(owner)` naming
 * its live holder; `onLost` hears of the lock lost.
 */
async function acquireDirLock(path: string, busy: (owner: LockOwner) => Error, onLost: () => void): Promise<() => Promise<void>> {
  const got = await tryDirLock(path, { heartbeatMs: DEFAULT_HEARTBEAT_MS, onLost });
  if (got.held) return got.release;
  throw busy(got.owner);
}

/** The error of every use of `what` after its lock at `path` was lost. */
const lostLock = (path: string, what: string): Error => lostLockError(path, what, 'restart this process; check that one process at a time uses the bus folder');
