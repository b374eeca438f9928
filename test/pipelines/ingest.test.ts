/**
 * The ingest sink against a real nats-server -js (free loopback port) and the embedded journal:
 * rows in the Parquet log equal the published events (read back through attachEventLog), invalid
 * payloads go to dlq.<subject> and not to the log, duplicates by event_id are written once, and
 * a crash between the file write and the ack redelivers without duplicating.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HomePaths } from '../../src/config.js';
import type { DeadLetterEnvelope } from '../../src/events/dead-letter.js';
import { createEmbeddedTransport, embeddedBusDir } from '../../src/events/embedded-transport.js';
import { createEventBusOver, type EventBus } from '../../src/events/event-bus.js';
import { createNatsTransport } from '../../src/events/nats-transport.js';
import { EVENT_TYPES, type EventType, type OoEvent } from '../../src/events/schemas.js';
import { withDb } from '../../src/io/duckdb.js';
import { attachEventLog, eventTable, writeEventLog } from '../../src/pipelines/event-log.js';
import { INGEST_CONSUMER, INGESTED_MARKER, ingestEvents, type IngestJob, type IngestSummary } from '../../src/pipelines/ingest.js';
import { oneOfEach } from '../events/event-bus.contract.js';
import { natsConsumer, publishRawNats, readNatsDlq } from '../events/nats-inspect.js';
import { completed, created, reacted, served } from '../helpers/events.js';
import { startNatsServer, type NatsTestServer } from '../helpers/nats-server.js';
import { tempHome } from '../helpers/temp-home.js';

/** The log row an event becomes: no `type`, times as Dates. */
function asRow(e: OoEvent): Record<string, unknown> {
  const { type: _type, ...rest } = e;
  void _type;
  const row: Record<string, unknown> = { ...rest, ts: new Date(e.ts) };
  if (e.type === 'task.created') row['due_ts'] = e.due_ts === null ? null : new Date(e.due_ts);
  return row;
}

/** Every row of the log at `dir`, per type, sorted by event_id (validated by attachEventLog). */
async function readLog(dir: string): Promise<Record<EventType, Record<string, unknown>[]>> {
  return withDb(':memory:', async (db) => {
    await attachEventLog(db, dir);
    const out = {} as Record<EventType, Record<string, unknown>[]>;
    for (const t of EVENT_TYPES) out[t] = await db.rows(`SELECT * FROM ${eventTable(t)} ORDER BY event_id`);
    return out;
  });
}

function expectedLog(events: readonly OoEvent[]): Record<EventType, Record<string, unknown>[]> {
  const out = Object.fromEntries(EVENT_TYPES.map((t) => [t, [] as Record<string, unknown>[]])) as Record<EventType, Record<string, unknown>[]>;
  for (const e of [...events].sort((a, b) => (a.event_id < b.event_id ? -1 : 1))) out[e.type].push(asRow(e));
  return out;
}

/** Every file under the event log, relative to it. */
async function logFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

function job(bus: EventBus, paths: HomePaths, extra: Partial<IngestJob> = {}): IngestJob {
  return { bus, eventsDir: paths.events, tmpDir: paths.tmp, batchSize: 100, maxWaitMs: 1000, untilIdle: true, idleMs: 1000, ...extra };
}

/** Two days of events of every type. */
function twoDays(user: string): OoEvent[] {
  return [
    ...oneOfEach(user),
    served(user, '2026-01-06T23:59:59.000Z', `${user}-s2`, 'time_block', 0.5),
    reacted(user, '2026-01-06T23:59:59.500Z', `${user}-s2`, 'dismissed', 0),
    created(user, '2026-01-06T01:00:00.000Z'),
    completed(user, '2026-01-06T02:00:00.000Z'),
  ];
}

