/**
 * The ingest sink against a real nats-server -js (free loopback port) and the embedded journal:
 * rows in the Parquet log equal the published events (read back through attachEventLog), invalid
 * payloads go to dlq.<subject> and not to the log, duplicates by event_id are written once, a
 * crash between the file write and the ack redelivers without duplicating, and one event DuckDB
 * refuses is dead-lettered alone while the rest of its batch is written.
 */
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HomePaths } from '../../src/config.js';
import { DEAD_LETTER_VALIDATOR, type DeadLetterEnvelope } from '../../src/events/dead-letter.js';
import { createEmbeddedTransport } from '../../src/events/embedded-transport.js';
import { createEventBusOver, type EventBus, type EventDelivery, type FetchedEvents } from '../../src/events/event-bus.js';
import { createNatsTransport } from '../../src/events/nats-transport.js';
import { EVENT_TYPES, type EventType, type OoEvent } from '../../src/events/schemas.js';
import type { Transport } from '../../src/events/transport.js';
import { withDb } from '../../src/io/duckdb.js';
import { attachEventLog, eventColumns, eventTable, writeEventLog } from '../../src/pipelines/event-log.js';
import { appendEvents, INGEST_CONSUMER, INGESTED_MARKER, ingestEvents, type IngestJob, type IngestSummary, type LogEvent } from '../../src/pipelines/ingest.js';
import { natsConsumer, publishRawNats, readNatsDlq } from '../events/nats-inspect.js';
import { completed, created, everyEventType, reacted, served } from '../helpers/events.js';
import { startNatsServer, type NatsTestServer } from '../../fixtures/nats-server.js';
import { tempHome } from '../helpers/temp-home.js';

