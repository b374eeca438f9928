/**
 * The EventBus contract on the embedded bus (a temp home), plus what only it has: its files (one
 * events stream, one dead-letter stream, consumer states), delivery counts that survive a
 * restart, a crashed writer's fragment, the consumer and writer locks (the latter across
 * processes), rotation and retention, the migration from the per-subject journals, and a
 * property: any interleaving of publishes reads back in order from any seq.
 */
import { readlinkSync } from 'node:fs';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFile, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createEmbeddedTransport, deliveryRuns, EMBEDDED_DEDUPE_WINDOW_MS } from '../../src/events/embedded-transport.js';
import { createEventBus, createEventBusOver } from '../../src/events/event-bus.js';
import { legacyJournalPath, segmentName, type StreamLine } from '../../src/events/journal.js';
import { MAX_DELIVERIES } from '../../src/events/transport.js';
import { completed, created, reacted, served } from '../helpers/events.js';
import { readStreamLines } from '../helpers/stream-lines.js';
import { tempHome } from '../helpers/temp-home.js';
import { drain, expectCode, oneOfEach, readN, runEventBusContract, type StoredDeadLetter } from './event-bus.contract.js';

/** Every line of the stream `stream` (events or dlq) under the bus folder `dir`, in order. */
const readStream = (dir: string, stream: 'events' | 'dlq', start = 1): Promise<StreamLine[]> => readStreamLines(join(dir, stream), start);

/** Every dead letter on the embedded bus's dead-letter stream. */
async function readEmbeddedDlq(dir: string): Promise<StoredDeadLetter[]> {
  return (await readStream(dir, 'dlq')).map((l) => ({ subject: l.subject, envelope: JSON.parse(Buffer.from(l.data).toString()) as unknown }));
}

const text = (data: Uint8Array): string => Buffer.from(data).toString();

runEventBusContract('embedded journal', async () => {
  const paths = await tempHome('oo-ml-bus-');
  const dir = paths.bus;
  let transport = createEmbeddedTransport(dir, { pollMs: 10 });
  let bus = createEventBusOver(transport);
  return {
    get bus() {
      return bus;
    },
    get transport() {
      return transport;
    },
    readDlq: () => readEmbeddedDlq(dir),
    async reopen() {
      await bus.close();
      transport = createEmbeddedTransport(dir, { pollMs: 10 });
      bus = createEventBusOver(transport);
      return { bus, transport };
    },
    close: () => bus.close(),
  };
});

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./bus-writer-child.ts', import.meta.url));

/** What the child process printed: its publish's outcome. */
interface ChildOutcome {
  ok: boolean;
  pid: number;
  seq?: number;
  code?: string;
  message?: string;
  hint?: string;
}

/** Starts bus-writer-child.ts on `dir`; `outcome` resolves with its first line, `exited` when it ends. */
function startChild(dir: string, mode: 'once' | 'hold'): { child: ChildProcessWithoutNullStreams; outcome: Promise<ChildOutcome>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, mode], { cwd: REPO, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const outcome = new Promise<ChildOutcome>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as ChildOutcome);
    });
    void exited.then((code) => reject(new Error(`child exited (${code}) before answering: ${err}`)));
  });
  return { child, outcome, exited };
}

/** A bus over a new transport on `dir` (a process start). */
function openBus(dir: string, options: Parameters<typeof createEmbeddedTransport>[1] = {}) {
  const transport = createEmbeddedTransport(dir, { pollMs: 10, ...options });
  return { transport, bus: createEventBusOver(transport) };
}

