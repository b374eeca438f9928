/**
 * The EventBus contract on NATS JetStream (a real nats-server -js on a free loopback port, one per
 * test), plus what only JetStream has: stream and consumer configuration, idempotent setup,
 * conflicts with foreign streams, unreachable servers.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { homePaths, loadConfig } from '../../src/config.js';
import { createEventBus, createEventBusOver } from '../../src/events/event-bus.js';
import { DLQ_STREAM, EVENTS_STREAM, createNatsTransport } from '../../src/events/nats-transport.js';
import { MAX_BATCH, MAX_DELIVERIES } from '../../src/events/transport.js';
import { startNatsServer, type NatsTestServer } from '../helpers/nats-server.js';
import { expectCode, runEventBusContract } from './event-bus.contract.js';
import { natsConsumer, natsStreams, readNatsDlq } from './nats-inspect.js';

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

describe('NATS JetStream transport', () => {
  let server: NatsTestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('creates both streams once (idempotent) with the documented subjects and dedupe window', async () => {
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
    });
    expect(dlq.config).toMatchObject({ name: DLQ_STREAM, subjects: ['dlq.>'], storage: 'file' });
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
    await bus.close();
  });

  it('refuses a foreign stream that holds the name but not the subjects', async () => {
    server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: EVENTS_STREAM, subjects: ['signals.>'] });
    await nc.close();
    await expectCode(createNatsTransport(server.url), 'conflict', /OO_ML_EVENTS exists but does not capture feedback\.>/);
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
    const paths = homePaths('/nonexistent-home');
    await expectCode(createEventBus({ paths, trackingUri: '', natsUrl: 'http://127.0.0.1:1', llmBaseUrl: undefined }), 'invalid_usage', /NATS_URL/);
  });
});
