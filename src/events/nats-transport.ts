/**
 * The NATS JetStream transport (`NATS_URL=nats://…`, comma-separated for a cluster). Two streams,
 * created when missing with `streamReplicas` replicas (default 1):
 *
 *   OO_ML_EVENTS   signals.>, feedback.>   file storage, 7 days, 2-minute duplicate window
 *   OO_ML_DLQ      dlq.>                   file storage, 30 days
 *
 * Connection: reconnects forever with a short, jittered wait, so an outage of any length ends
 * with the transport connected again by itself; `health()` follows the client's status events.
 * While disconnected every call that needs the server — publish first — fails at once with
 * `unavailable` instead of being buffered by nats.js and timing out: the server spills its
 * events locally and sends them again once healthy.
 *
 * Publishes wait for the JetStream ack (at most `publishTimeoutMs`; jetstream-publisher.ts) and carry `Nats-Msg-Id`
 * (event_id, or `dlq:<subject>:<seq>` for envelopes), so a retried publish within the stream's
 * duplicate window is stored once (the PubAck says `duplicate` and gives the first copy's seq).
 *
 * Readers are nats.js ordered consumers (ephemeral, in memory, R1, no acks) consumed
 * continuously into a buffer. Whenever one stops — nats.js recreated it after a server restart,
 * it stalled because the cluster node holding it died, nats.js gave up — the reader creates a
 * new one right after the last message it buffered: no gap, no repeat.
 *
 * Durable consumers are pull consumers with explicit acks, `ack_wait` from the caller and
 * `max_deliver` = MAX_DELIVERIES + 1: the extra delivery is where event-bus.ts dead-letters the
 * message with reason `redelivery_limit`, so the server bound is only a backstop and nothing
 * stalls silently at JetStream's limit.
 *
 * Server compatibility: the consumer is created or updated through consumer info/update rather
 * than relying on create-action semantics, which changed in nats-server 2.10 (2.9 silently
 * updates an existing durable on create, 2.10+ refuses a differing config with "consumer
 * already exists"). No 2.10+ features (multiple filter subjects, …) are used.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type OrderedConsumerOptions,
  type StreamConfig,
} from '@nats-io/jetstream';
import { TimeoutError, connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { conflict, isOoMlError, unavailable } from '../errors.js';
import { createJetStreamPublisher, JetStreamPublishError } from './jetstream-publisher.js';
import { DLQ_SUBJECT_WILDCARD, EVENT_SUBJECT_WILDCARDS } from './subjects.js';
import { deliveryNumbersOf } from './jetstream-delivery.js';
import {
  MAX_BATCH,
  MAX_DELIVERIES,
  type RawConsumer,
  type RawDelivery,
  type RawMessage,
  type RawReader,
  type StreamExtent,
  type Transport,
  type TransportHealth,
} from './transport.js';
import { redactUrl, redactUserInfo } from '../redact.js';

/** The stream of event subjects. */
export const EVENTS_STREAM = 'OO_ML_EVENTS';
/** The stream of dead-letter subjects. */
export const DLQ_STREAM = 'OO_ML_DLQ';

/** Options of the transport (event-bus.ts passes them from the config). */
export interface NatsTransportOptions {
  /** Replicas of the streams this transport creates (1–5; existing streams keep theirs). Default 1. */
  streamReplicas?: number;
  /** How long a publish waits for its JetStream ack before failing with `unavailable`. Default 2000 ms. */
  publishTimeoutMs?: number;
  /**
   * When given, a first connection that fails is retried until it succeeds (backing off to
   * 10 s), calling this with each failure — what a server replica started during an outage
   * does, so it drains its spill once NATS is back instead of exiting. Without it the first
   * failure is an `unavailable` error (CLI commands).
   */
  onWaitingForServer?: (error: unknown) => void;
}

/** How long a publish waits for its JetStream ack unless the options say otherwise. */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 2000;

const DAY_MS = 24 * 60 * 60 * 1000;
/** JetStream's own default, stated so the guarantee in the README does not drift. */
const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;
/** JetStream pull requests expire after at least 1 s (nats.js rejects shorter `expires`). */
const MIN_PULL_EXPIRES_MS = 1000;
/** Room for two full batches in flight (one being written, one redelivered after an ack timeout). */
const MAX_ACK_PENDING = 2 * MAX_BATCH;