/** The log row an event becomes: no `type`, times as Dates, optional fields it lacks as NULL. */
function asRow(e: OoEvent): Record<string, unknown> {
  const { type: _type, ...rest } = e;
  void _type;
  const row: Record<string, unknown> = { ...rest };
  for (const c of eventColumns(e.type)) {
    const v = row[c.name];
    if (v === undefined) row[c.name] = null;
    else if (c.sqlType === 'TIMESTAMP' && typeof v === 'string') row[c.name] = new Date(v);
  }
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

const channelOf = (e: OoEvent) => (e.type === 'tip.reaction' ? 'feedback' : 'signals');

/** Two days of events of every type. */
function twoDays(user: string): OoEvent[] {
  return [
    ...everyEventType(user),
    served(user, '2026-01-06T23:59:59.000Z', `${user}-s3`, 'time_block', 0.5),
    reacted(user, '2026-01-06T23:59:59.500Z', `${user}-s3`, 'dismissed', 0),
    created(user, '2026-01-06T01:00:00.000Z'),
    completed(user, '2026-01-06T02:00:00.000Z'),
  ];
}

/** `bus` whose consumers hand `fetch`'s result through `map` (what a faulty or older bus would deliver). */
function mapDeliveries(bus: EventBus, map: (got: FetchedEvents) => FetchedEvents): EventBus {
  return {
    kind: bus.kind,
    publish: (channel, e) => bus.publish(channel, e),
    reader: (startSeq) => bus.reader(startSeq),
    extent: () => bus.extent(),
    deadLetters: (last) => bus.deadLetters(last),
    claimWriter: () => bus.claimWriter(),
    setupWarnings: () => bus.setupWarnings(),
    health: () => bus.health(),
    onHealth: (listener) => bus.onHealth(listener),
    close: () => bus.close(),
    async consumer(options) {
      const c = await bus.consumer(options);
      return { name: c.name, ackWaitMs: c.ackWaitMs, unacked: () => c.unacked(), close: () => c.close(), fetch: async (f) => map(await c.fetch(f)) };
    },
  };
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
    for (const e of events) await bus.publish(channelOf(e), e);

    const summary = await ingestEvents(job(bus, paths, { batchSize: 4, now: () => new Date('2026-02-01T00:00:00Z') }));
    expect(summary).toMatchObject({
      transport: 'nats',
      consumer: INGEST_CONSUMER,
      consumed: events.length,
      written: { 'tip.served': 6, 'tip.reaction': 4, 'tip.reward': 2, 'task.created': 4, 'task.completed': 4, 'learning.reset': 2 },
      duplicates: 0,
      deadLettered: 0,
      stoppedBy: 'idle',
    });
    expect(summary.batches).toBeGreaterThanOrEqual(6);
    expect(await readLog(paths.events)).toEqual(expectedLog(events));
    // Only ingest files, only inside day= folders, nothing half-written left behind.
    // (and the marker saying the log holds ingested events).
    const all = await logFiles(paths.events);
    expect(all).toContain('.oo-ml-output');
    expect(await readFile(join(paths.events, '.oo-ml-output'), 'utf8')).toBe(`${INGESTED_MARKER}\n`);
    const files = all.filter((f) => f !== '.oo-ml-output');
    expect(files).toEqual([...summary.files].sort());
    const types = EVENT_TYPES.map((t) => t.replace('.', '\\.')).join('|');
    for (const f of files) expect(f).toMatch(new RegExp(`^(${types})/day=2026-01-0[56]/ingest-20260201T000000000Z-[0-9a-f]{12}\\.parquet$`));
    expect(files.some((f) => f.startsWith('learning.reset/day=2026-01-05/'))).toBe(true);
    expect(await readdir(paths.tmp)).toEqual([]);
    const info = await natsConsumer(server.url, INGEST_CONSUMER);
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });

  it('dead-letters invalid payloads with the reason naming the field, and keeps them out of the log', async () => {
    server = await startNatsServer();
    const paths = await tempHome('oo-ml-ingest-');
    const bus = await natsBus();
    const good = everyEventType('n3');
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
    const die = async (): Promise<void> => {
      crash ??= bus.close();
      await crash;
      throw new Error('simulated crash before ack');
    };
    const crashing = mapDeliveries(bus, (got) => ({
      ...got,
      events: got.events.map((d): EventDelivery => ({ subject: d.subject, event: d.event, seq: d.seq, deliveryCount: d.deliveryCount, data: d.data, ack: die, deadLetter: (...args) => d.deadLetter(...args) })),
    }));
    await expect(ingestEvents(job(crashing, paths, { ackWaitMs: 3000, batchSize: events.length }))).rejects.toThrow('simulated crash before ack');
    const afterCrash = await logFiles(paths.events);
    expect(afterCrash.length).toBeGreaterThan(0);
    expect(await readLog(paths.events)).toEqual(expectedLog(events));

    const restarted = await natsBus();
    // Idle long before the ack wait is over: the run still waits for the unacked messages (and
    // says so, unless they came back before its first quiet spell).
    const waited: number[] = [];
    const summary: IngestSummary = await ingestEvents({
      ...job(restarted, paths, { ackWaitMs: 3000, idleMs: 100, batchSize: events.length }),
      onWaitingForUnacked: (n) => waited.push(n),
    });
    expect(waited.every((n) => n === events.length)).toBe(true);
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
    const dir = paths.bus;
    const bus = createEventBusOver(createEmbeddedTransport(dir, { pollMs: 10 }));
    const first = twoDays('e1');
    for (const e of first) await bus.publish(channelOf(e), e);
    await bus.close();

    const fast = { maxWaitMs: 50, idleMs: 200 };
    const reader = createEventBusOver(createEmbeddedTransport(dir, { pollMs: 10 }));
    const one = await ingestEvents(job(reader, paths, fast));
    expect(one).toMatchObject({ transport: 'embedded', consumed: first.length, duplicates: 0 });
    expect(await readLog(paths.events)).toEqual(expectedLog(first));

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
    const bus = createEventBusOver(createEmbeddedTransport(paths.bus, { pollMs: 10 }));
    await bus.publish('signals', completed('e2', '2026-01-05T08:00:00.000Z'));
    const stop = new AbortController();
    const summary = await ingestEvents(job(bus, paths, { untilIdle: false, maxWaitMs: 50, signal: stop.signal, onBatch: () => stop.abort() }));
    expect(summary).toMatchObject({ consumed: 1, batches: 1, stoppedBy: 'signal' });
    await bus.close();
  });

  it('lets one ingest at a time write an event log, whatever its consumer name, and the next after it stopped', async () => {
    const paths = await tempHome('oo-ml-ingest-');
    const bus = createEventBusOver(createEmbeddedTransport(paths.bus, { pollMs: 10 }));
    const event = completed('e3', '2026-01-05T08:00:00.000Z');
    await bus.publish('signals', event);
    const stop = new AbortController();
    let inFirst!: () => void;
    const firstHolds = new Promise<void>((resolve) => (inFirst = resolve));
    const first = ingestEvents(job(bus, paths, { untilIdle: false, maxWaitMs: 50, signal: stop.signal, onBatch: () => inFirst() }));
    await firstHolds;
    // Under another consumer name it would write every event a second time: refused, naming the holder.
    await expect(ingestEvents(job(bus, paths, { consumer: 'another' }))).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining(`is being written by another oo-ml ingest or import (process ${process.pid}`),
    });
    stop.abort();
    expect(await first).toMatchObject({ consumed: 1, stoppedBy: 'signal' });
    expect(await ingestEvents(job(bus, paths, { consumer: 'another', maxWaitMs: 50, idleMs: 100 }))).toMatchObject({ consumer: 'another', consumed: 1, duplicates: 1 });
    expect(await readLog(paths.events)).toEqual(expectedLog([event]));
    await bus.close();
  });

  it('stops, writing nothing more, once its lock is no longer its own (another ingest took the log while it stood still)', async () => {
    const paths = await tempHome('oo-ml-ingest-');
    const bus = createEventBusOver(createEmbeddedTransport(paths.bus, { pollMs: 10 }));
    const first = completed('e4', '2026-01-05T08:00:00.000Z');
    await bus.publish('signals', first);
    let inFirst!: () => void;
    const firstDone = new Promise<void>((resolve) => (inFirst = resolve));
    // Runs until stopped (a signal it is never sent): here, by losing its lock.
    const running = ingestEvents(job(bus, paths, { untilIdle: false, signal: new AbortController().signal, maxWaitMs: 50, onBatch: () => inFirst() }));
    const outcome = running.then(() => 'stopped', (e: unknown) => (e instanceof Error ? e.message : String(e)));
    await firstDone;
    const lock = `${paths.events}.ingest-lock`;
    await rm(lock, { recursive: true });
    await mkdir(lock);
    await writeFile(join(lock, 'pid'), `${process.pid}\n${hostname()}\n1000\n`);
    // Published until the ingest notices, at its next beat (what it wrote until then is written
    // once: the new holder's consumer starts after this one's acks).
    let n = 0;
    let seen = '';
    while (seen === '') {
      await bus.publish('signals', completed(`late-${n++}`, '2026-01-05T09:00:00.000Z'));
      seen = await Promise.race([outcome, new Promise<string>((resolve) => setTimeout(() => resolve(''), 50))]);
    }
    expect(seen).toContain('ingest lost its lock');
    expect(await readdir(lock)).toEqual(['pid']);
    await bus.close();
  });

  it('rejects bad batch options as usage errors', async () => {
    const paths = await tempHome('oo-ml-ingest-');
    const bus = createEventBusOver(createEmbeddedTransport(paths.bus));
    await expect(ingestEvents(job(bus, paths, { batchSize: 0 }))).rejects.toMatchObject({ code: 'invalid_usage', message: 'batchSize must be an integer between 1 and 10000, got 0' });
    await expect(ingestEvents(job(bus, paths, { maxWaitMs: -1 }))).rejects.toMatchObject({ code: 'invalid_usage', message: 'maxWaitMs must be an integer between 0 and 600000, got -1' });
    await bus.close();
  });
});

