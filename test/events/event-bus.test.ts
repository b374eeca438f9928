/**
 * The bus behaviour written once over a transport, checked over a scripted in-memory transport:
 * the order "publish the dead letter, then ack", the redelivery limit, that a failed dead-letter
 * publish leaves the message unacked (so it comes back rather than vanishing), and that a reader
 * reports bad messages without publishing or acking anything.
 */
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_VALIDATOR } from '../../src/events/dead-letter.js';
import { createEventBusOver } from '../../src/events/event-bus.js';
import { MAX_DELIVERIES, type RawDelivery, type RawMessage, type Transport } from '../../src/events/transport.js';
import { unavailable } from '../../src/errors.js';
import { completed } from '../helpers/events.js';
import { expectCode } from './event-bus.contract.js';

interface Scripted {
  transport: Transport;
  log: string[];
  published: { subject: string; data: string; msgId: string }[];
}

/** A transport that delivers `batch` once (to a consumer and to a reader) and records publishes, acks and reads in order. */
function scripted(batch: Omit<RawDelivery, 'ack'>[], options: { failDlq?: boolean } = {}): Scripted {
  const log: string[] = [];
  const published: Scripted['published'] = [];
  let delivered = false;
  const transport: Transport = {
    kind: 'embedded',
    async publish(subject, data, msgId) {
      if (options.failDlq === true && subject.startsWith('dlq.')) throw unavailable('dlq down');
      log.push(`publish ${subject}`);
      published.push({ subject, data: new TextDecoder().decode(data), msgId });
      return { duplicate: false, seq: published.length };
    },
    claimWriter: () => Promise.resolve(),
    setupWarnings: () => [],
    async reader(startSeq) {
      let read = false;
      return {
        async next(): Promise<RawMessage[]> {
          if (read) return [];
          read = true;
          log.push(`read from ${startSeq}`);
          return batch.filter((m) => m.seq >= startSeq).map(({ subject, data, seq }) => ({ subject, data, seq }));
        },
        close: async () => undefined,
      };
    },
    extent: async () => ({ firstSeq: 1, lastSeq: batch.length }),
    deadLetters: async () => ({ held: 0, messages: [] }),
    health: () => ({ connected: true, since: 0, detail: null }),
    onHealth: () => () => undefined,
    async consumer() {
      return {
        async fetch() {
          if (delivered) return [];
          delivered = true;
          return batch.map((m) => ({ ...m, ack: async () => void log.push(`ack ${m.seq}`) }));
        },
        unacked: async () => 0,
        close: async () => undefined,
      };
    },
    close: async () => undefined,
  };
  return { transport, log, published };
}

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const NOW = new Date('2026-01-05T12:00:00.000Z');

describe('event bus over a transport', () => {
  it('publishes valid events as compact JSON with event_id as the message id', async () => {
    const s = scripted([]);
    const bus = createEventBusOver(s.transport);
    const e = completed('b1', '2026-01-05T10:00:00.000Z');
    expect(await bus.publish('signals', e)).toEqual({ subject: 'signals.task.completed', duplicate: false, seq: 1 });
    expect(s.published).toEqual([{ subject: 'signals.task.completed', data: JSON.stringify(e), msgId: e.event_id }]);
  });

  it('dead-letters a message delivered more than MAX_DELIVERIES times: envelope first, then ack', async () => {
    const e = completed('b2', '2026-01-05T10:00:00.000Z');
    const fresh = completed('b2', '2026-01-05T10:01:00.000Z');
    const s = scripted([
      { subject: 'signals.task.completed', data: bytes(e), seq: 41, deliveryCount: MAX_DELIVERIES + 1 },
      { subject: 'signals.task.completed', data: bytes(fresh), seq: 42, deliveryCount: MAX_DELIVERIES },
    ]);
    const bus = createEventBusOver(s.transport, { now: () => NOW });
    const c = await bus.consumer({ name: 'limit' });
    const got = await c.fetch({ max: 10, maxWaitMs: 0 });
    expect(got.events.map((d) => d.event)).toEqual([fresh]);
    expect(got.rejected).toHaveLength(1);
    expect(s.log).toEqual(['publish dlq.signals.task.completed', 'ack 41']);
    const env = DEAD_LETTER_VALIDATOR.parse(JSON.parse(s.published[0]!.data), 'dead letter');
    expect(env).toEqual({
      original_subject: 'signals.task.completed',
      reason: 'redelivery_limit',
      message: `task.completed ${e.event_id} on signals.task.completed was delivered ${MAX_DELIVERIES + 1} times without an ack`,
      issues: [],
      payload_base64: Buffer.from(JSON.stringify(e)).toString('base64'),
      payload_text: JSON.stringify(e),
      received_at: NOW.toISOString(),
      consumer: 'limit',
      delivery_count: MAX_DELIVERIES + 1,
      seq: 41,
    });
    expect(s.published[0]!.msgId).toBe('dlq:signals.task.completed:41');
  });

  it('leaves a message unacked when its dead letter cannot be published', async () => {
    const s = scripted([{ subject: 'signals.task.completed', data: bytes({ nope: true }), seq: 7, deliveryCount: 1 }], { failDlq: true });
    const bus = createEventBusOver(s.transport);
    const c = await bus.consumer({ name: 'dlq-down' });
    await expectCode(c.fetch({ max: 10, maxWaitMs: 0 }), 'unavailable', /dlq down/);
    expect(s.log).toEqual([]);
  });

  it('parks an event with deadLetter: the envelope of the given reason first, then the ack', async () => {
    const e = completed('b3', '2026-01-05T10:00:00.000Z');
    const s = scripted([{ subject: 'signals.task.completed', data: bytes(e), seq: 9, deliveryCount: 2 }]);
    const bus = createEventBusOver(s.transport, { now: () => NOW });
    const c = await bus.consumer({ name: 'park' });
    const [d] = (await c.fetch({ max: 10, maxWaitMs: 0 })).events;
    const env = await d!.deadLetter('unstorable', 'the event log refused it');
    expect(s.log).toEqual(['publish dlq.signals.task.completed', 'ack 9']);
    expect(env).toMatchObject({ reason: 'unstorable', message: 'the event log refused it', issues: [], delivery_count: 2, seq: 9, consumer: 'park' });
    expect(s.published[0]!.msgId).toBe('dlq:signals.task.completed:9');
  });

  it('a reader reports bad messages without publishing or acking them, in stream order with their seqs', async () => {
    const e = completed('b4', '2026-01-05T10:00:00.000Z');
    const s = scripted([
      { subject: 'signals.task.completed', data: bytes({ nope: true }), seq: 3, deliveryCount: 1 },
      { subject: 'signals.task.completed', data: bytes(e), seq: 4, deliveryCount: 1 },
    ]);
    const bus = createEventBusOver(s.transport);
    const r = await bus.reader(3);
    const got = await r.next(10, 0);
    expect(got).toEqual([
      { ok: false, seq: 3, subject: 'signals.task.completed', reason: 'invalid_event', message: expect.stringContaining('task.completed') as unknown },
      { ok: true, seq: 4, subject: 'signals.task.completed', event: e },
    ]);
    expect(s.log).toEqual(['read from 3']);
    await expectCode(bus.reader(0), 'invalid_usage', /sequence ≥ 1/);
    await expectCode(r.next(0, 0), 'invalid_usage', /read size/);
    await bus.close();
  });
});