describe('embedded bus files', () => {
  it('acknowledges a publish once written and syncs it within OO_ML_BUS_SYNC_MS (default 1 s); 0 syncs before each ack; a bad value is refused by name', async () => {
    const probe = await tempHome('oo-ml-bus-sync-');
    await writeFile(join(probe.home, 'probe'), '');
    const { open } = await import('node:fs/promises');
    const h = await open(join(probe.home, 'probe'), 'r');
    await h.close();
    const syncs = vi.spyOn(Object.getPrototypeOf(h) as { datasync: () => Promise<void> }, 'datasync');
    try {
      const [a, b] = oneOfEach('sync1');
      const lazy = await createEventBus(loadConfig((await tempHome('oo-ml-bus-')).home, {}));
      await lazy.publish('signals', a!);
      const afterAck = syncs.mock.calls.length;
      await lazy.publish('feedback', b!);
      // Acknowledged without a sync of its own; the timer syncs within the second.
      expect(syncs.mock.calls.length).toBe(afterAck);
      await vi.waitFor(() => expect(syncs.mock.calls.length).toBeGreaterThan(afterAck), { timeout: 5000 });
      await lazy.close();

      const strict = await createEventBus(loadConfig((await tempHome('oo-ml-bus-')).home, { OO_ML_BUS_SYNC_MS: '0' }));
      await strict.publish('signals', a!);
      const before = syncs.mock.calls.length;
      await strict.publish('feedback', b!);
      expect(syncs.mock.calls.length).toBe(before + 1);
      await strict.close();
    } finally {
      syncs.mockRestore();
    }
    for (const bad of ['-1', '1.5', 'soon', '60001']) {
      expect(() => loadConfig(probe.home, { OO_ML_BUS_SYNC_MS: bad }).busSyncMs()).toThrow(expect.objectContaining({ code: 'invalid_usage', message: expect.stringContaining(`OO_ML_BUS_SYNC_MS must be whole milliseconds from 0 to 60000, got "${bad}"`) }));
    }
    expect(loadConfig(probe.home, { OO_ML_BUS_SYNC_MS: ' 250 ' }).busSyncMs()).toBe(250);
  });

  it('is the default bus and keeps one events stream of `<subject> <payload>` lines, dead letters in their own stream', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const bus = await createEventBus(loadConfig(paths.home, {}));
    expect(bus.kind).toBe('embedded');
    expect(bus.health()).toMatchObject({ connected: true, detail: null });
    const [s, r, c] = oneOfEach('j1');
    expect((await bus.publish('signals', s!)).seq).toBe(1);
    expect((await bus.publish('feedback', r!)).seq).toBe(2);
    // A second transport of the process on the same folder shares its writer (and seqs).
    const dir = join(paths.data, 'bus');
    const raw = createEmbeddedTransport(dir);
    expect(await raw.publish('signals.task.created', Buffer.from('{"type":"task.created"}'), 'raw-1')).toEqual({ duplicate: false, seq: 3 });
    expect((await bus.publish('signals', c!)).seq).toBe(4);
    await raw.close();
    const consumer = await bus.consumer({ name: 'files' });
    const got = await drain(consumer, 4);
    expect(got.rejected.map((x) => [x.reason, x.seq])).toEqual([['invalid_event', 3]]);
    await Promise.all(got.events.map((x) => x.ack()));
    await consumer.close();
    await bus.close();
    expect((await readdir(dir)).sort()).toEqual(['consumers', 'dlq', 'events']);
    expect(await readdir(join(dir, 'events'))).toEqual([segmentName(1)]);
    expect(await readFile(join(dir, 'events', segmentName(1)), 'utf8')).toBe(
      [`signals.tip.served ${JSON.stringify(s)}`, `feedback.tip.reaction ${JSON.stringify(r)}`, 'signals.task.created {"type":"task.created"}', `signals.task.created ${JSON.stringify(c)}`, ''].join('\n'),
    );
    expect(await readdir(join(dir, 'dlq'))).toEqual([segmentName(1)]);
    expect((await readEmbeddedDlq(dir)).map((x) => x.subject)).toEqual(['dlq.signals.task.created']);
    expect(JSON.parse(await readFile(join(dir, 'consumers', 'files.json'), 'utf8'))).toEqual({ version: 2, consumer: 'files', acked: 4, deliveries: [] });
    // A closed transport publishes nothing more.
    await expectCode(raw.publish('signals.task.created', Buffer.from('{}'), 'raw-2'), 'unavailable', /closed/);
    await expectCode(createEmbeddedTransport(dir).publish('alerts.x', Buffer.from('{}'), 'raw-3'), 'invalid_input', /no stream/);
  });

  it('records the contiguous acked prefix and the delivery counts of what is unacked in consumers/<name>.json', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const { bus } = openBus(dir);
    const events = [0, 1, 2].map((i) => created('j2', `2026-01-05T0${i}:00:00.000Z`));
    for (const e of events) await bus.publish('signals', e);
    const c = await bus.consumer({ name: 'offsets' });
    const got = await drain(c, 3);
    expect(got.events.map((d) => [d.seq, d.deliveryCount])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    const state = async (): Promise<unknown> => JSON.parse(await readFile(join(dir, 'consumers', 'offsets.json'), 'utf8'));
    // The counts were on disk before the fetch returned.
    expect(await state()).toEqual({ version: 2, consumer: 'offsets', acked: 0, deliveries: [[1, 3, 1]] });
    // Out of order: acking the 1st and 3rd moves the position past the 1st only.
    await got.events[0]!.ack();
    await got.events[2]!.ack();
    expect(await state()).toEqual({ version: 2, consumer: 'offsets', acked: 1, deliveries: [[2, 2, 1]] });
    await c.close();
    // The lock is released on close; the unacked 2nd message comes back counted twice, the 3rd
    // (acked, but not yet covered by the prefix) once more from the start of its count.
    const again = await bus.consumer({ name: 'offsets' });
    const rest = await drain(again, 2);
    expect(rest.events.map((d) => [d.event.event_id, d.deliveryCount])).toEqual([
      [events[1]!.event_id, 2],
      [events[2]!.event_id, 1],
    ]);
    await Promise.all(rest.events.map((d) => d.ack()));
    await again.close();
    expect(await state()).toEqual({ version: 2, consumer: 'offsets', acked: 3, deliveries: [] });
    await bus.close();
  });

  it('keeps delivery counts across restarts: a message that never gets acked is dead-lettered as redelivery_limit and the consumer goes on', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const poison = completed('j5', '2026-01-05T10:00:00.000Z');
    const next = completed('j5', '2026-01-05T11:00:00.000Z');
    {
      const { bus } = openBus(dir);
      await bus.publish('signals', poison);
      await bus.publish('signals', next);
      await bus.close();
    }
    // Each run fetches the message and dies before acking it (closing without an ack is what a
    // crash leaves on disk: the count was written before the fetch returned).
    for (let run = 1; run <= MAX_DELIVERIES; run++) {
      const { bus } = openBus(dir);
      const c = await bus.consumer({ name: 'ingest' });
      const got = await c.fetch({ max: 1, maxWaitMs: 1000 });
      expect(got.events.map((d) => [d.event.event_id, d.deliveryCount])).toEqual([[poison.event_id, run]]);
      await bus.close();
    }
    const { bus } = openBus(dir);
    const c = await bus.consumer({ name: 'ingest' });
    const got = await drain(c, 2);
    expect(got.rejected).toMatchObject([{ reason: 'redelivery_limit', delivery_count: MAX_DELIVERIES + 1, seq: 1, original_subject: 'signals.task.completed' }]);
    expect(got.events.map((d) => [d.event, d.deliveryCount])).toEqual([[next, 1]]);
    await Promise.all(got.events.map((d) => d.ack()));
    await c.close();
    expect((await readEmbeddedDlq(dir)).map((d) => (d.envelope as { reason: string }).reason)).toEqual(['redelivery_limit']);
    const after = await bus.consumer({ name: 'ingest' });
    expect(await after.fetch({ max: 10, maxWaitMs: 100 })).toEqual({ events: [], rejected: [] });
    await after.close();
    await bus.close();
  });

  it('keeps a crashed writer’s torn line apart: the fragment is dead-lettered, the next message delivered', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const bus1 = openBus(dir).bus;
    const before = completed('j3', '2026-01-05T10:00:00.000Z');
    await bus1.publish('signals', before);
    await bus1.close();
    // A writer died half-way through a line.
    await appendFile(join(dir, 'events', segmentName(1)), 'signals.task.completed {"type":"task.completed","event_id":"torn');
    const reader = openBus(dir).bus;
    expect(await reader.extent()).toEqual({ firstSeq: 1, lastSeq: 1 });
    const c = await reader.consumer({ name: 'torn' });
    // An incomplete last line is not a message yet.
    expect((await c.fetch({ max: 10, maxWaitMs: 100 })).events.map((d) => d.event)).toEqual([before]);
    const bus2 = openBus(dir).bus;
    const after = completed('j3', '2026-01-05T11:00:00.000Z');
    // The next writer ends the fragment first: it is line 2, so this is line 3.
    expect((await bus2.publish('signals', after)).seq).toBe(3);
    const got = await drain(c, 2);
    expect(got.events.map((d) => [d.event, d.seq])).toEqual([[after, 3]]);
    expect(got.rejected).toMatchObject([{ reason: 'not_json', payload_text: '{"type":"task.completed","event_id":"torn', seq: 2 }]);
    await c.close();
    await Promise.all([reader.close(), bus2.close()]);
    expect((await readEmbeddedDlq(dir)).map((d) => d.subject)).toEqual(['dlq.signals.task.completed']);
  });

  /** Whether `p` fails because its lock was lost. */
  const failsLostLock = (p: Promise<unknown>): Promise<boolean> => p.then(() => false, (e: unknown) => e instanceof Error && e.message.includes('lost its lock'));

  it('fails publishes and fetches once their locks are no longer this process’s, instead of writing beside the new holder', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const { bus } = openBus(dir);
    await bus.publish('signals', served('u1', '2026-01-05T09:00:00.000Z', 'before'));
    const c = await bus.consumer({ name: 'solo' });
    // Another process took both locks while this one stood still.
    for (const lock of [join(dir, 'events.writer'), join(dir, 'consumers', 'solo.lock')]) {
      await rm(lock, { recursive: true });
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), `${process.pid}\n${hostname()}\n1000\n`);
    }
    // Until its next beat this process cannot know; from then on nothing more is written.
    await vi.waitFor(async () => expect(await failsLostLock(bus.publish('signals', served('u1', '2026-01-05T09:00:01.000Z', 'after')))).toBe(true), { timeout: 5_000, interval: 50 });
    const written = (await readStream(dir, 'events')).length;
    expect(await failsLostLock(bus.publish('signals', served('u1', '2026-01-05T09:00:02.000Z', 'later')))).toBe(true);
    await vi.waitFor(async () => expect(await failsLostLock(c.fetch({ max: 10, maxWaitMs: 0 }))).toBe(true), { timeout: 5_000, interval: 50 });
    await c.close();
    await bus.close();
    // The new holders' locks stay.
    expect(await readdir(join(dir, 'events.writer'))).toEqual(['pid']);
    expect(await readdir(join(dir, 'consumers', 'solo.lock'))).toEqual(['pid']);
    expect((await readStream(dir, 'events')).length).toBe(written);
  });

  it('notices its folder deleted under it: publishes and fetches fail (a server spills them) instead of landing in deleted files', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const { bus } = openBus(dir);
    await bus.publish('signals', served('u1', '2026-01-05T09:00:00.000Z', 'kept'));
    const c = await bus.consumer({ name: 'solo' });
    await rm(dir, { recursive: true });
    await vi.waitFor(async () => expect(await failsLostLock(bus.publish('signals', served('u1', '2026-01-05T09:00:01.000Z', 'gone')))).toBe(true), { timeout: 5_000, interval: 50 });
    await vi.waitFor(async () => expect(await failsLostLock(c.fetch({ max: 10, maxWaitMs: 0 }))).toBe(true), { timeout: 5_000, interval: 50 });
    await c.close();
    await bus.close();
  });

  it('lets one consumer per name at a time hold the stream, and takes over a dead holder’s lock', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const { bus } = openBus(dir);
    const c = await bus.consumer({ name: 'solo' });
    await expectCode(bus.consumer({ name: 'solo' }), 'conflict', new RegExp(`"solo" is in use by process ${process.pid}`));
    const other = await bus.consumer({ name: 'other' });
    await other.close();
    await c.close();
    // A crashed holder (a pid that cannot be running) leaves its lock behind; it is taken over.
    await mkdir(join(dir, 'consumers', 'solo.lock'));
    await writeFile(join(dir, 'consumers', 'solo.lock', 'pid'), '2147483646\n');
    const taken = await bus.consumer({ name: 'solo' });
    expect(await readFile(join(dir, 'consumers', 'solo.lock', 'pid'), 'utf8')).toBe(`${process.pid}\n${hostname()}\n1000\n${readlinkSync('/proc/self/ns/pid')}\n`);
    await taken.close();
    await expect(stat(join(dir, 'consumers', 'solo.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await readdir(join(dir, 'consumers'))).filter((n) => n.includes('stale'))).toEqual([]);
    await bus.close();
  });

  it('refuses a consumer whose acknowledged seq is past the end of the stream (a deleted or replaced stream)', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const { bus } = openBus(dir);
    await bus.publish('signals', completed('j4', '2026-01-05T10:00:00.000Z'));
    const c = await bus.consumer({ name: 'trunc' });
    await Promise.all((await drain(c, 1)).events.map((d) => d.ack()));
    await c.close();
    await writeFile(join(dir, 'events', segmentName(1)), '');
    await expectCode(bus.consumer({ name: 'trunc' }), 'conflict', /ends at seq 0, before consumer "trunc"'s acknowledged seq 1/);
    // The failed open released its lock: another name still works.
    await (await bus.consumer({ name: 'fresh' })).close();
    await bus.close();
  });

  it('rejects a hand-edited consumer state file, naming it and the field', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const { bus } = openBus(dir);
    await (await bus.consumer({ name: 'edited' })).close();
    await writeFile(join(dir, 'consumers', 'edited.json'), JSON.stringify({ version: 2, consumer: 'edited', acked: -3, deliveries: [] }));
    await expectCode(bus.consumer({ name: 'edited' }), 'invalid_input', /edited\.json is invalid: \/acked/);
    await writeFile(join(dir, 'consumers', 'edited.json'), JSON.stringify({ version: 2, consumer: 'edited', acked: 0, deliveries: [[3, 'x', 1]] }));
    await expectCode(bus.consumer({ name: 'edited' }), 'invalid_input', /edited\.json is invalid: \/deliveries\/0\/1: /);
    await writeFile(join(dir, 'consumers', 'edited.json'), '{"version":2,');
    await expectCode(bus.consumer({ name: 'edited' }), 'invalid_input', /edited\.json is not JSON/);
    // The failed opens released their lock.
    await writeFile(join(dir, 'consumers', 'edited.json'), '{"version":2,"consumer":"edited","acked":0,"deliveries":[]}');
    await (await bus.consumer({ name: 'edited' })).close();
    await bus.close();
  });

  it('remembers message ids for the dedupe window only, answers a duplicate with the first copy’s seq, and forgets an id whose publish failed', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const transport = createEmbeddedTransport(paths.bus);
    let t = 1_000;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => t);
    try {
      const ok = (s: string) => Buffer.from(JSON.stringify({ s }));
      const publish = (id: string, data = ok(id)) => transport.publish('signals.test', data, id);
      for (let i = 0; i < 3000; i++) expect(await publish(`a${i}`)).toEqual({ duplicate: false, seq: i + 1 });
      expect(await publish('a5')).toEqual({ duplicate: true, seq: 6 });
      expect(await publish('a2999')).toEqual({ duplicate: true, seq: 3000 });
      // A failed publish (a payload with a newline) forgets its id at once.
      await expect(publish('x', Buffer.from('{"s":\n1}'))).rejects.toMatchObject({ code: 'internal' });
      t += EMBEDDED_DEDUPE_WINDOW_MS / 2;
      expect(await publish('x')).toEqual({ duplicate: false, seq: 3001 });
      expect(await publish('a5')).toEqual({ duplicate: true, seq: 6 });
      // Past the window of the first 3000 (and of x's failed entry), before x's second one ends.
      t += EMBEDDED_DEDUPE_WINDOW_MS / 2 + 1;
      expect(await publish('b')).toEqual({ duplicate: false, seq: 3002 });
      expect(await publish('x')).toEqual({ duplicate: true, seq: 3001 });
      expect(await publish('a5')).toEqual({ duplicate: false, seq: 3003 });
      expect(await publish('a6')).toEqual({ duplicate: false, seq: 3004 });
      expect(await publish('a5')).toEqual({ duplicate: true, seq: 3003 });
      // The dead-letter stream has its own window and its own seqs.
      expect(await transport.publish('dlq.signals.test', ok('a5'), 'a5')).toEqual({ duplicate: false, seq: 1 });
      t += EMBEDDED_DEDUPE_WINDOW_MS;
      expect(await publish('x')).toEqual({ duplicate: false, seq: 3005 });
      // A duplicate of a publish still in flight: its seq is not known yet.
      const [first, second] = await Promise.all([publish('y'), publish('y')]);
      expect([first, second]).toEqual([
        { duplicate: false, seq: 3006 },
        { duplicate: true, seq: 0 },
      ]);
    } finally {
      clock.mockRestore();
      await transport.close();
    }
  });
});