/**
 * Between reconnect attempts to one server, plus up to RECONNECT_JITTER_MS so replicas do not
 * come back in step. nats.js defaults to 10 attempts 2 s apart, i.e. it gives up (closes the
 * connection for good) after ~20 s; we never give up (`maxReconnectAttempts: -1`).
 */
const RECONNECT_WAIT_MS = 250;
const RECONNECT_JITTER_MS = 250;
/**
 * Client pings: a connection that answers none of MAX_PINGS_OUT pings in a row is dropped as
 * stale (a half-open TCP connection never errors by itself). nats.js pings every 2 min by
 * default, which would report a dead path as healthy for minutes.
 */
const PING_INTERVAL_MS = 10_000;
const MAX_PINGS_OUT = 2;

/** How long setup retries while JetStream is not ready yet (a fresh cluster without a meta leader). */
const SETUP_RETRY_MS = 15_000;
/** One JetStream API call during setup; retried until SETUP_RETRY_MS. */
const SETUP_API_TIMEOUT_MS = 2000;

/** Messages one pull of a reader asks for (nats.js pulls again when 3/4 of them arrived). */
const READER_PULL_BATCH = 1000;
/** A reader stops pulling while this many messages wait in its buffer (its caller is behind). */
const READER_HIGH_WATER = MAX_BATCH;
/**
 * A reader's pull requests expire after READER_PULL_EXPIRES_MS (and are renewed); while one waits
 * the server sends an idle heartbeat every READER_HEARTBEAT_MS. nats.js recreates an ordered
 * consumer that a restarted server lost, but when its consumer lived on a cluster node that died
 * (an ordered consumer is R1: on one node) its lookups time out and it waits for that node
 * forever, silently. So the reader watches for signs of life itself (messages, heartbeats, pull
 * expiries): none for READER_STALL_MS while connected, and it recreates the consumer.
 */
const READER_PULL_EXPIRES_MS = 5000;
const READER_HEARTBEAT_MS = 1000;
const READER_STALL_MS = 2 * READER_HEARTBEAT_MS + 500;
const READER_STALL_CHECK_MS = 500;
/**
 * JetStream API calls of a reader (creating, looking up, deleting its consumer). Shorter than
 * nats.js's 5 s: during a stream leader election they cannot be answered, and retrying sooner
 * brings the reader back sooner.
 */
const READER_API_TIMEOUT_MS = 2000;
/** Delay before recreating a reader whose consumer stopped; doubles up to the maximum. */
const READER_RETRY_MIN_MS = 100;
const READER_RETRY_MAX_MS = 5000;
/** How often a publish nothing answered looks whether its stream was deleted. */
const STREAM_LOOK_MS = 5_000;

// API error codes (nats-server errors.json).
const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;
const STREAM_SUBJECT_OVERLAP = 10065;
const CONSUMER_NOT_FOUND = 10014;
const CONSUMER_ALREADY_EXISTS = [10013, 10105, 10148];
/** No meta leader yet ("JetStream system temporarily unavailable"), no peers known yet to place replicas on. */
const NOT_READY_YET = [10008, 10005, 10023];

/** The streams oo-ml needs: name, subjects, retention. */
const STREAMS: readonly Pick<StreamConfig, 'name' | 'subjects' | 'max_age' | 'description'>[] = [
  { name: EVENTS_STREAM, subjects: [...EVENT_SUBJECT_WILDCARDS], max_age: nanos(7 * DAY_MS), description: 'oo-ml signals and feedback' },
  { name: DLQ_STREAM, subjects: [DLQ_SUBJECT_WILDCARD], max_age: nanos(30 * DAY_MS), description: 'oo-ml dead letters' },
];

const NOT_CONNECTED_HINT = 'keep the event and publish it again later: the client reconnects by itself, and health() says when NATS is back';

const apiCode = (e: unknown): number | undefined => (e instanceof JetStreamApiError ? e.code : undefined);
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Resolves after `ms`, or as soon as `cancel` settles (the timer is cleared either way). */
function sleepUnless(ms: number, cancel: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const slept = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([slept, cancel.then(() => undefined)]).finally(() => clearTimeout(timer));
}

/** `e` as it reaches callers: our own errors as they are, anything from nats.js as `unavailable`. */
function asUnavailable(what: string, e: unknown): unknown {
  return isOoMlError(e) ? e : unavailable(`${what} failed: ${messageOf(e)}`, { cause: e });
}

/** Whether a setup failure is JetStream still starting (retried) rather than a lasting refusal. */
function notReadyYet(e: unknown): boolean {
  if (e instanceof TimeoutError) return true;
  if (e instanceof JetStreamApiError) return e.status === 503 || NOT_READY_YET.includes(e.code);
  return false;
}