/** 500 events over two days (serves, reactions, completions), event_ids p-000 … p-499. */
function fiveHundred(): OoEvent[] {
  return Array.from({ length: 500 }, (_, i): OoEvent => {
    const ts = new Date(Date.parse('2026-01-05T06:00:00.000Z') + i * 300_000).toISOString();
    const e = i % 3 === 0 ? served(`u${i % 7}`, ts, `p-s${i}`) : i % 3 === 1 ? reacted(`u${i % 7}`, ts, `p-s${i - 1}`, 'liked', i) : completed(`u${i % 7}`, ts);
    return { ...e, event_id: `p-${String(i).padStart(3, '0')}` };
  });
}

// What DuckDB refuses to stage, as events the schemas admitted before they refused them at the
// edge: a lone surrogate ("Malformed JSON … no low surrogate"), and a 34 MB model_version (a JSON
// line beyond twice DuckDB's maximum_object_size). They stand for whatever else DuckDB may refuse.
const DUCKDB_POISONS: [string, (e: Extract<OoEvent, { type: 'tip.served' }>) => OoEvent, RegExp][] = [
  ['a lone surrogate', (e) => ({ ...e, user_id: 'u\ud800' }), /Malformed JSON.*surrogate/],
  ['a 34 MB model_version', (e) => ({ ...e, model_version: 'v'.repeat(34_000_000) }), /maximum_object_size/],
];