describe('embedded bus segments', () => {
  /** A task.completed whose stream line is exactly 200 bytes. */
  const sized = (i: number) => {
    const e = completed('r1', `2026-01-05T10:${String(i % 60).padStart(2, '0')}:00.000Z`);
    const pad = 200 - Buffer.byteLength(`signals.task.completed ${JSON.stringify(e)}\n`);
    return { ...e, task_id: e.task_id + 'x'.repeat(pad) };
  };

  it('rotates at segmentBytes, deletes old and excess segments, and moves readers and consumers in a deleted segment to the oldest remaining', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const { bus } = openBus(dir, { segmentBytes: 400, maxAgeMs: 60_000 });
    const events = Array.from({ length: 6 }, (_, i) => sized(i + 1));
    for (const e of events) await bus.publish('signals', e);
    expect(await readdir(join(dir, 'events'))).toEqual([1, 3, 5].map(segmentName));
    const reader = await bus.reader(1);
    expect((await readN(reader, 3)).map((m) => m.seq)).toEqual([1, 2, 3]);
    const c = await bus.consumer({ name: 'aged' });
    expect((await drain(c, 1)).events.map((d) => d.seq)).toEqual([1]);
    // Segments 1 and 3 grow old (the reader is in 3, the consumer in 1); the next rotation deletes
    // them, beside the writes that follow it (journal.ts, sealing).
    const old = new Date(Date.now() - 3_600_000);
    for (const s of [1, 3]) await utimes(join(dir, 'events', segmentName(s)), old, old);
    const seven = sized(7);
    expect((await bus.publish('signals', seven)).seq).toBe(7);
    await vi.waitFor(async () => expect(await readdir(join(dir, 'events'))).toEqual([5, 7].map(segmentName)), { timeout: 5000 });
    expect(await bus.extent()).toEqual({ firstSeq: 5, lastSeq: 7 });
    expect((await readN(reader, 3)).map((m) => m.seq)).toEqual([5, 6, 7]);
    expect((await drain(c, 3)).events.map((d) => d.seq)).toEqual([5, 6, 7]);
    await reader.close();
    await c.close();
    // A reader from a deleted seq starts at the oldest held.
    const late = await bus.reader(2);
    expect((await readN(late, 3)).map((m) => (m.ok ? m.event : null))).toEqual([events[4], events[5], seven]);
    await late.close();
    await bus.close();
    // At the next writer open the size limit applies too (the first transport of a process to
    // publish sets its writer's limits): 1000 bytes held, 500 allowed.
    const small = openBus(dir, { segmentBytes: 400, maxBytes: 500 });
    await small.bus.publish('signals', sized(8));
    expect(await readdir(join(dir, 'events'))).toEqual([7].map(segmentName));
    await small.bus.close();
  });
});