/** Connects to `url`, makes sure both streams exist, and returns the transport. */
export async function createNatsTransport(url: string, options: NatsTransportOptions = {}): Promise<Transport> {
  const replicas = options.streamReplicas ?? 1;
  const publishTimeoutMs = options.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
  let nc: NatsConnection | null = null;
  for (let wait = 500; nc === null; wait = Math.min(wait * 2, 10_000)) {
    try {
      nc = await connect({
        servers: url.split(',').map((s) => s.trim()),
        name: 'oo-ml',
        maxReconnectAttempts: -1,
        reconnectTimeWait: RECONNECT_WAIT_MS,
        reconnectJitter: RECONNECT_JITTER_MS,
        pingInterval: PING_INTERVAL_MS,
        maxPingOut: MAX_PINGS_OUT,
      });
    } catch (e) {
      if (options.onWaitingForServer === undefined) {
        throw unavailable(`cannot connect to NATS at ${redactUrl(url)}: ${redactUserInfo(messageOf(e))}`, {
          hint: 'start `nats-server -js` there, or unset NATS_URL to use the embedded bus',
          cause: e,
        });
      }
      options.onWaitingForServer(e);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  let jsm: JetStreamManager;
  const setupWarnings: string[] = [];
  try {
    jsm = await setUpStreams(nc, replicas, options.streamReplicas !== undefined, setupWarnings);
  } catch (e) {
    await nc.close();
    if (isOoMlError(e)) throw e;
    throw unavailable(`JetStream at ${redactUrl(url)} is not usable: ${redactUserInfo(messageOf(e))}`, {
      hint:
        replicas > 1
          ? `run nats-server with JetStream enabled (\`-js\`) on at least ${replicas} clustered servers, or lower NATS_STREAM_REPLICAS`
          : 'run nats-server with JetStream enabled (`nats-server -js`)',
      cause: e,
    });
  }
  const js = jetstream(nc);
  const publisher = createJetStreamPublisher(nc, publishTimeoutMs);
  const readerJs = jetstream(nc, { timeout: READER_API_TIMEOUT_MS });
  const link = watchConnection(nc);
  // A dropped connection fails the publishes waiting for their acks at once, as the guard does
  // for every other operation (nats.js would keep them until their timeout).
  link.onHealth((h) => {
    if (!h.connected) publisher.failPending(`the NATS connection dropped (${h.detail ?? 'no detail'})`);
  });
  const readers = new Set<OrderedReader>();

  // Whether `stream` is missing, looked at most every STREAM_LOOK_MS per stream: every publish
  // fails while it is, and a look per publish would add a request to each. It is not created
  // again here: a running replica's fold is past the new stream's sequences, and a restart is
  // what rebuilds it (online-learning/README.md).
  const looks = new Map<string, { at: number; missing: Promise<boolean> }>();
  const gone = (stream: string): Promise<boolean> => {
    const last = looks.get(stream);
    if (last !== undefined && Date.now() - last.at < STREAM_LOOK_MS) return last.missing;
    const missing = link
      .guard(`looking for stream ${stream}`, () => jsm.streams.info(stream))
      .then(
        () => false,
        (e: unknown) => apiCode(e) === STREAM_NOT_FOUND,
      );
    looks.set(stream, { at: Date.now(), missing });
    return missing;
  };

  const extent = (): Promise<StreamExtent> =>
    link.guard('reading the events stream extent', async () => {
      const { state } = await jsm.streams.info(EVENTS_STREAM);
      // An empty stream reports first_seq 0 before its first message and last_seq + 1 after
      // retention removed them all; the interface says lastSeq + 1 for both.
      return { firstSeq: state.messages === 0 ? state.last_seq + 1 : state.first_seq, lastSeq: state.last_seq };
    });

  return {
    kind: 'nats',

    // Not through `guard`: its promise, closures and label per publish were a share of /score's
    // CPU on NATS (bench:serve); the publisher itself fails what waits when the connection drops.
    publish(subject, data, msgId) {
      const h = link.health();
      if (!h.connected) return Promise.reject(unavailable(`publishing on ${subject} failed: not connected to NATS (${h.detail})`, { hint: NOT_CONNECTED_HINT }));
      return publisher.publish(subject, data, msgId).then(undefined, async (e: unknown) => {
        // Nothing answered: a stream without a leader yet, JetStream down, or the stream deleted,
        // which only a look tells apart (and which only a restart mends: see `gone`).
        const stream = subject.startsWith('dlq.') ? DLQ_STREAM : EVENTS_STREAM;
        if (e instanceof JetStreamPublishError && e.failure === 'no_responders' && (await gone(stream))) {
          throw unavailable(`JetStream did not store a message on ${subject}: stream ${stream} does not exist (deleted?)`, {
            hint: `each oo-ml process creates it when it starts: restart one (oo-ml serve restarts rebuild online learning from the new stream); until then events wait in each replica's spill`,
            cause: e,
          });
        }
        throw unavailable(`JetStream did not store a message on ${subject}: ${messageOf(e)}`, { hint: NOT_CONNECTED_HINT, cause: e });
      });
    },

    async consumer({ name, ackWaitMs }) {
      const what = `opening consumer ${name} on ${EVENTS_STREAM}`;
      const durable = await link
        .guard(what, async () => {
          await ensureDurable(jsm, name, ackWaitMs);
          return js.consumers.get(EVENTS_STREAM, name);
        })
        .catch((e: unknown) => Promise.reject(asUnavailable(what, e)));
      const unacked = (): Promise<number> =>
        link
          .guard(`reading consumer ${name}'s state`, async () => (await jsm.consumers.info(EVENTS_STREAM, name)).num_ack_pending)
          .catch((e: unknown) => Promise.reject(asUnavailable(`reading consumer ${name}'s state`, e)));
      return pullConsumer(name, link, (max, expires) => durable.fetch({ max_messages: max, expires }), unacked);
    },

    async reader(startSeq) {
      const { firstSeq } = await extent();
      const what = `opening a reader of ${EVENTS_STREAM} at #${startSeq}`;
      const reader = new OrderedReader(readerJs, link, startSeq, startSeq <= firstSeq, () => readers.delete(reader));
      try {
        await link.guard(what, () => reader.open());
      } catch (e) {
        await reader.close();
        throw asUnavailable(what, e);
      }
      readers.add(reader);
      return reader;
    },

    extent,

    // JetStream takes publishes from any number of processes.
    claimWriter: () => Promise.resolve(),
    setupWarnings: () => setupWarnings,

    deadLetters: (last) =>
      link.guard(`reading the dead letters of ${DLQ_STREAM}`, async () => {
        const { state } = await jsm.streams.info(DLQ_STREAM);
        const held = state.messages;
        const messages: RawMessage[] = [];
        // Newest first, one request each (a listing asks for a few, `oo-ml dlq` at most
        // MAX_DEAD_LETTERS): a sequence retention or a purge removed answers null, a gap.
        for (let seq = state.last_seq; seq >= state.first_seq && seq > 0 && messages.length < Math.min(last, held); seq--) {
          const m = await jsm.streams.getMessage(DLQ_STREAM, { seq });
          if (m !== null) messages.push({ subject: m.subject, data: m.data, seq: m.seq });
        }
        return { held, messages: messages.reverse() };
      }),

    health: () => link.health(),
    onHealth: (listener) => link.onHealth(listener),

    async close() {
      for (const r of [...readers]) await r.close();
      publisher.close();
      await link.close();
      if (!nc.isClosed()) await nc.close();
    },
  };
}

/**
 * Makes sure both streams exist. A fresh cluster answers nothing (or "temporarily unavailable")
 * until it has a meta leader and its peers: such failures are retried for SETUP_RETRY_MS.
 */
async function setUpStreams(nc: NatsConnection, replicas: number, asked: boolean, warnings: string[]): Promise<JetStreamManager> {
  const deadline = Date.now() + SETUP_RETRY_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      const setup = await jetstreamManager(nc, { timeout: SETUP_API_TIMEOUT_MS });
      warnings.length = 0;
      for (const s of STREAMS) {
        const has = await ensureStream(setup, s, replicas);
        if (asked && has !== replicas) {
          warnings.push(`NATS_STREAM_REPLICAS is ${replicas} but JetStream stream ${s.name} exists with ${has} replica${has === 1 ? '' : 's'}: oo-ml never changes an existing stream (\`nats stream edit ${s.name} --replicas ${replicas}\`)`);
        }
      }
      return await jetstreamManager(nc, { checkAPI: false });
    } catch (e) {
      if (isOoMlError(e) || !notReadyYet(e) || Date.now() >= deadline) throw e;
      await sleep(Math.min(100 * 2 ** attempt, 1000));
    }
  }
}

