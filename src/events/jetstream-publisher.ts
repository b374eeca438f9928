/**
 * JetStream publishes whose acks come back on one subscription of this connection. nats.js's
 * `js.publish` is a request per message: a reply subscription entry, a timer, and a
 * `RequestError` and a `TimeoutError` built in advance, whatever the outcome. Here each publish
 * is a core publish with a reply subject under one inbox (`<inbox>.<n>`, `Nats-Msg-Id` in its
 * headers as nats.js sets it, encoded by msg-id-headers.ts), its ack is matched by `n`, and one interval timer expires the
 * acks that did not come: a third of the client CPU per publish (bench:nats-publish).
 *
 * What a publish can answer, as JetStream and nats.js define it: a PubAck (`{"stream","seq",
 * "duplicate"}`); a JetStream API error (`{"error":{"description"}}`, e.g. no stream captures the
 * subject); a 503 status with no body when nothing subscribes to the subject (no responders: the
 * stream has no leader yet, JetStream is down, or the stream was deleted); or nothing within the timeout.
 *
 * The publishes of one event-loop turn go out together, from one `setImmediate`: nats.js flushes
 * its outbound buffer in a microtask, and Node runs microtasks after every I/O callback, so a
 * server publishing from each HTTP request wrote one socket write(2) per message — the largest
 * single cost of `/score` on NATS in a CPU profile (bench:serve). Order is kept: one queue, sent
 * in order, on one connection.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { MsgIdHeaders } from './msg-id-headers.js';
import { readPubAck } from './pub-ack.js';

/** What JetStream answered for a stored (or de-duplicated) message. */
export interface PubAck {
  seq: number;
  duplicate: boolean;
}

/** Why a publish was not acknowledged. */
export type PublishFailure = 'timeout' | 'no_responders' | 'refused' | 'closed' | 'dropped';

/** A publish JetStream did not acknowledge. */
export class JetStreamPublishError extends Error {
  constructor(
    readonly failure: PublishFailure,
    message: string,
  ) {
    super(message);
    this.name = 'JetStreamPublishError';
  }
}

/** Publishes to JetStream over one connection. */
export interface JetStreamPublisher {
  /** Stores `data` on `subject`; `msgId` de-duplicates within the stream's duplicate window. */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<PubAck>;
  /** Fails what is waiting for its ack now (the connection dropped: nats.js would hold it until the timeout); later publishes go on. */
  failPending(why: string): void;
  /** Fails what is still waiting and stops listening. */
  close(): void;
}

interface Waiting {
  resolve(ack: PubAck): void;
  reject(e: Error): void;
  deadline: number;
  /** Its reply token, and what to send. */
  token: string;
  subject: string;
  data: Uint8Array;
  msgId: string;
}

/** A publisher over `nc` whose publishes fail after `timeoutMs` without an ack. */
export function createJetStreamPublisher(nc: NatsConnection, timeoutMs: number): JetStreamPublisher {
  const prefix = createInbox();
  /** Waiting publishes by reply token, oldest first (one timeout for all: deadlines only grow). */
  const waiting = new Map<string, Waiting>();
  let next = 0;
  let closed = false;
  /** Publishes of this turn, not sent yet. */
  let queued: Waiting[] = [];

  const send = (): void => {
    const batch = queued;
    queued = [];
    for (const w of batch) {
      // Failed meanwhile (closed, or expired): nothing to send.
      if (waiting.get(w.token) !== w) continue;
      try {
        nc.publish(w.subject, w.data, { reply: `${prefix}.${w.token}`, headers: new MsgIdHeaders(w.msgId) });
      } catch (e) {
        waiting.delete(w.token);
        w.reject(e instanceof Error ? e : new Error(String(e)));
      }
    }
  };

  const answer = (m: Msg): void => {
    const token = m.subject.slice(prefix.length + 1);
    const w = waiting.get(token);
    if (w === undefined) return; // expired meanwhile
    waiting.delete(token);
    if (m.headers?.code === 503) {
      w.reject(new JetStreamPublishError('no_responders', 'no JetStream server answered (the stream has no leader yet, JetStream is down, or the stream was deleted)'));
      return;
    }
    const ack = readPubAck(m.data);
    if (ack.ok) w.resolve({ seq: ack.seq, duplicate: ack.duplicate });
    else w.reject(new JetStreamPublishError('refused', ack.refusal));
  };
  const sub: Subscription = nc.subscribe(`${prefix}.*`, {
    callback: (err, m) => {
      if (err !== null) {
        failAll(`the ack subscription failed: ${err.message}`, 'refused');
        return;
      }
      answer(m);
    },
  });

  const failAll = (why: string, failure: PublishFailure): void => {
    for (const w of waiting.values()) w.reject(new JetStreamPublishError(failure, why));
    waiting.clear();
  };

  const expiry = setInterval(
    () => {
      const now = performance.now();
      for (const [token, w] of waiting) {
        if (w.deadline > now) break;
        waiting.delete(token);
        w.reject(new JetStreamPublishError('timeout', `no ack within ${timeoutMs} ms`));
      }
    },
    Math.max(10, Math.min(250, timeoutMs / 4)),
  );
  expiry.unref();

  return {
    publish(subject, data, msgId) {
      if (closed) return Promise.reject(new JetStreamPublishError('closed', 'the publisher is closed'));
      const token = (next++).toString(36);
      return new Promise<PubAck>((resolve, reject) => {
        const w: Waiting = { resolve, reject, deadline: performance.now() + timeoutMs, token, subject, data, msgId };
        waiting.set(token, w);
        if (queued.push(w) === 1) setImmediate(send);
      });
    },
    failPending(why) {
      failAll(why, 'dropped');
    },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(expiry);
      failAll('the publisher is closed', 'closed');
      sub.unsubscribe();
    },
  };
}