describe('embedded bus writer lock', () => {
  it('lets one process at a time publish: another gets conflict naming the holder, and takes over once it closed or died', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const first = createEmbeddedTransport(dir);
    expect((await first.publish('signals.task.completed', Buffer.from('{"from":"parent"}'), 'p1')).seq).toBe(1);
    expect(await readFile(join(dir, 'events.writer', 'pid'), 'utf8')).toBe(`${process.pid}\n${hostname()}\n1000\n${readlinkSync('/proc/self/ns/pid')}\n`);

    const refused = await startChild(dir, 'once').outcome;
    expect(refused).toMatchObject({ ok: false, code: 'conflict' });
    expect(refused.message).toContain(`process ${process.pid}`);
    expect(refused.hint).toContain('NATS_URL');
    // Reading needs no lock: a reader of this process is not in the way.
    await first.close();
    await expect(stat(join(dir, 'events.writer'))).rejects.toMatchObject({ code: 'ENOENT' });
    const once = startChild(dir, 'once');
    expect(await once.outcome).toMatchObject({ ok: true, seq: 2 });
    expect(await once.exited).toBe(0);

    // A child that holds the lock, then dies without releasing it.
    const holder = startChild(dir, 'hold');
    const held = await holder.outcome;
    expect(held).toMatchObject({ ok: true, seq: 3 });
    const second = createEmbeddedTransport(dir, { pollMs: 10 });
    const changes: { connected: boolean; detail: string | null }[] = [];
    second.onHealth((h) => changes.push({ connected: h.connected, detail: h.detail }));
    const reader = await second.reader(1);
    expect(second.health().connected).toBe(true);
    await expectCode(second.publish('signals.task.completed', Buffer.from('{"from":"parent"}'), 'p2'), 'conflict', new RegExp(`process ${held.pid}`));
    // While another process writes the stream, this one's publishes cannot land: not connected, saying why.
    expect(second.health()).toMatchObject({ connected: false, detail: expect.stringContaining(`process ${held.pid}`) });
    holder.child.kill('SIGKILL');
    await holder.exited;
    // It takes the stream again by itself once the holder is gone: a publisher that spills while
    // the bus is not connected publishes nothing that would take it.
    await vi.waitFor(() => expect(second.health().connected).toBe(true), { timeout: 10_000 });
    expect(changes.map((c) => c.connected)).toEqual([false, true]);
    expect((await second.publish('signals.task.completed', Buffer.from('{"from":"parent"}'), 'p2')).seq).toBe(4);
    expect(await readFile(join(dir, 'events.writer', 'pid'), 'utf8')).toBe(`${process.pid}\n${hostname()}\n1000\n${readlinkSync('/proc/self/ns/pid')}\n`);
    const lines: string[] = [];
    while (lines.length < 4) for (const m of await reader.next(10, 5000)) lines.push(`${m.seq} ${text(m.data)}`);
    expect(lines).toEqual([`1 {"from":"parent"}`, `2 {"from":${(await once.outcome).pid}}`, `3 {"from":${held.pid}}`, `4 {"from":"parent"}`]);
    await second.close();
  });
});

