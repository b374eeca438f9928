/**
 * The bus behaviour written once over a transport, checked over a scripted in-memory transport:
 * the order "publish the dead letter, then ack", the redelivery limit, and that a failed dead-
 * letter publish leaves the message unacked (so it comes back rather than vanishing).
 */
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_VALIDATOR } from '../../src/events/dead-letter.js';
import { createEventBusOver } from '../../src/events/event-bus.js';
import { MAX_DELIVERIES, type RawDelivery, type Transport } from '../../src/events/transport.js';
import { unavailable } from '../../src/errors.js';
import { completed } from '../helpers/events.js';
import { expectCode } from './event-bus.contract.js';

interface Scripted {
  transport: Transport;
  log: string[];
  published: { subject: string; data: string; msgId: string }[];
}

/** A transport that delivers `batch` once and records publishes and acks in order. */
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
      return { duplicate: false };
    },
    async consumer() {
      return {
        async fetch() {
          if (delivered) return [];
          delivered = true;
          return batch.map((m) => ({ ...m, ack: async () => void log.push(`ack ${m.seq}`) }));
        },
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
    expect(await bus.publish('signals', e)).toEqual({ subject: 'signals.task.completed', duplicate: false });
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

  it('a replay consumer reports bad messages without publishing or acking them', async () => {
    const s = scripted([{ subject: 'signals.task.completed', data: bytes({ nope: true }), seq: 3, deliveryCount: 1 }]);
    const bus = createEventBusOver(s.transport);
    const c = await bus.consumer({ name: 'r', mode: 'replay' });
    const got = await c.fetch({ max: 10, maxWaitMs: 0 });
    expect(got.rejected.map((r) => r.reason)).toEqual(['invalid_event']);
    expect(s.log).toEqual([]);
  });
});