/** Events as appendEvents takes them, with the bus's bytes where `raw` has them. */
const asLog = (events: readonly OoEvent[], raw?: ReadonlyMap<OoEvent, Uint8Array>): LogEvent[] => events.map((event) => ({ event, data: raw?.get(event) }));

describe('appendEvents staging payloads as stored (the fast path)', () => {
  it('writes exactly the rows of the events re-serialised (differential), and the event itself when its stored payload is refused', async () => {
    const events = fiveHundred();
    // Times with an offset go through the re-serialising path (DuckDB drops offsets): mix them in.
    const withOffsets = events.map((e, i) => (i % 7 === 0 ? { ...e, ts: e.ts.replace('Z', '+00:00') } : e));
    const raw = new Map(withOffsets.map((e) => [e, new TextEncoder().encode(JSON.stringify(e))] as const));
    // A stored payload with a key twice: JSON.parse kept the last value (the event), DuckDB refuses the line.
    const twice = withOffsets[11]!;
    raw.set(twice, new TextEncoder().encode(JSON.stringify(twice).replace('{', `{"event_id":"not-this",`)));
    const now = () => new Date('2026-02-01T00:00:00Z');
    const fast = await tempHome('oo-ml-ingest-raw-');
    const plain = await tempHome('oo-ml-ingest-plain-');
    const a = await withDb(':memory:', (db) => appendEvents(db, fast.events, fast.tmp, asLog(withOffsets, raw), now));
    const b = await withDb(':memory:', (db) => appendEvents(db, plain.events, plain.tmp, asLog(withOffsets), now));
    expect(a.refused).toEqual([]);
    expect(a.written).toEqual(b.written);
    expect(await readLog(fast.events)).toEqual(await readLog(plain.events));
    expect(await readLog(fast.events)).toEqual(expectedLog(events));
  });
});

