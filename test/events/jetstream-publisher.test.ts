/** JetStream publishes with their acks on one subscription, against a real nats-server. */
import { DiscardPolicy, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createJetStreamPublisher, JetStreamPublishError } from '../../src/events/jetstream-publisher.js';
import { readPubAck } from '../../src/events/pub-ack.js';
import { startNatsServer, type NatsTestServer } from '../../fixtures/nats-server.js';

let server: NatsTestServer;
let nc: NatsConnection;
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'PUB', subjects: ['pub.>'], storage: StorageType.Memory });
  await jsm.streams.add({ name: 'ACK', subjects: ['ack.>'], storage: StorageType.Memory });
  await jsm.streams.add({ name: 'ONE', subjects: ['one.>'], storage: StorageType.Memory, max_msgs: 1, discard: DiscardPolicy.New });
}, 30_000);

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/** The failure a publish was rejected with. */
async function failureOf(p: Promise<unknown>): Promise<string> {
  const e: unknown = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(JetStreamPublishError);
  return `${(e as JetStreamPublishError).failure}: ${(e as Error).message}`;
}

describe('JetStream publisher', () => {
  afterEach(() => vi.restoreAllMocks());

  it("reads this server's PubAcks, a first copy and a duplicate, from their bytes without JSON.parse", async () => {
    const answers: Uint8Array[] = [];
    for (const id of ['ack-1', 'ack-1']) {
      const h = headers();
      h.set('Nats-Msg-Id', id);
      answers.push((await nc.request('ack.a', bytes('x'), { timeout: 2000, headers: h })).data);
    }
    const parse = vi.spyOn(JSON, 'parse');
    const [first, again] = answers.map((a) => readPubAck(a));
    expect(parse).not.toHaveBeenCalled();
    expect(first).toMatchObject({ ok: true, duplicate: false });
    expect(again).toEqual({ ok: true, seq: first!.ok ? first!.seq : -1, duplicate: true });
  });

  it('stores messages in order and answers a repeated Nats-Msg-Id as a duplicate of the first', async () => {
    const p = createJetStreamPublisher(nc, 2000);
    const acks = await Promise.all(Array.from({ length: 500 }, (_, i) => p.publish('pub.a', bytes(`m${i}`), `id-${i}`)));
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(acks.every((a) => !a.duplicate)).toBe(true);
    expect(await p.publish('pub.a', bytes('again'), 'id-7')).toEqual({ seq: 8, duplicate: true });
    p.close();
  });

  it('stores each message with its id in the Nats-Msg-Id header, as nats.js reads it back', async () => {
    const p = createJetStreamPublisher(nc, 2000);
    const jsm = await jetstreamManager(nc);
    for (const id of ['plain-1', ' padded ', 'ünïcödé-✓']) {
      const { seq } = await p.publish('pub.h', bytes(id), id);
      const stored = await jsm.streams.getMessage('PUB', { seq });
      expect(stored?.header.get('Nats-Msg-Id')).toBe(id.trim());
      expect(new TextDecoder().decode(stored?.data)).toBe(id);
    }
    p.close();
  });

  it('names each way a publish can fail: no stream, a refusal, no answer, and a closed publisher', async () => {
    const p = createJetStreamPublisher(nc, 300);
    // No stream captures the subject: the server answers "no responders".
    expect(await failureOf(p.publish('nobody.here', bytes('x'), 'n1'))).toMatch(/^no_responders: no JetStream server answered/);
    // The stream is full and discards new messages: JetStream's API error, with its description.
    await p.publish('one.a', bytes('first'), 'o1');
    expect(await failureOf(p.publish('one.a', bytes('second'), 'o2'))).toMatch(/^refused: JetStream refused the message: .*maximum messages/);
    // Someone listens but never answers: the ack times out.
    const silent = nc.subscribe('silent.a');
    expect(await failureOf(p.publish('silent.a', bytes('x'), 's1'))).toBe('timeout: no ack within 300 ms');
    silent.unsubscribe();
    // A dropped connection fails what waits for its ack at once; later publishes go on.
    const waiting = p.publish('silent.a', bytes('x'), 's3');
    p.failPending('the NATS connection dropped (test)');
    expect(await failureOf(waiting)).toBe('dropped: the NATS connection dropped (test)');
    expect((await p.publish('pub.a', bytes('after'), 'after-drop')).duplicate).toBe(false);
    // What waits when the publisher closes fails; later publishes fail at once.
    const quiet = nc.subscribe('silent.b');
    const pending = p.publish('silent.b', bytes('x'), 's2');
    p.close();
    expect(await failureOf(pending)).toBe('closed: the publisher is closed');
    expect(await failureOf(p.publish('pub.a', bytes('x'), 'late'))).toBe('closed: the publisher is closed');
    quiet.unsubscribe();
  });

  it('sends publishes made in separate callbacks in the order they were made, and never sends one that failed before it left', async () => {
    const jsm = await jetstreamManager(nc);
    const p = createJetStreamPublisher(nc, 2000);
    // Each from a callback of its own, as a server publishes from each request's I/O callback.
    const acks = await Promise.all(
      Array.from({ length: 300 }, (_, i) => new Promise<{ seq: number }>((resolve, reject) => setImmediate(() => p.publish('pub.order', bytes(`o${i}`), `order-${i}`).then(resolve, reject)))),
    );
    const seqs = acks.map((a) => a.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(300);
    const stored = async (): Promise<number> => (await jsm.streams.info('PUB')).state.messages;
    const before = await stored();
    // Closed in the same turn as the publish: it fails, and what was queued is not sent.
    const queued = p.publish('pub.order', bytes('late'), 'order-late');
    p.close();
    expect(await failureOf(queued)).toBe('closed: the publisher is closed');
    await new Promise((resolve) => setImmediate(resolve));
    await nc.flush();
    expect(await stored()).toBe(before);
  });
});
