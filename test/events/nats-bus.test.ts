/**
 * The EventBus contract on NATS JetStream (a real nats-server -js on a free loopback port, one per
 * test), plus what only JetStream has: stream and consumer configuration, idempotent setup,
 * conflicts with foreign streams, unreachable servers; outages (the server SIGKILLed and
 * restarted on its port and store); and a 3-node cluster with R3 streams losing a node.
 */
import { jetstreamManager, type ConsumerInfo, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { isOoMlError } from '../../src/errors.js';
import { createEventBus, createEventBusOver } from '../../src/events/event-bus.js';
import { DLQ_STREAM, EVENTS_STREAM, createNatsTransport } from '../../src/events/nats-transport.js';
import { MAX_BATCH, MAX_DELIVERIES, type RawMessage, type RawReader, type Transport, type TransportHealth } from '../../src/events/transport.js';
import { startNatsCluster, type NatsClusterNode, type NatsTestCluster } from '../helpers/nats-cluster.js';
import { startNatsServer, type NatsTestServer } from '../../fixtures/nats-server.js';
import { expectCode, readN, runEventBusContract } from './event-bus.contract.js';
import { served } from '../helpers/events.js';
import { deleteNatsMessage, natsConsumer, natsStreams, readNatsDlq } from './nats-inspect.js';

runEventBusContract('NATS JetStream', async () => {
  const server = await startNatsServer();
  let transport = await createNatsTransport(server.url);
  let bus = createEventBusOver(transport);
  return {
    get bus() {
      return bus;
    },
    get transport() {
      return transport;
    },
    readDlq: () => readNatsDlq(server.url),
    async reopen() {
      await bus.close();
      transport = await createNatsTransport(server.url);
      bus = createEventBusOver(transport);
      return { bus, transport };
    },
    async close() {
      await bus.close();
      await server.stop();
    },
  };
});

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (m: RawMessage): string => new TextDecoder().decode(m.data);

/** Reads from `r` until `n` messages came (the test times out if they never do). */
async function readRaw(r: RawReader, n: number): Promise<RawMessage[]> {
  const out: RawMessage[] = [];
  while (out.length < n) out.push(...(await r.next(n - out.length, 1000)));
  return out;
}

/** Reads from `r` until the message of seq `last` came; everything read, in order. */
async function readThrough(r: RawReader, last: number): Promise<RawMessage[]> {
  const out: RawMessage[] = [];
  while (out.at(-1)?.seq !== last) {
    out.push(...(await r.next(1000, 1000)));
    expect(out.at(-1)?.seq ?? 0, 'read past the last message').toBeLessThanOrEqual(last);
  }
  return out;
}

/** Records `t`'s health changes; `until` resolves once the recorded ones satisfy `done`. */
function watchHealth(t: Transport) {
  const changes: TransportHealth[] = [];
  let check = (): void => undefined;
  const stop = t.onHealth((h) => {
    changes.push(h);
    check();
  });
  return {
    changes,
    stop,
    until(done: (changes: TransportHealth[]) => boolean): Promise<void> {
      return new Promise((resolve) => {
        check = () => {
          if (done(changes)) resolve();
        };
        check();
      });
    },
  };
}

/** A disconnect and, after it, a reconnect. */
const wentDownAndBack = (changes: TransportHealth[]): boolean => {
  const down = changes.findIndex((h) => !h.connected);
  return down >= 0 && changes.slice(down + 1).some((h) => h.connected);
};

/** Resolves once `t` is connected (at once when it is). */
function connected(t: Transport): Promise<void> {
  const w = watchHealth(t);
  return w.until(() => t.health().connected).finally(w.stop);
}

/**
 * Publishes like a caller that spills: on `unavailable` it waits until connected and tries again
 * (a short pause between tries: during a cluster failover the client is connected but the stream
 * has no leader for a few seconds, and every publish fails at once).
 */
async function publishThrough(t: Transport, subject: string, data: Uint8Array, msgId: string): Promise<number> {
  for (;;) {
    try {
      return (await t.publish(subject, data, msgId)).seq;
    } catch (e) {
      if (!isOoMlError(e) || e.code !== 'unavailable') throw e;
      await connected(t);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Names of the consumers of the events stream. */
async function consumerNames(url: string): Promise<string[]> {
  const nc = await connect({ servers: url });
  try {
    const names: string[] = [];
    for await (const c of (await jetstreamManager(nc)).consumers.list(EVENTS_STREAM)) names.push(c.name);
    return names;
  } finally {
    await nc.close();
  }
}

/** Server (host:port) the transport is connected to now, from its health detail. */
function connectedPort(t: Transport): number {
  const m = /:(\d+)$/.exec(t.health().detail ?? '');
  expect(m, `health detail names the server: ${t.health().detail}`).not.toBeNull();
  return Number(m![1]);
}

describe('NATS JetStream transport', () => {
  let server: NatsTestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('creates both streams once (idempotent) with the documented subjects, dedupe window and one replica', async () => {
    server = await startNatsServer();
    const a = await createNatsTransport(server.url);
    const b = await createNatsTransport(server.url);
    await a.close();
    await b.close();
    const { events, dlq } = await natsStreams(server.url);
    expect(events.config).toMatchObject({
      name: EVENTS_STREAM,
      subjects: ['signals.>', 'feedback.>'],
      storage: 'file',
      retention: 'limits',
      duplicate_window: 120_000_000_000,
      num_replicas: 1,
    });
    expect(dlq.config).toMatchObject({ name: DLQ_STREAM, subjects: ['dlq.>'], storage: 'file', num_replicas: 1 });
  });

  it('makes durable pull consumers with explicit acks, the caller’s ack wait and a bounded redelivery', async () => {
    server = await startNatsServer();
    const bus = await createEventBus(loadConfig('/nonexistent-home', { NATS_URL: server.url }));
    expect(bus.kind).toBe('nats');
    await (await bus.consumer({ name: 'ingest-x', ackWaitMs: 5000 })).close();
    let info = await natsConsumer(server.url, 'ingest-x');
    expect(info.config).toMatchObject({ durable_name: 'ingest-x', ack_policy: 'explicit', deliver_policy: 'all', ack_wait: 5_000_000_000, max_deliver: MAX_DELIVERIES + 1, max_ack_pending: 2 * MAX_BATCH });
    expect(info.config.filter_subject ?? '').toBe('');
    // Re-opening with another ack wait updates the existing durable in place.
    await (await bus.consumer({ name: 'ingest-x', ackWaitMs: 2000 })).close();
    info = await natsConsumer(server.url, 'ingest-x');
    expect(info.config.ack_wait).toBe(2_000_000_000);

    // A durable someone else made that would hide events is refused, not used: payloads left
    // out, a start after the first message (several filters need nats-server 2.10, not Debian 12's).
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      const unfit: [string, Record<string, unknown>][] = [
        ['headers-only', { headers_only: true }],
        ['from-new', { deliver_policy: 'new' }],
      ];
      for (const [name, config] of unfit) {
        await jsm.consumers.add(EVENTS_STREAM, { durable_name: name, ack_policy: 'explicit', ...config } as Parameters<JetStreamManager['consumers']['add']>[1]);
        await expect(bus.consumer({ name }), name).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining(`consumer ${name} on ${EVENTS_STREAM} is not an unfiltered pull consumer of every message`) });
      }
    } finally {
      await nc.close();
    }
    await bus.close();
  });

  it('returns increasing seqs (a duplicate: the first copy’s) that a reader from any seq sees; readers leave nothing behind', async () => {
    server = await startNatsServer();
    const t = await createNatsTransport(server.url);
    expect(await t.extent()).toEqual({ firstSeq: 1, lastSeq: 0 });
    const seqs: number[] = [];
    for (let i = 1; i <= 6; i++) seqs.push((await t.publish(i % 2 === 0 ? 'feedback.tip.reaction' : 'signals.tip.served', enc(`m${i}`), `id-${i}`)).seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await t.publish('signals.tip.served', enc('m3 again'), 'id-3')).toEqual({ duplicate: true, seq: 3 });
    // The DLQ is another stream with its own sequence.
    expect((await t.publish('dlq.signals.tip.served', enc('{}'), 'dlq-1')).seq).toBe(1);
    expect(await t.extent()).toEqual({ firstSeq: 1, lastSeq: 6 });

    for (const k of [1, 2, 4, 6]) {
      const r = await t.reader(k);
      const got = await readRaw(r, 7 - k);
      expect(got.map((m) => m.seq)).toEqual(seqs.slice(k - 1));
      expect(got.map(text)).toEqual(seqs.slice(k - 1).map((s) => `m${s}`));
      await r.close();
    }

    // Retention removed 1–3: the extent says so, and a reader from 1 starts at the oldest held.
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.purge(EVENTS_STREAM, { seq: 4 });
    expect(await t.extent()).toEqual({ firstSeq: 4, lastSeq: 6 });
    const fromGone = await t.reader(1);
    expect((await readRaw(fromGone, 3)).map((m) => m.seq)).toEqual([4, 5, 6]);
    // Following the stream as it grows.
    const { seq } = await t.publish('signals.task.created', enc('m7'), 'id-7');
    expect((await readRaw(fromGone, 1)).map((m) => ({ subject: m.subject, text: text(m), seq: m.seq }))).toEqual([{ subject: 'signals.task.created', text: 'm7', seq }]);
    await fromGone.close();
    await expectCode(fromGone.next(1, 0), 'unavailable', /closed/);

    await nc.close();
    // Ordered readers are ephemeral and deleted on close: no consumer is left on the server.
    expect(await consumerNames(server.url)).toEqual([]);
    await t.close();
  });

  it('decodes a message at a sequence this bus published at when the stream was recreated meanwhile (other bytes there now)', async () => {
    server = await startNatsServer();
    const bus = createEventBusOver(await createNatsTransport(server.url));
    // An open reader makes the bus keep what it publishes for its readers.
    const keeper = await bus.reader(1);
    const first = served('u-re', '2026-01-05T09:00:00.000Z', 'u-re-s1');
    expect((await bus.publish('signals', first)).seq).toBe(1);
    const nc = await connect({ servers: server.url });
    await (await jetstreamManager(nc)).streams.delete(EVENTS_STREAM);
    await nc.close();
    // A new stream (created by another transport), whose first message is another event.
    const other = createEventBusOver(await createNatsTransport(server.url));
    const second = served('u-re', '2026-01-05T10:00:00.000Z', 'u-re-s2');
    expect((await other.publish('signals', second)).seq).toBe(1);
    const reader = await bus.reader(1);
    const [m] = await readN(reader, 1);
    expect(m).toMatchObject({ ok: true, seq: 1, event: second });
    await reader.close();
    await keeper.close();
    await other.close();
    await bus.close();
  });

  it('says a publish failed because its stream was deleted (not "no server answered"), and that a restart creates it again', async () => {
    server = await startNatsServer();
    const t = await createNatsTransport(server.url, { publishTimeoutMs: 5_000 });
    try {
      expect((await t.publish('signals.tip.served', enc('{"a":1}'), 'm-1')).seq).toBe(1);
      const nc = await connect({ servers: server.url });
      await (await jetstreamManager(nc)).streams.delete(EVENTS_STREAM);
      await nc.close();
      const e = await t.publish('signals.tip.served', enc('{"a":2}'), 'm-2').then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toMatchObject({ code: 'unavailable', message: `JetStream did not store a message on signals.tip.served: stream ${EVENTS_STREAM} does not exist (deleted?)`, hint: expect.stringContaining('restart one') });
      // The dead-letter stream is still there: its publishes go on.
      expect((await t.publish('dlq.signals.tip.served', enc('{"b":1}'), 'd-1')).seq).toBe(1);
    } finally {
      await t.close();
    }
  });

  it('lists dead letters across a gap a deleted message left, and counts what the stream holds', async () => {
    server = await startNatsServer();
    const t = await createNatsTransport(server.url);
    try {
      for (const i of [1, 2, 3, 4]) await t.publish('dlq.signals.tip.served', enc(`letter ${i}`), `dlq-${i}`);
      await deleteNatsMessage(server.url, DLQ_STREAM, 3);
      const listed = await t.deadLetters(10);
      expect([listed.held, listed.messages.map((m) => [m.seq, text(m)])]).toEqual([
        3,
        [
          [1, 'letter 1'],
          [2, 'letter 2'],
          [4, 'letter 4'],
        ],
      ]);
      expect((await t.deadLetters(2)).messages.map((m) => m.seq)).toEqual([2, 4]);
    } finally {
      await t.close();
    }
  });

  it('says when NATS_STREAM_REPLICAS asks for other replicas than an existing stream has (and leaves the stream alone)', async () => {
    server = await startNatsServer();
    const first = await createNatsTransport(server.url);
    expect(first.setupWarnings()).toEqual([]);
    const asking = await createNatsTransport(server.url, { streamReplicas: 3 });
    expect(asking.setupWarnings()).toEqual([
      `NATS_STREAM_REPLICAS is 3 but JetStream stream ${EVENTS_STREAM} exists with 1 replica: oo-ml never changes an existing stream (\`nats stream edit ${EVENTS_STREAM} --replicas 3\`)`,
      `NATS_STREAM_REPLICAS is 3 but JetStream stream ${DLQ_STREAM} exists with 1 replica: oo-ml never changes an existing stream (\`nats stream edit ${DLQ_STREAM} --replicas 3\`)`,
    ]);
    const same = await createNatsTransport(server.url, { streamReplicas: 1 });
    expect(same.setupWarnings()).toEqual([]);
    await same.close();
    await first.close();
    await asking.close();
    expect((await natsStreams(server.url)).events.config.num_replicas).toBe(1);
  });

  it('refuses a foreign stream that holds the name but not the subjects', async () => {
    server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: EVENTS_STREAM, subjects: ['signals.>'] });
    await nc.close();
    await expectCode(createNatsTransport(server.url), 'conflict', /OO_ML_EVENTS exists but does not capture feedback\.>/);
  });

  it('reports replicas a single server cannot keep as unavailable, naming NATS_STREAM_REPLICAS', async () => {
    server = await startNatsServer();
    let caught: unknown;
    try {
      await createNatsTransport(server.url, { streamReplicas: 3 });
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ code: 'unavailable', hint: expect.stringContaining('NATS_STREAM_REPLICAS') });
    expect((caught as Error).message).toMatch(/replicas > 1 not supported/);
  });

  it('reports an unreachable server as unavailable with a hint, and a malformed NATS_URL as bad usage', async () => {
    server = await startNatsServer();
    const port = server.port;
    await server.stop();
    server = undefined;
    let caught: unknown;
    try {
      await createNatsTransport(`nats://127.0.0.1:${port}`);
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ code: 'unavailable', hint: expect.stringContaining('unset NATS_URL') });
    expect((caught as Error).message).toContain(`nats://127.0.0.1:${port}`);
    await expectCode(
      createEventBus(loadConfig('/nonexistent-home', { NATS_URL: 'http://127.0.0.1:1' })),
      'invalid_usage',
      /NATS_URL/,
    );
  });
});