describe('appendEvents de-duplicating within one session', () => {
  it('knows what it wrote in earlier batches, and what an earlier run wrote, also after dropping a day it held', async () => {
    const paths = await tempHome('oo-ml-ingest-');
    const now = () => new Date('2026-02-01T00:00:00Z');
    // An earlier run's file on day 1 (read from disk when this session first writes to day 1).
    const earlier = completed('u', '2026-01-01T08:00:00.000Z');
    await withDb(':memory:', (db) => appendEvents(db, paths.events, paths.tmp, asLog([earlier]), now));
    // Six days: more than the days a session holds per type, so day 1's ids are dropped and read again.
    const days = [1, 2, 3, 4, 5, 6].map((d) => completed('u', `2026-01-0${d}T09:00:00.000Z`));
    const later = completed('u', '2026-01-06T10:00:00.000Z');
    await withDb(':memory:', async (db) => {
      const first = await appendEvents(db, paths.events, paths.tmp, asLog([earlier, ...days]), now);
      expect(first).toMatchObject({ duplicates: 1, written: { 'task.completed': 6 } });
      // Redelivered copies of day 1 (dropped, read again) and day 6 (held), with one new event.
      const second = await appendEvents(db, paths.events, paths.tmp, asLog([days[0]!, earlier, days[5]!, later, days[5]!]), now);
      expect(second).toMatchObject({ duplicates: 4, written: { 'task.completed': 1 }, files: [expect.stringMatching(/^task\.completed\/day=2026-01-06\/ingest-/)] });
    });
    expect(await readLog(paths.events)).toEqual(expectedLog([earlier, ...days, later]));
  });
});

