/**
 * The publisher and its spill: an event is durable before its publish resolves — on the bus, or
 * in the local spill while the bus cannot take it — and the spill reaches the bus in order once
 * it is back, also after a crash left it behind.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { invalidInput, isOoMlError } from '../../../src/errors.js';
import { createEventBusOver } from '../../../src/events/event-bus.js';
import { createEmbeddedTransport } from '../../../src/events/embedded-transport.js';
import type { TipReactionEvent } from '../../../src/events/schemas.js';
import { createPublisher, type EventPublisher } from '../../../src/server/online-learning/publisher.js';
import { Spill } from '../../../src/server/online-learning/spill.js';
import { exists } from '../../../src/io/atomic.js';
import { reacted } from '../../helpers/events.js';
import { streamOf, testTransport, until, type TestTransport } from '../harness.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function rig(dir?: string): Promise<{ dir: string; transport: TestTransport; publisher: EventPublisher; spill: Spill; bus: ReturnType<typeof createEventBusOver> }> {
  const root = dir ?? (await mkdtemp(join(tmpdir(), 'oo-ml-publisher-')));
  if (dir === undefined) cleanup.push(() => rm(root, { recursive: true, force: true }));
  const transport = testTransport(createEmbeddedTransport(join(root, 'bus'), { pollMs: 5 }));
  const bus = createEventBusOver(transport);
  const spill = await Spill.open(join(root, 'state'));
  const publisher = createPublisher({ bus, spill, stateDir: join(root, 'state') });
  cleanup.push(async () => {
    await publisher.close();
    await spill.close();
    await bus.close();
  });
  return { dir: root, transport, publisher, spill, bus };
}

const events = (n: number, from = 0): TipReactionEvent[] =>
  Array.from({ length: n }, (_, i) => ({ ...reacted('u1', '2026-03-01T10:00:00.000Z', `0000000000ab-${(from + i).toString(36)}`, 'completed'), event_id: `ev-${from + i}` }));

describe('publisher', () => {
  it('publishes to the bus and says where each event is, while the bus takes them', async () => {
    const { publisher, transport } = await rig();
    const receipts = await Promise.all(events(3).map((e) => publisher.publish(e)));
    expect(receipts).toEqual([
      { seq: 1, spilled: false },
      { seq: 2, spilled: false },
      { seq: 3, spilled: false },
    ]);
    expect(transport.published.map((p) => p.event.event_id)).toEqual(['ev-0', 'ev-1', 'ev-2']);
    expect(publisher.health()).toMatchObject({ mode: 'direct', busConnected: true, backlog: 0, spilledTotal: 0 });
  });

  it('spills to disk while the bus is down, keeps spilling until the spill is drained, and drains it in order when the bus is back', async () => {
    const { publisher, transport, bus, dir } = await rig();
    await publisher.publish(events(1)[0]!);
    transport.setConnected(false);
    const batch = events(300, 1);
    // Answered while the bus is down: each one is in the spill file, synced, before it resolves.
    const receipts = await Promise.all(batch.map((e) => publisher.publish(e)));
    expect(receipts.every((r) => r.seq === null && r.spilled)).toBe(true);
    const lines = (await readFile(join(dir, 'state', 'spill.ndjson'), 'utf8')).trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { event_id: string }).event_id)).toEqual(batch.map((e) => e.event_id));
    expect(publisher.health()).toMatchObject({ mode: 'spill', busConnected: false, backlog: 300, spilledTotal: 300 });

    transport.setConnected(true);
    await until(async () => publisher.health().mode === 'direct' && !(await exists(join(dir, 'state', 'spill.ndjson'))), 'the spill to drain and go');
    expect(publisher.health()).toMatchObject({ backlog: 0, drainedTotal: 300 });
    const stream = await streamOf(bus);
    expect(stream.map((m) => (m.ok ? m.event.event_id : null))).toEqual(['ev-0', ...batch.map((e) => e.event_id)]);
    // And direct again.
    expect(await publisher.publish(events(1, 400)[0]!)).toEqual({ seq: 302, spilled: false });
  });

  it('spills an event whose publish the bus refuses while connected, and retries the spill until the bus takes it', async () => {
    const { publisher, transport, bus } = await rig();
    let refusals = 3;
    transport.beforePublish = () => {
      if (refusals-- > 0) throw new Error('no JetStream quorum');
    };
    const receipt = await publisher.publish(events(1)[0]!);
    expect(receipt).toEqual({ seq: null, spilled: true });
    expect(publisher.health().lastError).toContain('no JetStream quorum');
    await until(() => publisher.health().mode === 'direct', 'the spill to drain');
    expect((await streamOf(bus)).map((m) => (m.ok ? m.event.event_id : null))).toEqual(['ev-0']);
    expect(publisher.health().refusedTotal).toBe(3);
  });

  it('drains at the next start what a crashed run left in the spill', async () => {
    const first = await rig();
    first.transport.setConnected(false);
    await Promise.all(events(50).map((e) => first.publisher.publish(e)));
    // The process dies here: nothing is closed, the spill stays on disk as it was synced.
    const again = await rig(first.dir);
    expect(again.publisher.health()).toMatchObject({ mode: 'spill', backlog: 50 });
    await until(() => again.publisher.health().mode === 'direct', 'the spill to drain');
    expect((await streamOf(again.bus)).map((m) => (m.ok ? m.event.event_id : null))).toEqual(events(50).map((e) => e.event_id));
  });

  it('keeps an event the bus refuses as invalid in rejected.ndjson and fails the publish as a bug', async () => {
    const { publisher, transport, dir } = await rig();
    transport.beforePublish = () => {
      throw invalidInput('tip.reaction event is invalid: /user_id: too odd');
    };
    let caught: unknown;
    try {
      await publisher.publish(events(1)[0]!);
    } catch (e) {
      caught = e;
    }
    expect(isOoMlError(caught) && caught.code).toBe('internal');
    const rejected = JSON.parse(await readFile(join(dir, 'state', 'rejected.ndjson'), 'utf8')) as { why: string; event: { event_id: string } };
    expect(rejected).toMatchObject({ why: 'tip.reaction event is invalid: /user_id: too odd', event: { event_id: 'ev-0' } });
    expect(publisher.health()).toMatchObject({ rejectedTotal: 1, mode: 'direct' });
  });
});

describe('spill', () => {
  it('keeps every one of many concurrent appends, cuts off a torn last line at open, and drains from its cursor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oo-ml-spill-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const spill = await Spill.open(dir);
    await Promise.all(Array.from({ length: 1000 }, (_, i) => spill.append(`{"n":${i}}`)));
    expect(spill.backlog).toBe(1000);
    const batch = await spill.read(10);
    expect(batch.lines).toEqual(Array.from({ length: 10 }, (_, i) => `{"n":${i}}`));
    await spill.commit(batch.ends[9]!, 10);
    await spill.close();
    // A crash mid-append left half a line.
    await import('node:fs/promises').then((fs) => fs.appendFile(join(dir, 'spill.ndjson'), '{"n":10'));
    const again = await Spill.open(dir);
    expect(again.backlog).toBe(990);
    expect((await again.read(1)).lines).toEqual(['{"n":10}']);
    await again.close();
  });
});
