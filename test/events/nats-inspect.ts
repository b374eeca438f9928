/**
 * Looking at a test JetStream server from outside the bus: what the DLQ stream holds, what a
 * stream or consumer is configured as, and raw publishes (bytes other publishers might send).
 */
import { jetstream, jetstreamManager, type ConsumerInfo, type StreamInfo } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DLQ_STREAM, EVENTS_STREAM } from '../../src/events/nats-transport.js';
import type { StoredDeadLetter } from './event-bus.contract.js';

async function withConnection<T>(url: string, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: url });
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

/** Every message of the DLQ stream, in stream order, JSON-decoded. */
export function readNatsDlq(url: string): Promise<StoredDeadLetter[]> {
  return withConnection(url, async (nc) => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(DLQ_STREAM);
    const out: StoredDeadLetter[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(DLQ_STREAM, { seq });
      if (m !== null) out.push({ subject: m.subject, envelope: m.json() });
    }
    return out;
  });
}

/** Stream info of the events and DLQ streams. */
export function natsStreams(url: string): Promise<{ events: StreamInfo; dlq: StreamInfo }> {
  return withConnection(url, async (nc) => {
    const jsm = await jetstreamManager(nc);
    return { events: await jsm.streams.info(EVENTS_STREAM), dlq: await jsm.streams.info(DLQ_STREAM) };
  });
}

/** Info of a durable consumer on the events stream. */
export function natsConsumer(url: string, name: string): Promise<ConsumerInfo> {
  return withConnection(url, async (nc) => (await jetstreamManager(nc)).consumers.info(EVENTS_STREAM, name));
}

/** Publishes raw bytes through JetStream (no validation), optionally with a message id. */
export function publishRawNats(url: string, subject: string, data: Uint8Array | string, msgId?: string): Promise<void> {
  return withConnection(url, async (nc) => {
    await jetstream(nc).publish(subject, data, msgId === undefined ? undefined : { msgID: msgId });
  });
}

/** Deletes the message at `seq` of `stream` (a gap, as retention or a purge leaves). */
export function deleteNatsMessage(url: string, stream: string, seq: number): Promise<void> {
  return withConnection(url, async (nc) => {
    await (await jetstreamManager(nc)).streams.deleteMessage(stream, seq);
  });
}