describe('embedded bus migration from per-subject journals', () => {
  /** A bus folder in the previous layout: journals per subject (ts out of order across them), a torn line, dead letters and a v1 consumer state. */
  async function legacyBus(dir: string) {
    const s1 = served('m1', '2026-01-05T09:00:00.000Z', 'm1-s1');
    const s2 = served('m1', '2026-01-05T11:00:00.000Z', 'm1-s2');
    const r1 = reacted('m1', '2026-01-05T10:00:00.000Z', 'm1-s1', 'completed');
    const c1 = completed('m1', '2026-01-05T08:00:00.000Z');
    // Same instant as s1 in another spelling: the sort is stable, journal order breaks the tie.
    const c2 = { ...completed('m1', '2026-01-05T10:00:00.000+01:00') };
    const torn = '{"type":"task.completed","event_id":"torn';
    await mkdir(join(dir, 'consumers'), { recursive: true });
    await writeFile(legacyJournalPath(dir, 'signals.tip.served'), `${JSON.stringify(s2)}\n${JSON.stringify(s1)}\n`);
    await writeFile(legacyJournalPath(dir, 'feedback.tip.reaction'), `${JSON.stringify(r1)}\n\n`);
    await writeFile(legacyJournalPath(dir, 'signals.task.completed'), `${JSON.stringify(c1)}\n${JSON.stringify(c2)}\n${torn}`);
    await writeFile(legacyJournalPath(dir, 'dlq.signals.tip.served'), '{"reason":"invalid_event","n":1}\n{"reason":"not_json","n":2}\n');
    await writeFile(join(dir, 'consumers', 'ingest.json'), '{"version":1,"consumer":"ingest","subjects":{"signals.tip.served":{"offset":10,"line":1}}}');
    const lines = [
      `signals.task.completed ${JSON.stringify(c1)}`,
      `signals.task.completed ${JSON.stringify(c2)}`,
      `signals.tip.served ${JSON.stringify(s1)}`,
      `feedback.tip.reaction ${JSON.stringify(r1)}`,
      `signals.tip.served ${JSON.stringify(s2)}`,
      `signals.task.completed ${torn}`,
    ];
    return { events: [c1, c2, s1, r1, s2], torn, lines };
  }

  const streamText = async (dir: string, stream: 'events' | 'dlq') => (await readStream(dir, stream)).map((l) => `${l.subject} ${text(l.data)}`);

  it('moves journals into the streams on first use (events by ts, then lines without one), sets the old files aside, and starts v1 consumers over', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const legacy = await legacyBus(dir);
    // First use is a reader: it migrates, under the writer locks, which it gives back.
    const { bus } = openBus(dir);
    const reader = await bus.reader(1);
    const read = await readN(reader, 6);
    expect(read.map((m) => (m.ok ? m.event : m.reason))).toEqual([...legacy.events, 'not_json']);
    expect(read.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    await reader.close();
    expect(await streamText(dir, 'events')).toEqual(legacy.lines);
    expect(await streamText(dir, 'dlq')).toEqual(['dlq.signals.tip.served {"reason":"invalid_event","n":1}', 'dlq.signals.tip.served {"reason":"not_json","n":2}']);
    const entries = (await readdir(dir)).sort();
    expect(entries.filter((e) => !e.startsWith('legacy-'))).toEqual(['consumers', 'dlq', 'events']);
    const legacyDirs = entries.filter((e) => /^legacy-\d{8}T\d{6}Z$/.test(e));
    expect(legacyDirs).toHaveLength(1);
    expect((await readdir(join(dir, legacyDirs[0]!))).sort()).toEqual([
      'consumers',
      'dlq.signals.tip.served.ndjson',
      'feedback.tip.reaction.ndjson',
      'signals.task.completed.ndjson',
      'signals.tip.served.ndjson',
    ]);
    expect(await readdir(join(dir, legacyDirs[0]!, 'consumers'))).toEqual(['ingest.json']);
    // The v1 consumer starts from the stream's start (its positions were per subject).
    const c = await bus.consumer({ name: 'ingest' });
    const got = await drain(c, 6);
    expect(got.events.map((d) => d.event)).toEqual(legacy.events);
    expect(got.rejected.map((r) => r.reason)).toEqual(['not_json']);
    await Promise.all(got.events.map((d) => d.ack()));
    await c.close();
    await bus.close();
    // Nothing is migrated twice.
    const again = openBus(dir);
    expect(await again.bus.extent()).toEqual({ firstSeq: 1, lastSeq: 6 });
    expect((await again.bus.publish('signals', completed('m1', '2026-01-05T12:00:00.000Z'))).seq).toBe(7);
    await again.bus.close();
    expect(await streamText(dir, 'dlq')).toHaveLength(3);
  });

  it('a v1 consumer state not yet moved reads as a consumer at the start', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const { bus } = openBus(dir);
    const e = completed('m3', '2026-01-05T10:00:00.000Z');
    await bus.publish('signals', e);
    await mkdir(join(dir, 'consumers'));
    await writeFile(join(dir, 'consumers', 'old.json'), '{"version":1,"consumer":"old","subjects":{}}');
    const c = await bus.consumer({ name: 'old' });
    expect((await drain(c, 1)).events.map((d) => d.event)).toEqual([e]);
    await c.close();
    await bus.close();
  });

  it('finishes a migration interrupted after its segment was renamed in, without appending the journals twice', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const legacy = await legacyBus(dir);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-01T12:00:00.000Z'));
    try {
      // Something in the legacy folder's way makes the move of one journal fail, as a crash
      // between the rename of the segment and the moves would leave it.
      const obstacle = join(dir, 'legacy-20260301T120000Z', 'signals.tip.served.ndjson');
      await mkdir(join(obstacle, 'in-the-way'), { recursive: true });
      const first = createEmbeddedTransport(dir);
      await expect(first.publish('signals.task.completed', Buffer.from('{}'), 'x1')).rejects.toMatchObject({ code: expect.stringMatching(/ENOTEMPTY|EISDIR|EEXIST/) as unknown });
      await first.close();
      expect(await streamText(dir, 'events')).toEqual(legacy.lines);
      await stat(legacyJournalPath(dir, 'signals.tip.served'));
      await rm(obstacle, { recursive: true });
      const { bus } = openBus(dir);
      expect(await bus.extent()).toEqual({ firstSeq: 1, lastSeq: 6 });
      await bus.close();
      expect(await streamText(dir, 'events')).toEqual(legacy.lines);
      expect((await readdir(join(dir, 'legacy-20260301T120000Z'))).sort()).toEqual([
        'consumers',
        'dlq.signals.tip.served.ndjson',
        'feedback.tip.reaction.ndjson',
        'signals.task.completed.ndjson',
        'signals.tip.served.ndjson',
      ]);
      expect((await readdir(dir)).filter((e) => e.endsWith('.ndjson'))).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a reader in a process that cannot take the writer lock works once the writing process migrated', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = paths.bus;
    const legacy = await legacyBus(dir);
    // Another process opens its writer first: it migrates and holds the lock.
    const holder = startChild(dir, 'hold');
    expect(await holder.outcome).toMatchObject({ ok: true, seq: 7 });
    const { bus, transport } = openBus(dir);
    const reader = await bus.reader(1);
    expect((await readN(reader, 7)).map((m) => (m.ok ? m.event : m.reason))).toEqual([...legacy.events, 'not_json', 'invalid_event']);
    await reader.close();
    await expectCode(transport.publish('signals.task.completed', Buffer.from('{}'), 'y1'), 'conflict', /NATS|process/);
    holder.child.stdin.end();
    expect(await holder.exited).toBe(0);
    await bus.close();
  });
});

