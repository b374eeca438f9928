/**
 * The EventBus contract on the embedded journal (a temp home), plus the journal itself: its
 * bytes, the consumer state file, torn lines, the consumer lock, a truncated journal.
 */
import { appendFile, mkdir, readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createEmbeddedTransport, EMBEDDED_DEDUPE_WINDOW_MS, embeddedBusDir } from '../../src/events/embedded-transport.js';
import { createEventBus, createEventBusOver } from '../../src/events/event-bus.js';
import { journalSubjects } from '../../src/events/journal.js';
import { completed, created } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';
import { drain, expectCode, oneOfEach, runEventBusContract, type StoredDeadLetter } from './event-bus.contract.js';

/** Every line of every dlq.* journal under `dir`. */
async function readEmbeddedDlq(dir: string): Promise<StoredDeadLetter[]> {
  const out: StoredDeadLetter[] = [];
  for (const subject of await journalSubjects(dir)) {
    if (!subject.startsWith('dlq.')) continue;
    const text = await readFile(join(dir, `${subject}.ndjson`), 'utf8');
    for (const line of text.split('\n')) if (line !== '') out.push({ subject, envelope: JSON.parse(line) as unknown });
  }
  return out;
}

runEventBusContract('embedded journal', async () => {
  const paths = await tempHome('oo-ml-bus-');
  const dir = embeddedBusDir(paths);
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

describe('embedded journal', () => {
  it('is the default bus and writes one line per message, exactly the published JSON, per subject', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const bus = await createEventBus(loadConfig(paths.home, {}));
    expect(bus.kind).toBe('embedded');
    const [s, r, c, d] = oneOfEach('j1');
    await bus.publish('signals', s!);
    await bus.publish('feedback', r!);
    await bus.publish('signals', c!);
    await bus.publish('signals', d!);
    const second = completed('j1', '2026-01-05T12:00:00.000Z');
    await bus.publish('signals', second);
    await bus.close();
    const dir = join(paths.data, 'bus');
    expect((await readdir(dir)).sort()).toEqual([
      'feedback.tip.reaction.ndjson',
      'signals.task.completed.ndjson',
      'signals.task.created.ndjson',
      'signals.tip.served.ndjson',
    ]);
    expect(await readFile(join(dir, 'signals.task.completed.ndjson'), 'utf8')).toBe(`${JSON.stringify(d)}\n${JSON.stringify(second)}\n`);
    expect(await readFile(join(dir, 'feedback.tip.reaction.ndjson'), 'utf8')).toBe(`${JSON.stringify(r)}\n`);
  });

  it('records a durable consumer’s acknowledged position (contiguous acks only) in consumers/<name>.json', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = embeddedBusDir(paths);
    const bus = createEventBusOver(createEmbeddedTransport(dir, { pollMs: 10 }));
    const events = [0, 1, 2].map((i) => created('j2', `2026-01-05T0${i}:00:00.000Z`));
    for (const e of events) await bus.publish('signals', e);
    const c = await bus.consumer({ name: 'offsets' });
    const got = await drain(c, 3);
    expect(got.events.map((d) => d.seq)).toEqual([1, 2, 3]);
    // Out of order: acking the 1st and 3rd moves the position past the 1st only.
    await got.events[0]!.ack();
    await got.events[2]!.ack();
    const firstLine = Buffer.byteLength(JSON.stringify(events[0])) + 1;
    const state = JSON.parse(await readFile(join(dir, 'consumers', 'offsets.json'), 'utf8')) as unknown;
    expect(state).toEqual({ version: 1, consumer: 'offsets', subjects: { 'signals.task.created': { offset: firstLine, line: 1 } } });
    await c.close();
    // The lock is released on close; the unacked 2nd message comes back, the 3rd too (not yet covered).
    const again = await bus.consumer({ name: 'offsets' });
    const rest = await drain(again, 2);
    expect(rest.events.map((d) => d.event.event_id)).toEqual([events[1]!.event_id, events[2]!.event_id]);
    await Promise.all(rest.events.map((d) => d.ack()));
    await again.close();
    await bus.close();
  });

  it('keeps a crashed writer’s torn line apart: the fragment is dead-lettered, the next message delivered', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = embeddedBusDir(paths);
    const bus1 = createEventBusOver(createEmbeddedTransport(dir, { pollMs: 10 }));
    const before = completed('j3', '2026-01-05T10:00:00.000Z');
    await bus1.publish('signals', before);
    await bus1.close();
    // A writer died half-way through a line.
    await appendFile(join(dir, 'signals.task.completed.ndjson'), '{"type":"task.completed","event_id":"torn');
    const reader = createEventBusOver(createEmbeddedTransport(dir, { pollMs: 10 }));
    const c = await reader.consumer({ name: 'torn' });
    // An incomplete last line is not a message yet.
    expect((await c.fetch({ max: 10, maxWaitMs: 100 })).events.map((d) => d.event)).toEqual([before]);
    const bus2 = createEventBusOver(createEmbeddedTransport(dir, { pollMs: 10 }));
    const after = completed('j3', '2026-01-05T11:00:00.000Z');
    await bus2.publish('signals', after);
    const got = await drain(c, 2);
    expect(got.events.map((d) => d.event)).toEqual([after]);
    expect(got.rejected).toMatchObject([{ reason: 'not_json', payload_text: '{"type":"task.completed","event_id":"torn', seq: 2 }]);
    expect(got.events[0]!.seq).toBe(3);
    await c.close();
    await Promise.all([reader.close(), bus2.close()]);
    expect((await readEmbeddedDlq(dir)).map((d) => d.subject)).toEqual(['dlq.signals.task.completed']);
  });

  it('lets one consumer per name at a time hold the journal, and takes over a dead holder’s lock', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = embeddedBusDir(paths);
    const bus = createEventBusOver(createEmbeddedTransport(dir));
    const c = await bus.consumer({ name: 'solo' });
    await expectCode(bus.consumer({ name: 'solo' }), 'conflict', new RegExp(`"solo" is in use by process ${process.pid}`));
    const other = await bus.consumer({ name: 'other' });
    await other.close();
    await c.close();
    // A crashed holder (a pid that cannot be running) leaves its lock behind; it is taken over.
    await mkdir(join(dir, 'consumers', 'solo.lock'));
    await writeFile(join(dir, 'consumers', 'solo.lock', 'pid'), '2147483646\n');
    const taken = await bus.consumer({ name: 'solo' });
    expect(await readFile(join(dir, 'consumers', 'solo.lock', 'pid'), 'utf8')).toBe(`${process.pid}\n`);
    await taken.close();
    await expect(stat(join(dir, 'consumers', 'solo.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
    await bus.close();
  });

  it('refuses a journal that became shorter than a consumer’s position', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = embeddedBusDir(paths);
    const bus = createEventBusOver(createEmbeddedTransport(dir, { pollMs: 10 }));
    await bus.publish('signals', completed('j4', '2026-01-05T10:00:00.000Z'));
    const c = await bus.consumer({ name: 'trunc' });
    await Promise.all((await drain(c, 1)).events.map((d) => d.ack()));
    await c.close();
    await truncate(join(dir, 'signals.task.completed.ndjson'), 0);
    const again = await bus.consumer({ name: 'trunc' });
    await expectCode(again.fetch({ max: 1, maxWaitMs: 0 }), 'conflict', /shorter .* than a consumer's position/);
    await again.close();
    await bus.close();
  });

  it('rejects a hand-edited consumer state file, naming it', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const dir = embeddedBusDir(paths);
    const bus = createEventBusOver(createEmbeddedTransport(dir));
    await (await bus.consumer({ name: 'edited' })).close();
    await writeFile(join(dir, 'consumers', 'edited.json'), JSON.stringify({ version: 1, consumer: 'edited', subjects: { 'signals.tip.served': { offset: -3, line: 0 } } }));
    await expectCode(bus.consumer({ name: 'edited' }), 'invalid_input', /edited\.json is invalid: \/subjects\/signals\.tip\.served\/offset/);
    // The failed open released its lock.
    await writeFile(join(dir, 'consumers', 'edited.json'), '{"version":1,"consumer":"edited","subjects":{}}');
    await (await bus.consumer({ name: 'edited' })).close();
    await bus.close();
  });

  it('remembers message ids for the dedupe window only, forgets an id whose publish failed, and keeps a re-published id past its failed entry', async () => {
    const paths = await tempHome('oo-ml-bus-');
    const transport = createEmbeddedTransport(embeddedBusDir(paths));
    let t = 1_000;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => t);
    try {
      const ok = (s: string) => Buffer.from(JSON.stringify({ s }));
      const publish = (id: string, data = ok(id)) => transport.publish('signals.test', data, id);
      // More ids than the FIFO's compaction threshold (1024), so expiry also compacts it.
      for (let i = 0; i < 3000; i++) expect(await publish(`a${i}`)).toEqual({ duplicate: false });
      expect(await publish('a5')).toEqual({ duplicate: true });
      expect(await publish('a2999')).toEqual({ duplicate: true });
      // A failed publish (a payload with a newline) forgets its id at once.
      await expect(publish('x', Buffer.from('{"s":\n1}'))).rejects.toMatchObject({ code: 'internal' });
      t += EMBEDDED_DEDUPE_WINDOW_MS / 2;
      expect(await publish('x')).toEqual({ duplicate: false });
      expect(await publish('a5')).toEqual({ duplicate: true });
      // Past the window of the first 3000 (and of x's failed entry), before x's second one ends.
      t += EMBEDDED_DEDUPE_WINDOW_MS / 2 + 1;
      expect(await publish('b')).toEqual({ duplicate: false });
      expect(await publish('x')).toEqual({ duplicate: true });
      expect(await publish('a5')).toEqual({ duplicate: false });
      expect(await publish('a6')).toEqual({ duplicate: false });
      expect(await publish('a5')).toEqual({ duplicate: true });
      t += EMBEDDED_DEDUPE_WINDOW_MS;
      expect(await publish('x')).toEqual({ duplicate: false });
    } finally {
      clock.mockRestore();
      await transport.close();
    }
  });
});