describe('ingest from NATS JetStream', () => {
  let server: NatsTestServer | undefined;
  const buses: EventBus[] = [];
  async function natsBus(): Promise<EventBus> {
    const bus = createEventBusOver(await createNatsTransport(server!.url));
    buses.push(bus);
    return bus;
  }
  afterEach(async () => {
    for (const b of buses.splice(0)) await b.close().catch(() => undefined);
    await server?.stop();
    server = undefined;
  });

  it('writes every event type to new Parquet files per type and day; the rows equal the events', async () => {
    server = await startNatsServer();
    const paths = await tempHome('oo-ml-ingest-');
    const bus = await natsBus();
    const events = [...twoDays('n1'), ...twoDays('n2')];
    for (const e of events) await bus.publish(e.type === 'tip.reaction' ? 'feedback' : 'signals', e);

    const summary = await ingestEvents(job(bus, paths, { batchSize: 4, now: () => new Date('2026-02-01T00:00:00Z') }));
    expect(summary).toMatchObject({
      transport: 'nats',
      consumer: INGEST_CONSUMER,
      consumed: events.length,
      written: { 'tip.served': 4, 'tip.reaction': 4, 'tip.reward': 2, 'task.created': 4, 'task.completed': 4 },
      duplicates: 0,
      deadLettered: 0,
      stoppedBy: 'idle',
    });
    expect(summary.batches).toBeGreaterThanOrEqual(4);
    expect(await readLog(paths.events)).toEqual(expectedLog(events));
    // Only ingest files, only inside day= folders, nothing half-written left behind.
    // (and the marker saying the log holds ingested events).
    const all = await logFiles(paths.events);
    expect(all).toContain('.oo-ml-output');
    expect(await readFile(join(paths.events, '.oo-ml-output'), 'utf8')).toBe(`${INGESTED_MARKER}\n`);
    const files = all.filter((f) => f !== '.oo-ml-output');
    expect(files).toEqual([...summary.files].sort());
    for (const f of files) expect(f).toMatch(/^(tip\.served|tip\.reaction|tip\.reward|task\.created|task\.completed)\/day=2026-01-0[56]\/ingest-20260201T000000000Z-[0-9a-f]{12}\.parquet$/);
    expect(await readdir(paths.tmp)).toEqual([]);
    const info = await natsConsumer(server.url, INGEST_CONSUMER);
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });

  it('dead-letters invalid payloads with the reason naming the field, and keeps them out of the log', async () => {
    server = await startNatsServer();
    const paths = await tempHome('oo-ml-ingest-');
    const bus = await natsBus();
    const good = oneOfEach('n3');
    const s = good[0] as Extract<OoEvent, { type: 'tip.served' }>;
    const bad: [string, string, string][] = [
      ['signals.tip.served', 'this is not json', 'not JSON'],
      ['signals.tip.served', JSON.stringify({ ...s, event_id: 'bad-1', serve_id: undefined }), 'serve_id'],
      ['signals.tip.served', JSON.stringify({ ...s, event_id: 'bad-2', shadow: 'no' }), '/shadow'],
      ['signals.tip.served', JSON.stringify({ ...s, event_id: 'bad-3', arm: 'meditate' }), '/arm'],
      ['signals.task.completed', JSON.stringify({ ...s, event_id: 'bad-4' }), '/type'],
    ];
    for (const [subject, text] of bad) await publishRawNats(server.url, subject, text);
    for (const e of good) await bus.publish('signals', e);

    const summary = await ingestEvents(job(bus, paths, { batchSize: bad.length + good.length }));
    expect(summary.consumed).toBe(bad.length + good.length);
    expect(summary.deadLettered).toBe(bad.length);
    expect(summary.deadLetterReasons).toEqual({ not_json: 1, invalid_event: 3, type_mismatch: 1 });
    expect(Object.values(summary.written).reduce((a, b) => a + b, 0)).toBe(good.length);

    const dlq = await readNatsDlq(server.url);
    expect(dlq).toHaveLength(bad.length);
    for (const [subject, text, field] of bad) {
      const hit = dlq.find((d) => (d.envelope as DeadLetterEnvelope).payload_text === text);
      expect(hit?.subject).toBe(`dlq.${subject}`);
      const env = hit!.envelope as DeadLetterEnvelope;
      expect(env.consumer).toBe(INGEST_CONSUMER);
      expect(env.message).toContain(field);
    }
    const log = await readLog(paths.events);
    expect(log).toEqual(expectedLog(good));
    expect(JSON.stringify(log)).not.toContain('bad-');
  });

  it('writes an event once whatever the duplication: JetStream msg id, raw re-sends, a later run, an existing file', async () => {
    server = await startNatsServer();
    const paths = await tempHome('oo-ml-ingest-');
    // A log that already holds one event (written the way `data synth` writes).
    const old = completed('n4', '2026-01-05T07:00:00.000Z');
    await withDb(':memory:', (db) => writeEventLog(db, paths.events, [old], null, paths.tmp));
    const oldFile = join(paths.events, 'task.completed', 'day=2026-01-05', 'events.parquet');
    const oldBytes = await readFile(oldFile);
    const oldMtime = (await stat(oldFile)).mtimeMs;

    const bus = await natsBus();
    const e = reacted('n4', '2026-01-05T09:00:00.000Z', 'n4-s1', 'liked', 700);
    expect((await bus.publish('feedback', e)).duplicate).toBe(false);
    expect((await bus.publish('feedback', e)).duplicate).toBe(true); // JetStream's Nats-Msg-Id window
    await publishRawNats(server.url, 'feedback.tip.reaction', JSON.stringify(e)); // no msg id: stored again
    await bus.publish('signals', old); // already in the log
    const first = await ingestEvents(job(bus, paths, { batchSize: 3 }));
    expect(first).toMatchObject({ consumed: 3, duplicates: 2, written: { 'tip.reaction': 1, 'task.completed': 0 } });

    // A later run gets the same event again (a publisher retry after the dedupe window).
    await publishRawNats(server.url, 'feedback.tip.reaction', JSON.stringify(e), 'retry-after-window');
    const second = await ingestEvents(job(bus, paths, { batchSize: 1 }));
    expect(second).toMatchObject({ consumed: 1, duplicates: 1, files: [] });

    expect(await readLog(paths.events)).toEqual(expectedLog([old, e]));
    expect(await readFile(oldFile)).toEqual(oldBytes);
    expect((await stat(oldFile)).mtimeMs).toBe(oldMtime);
    // The log holds ingested events now: no longer a synth output a new synth may replace.
    await expect(withDb(':memory:', (db) => writeEventLog(db, paths.events, [old], null, paths.tmp))).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining('is an oo-ml event log holding ingested events, not its event-log'),
    });
    expect(await readLog(paths.events)).toEqual(expectedLog([old, e]));
  });

  it('redelivers after a crash between the file write and the ack; the next ingest writes nothing twice', async () => {
    server = await startNatsServer();
    const paths = await tempHome('oo-ml-ingest-');
    const bus = await natsBus();
    const events = twoDays('n5');
    for (const e of events) await bus.publish('signals', e);

    // The process "dies" after the files are renamed in: the connection goes before any ack.
    let crash: Promise<void> | undefined;
    const crashing: EventBus = {
      kind: bus.kind,
      publish: (channel, e) => bus.publish(channel, e),
      close: () => bus.close(),
      async consumer(options) {
        const c = await bus.consumer(options);
        return {
          name: c.name,
          mode: c.mode,
          close: () => c.close(),
          async fetch(f) {
            const got = await c.fetch(f);
            const die = async (): Promise<void> => {
              crash ??= bus.close();
              await crash;
              throw new Error('simulated crash before ack');
            };
            return { ...got, events: got.events.map((d) => ({ ...d, ack: die })) };
          },
        };
      },
    };
    await expect(ingestEvents(job(crashing, paths, { ackWaitMs: 1000, batchSize: events.length }))).rejects.toThrow('simulated crash before ack');
    const afterCrash = await logFiles(paths.events);
    expect(afterCrash.length).toBeGreaterThan(0);
    expect(await readLog(paths.events)).toEqual(expectedLog(events));

    const restarted = await natsBus();
    const summary: IngestSummary = await ingestEvents(job(restarted, paths, { ackWaitMs: 1000, idleMs: 2500, batchSize: events.length }));
    expect(summary).toMatchObject({ consumed: events.length, duplicates: events.length, deadLettered: 0, files: [] });
    expect(Object.values(summary.written).every((n) => n === 0)).toBe(true);
    expect(await logFiles(paths.events)).toEqual(afterCrash);
    expect(await readLog(paths.events)).toEqual(expectedLog(events));
    const info = await natsConsumer(server.url, INGEST_CONSUMER);
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });
});