/** The connection as the transport sees it: health, and failing fast while it is down. */
interface Link {
  health(): TransportHealth;
  onHealth(listener: (health: TransportHealth) => void): () => void;
  /** Resolves once connected (at once when connected now). */
  connected(): Promise<void>;
  /**
   * Runs `op` while connected: rejects at once with `unavailable` when disconnected, and when
   * the connection drops before `op` settles (nats.js would otherwise keep the request until its
   * timeout, or buffer it for after the reconnect).
   */
  guard<T>(what: string, op: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A promise with its resolve and reject (Promise.withResolvers arrives in Node 22). */
interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Follows `nc.status()` until the connection closes. */
function watchConnection(nc: NatsConnection): Link {
  let health: TransportHealth = { connected: true, since: Date.now(), detail: `connected to ${nc.getServer()}` };
  const listeners = new Set<(h: TransportHealth) => void>();
  /** Rejecters of the guarded operations in flight: a disconnect fails them all. */
  const inFlight = new Set<(reason: string) => void>();
  /** Resolved on reconnect; replaced on disconnect. */
  let back = deferred();
  back.resolve();

  const set = (connected: boolean, detail: string): void => {
    if (connected === health.connected) return;
    health = { connected, since: Date.now(), detail };
    if (connected) {
      back.resolve();
    } else {
      back = deferred();
      for (const drop of [...inFlight]) drop(detail);
      inFlight.clear();
    }
    for (const l of [...listeners]) l(health);
  };

  const status = nc.status();
  const loop = (async () => {
    for await (const s of status) {
      if (s.type === 'disconnect') set(false, `disconnected from ${s.server}`);
      else if (s.type === 'reconnect') set(true, `reconnected to ${s.server}`);
      else if (s.type === 'close') set(false, 'connection closed');
    }
  })();

  return {
    health: () => health,
    onHealth(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    connected: () => back.promise,
    guard<T>(what: string, op: () => Promise<T>): Promise<T> {
      if (!health.connected) {
        return Promise.reject(unavailable(`${what} failed: not connected to NATS (${health.detail})`, { hint: NOT_CONNECTED_HINT }));
      }
      return new Promise<T>((resolve, reject) => {
        const drop = (reason: string): void => {
          reject(unavailable(`${what} failed: the NATS connection dropped (${reason})`, { hint: NOT_CONNECTED_HINT }));
        };
        inFlight.add(drop);
        let running: Promise<T>;
        try {
          running = op();
        } catch (e) {
          running = Promise.reject(e);
        }
        // Once dropped, the operation's own outcome (usually nats.js's timeout) is ignored.
        running.then(resolve, reject).finally(() => inFlight.delete(drop));
      });
    },
    async close() {
      // The status iterator is a nats.js QueuedIterator; its type only says AsyncIterable.
      (status as { stop?: () => void }).stop?.();
      set(false, 'transport closed');
      listeners.clear();
      await loop;
    },
  };
}

/** A message of a pull consumer: one object per message until its ack (no ack closure beside it). */
class NatsDelivery implements RawDelivery {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly seq: number;
  readonly deliveryCount: number;
  constructor(
    private readonly m: JsMsg,
    private readonly owner: { ack(m: JsMsg): Promise<void> },
  ) {
    this.subject = m.subject;
    this.data = m.data;
    // Read off the reply subject (nats.js's JsMsg has it, outside its typed interface); nats.js's
    // full parse is the fallback (jetstream-delivery.ts).
    const reply = (m as { reply?: unknown }).reply;
    const numbers = typeof reply === 'string' ? deliveryNumbersOf(reply) : null;
    this.seq = numbers?.seq ?? m.seq;
    this.deliveryCount = numbers?.deliveryCount ?? m.info.deliveryCount;
  }

  ack(): Promise<void> {
    return this.owner.ack(this.m);
  }
}

/** A raw durable consumer over a fetch function. */
function pullConsumer(
  name: string,
  link: Link,
  fetch: (max: number, expiresMs: number) => Promise<ConsumerMessages>,
  unacked: () => Promise<number>,
): RawConsumer {
  let closed = false;
  let current: ConsumerMessages | null = null;
  // Acks of one tick are sent together: all but the last without waiting, the last with
  // ackAck. The server handles one connection's messages in order, so its confirmation of the
  // last means it recorded them all; every ack of the tick resolves (or fails) with it: one
  // round trip and one promise per batch instead of one per message (ingest on NATS: bench:replicas).
  let tick: { messages: JsMsg[]; done: Promise<void> } | null = null;
  const flush = (messages: JsMsg[]): Promise<void> => {
    const last = messages.at(-1)!;
    return link
      .guard(`acking ${messages.length} messages up to ${last.subject} #${last.seq} (consumer ${name})`, () => {
        for (let i = 0; i < messages.length - 1; i++) messages[i]!.ack();
        // ackAck waits for the server to confirm, so "acked" means the server recorded it.
        return last.ackAck();
      })
      .then(
        () => undefined,
        (e: unknown) => {
          throw unavailable(`JetStream did not confirm the acks of ${messages.length} messages up to ${last.subject} #${last.seq} (consumer ${name}): ${messageOf(e)}`, {
            hint: 'the messages will be redelivered after the ack wait; the ingest skips events already in the log',
            cause: e,
          });
        },
      );
  };
  const ack = (m: JsMsg): Promise<void> => {
    if (tick === null) {
      const messages: JsMsg[] = [];
      const done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        tick = null;
        return flush(messages);
      });
      // Each ack's caller awaits it; this keeps a tick nobody awaits from being unhandled.
      done.catch(() => undefined);
      tick = { messages, done };
    }
    tick.messages.push(m);
    return tick.done;
  };
  const owner = { ack };
  const toDelivery = (m: JsMsg): RawDelivery => new NatsDelivery(m, owner);
  return {
    async fetch(max, maxWaitMs) {
      if (closed) throw unavailable(`consumer ${name} is closed`);
      try {
        return await link.guard(`fetching from consumer ${name}`, async () => {
          const out: RawDelivery[] = [];
          current = await fetch(max, Math.max(MIN_PULL_EXPIRES_MS, maxWaitMs));
          for await (const m of current) out.push(toDelivery(m));
          return out;
        });
      } catch (e) {
        // A fetch cut short by a disconnect: what it got is redelivered after the ack wait.
        current?.stop();
        if (isOoMlError(e)) throw e;
        throw unavailable(`fetching from JetStream consumer ${name} failed: ${messageOf(e)}`, { cause: e });
      } finally {
        current = null;
      }
    },
    unacked,
    async close() {
      closed = true;
      await current?.close();
    },
  };
}

/**
 * An ordered reader: an ordered consumer consumed continuously into a buffer that `next` drains.
 * `lastSeq` is the last message put in the buffer; when the consumer stops (see `watch` and
 * `checkStall`), `pump` creates the next one from `lastSeq + 1`: no gap, and `seq <= lastSeq`
 * drops any repeat.
 */
class OrderedReader implements RawReader {
  private readonly buffer: RawMessage[] = [];
  private head = 0;
  private lastSeq: number;
  private closed = false;
  private readonly closing = deferred();
  private messages: ConsumerMessages | null = null;
  private deleteConsumer: (() => Promise<unknown>) | null = null;
  /**
   * What an idle `next` waits for, resolved by the next arrival or by close; made only while one
   * waits (a promise per message was most of the reader's own garbage).
   */
  private arrival: Deferred<void> | null = null;
  /** Resolved when `next` takes messages from a buffer above the high-water mark. */
  private room: Deferred<void> | null = null;
  private pumping: Promise<void> = Promise.resolve();
  /** When the current consumer last showed life (a message or any notification). */
  private lastSign = Date.now();
  private stallCheck: NodeJS.Timeout | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly link: Link,
    startSeq: number,
    private fromTheStart: boolean,
    private readonly onClose: () => void,
  ) {
    this.lastSeq = startSeq - 1;
  }