describe('embedded bus property', () => {
  const SUBJECTS = ['signals.tip.served', 'feedback.tip.reaction', 'signals.task.completed', 'dlq.signals.tip.served'];

  it('reads back exactly the published payloads in order from any start seq, whatever the interleaving, batching and segment size', async () => {
    const publish = fc.record({ subject: fc.constantFrom(...SUBJECTS), body: fc.string({ maxLength: 30, unit: 'binary' }) });
    await fc.assert(
      fc.asyncProperty(
        // Rounds of concurrent publishes (one group commit or several).
        fc.array(fc.array(publish, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 40, max: 700 }),
        fc.nat(),
        fc.integer({ min: 1, max: 7 }),
        async (rounds, segmentBytes, pick, readSize) => {
          const dir = (await tempHome('oo-ml-prop-')).bus;
          const transport = createEmbeddedTransport(dir, { segmentBytes, pollMs: 10 });
          const events: { seq: number; subject: string; data: string }[] = [];
          const dlq: string[] = [];
          let n = 0;
          for (const round of rounds) {
            const items = round.map((p) => ({ subject: p.subject, data: JSON.stringify({ n: n++, body: p.body }) }));
            const acks = await Promise.all(items.map((p, i) => transport.publish(p.subject, Buffer.from(p.data), `m${n}-${i}`)));
            for (const [i, p] of items.entries()) {
              if (p.subject.startsWith('dlq.')) dlq.push(p.data);
              else events.push({ seq: acks[i]!.seq, ...p });
            }
          }
          // Seqs count the events stream's lines in publish order.
          expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
          const start = 1 + (pick % (events.length + 1));
          const reader = await transport.reader(start);
          const got: { seq: number; subject: string; data: string }[] = [];
          for (;;) {
            const batch = await reader.next(readSize, 0);
            if (batch.length === 0) break;
            for (const m of batch) got.push({ seq: m.seq, subject: m.subject, data: text(m.data) });
          }
          expect(got).toEqual(events.slice(start - 1));
          expect(await transport.extent()).toEqual({ firstSeq: 1, lastSeq: events.length });
          await transport.close();
          expect((await readStream(dir, 'dlq')).map((l) => text(l.data))).toEqual(dlq);
        },
      ),
      { seed: 20261204, numRuns: 60 },
    );
  });
});

describe('delivery runs', () => {
  it('encode any delivery counts as runs that expand back to the same counts (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 3 })), { maxLength: 150 }), (entries) => {
        const counts = new Map(entries);
        const runs = deliveryRuns(counts);
        const expanded = new Map<number, number>();
        for (const [first, last, count] of runs) for (let s = first; s <= last; s++) expanded.set(s, count);
        expect(expanded).toEqual(counts);
        // Maximal runs, in order: neighbours never share both adjacency and count.
        for (let i = 1; i < runs.length; i++) {
          expect(runs[i]![0]).toBeGreaterThan(runs[i - 1]![1]);
          expect(runs[i]![0] === runs[i - 1]![1] + 1 && runs[i]![2] === runs[i - 1]![2]).toBe(false);
        }
      }),
      { seed: 77, numRuns: 300 },
    );
  });
});