describe('ingest from the embedded journal', () => {
  it('ingests what was published, and a re-run resumes after its recorded position', async () => {
    const paths = await tempHome('oo-ml-ingest-');
    const dir = embeddedBusDir(paths);
    const bus = createEventBusOver(createEmbeddedTransport(dir, { pollMs: 10 }));
    const first = twoDays('e1');
    for (const e of first) await bus.publish(e.type === 'tip.reaction' ? 'feedback' : 'signals', e);
    await bus.close();

    const fast = { maxWaitMs: 50, idleMs: 200 };
    const reader = createEventBusOver(createEmbeddedTransport(dir, { pollMs: 10 }));
    const one = await ingestEvents(job(reader, paths, fast));
    expect(one).toMatchObject({ transport: 'embedded', consumed: first.length, duplicates: 0 });
    expect(await readLog(paths.events)).toEqual(expectedLog(first));
    const state = JSON.parse(await readFile(join(dir, 'consumers', `${INGEST_CONSUMER}.json`), 'utf8')) as { subjects: Record<string, { line: number }> };
    expect(state.subjects['signals.tip.served']?.line).toBe(2);

    const nothing = await ingestEvents(job(reader, paths, fast));
    expect(nothing).toMatchObject({ consumed: 0, files: [], batches: 0 });

    // A time with an offset lands on its UTC day, at its UTC instant.
    const later = [completed('e1', '2026-01-07T23:30:00-02:00')];
    await reader.publish('signals', later[0]!);
    const two = await ingestEvents(job(reader, paths, fast));
    expect(two).toMatchObject({ consumed: 1, written: { 'task.completed': 1 } });
    expect(two.files).toEqual([expect.stringMatching(/^task\.completed\/day=2026-01-08\//)]);
    expect(await readLog(paths.events)).toEqual(expectedLog([...first, ...later]));
    await reader.close();
  });

  it('stops after the batch in hand when aborted, with the summary so far', async () => {
    const paths = await tempHome('oo-ml-ingest-');
    const bus = createEventBusOver(createEmbeddedTransport(embeddedBusDir(paths), { pollMs: 10 }));
    await bus.publish('signals', completed('e2', '2026-01-05T08:00:00.000Z'));
    const stop = new AbortController();
    const summary = await ingestEvents(job(bus, paths, { untilIdle: false, maxWaitMs: 50, signal: stop.signal, onBatch: () => stop.abort() }));
    expect(summary).toMatchObject({ consumed: 1, batches: 1, stoppedBy: 'signal' });
    await bus.close();
  });

  it('rejects bad batch options as usage errors', async () => {
    const paths = await tempHome('oo-ml-ingest-');
    const bus = createEventBusOver(createEmbeddedTransport(embeddedBusDir(paths)));
    await expect(ingestEvents(job(bus, paths, { batchSize: 0 }))).rejects.toMatchObject({ code: 'invalid_usage', message: expect.stringContaining('batch size') });
    await expect(ingestEvents(job(bus, paths, { maxWaitMs: -1 }))).rejects.toMatchObject({ code: 'invalid_usage' });
    await bus.close();
  });
});