  /** Creates the first consumer (its failure is the caller's), then feeds the buffer. */
  async open(): Promise<void> {
    const messages = await this.subscribe();
    this.pumping = this.pump(messages);
    this.stallCheck = setInterval(() => this.checkStall(), READER_STALL_CHECK_MS);
    this.stallCheck.unref();
  }

  async next(max: number, maxWaitMs: number): Promise<RawMessage[]> {
    if (this.closed) throw unavailable(`the reader of ${EVENTS_STREAM} is closed`);
    if (this.buffered() === 0 && maxWaitMs > 0) await sleepUnless(maxWaitMs, (this.arrival ??= deferred()).promise);
    const out = this.buffer.slice(this.head, this.head + max);
    this.head += out.length;
    if (this.head === this.buffer.length) {
      this.buffer.length = 0;
      this.head = 0;
    } else if (this.head >= READER_HIGH_WATER) {
      this.buffer.splice(0, this.head);
      this.head = 0;
    }
    if (this.room !== null && this.buffered() < READER_HIGH_WATER) {
      this.room.resolve();
      this.room = null;
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.stallCheck);
    this.onClose();
    this.closing.resolve();
    this.arrival?.resolve();
    this.room?.resolve();
    this.messages?.stop();
    await this.pumping;
    await this.dropConsumer();
  }

