/**
 * The NATS JetStream transport (`NATS_URL=nats://…`). Two streams, created when missing:
 *
 *   OO_ML_EVENTS   signals.>, feedback.>   file storage, 7 days, 2-minute duplicate window
 *   OO_ML_DLQ      dlq.>                   file storage, 30 days
 *
 * Publishes wait for the JetStream ack and carry `Nats-Msg-Id` (event_id, or `dlq:<subject>:<seq>`
 * for envelopes), so a retried publish within the stream's duplicate window is stored once
 * (the PubAck says `duplicate`). Durable consumers are pull consumers with explicit acks,
 * `ack_wait` from the caller and `max_deliver` = MAX_DELIVERIES + 1: the extra delivery is where
 * event-bus.ts dead-letters the message with reason `redelivery_limit`, so the server bound is
 * only a backstop and nothing stalls silently at JetStream's limit. Replay uses an ordered
 * consumer (no acks, nothing kept on the server).
 *
 * Server compatibility: the consumer is created or updated through consumer info/update rather
 * than relying on create-action semantics, which changed in nats-server 2.10 (2.9 silently
 * updates an existing durable on create, 2.10+ refuses a differing config with "consumer
 * already exists"). No 2.10+ features (multiple filter subjects, …) are used.
 */
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
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { conflict, isOoMlError, unavailable } from '../errors.js';
import { DLQ_SUBJECT_WILDCARD, EVENT_SUBJECT_WILDCARDS } from './subjects.js';
import { MAX_BATCH, MAX_DELIVERIES, type RawConsumer, type RawDelivery, type Transport } from './transport.js';

/** The stream of event subjects. */
export const EVENTS_STREAM = 'OO_ML_EVENTS';
/** The stream of dead-letter subjects. */
export const DLQ_STREAM = 'OO_ML_DLQ';

const DAY_MS = 24 * 60 * 60 * 1000;
/** JetStream's own default, stated so the guarantee in the README does not drift. */
const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;
/** JetStream pull requests expire after at least 1 s (nats.js rejects shorter `expires`). */
const MIN_PULL_EXPIRES_MS = 1000;

/** Room for two full batches in flight (one being written, one redelivered after an ack timeout). */
const MAX_ACK_PENDING = 2 * MAX_BATCH;

// API error codes (nats-server errors.json).
const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;
const STREAM_SUBJECT_OVERLAP = 10065;
const CONSUMER_NOT_FOUND = 10014;
const CONSUMER_ALREADY_EXISTS = [10013, 10105, 10148];

/** The streams oo-ml needs: name, subjects, retention. */
const STREAMS: readonly Pick<StreamConfig, 'name' | 'subjects' | 'max_age' | 'description'>[] = [
  { name: EVENTS_STREAM, subjects: [...EVENT_SUBJECT_WILDCARDS], max_age: nanos(7 * DAY_MS), description: 'oo-ml signals and feedback' },
  { name: DLQ_STREAM, subjects: [DLQ_SUBJECT_WILDCARD], max_age: nanos(30 * DAY_MS), description: 'oo-ml dead letters' },
];

const apiCode = (e: unknown): number | undefined => (e instanceof JetStreamApiError ? e.code : undefined);
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Connects to `url`, makes sure both streams exist, and returns the transport. */
export async function createNatsTransport(url: string): Promise<Transport> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: url.split(',').map((s) => s.trim()), name: 'oo-ml' });
  } catch (e) {
    throw unavailable(`cannot connect to NATS at ${url}: ${messageOf(e)}`, {
      hint: 'start `nats-server -js` there, or unset NATS_URL to use the embedded bus',
      cause: e,
    });
  }
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
    for (const s of STREAMS) await ensureStream(jsm, s);
  } catch (e) {
    await nc.close();
    if (isOoMlError(e)) throw e;
    throw unavailable(`JetStream at ${url} is not usable: ${messageOf(e)}`, {
      hint: 'run nats-server with JetStream enabled (`nats-server -js`)',
      cause: e,
    });
  }
  const js = jetstream(nc);

  return {
    kind: 'nats',
    async publish(subject, data, msgId) {
      try {
        const ack = await js.publish(subject, data, { msgID: msgId });
        return { duplicate: ack.duplicate };
      } catch (e) {
        throw unavailable(`JetStream did not store a message on ${subject}: ${messageOf(e)}`, { cause: e });
      }
    },

    async consumer({ name, mode, ackWaitMs }) {
      if (mode === 'replay') {
        const ordered = await js.consumers.get(EVENTS_STREAM, { deliver_policy: DeliverPolicy.All });
        return pullConsumer(name, (max, expires) => ordered.fetch({ max_messages: max, expires }), false);
      }
      await ensureDurable(jsm, name, ackWaitMs);
      const durable = await js.consumers.get(EVENTS_STREAM, name);
      return pullConsumer(name, (max, expires) => durable.fetch({ max_messages: max, expires }), true);
    },

    async close() {
      if (!nc.isClosed()) await nc.close();
    },
  };
}

/** A raw consumer over a fetch function; `acks` false for ordered (replay) consumers. */
function pullConsumer(
  name: string,
  fetch: (max: number, expiresMs: number) => Promise<ConsumerMessages>,
  acks: boolean,
): RawConsumer {
  let closed = false;
  let current: ConsumerMessages | null = null;
  const toDelivery = (m: JsMsg): RawDelivery => ({
    subject: m.subject,
    data: m.data,
    seq: m.seq,
    deliveryCount: m.info.deliveryCount,
    ack: async () => {
      if (!acks) return;
      try {
        // ackAck waits for the server to confirm, so "acked" means the server recorded it.
        await m.ackAck();
      } catch (e) {
        throw unavailable(`JetStream did not confirm the ack of ${m.subject} #${m.seq} (consumer ${name}): ${messageOf(e)}`, {
          hint: 'the message will be redelivered after the ack wait; the ingest skips events already in the log',
          cause: e,
        });
      }
    },
  });
  return {
    async fetch(max, maxWaitMs) {
      if (closed) throw unavailable(`consumer ${name} is closed`);
      const out: RawDelivery[] = [];
      try {
        current = await fetch(max, Math.max(MIN_PULL_EXPIRES_MS, maxWaitMs));
        for await (const m of current) out.push(toDelivery(m));
      } catch (e) {
        throw unavailable(`fetching from JetStream consumer ${name} failed: ${messageOf(e)}`, { cause: e });
      } finally {
        current = null;
      }
      return out;
    },
    async close() {
      closed = true;
      await current?.close();
    },
  };
}

/** Creates stream `want` when missing; an existing one must capture the same subjects. */
async function ensureStream(jsm: JetStreamManager, want: (typeof STREAMS)[number]): Promise<void> {
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
      return;
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
      });
      return;
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
      if (c.ack_policy !== AckPolicy.Explicit || (c.filter_subject ?? '') !== '' || c.deliver_subject !== undefined) {
        throw conflict(`JetStream consumer ${name} on ${EVENTS_STREAM} is not an unfiltered pull consumer with explicit acks`, {
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