describe('NATS JetStream through an outage (SIGKILL, then restart on the same port and store)', () => {
  let server: NatsTestServer;
  let t: Transport;
  beforeAll(async () => {
    server = await startNatsServer();
    // A long ack timeout: a publish that nats.js buffered while disconnected would hang the
    // test, so a rejection proves the transport refused it itself.
    t = await createNatsTransport(server.url, { publishTimeoutMs: 60_000 });
  });
  afterAll(async () => {
    await t.close();
    await server.stop();
  });

  it('turns unhealthy, refuses at once while down, reconnects by itself, and a reader resumes right after its last message', async () => {
    expect(t.health()).toMatchObject({ connected: true, detail: `connected to 127.0.0.1:${server.port}` });
    const before: number[] = [];
    for (let i = 1; i <= 5; i++) before.push((await t.publish('signals.tip.served', enc(`a${i}`), `a${i}`)).seq);
    const reader = await t.reader(1);
    expect((await readRaw(reader, 5)).map((m) => m.seq)).toEqual(before);

    const health = watchHealth(t);
    await server.kill();
    await health.until((c) => c.some((h) => !h.connected));
    expect(t.health()).toMatchObject({ connected: false, detail: `disconnected from 127.0.0.1:${server.port}` });
    await expectCode(t.publish('signals.tip.served', enc('down'), 'down'), 'unavailable', /not connected to NATS/);
    await expectCode(t.extent(), 'unavailable', /not connected/);
    await expectCode(t.reader(1), 'unavailable', /not connected/);
    await expectCode(t.consumer({ name: 'down', ackWaitMs: 1000 }), 'unavailable', /not connected/);
    expect(await reader.next(10, 0)).toEqual([]);

    await server.restart();
    await health.until(wentDownAndBack);
    health.stop();
    expect(health.changes.map((h) => h.connected)).toEqual([false, true]);
    expect(t.health()).toMatchObject({ connected: true, detail: `reconnected to 127.0.0.1:${server.port}` });
    expect(health.changes[1]!.since).toBeGreaterThanOrEqual(health.changes[0]!.since);

    const after: number[] = [];
    for (let i = 1; i <= 5; i++) after.push((await t.publish('signals.tip.served', enc(`b${i}`), `b${i}`)).seq);
    expect(after).toEqual([6, 7, 8, 9, 10]);
    // No gap and no repeat: exactly 6…10, then nothing until the next publish.
    const resumed = await readThrough(reader, 10);
    expect(resumed.map((m) => m.seq)).toEqual(after);
    const { seq } = await t.publish('signals.tip.served', enc('c1'), 'c1');
    expect((await readRaw(reader, 1)).map((m) => m.seq)).toEqual([seq]);
    await reader.close();
    // Recreated consumers are deleted too: nothing is left on the server.
    expect(await consumerNames(server.url)).toEqual([]);
  });

  it('rejects a publish in flight when the connection drops (not after the ack timeout)', async () => {
    await connected(t);
    // A stopped server takes the bytes but never answers: the publish waits for its ack…
    process.kill(server.pid, 'SIGSTOP');
    const health = watchHealth(t);
    const refused = expectCode(t.publish('signals.tip.served', enc('lost'), 'in-flight'), 'unavailable', /connection dropped/);
    // …until the connection drops (SIGKILL ends a stopped process too).
    await server.kill();
    await refused;
    await server.restart();
    await health.until(wentDownAndBack);
    health.stop();
    expect((await t.publish('signals.tip.served', enc('after'), 'after')).duplicate).toBe(false);
  });
});