  private buffered(): number {
    return this.buffer.length - this.head;
  }

  /** An ordered consumer from `lastSeq + 1` (or the whole stream), consuming. */
  private async subscribe(): Promise<ConsumerMessages> {
    const opts: Partial<OrderedConsumerOptions> = this.fromTheStart
      ? { deliver_policy: DeliverPolicy.All }
      : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.lastSeq + 1 };
    const consumer = await this.js.consumers.get(EVENTS_STREAM, opts);
    this.deleteConsumer = () => consumer.delete();
    const messages = await consumer.consume({ max_messages: READER_PULL_BATCH, expires: READER_PULL_EXPIRES_MS, idle_heartbeat: READER_HEARTBEAT_MS });
    this.messages = messages;
    // Closed while this was being created: the pump sees an iterator that ends at once.
    if (this.closed) messages.stop();
    return messages;
  }

  /** Moves messages into the buffer; when the consumer stops, recreates it after `lastSeq`. */
  private async pump(first: ConsumerMessages): Promise<void> {
    let messages: ConsumerMessages | null = first;
    let retryMs = READER_RETRY_MIN_MS;
    while (!this.closed) {
      try {
        messages ??= await this.link.guard(`reopening a reader of ${EVENTS_STREAM} at #${this.lastSeq + 1}`, () => this.subscribe());
        this.watch(messages);
        // nats.js's ordered consumer has parsed each message's info (its gap check reads it),
        // so `m.seq` is a field read here.
        for await (const m of messages) {
          if (m.seq <= this.lastSeq) continue;
          this.buffer.push({ subject: m.subject, data: m.data, seq: m.seq });
          this.lastSeq = m.seq;
          this.lastSign = Date.now();
          // From now on the reader resumes after lastSeq, even when it started with DeliverPolicy.All.
          this.fromTheStart = false;
          retryMs = READER_RETRY_MIN_MS;
          if (this.arrival !== null) {
            this.arrival.resolve();
            this.arrival = null;
          }
          // Stop iterating (and so pulling: nats.js sends the next pull from the iterator) while
          // the caller is this far behind.
          if (this.buffered() >= READER_HIGH_WATER && !this.closed) {
            this.room = deferred();
            await this.room.promise;
          }
          if (this.closed) break;
        }
      } catch {
        // The consumer could not be created, or stopped with an error: recreate it below.
      }
      // On close, close() deletes the consumer.
      if (this.closed) break;
      // Not awaited: a stalled consumer's node may be gone, and its delete would only time out.
      void this.dropConsumer();
      messages = null;
      // Recreating needs the server: wait for the connection, then back off a little.
      await Promise.race([this.link.connected(), this.closing.promise]);
      await sleepUnless(retryMs, this.closing.promise);
      retryMs = Math.min(2 * retryMs, READER_RETRY_MAX_MS);
    }
  }

  /**
   * Records every notification of `messages` (heartbeats, pull expiries…) as a sign of life; and
   * takes over when nats.js recreated the consumer: its recreated consumer receives nothing until
   * its missed-heartbeat check pulls again (nats.js 3.4 keeps the old pull's pending count, so
   * its first pull asks for nothing), so `pump` recreates it at once instead.
   */
  private watch(messages: ConsumerMessages): void {
    this.lastSign = Date.now();
    void (async () => {
      for await (const n of messages.status()) {
        this.lastSign = Date.now();
        if (n.type === 'ordered_consumer_recreated') messages.stop();
      }
    })();
  }

  /**
   * Stops the current consumer when it showed no life for READER_STALL_MS while it should have:
   * connected, and not paused at the high-water mark (no pull, so no heartbeats). `pump` then
   * recreates it.
   */
  private checkStall(): void {
    const now = Date.now();
    if (this.messages === null || this.room !== null || !this.link.health().connected) {
      this.lastSign = now;
    } else if (now - this.lastSign > READER_STALL_MS) {
      this.lastSign = now;
      this.messages.stop();
    }
  }

  /** Stops and deletes the current consumer (nothing is left on the server after a close). */
  private async dropConsumer(): Promise<void> {
    this.messages?.stop();
    this.messages = null;
    const del = this.deleteConsumer;
    this.deleteConsumer = null;
    // When disconnected the server removes it by itself after its inactive threshold (5 min).
    if (del !== null && this.link.health().connected) await this.link.guard('deleting a reader', del).catch(() => undefined);
  }
}