describe('appendEvents with copies that disagree on the day', () => {
  it('writes an event_id once even when its copies carry times on different days (the first copy decides)', async () => {
    const paths = await tempHome('oo-ml-ingest-');
    const e = completed('u', '2026-01-05T23:59:59.000Z');
    const later = { ...e, ts: '2026-01-06T00:00:01.000Z' };
    const result = await withDb(':memory:', (db) => appendEvents(db, paths.events, paths.tmp, asLog([e, later]), () => new Date('2026-02-01T00:00:00Z')));
    expect(result).toMatchObject({ duplicates: 1, written: { 'task.completed': 1 }, files: [expect.stringMatching(/^task\.completed\/day=2026-01-05\//)] });
    expect(await readLog(paths.events)).toEqual(expectedLog([e]));
  });

  it('does not read the day only a later copy names: an unreadable file there does not fail the batch', async () => {
    const paths = await tempHome('oo-ml-ingest-');
    const otherDay = join(paths.events, 'task.completed', 'day=2026-01-07');
    await mkdir(otherDay, { recursive: true });
    await writeFile(join(otherDay, 'events.parquet'), 'not parquet');
    const e = completed('u', '2026-01-05T09:00:00.000Z');
    const copy = { ...e, ts: '2026-01-07T09:00:00.000Z' };
    const result = await withDb(':memory:', (db) => appendEvents(db, paths.events, paths.tmp, asLog([e, copy]), () => new Date('2026-02-01T00:00:00Z')));
    expect(result).toMatchObject({ duplicates: 1, written: { 'task.completed': 1 }, refused: [] });
  });
});

describe('appendEvents with events DuckDB refuses', () => {
  it.each(DUCKDB_POISONS)('refuses %s alone and writes the 499 others in one file per type and day', async (_label, poison, error) => {
    const paths = await tempHome('oo-ml-ingest-');
    const events = fiveHundred();
    const at = 300; // a tip.served
    const bad = poison(events[at] as Extract<OoEvent, { type: 'tip.served' }>);
    const batch = events.map((e, i) => (i === at ? bad : e));
    const now = () => new Date('2026-02-01T00:00:00Z');
    const result = await withDb(':memory:', (db) => appendEvents(db, paths.events, paths.tmp, asLog(batch), now));
    expect(result.refused).toEqual([{ type: 'tip.served', event_id: 'p-300', message: expect.stringMatching(error) }]);
    expect(result.refused[0]!.message).toContain('tip.served p-300');
    const good = events.filter((_, i) => i !== at);
    expect(Object.values(result.written).reduce((a, b) => a + b, 0)).toBe(499);
    expect(result.duplicates).toBe(0);
    // One file per type and day, as without the poison; no temporaries left.
    expect(result.files.map((f) => f.replace(/\/ingest-.*/, '')).sort()).toEqual(
      ['tip.served', 'tip.reaction', 'task.completed'].flatMap((t) => [`${t}/day=2026-01-05`, `${t}/day=2026-01-06`]).sort(),
    );
    expect(await readdir(paths.tmp)).toEqual([]);
    expect(await readLog(paths.events)).toEqual(expectedLog(good));

    // Again (a redelivery): the others are duplicates now, the poison is refused again.
    const again = await withDb(':memory:', (db) => appendEvents(db, paths.events, paths.tmp, asLog(batch), now));
    expect(again).toMatchObject({ duplicates: 499, files: [], refused: [{ event_id: 'p-300' }] });
  });

  it('leaves every copy of a refused event out, without counting the copies as duplicates', async () => {
    const paths = await tempHome('oo-ml-ingest-');
    const bad = { ...completed('u', '2026-01-05T09:00:00.000Z'), task_id: '\udc00' };
    const ok = completed('u', '2026-01-05T10:00:00.000Z');
    const result = await withDb(':memory:', (db) => appendEvents(db, paths.events, paths.tmp, asLog([bad, ok, bad, ok]), () => new Date()));
    expect(result).toMatchObject({ written: { 'task.completed': 1 }, duplicates: 1, refused: [{ event_id: bad.event_id }] });
  });

  it('does not split the batch for an error that is not about the events: an unreadable stored file fails it whole', async () => {
    const paths = await tempHome('oo-ml-ingest-');
    const dayDir = join(paths.events, 'task.completed', 'day=2026-01-05');
    await mkdir(dayDir, { recursive: true });
    await writeFile(join(dayDir, 'events.parquet'), 'not parquet');
    const events = [completed('u', '2026-01-05T09:00:00.000Z'), completed('u', '2026-01-05T10:00:00.000Z')];
    await expect(withDb(':memory:', (db) => appendEvents(db, paths.events, paths.tmp, asLog(events), () => new Date()))).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining(`event files in ${dayDir} cannot be read`),
    });
    expect(await readdir(paths.tmp)).toEqual([]);
    expect(await readdir(dayDir)).toEqual(['events.parquet']);
  });
});

/** An opened bus, its transport (to inject raw bytes), and the dead letters published through it. */
interface BusUnderTest {
  bus: EventBus;
  transport: Transport;
  deadLetters: { subject: string; envelope: DeadLetterEnvelope }[];
  /** All messages acked (none pending for the ingest consumer); call last. */
  allAcked(): Promise<boolean>;
  close(): Promise<void>;
}

/** `transport`, recording what is published on dlq.> (both adapters store dead letters through `publish`). */
function recording(transport: Transport, deadLetters: BusUnderTest['deadLetters']): Transport {
  return {
    kind: transport.kind,
    async publish(subject, data, msgId) {
      const ack = await transport.publish(subject, data, msgId);
      if (subject.startsWith('dlq.') && !ack.duplicate) deadLetters.push({ subject, envelope: JSON.parse(new TextDecoder().decode(data)) as DeadLetterEnvelope });
      return ack;
    },
    consumer: (options) => transport.consumer(options),
    reader: (startSeq) => transport.reader(startSeq),
    extent: () => transport.extent(),
    deadLetters: (last) => transport.deadLetters(last),
    claimWriter: () => transport.claimWriter(),
    setupWarnings: () => transport.setupWarnings(),
    health: () => transport.health(),
    onHealth: (listener) => transport.onHealth(listener),
    close: () => transport.close(),
  };
}

const BUSES: [string, (paths: HomePaths) => Promise<BusUnderTest>][] = [
  [
    'the embedded bus',
    async (paths) => {
      const deadLetters: BusUnderTest['deadLetters'] = [];
      const open = () => recording(createEmbeddedTransport(paths.bus, { pollMs: 10 }), deadLetters);
      const transport = open();
      const bus = createEventBusOver(transport);
      return {
        bus,
        transport,
        deadLetters,
        // The embedded bus redelivers unacked messages to the next consumer of that name.
        async allAcked() {
          await bus.close();
          const next = createEventBusOver(open());
          try {
            const c = await next.consumer({ name: INGEST_CONSUMER });
            const got = await c.fetch({ max: 1, maxWaitMs: 100 });
            return got.events.length + got.rejected.length === 0;
          } finally {
            await next.close();
          }
        },
        close: () => bus.close(),
      };
    },
  ],
  [
    'NATS JetStream',
    async () => {
      const server = await startNatsServer();
      const deadLetters: BusUnderTest['deadLetters'] = [];
      const transport = recording(await createNatsTransport(server.url), deadLetters);
      const bus = createEventBusOver(transport);
      return {
        bus,
        transport,
        deadLetters,
        async allAcked() {
          const info = await natsConsumer(server.url, INGEST_CONSUMER);
          // And what the bus recorded is what JetStream stored.
          expect((await readNatsDlq(server.url)).map((d) => d.envelope)).toEqual(deadLetters.map((d) => d.envelope));
          return info.num_pending + info.num_ack_pending === 0;
        },
        async close() {
          await bus.close().catch(() => undefined);
          await server.stop();
        },
      };
    },
  ],
];

describe.each(BUSES)('one poison in a batch of 500 on %s', (_label, openBus) => {
  const open: BusUnderTest[] = [];
  afterEach(async () => {
    for (const b of open.splice(0)) await b.close();
  });
  async function setUp(): Promise<{ paths: HomePaths; under: BusUnderTest; events: OoEvent[]; after: OoEvent[] }> {
    const paths = await tempHome('oo-ml-ingest-');
    const under = await openBus(paths);
    open.push(under);
    const events = fiveHundred();
    // A second batch behind the poisoned one: the ingest goes on after it.
    const after = Array.from({ length: 20 }, (_, i) => completed('later', new Date(Date.parse('2026-01-07T00:00:00Z') + i * 1000).toISOString()));
    return { paths, under, events, after };
  }
  const ingest = (bus: EventBus, paths: HomePaths, batches: number[]) =>
    ingestEvents(job(bus, paths, { batchSize: 500, onBatch: (s) => batches.push(s.consumed) }));

  it('refuses a lone-surrogate payload at the edge (invalid_event, naming /user_id) and writes the 499 others', async () => {
    const { paths, under, events, after } = await setUp();
    const at = 300;
    const { type: _t, ...fields } = events[at] as Extract<OoEvent, { type: 'tip.served' }>;
    void _t;
    // Raw bytes another publisher might send: JSON's \ud800 escape, valid UTF-8 on the wire.
    const raw = `{"type":"tip.served",${JSON.stringify({ ...fields, user_id: 'PLACEHOLDER' }).slice(1).replace('"PLACEHOLDER"', '"\\ud800"')}`;
    expect(raw).toContain('"user_id":"\\ud800"');
    for (const [i, e] of events.entries()) {
      if (i === at) await under.transport.publish('signals.tip.served', new TextEncoder().encode(raw), 'raw-poison');
      else await under.bus.publish(channelOf(e), e);
    }
    for (const e of after) await under.bus.publish('signals', e);

    const batches: number[] = [];
    const summary = await ingest(under.bus, paths, batches);
    expect(batches[0]).toBe(500);
    expect(summary).toMatchObject({ consumed: 520, deadLettered: 1, deadLetterReasons: { invalid_event: 1 }, duplicates: 0, stoppedBy: 'idle' });
    expect(Object.values(summary.written).reduce((a, b) => a + b, 0)).toBe(519);
    expect(under.deadLetters).toHaveLength(1);
    const { subject, envelope } = under.deadLetters[0]!;
    expect(DEAD_LETTER_VALIDATOR.check(envelope)).toBe(true);
    expect(subject).toBe('dlq.signals.tip.served');
    expect(envelope).toMatchObject({ reason: 'invalid_event', payload_text: raw, consumer: INGEST_CONSUMER });
    expect(envelope.issues.map((i) => i.path)).toEqual(['/user_id']);
    expect(await readLog(paths.events)).toEqual(expectedLog([...events.filter((_, i) => i !== at), ...after]));
    expect(await readdir(paths.tmp)).toEqual([]);
    expect(await under.allAcked()).toBe(true);
  });

  it.each(DUCKDB_POISONS)('dead-letters an event DuckDB refuses (%s) alone as unstorable and writes the 499 others', async (_poison, poison, error) => {
    const { paths, under, events, after } = await setUp();
    const at = 300;
    for (const e of [...events, ...after]) await under.bus.publish(channelOf(e), e);
    // The bus delivers p-300 as the poison: a bus whose schemas still admit it (an older oo-ml).
    // Its payload is the poison too (the ingest stages the bytes it was given); its dead letter
    // keeps the bytes the transport delivered.
    const bad = poison(events[at] as Extract<OoEvent, { type: 'tip.served' }>);
    const admitting = mapDeliveries(under.bus, (got) => ({
      ...got,
      events: got.events.map((d): EventDelivery =>
        d.event.event_id === bad.event_id
          ? { subject: d.subject, seq: d.seq, deliveryCount: d.deliveryCount, event: bad, data: new TextEncoder().encode(JSON.stringify(bad)), ack: () => d.ack(), deadLetter: (...args) => d.deadLetter(...args) }
          : d,
      ),
    }));

    const batches: number[] = [];
    const summary = await ingest(admitting, paths, batches);
    expect(batches[0]).toBe(500);
    expect(summary).toMatchObject({ consumed: 520, deadLettered: 1, deadLetterReasons: { unstorable: 1 }, duplicates: 0, stoppedBy: 'idle' });
    expect(Object.values(summary.written).reduce((a, b) => a + b, 0)).toBe(519);
    expect(under.deadLetters).toHaveLength(1);
    const { subject, envelope } = under.deadLetters[0]!;
    expect(DEAD_LETTER_VALIDATOR.check(envelope)).toBe(true);
    expect(subject).toBe('dlq.signals.tip.served');
    expect(envelope).toMatchObject({ reason: 'unstorable', consumer: INGEST_CONSUMER, issues: [] });
    expect(envelope.message).toContain('tip.served p-300');
    expect(envelope.message).toMatch(error);
    // The envelope keeps the bytes the bus delivered.
    expect(JSON.parse(envelope.payload_text!)).toMatchObject({ event_id: 'p-300' });
    expect(await readLog(paths.events)).toEqual(expectedLog([...events.filter((_, i) => i !== at), ...after]));
    expect(await readdir(paths.tmp)).toEqual([]);
    expect(await under.allAcked()).toBe(true);
  });

  it('round-trips a tip.served with features, experiment and variant, and a learning.reset, into the Parquet log', async () => {
    const { paths, under } = await setUp();
    const events = twoDays('f1');
    for (const e of events) await under.bus.publish(channelOf(e), e);
    const summary = await ingestEvents(job(under.bus, paths));
    expect(summary).toMatchObject({ consumed: events.length, deadLettered: 0, written: { 'learning.reset': 1 } });
    const log = await readLog(paths.events);
    expect(log).toEqual(expectedLog(events));
    const withFeatures = log['tip.served'].find((r) => r['features'] !== null)!;
    expect(withFeatures).toMatchObject({ experiment: 'exp-1', variant: 'treatment', features: { has_profile: true } });
    expect(summary.files.some((f) => f.startsWith('learning.reset/day=2026-01-05/'))).toBe(true);
  });
});