describe('NATS JetStream on a 3-node cluster with R3 streams', () => {
  let cluster: NatsTestCluster;
  beforeAll(async () => {
    // Not waiting for JetStream: the first transport meets the cluster before its meta leader.
    cluster = await startNatsCluster(3, { waitForJetStream: false });
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('creates R3 streams on a fresh cluster (waiting for JetStream), and leaves an existing stream’s replicas alone', async () => {
    const t = await createNatsTransport(cluster.urls, { streamReplicas: 3 });
    await t.close();
    const { events, dlq } = await clusterStreams(cluster);
    expect(events.config.num_replicas).toBe(3);
    expect(events.cluster?.replicas).toHaveLength(2);
    expect(dlq.config.num_replicas).toBe(3);
    // Another replica count asked later does not change the stream.
    await (await createNatsTransport(cluster.urls, { streamReplicas: 1 })).close();
    expect((await clusterStreams(cluster)).events.config.num_replicas).toBe(3);
  });

  it('keeps publishing through the loss of the node it is connected to (after its reconnect), and a reader on that node sees every acked message once', async () => {
    const t = await createNatsTransport(cluster.urls, { streamReplicas: 3 });
    const victim = cluster.nodes.find((x) => x.port === connectedPort(t))!;
    const start = (await t.extent()).lastSeq + 1;
    // An ordered consumer is R1, on one node: reopen until the reader's lives on the victim too,
    // the case nats.js does not recover from by itself.
    let reader = await t.reader(start);
    while ((await readerNode(cluster)).name !== victim.name) {
      await reader.close();
      reader = await t.reader(start);
    }
    const acked: number[] = [];
    const publishSome = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) acked.push(await publishThrough(t, 'signals.tip.served', enc(`c${acked.length}`), `c${acked.length}`));
    };
    await publishSome(5);
    expect((await readRaw(reader, 5)).map((m) => m.seq)).toEqual(acked);

    const health = watchHealth(t);
    await victim.kill();
    await publishSome(10);
    await health.until(wentDownAndBack);
    health.stop();
    expect(connectedPort(t)).not.toBe(victim.port);

    // Every acked message once, in stream order; the last publish proves nothing comes after.
    const last = await publishThrough(t, 'signals.tip.served', enc('last'), 'last');
    const read = await readThrough(reader, last);
    expect(read.map((m) => m.seq)).toEqual([...acked.slice(5), last]);
    expect(read.slice(0, -1).map(text)).toEqual(acked.slice(5).map((_, i) => `c${i + 5}`));
    await reader.close();
    await t.close();
  });
});