/** Creates stream `want` when missing (with `replicas`); an existing one must capture the same subjects. Resolves with the stream's replicas. */
async function ensureStream(jsm: JetStreamManager, want: (typeof STREAMS)[number], replicas: number): Promise<number> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const info = await jsm.streams.info(want.name);
      const have = new Set(info.config.subjects ?? []);
      const missing = (want.subjects ?? []).filter((s) => !have.has(s));
      if (missing.length > 0) {
        throw conflict(`JetStream stream ${want.name} exists but does not capture ${missing.join(', ')}`, {
          hint: `add those subjects to the stream or delete it (\`nats stream rm ${want.name}\`) so oo-ml recreates it`,
          details: { stream: want.name, subjects: info.config.subjects },
        });
      }
      // An existing stream keeps its replica count: changing it is an operator's decision
      // (`nats stream edit --replicas`), never a side effect of a client starting.
      return info.config.num_replicas;
    } catch (e) {
      if (apiCode(e) !== STREAM_NOT_FOUND) throw e;
    }
    try {
      await jsm.streams.add({
        ...want,
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        duplicate_window: nanos(DUPLICATE_WINDOW_MS),
        num_replicas: replicas,
      });
      return replicas;
    } catch (e) {
      const code = apiCode(e);
      // Another process created it between our info and add: look again.
      if (code === STREAM_NAME_IN_USE) continue;
      if (code === STREAM_SUBJECT_OVERLAP) {
        throw conflict(`JetStream stream ${want.name} cannot be created: another stream already captures ${want.subjects?.join(', ')}`, {
          hint: 'remove those subjects from the other stream; oo-ml needs its own streams',
          cause: e,
        });
      }
      throw e;
    }
  }
  // Created by another process between our look and our add, then gone again by our second look.
  throw unavailable(`JetStream stream ${want.name} was created and removed again while oo-ml set it up`, { hint: 'is another tool deleting it? try again' });
}