/**
 * `fn` over a connection to whichever nodes are up (nats.js takes a list, not a comma-separated
 * string), tried again while it fails: a node that just restarted answers JetStream API calls
 * only once it has caught up with the meta group.
 */
async function withCluster<T>(cluster: NatsTestCluster, fn: (jsm: JetStreamManager) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const nc = await connect({ servers: cluster.urls.split(','), maxReconnectAttempts: -1 });
    try {
      return await fn(await jetstreamManager(nc, { timeout: 1000 }));
    } catch (e) {
      if (attempt >= 30) throw e;
    } finally {
      await nc.close();
    }
  }
}

/** Stream info of the events and DLQ streams. */
function clusterStreams(cluster: NatsTestCluster): Promise<{ events: StreamInfo; dlq: StreamInfo }> {
  return withCluster(cluster, async (jsm) => ({ events: await jsm.streams.info(EVENTS_STREAM), dlq: await jsm.streams.info(DLQ_STREAM) }));
}

/**
 * The node holding the reader's ordered consumer (R1, on one node): the newest ephemeral consumer
 * of the events stream (one the reader gave up on may linger until its inactive threshold).
 */
function readerNode(cluster: NatsTestCluster): Promise<NatsClusterNode> {
  return withCluster(cluster, async (jsm) => {
    const ephemeral: ConsumerInfo[] = [];
    for await (const c of jsm.consumers.list(EVENTS_STREAM)) if (c.config.durable_name === undefined) ephemeral.push(c);
    const newest = ephemeral.sort((a, b) => Date.parse(a.created) - Date.parse(b.created)).at(-1);
    const node = cluster.nodes.find((x) => x.name === newest?.cluster?.leader);
    expect(node, 'a node holds the reader').toBeDefined();
    return node!;
  });
}