/**
 * Creates the durable pull consumer `name` on the events stream, or brings an existing one to
 * our ack wait and delivery bound (both updatable in place).
 */
async function ensureDurable(jsm: JetStreamManager, name: string, ackWaitMs: number): Promise<void> {
  const want: Partial<ConsumerConfig> = {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ackWaitMs),
    max_deliver: MAX_DELIVERIES + 1,
    // Above this many unacked messages JetStream stops delivering; it bounds a batch (see MAX_BATCH).
    max_ack_pending: MAX_ACK_PENDING,
    description: 'oo-ml event consumer',
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const info = await jsm.consumers.info(EVENTS_STREAM, name);
      const c = info.config;
      // Anything that would hide events from it: a filter, a start after the first message,
      // payloads left out (headers only), push delivery, acks other than one per message.
      const unfit =
        c.ack_policy !== AckPolicy.Explicit ||
        (c.filter_subject ?? '') !== '' ||
        (c.filter_subjects ?? []).length > 0 ||
        c.deliver_subject !== undefined ||
        c.headers_only === true ||
        c.deliver_policy !== DeliverPolicy.All;
      if (unfit) {
        throw conflict(`JetStream consumer ${name} on ${EVENTS_STREAM} is not an unfiltered pull consumer of every message, with payloads and explicit acks`, {
          hint: `delete it (\`nats consumer rm ${EVENTS_STREAM} ${name}\`) or use another consumer name`,
          details: { consumer: name, config: c },
        });
      }
      if (c.ack_wait !== want.ack_wait || c.max_deliver !== want.max_deliver || c.max_ack_pending !== want.max_ack_pending) {
        await jsm.consumers.update(EVENTS_STREAM, name, {
          ack_wait: want.ack_wait,
          max_deliver: want.max_deliver,
          max_ack_pending: want.max_ack_pending,
        });
      }
      return;
    } catch (e) {
      if (apiCode(e) !== CONSUMER_NOT_FOUND) throw e;
    }
    try {
      await jsm.consumers.add(EVENTS_STREAM, want);
      return;
    } catch (e) {
      // Another process created it between our info and add: look again.
      if (CONSUMER_ALREADY_EXISTS.includes(apiCode(e) ?? -1)) continue;
      throw e;
    }
  }
}
