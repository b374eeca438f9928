import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { invalidInput } from '../../src/errors.js';
import { createEventBusOver, type EventBus } from '../../src/events/event-bus.js';
import { createEmbeddedTransport } from '../../src/events/embedded-transport.js';
import { createNatsTransport } from '../../src/events/nats-transport.js';
import { createBusEventSink, type BusEventSink } from '../../src/server/bus-event-sink.js';
import { SUBJECTS, type ServerEvent } from '../../src/server/deps.js';
import { createMemoryEventSink } from '../../src/server/memory-event-sink.js';
import { reacted, rewarded, served } from '../helpers/events.js';
import { startNatsServer, type NatsTestServer } from '../helpers/nats-server.js';
import { tempHome } from '../helpers/temp-home.js';
import { createHarness, get, post } from './harness.js';

const sinks: BusEventSink[] = [];
let nats: NatsTestServer | undefined;
afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close()));
  await nats?.stop();
  nats = undefined;
});

async function embedded(): Promise<{ dir: string; bus: EventBus; spillPath: string }> {
  const home = await tempHome();
  const dir = join(home.data, 'bus');
  return { dir, bus: createEventBusOver(createEmbeddedTransport(dir, { pollMs: 5 })), spillPath: join(home.data, 'unsent.ndjson') };
}

const manyEvents = (n: number): ServerEvent[] =>
  Array.from({ length: n }, (_, i) =>
    i % 3 === 0
      ? served(`user-${i}`, '2026-02-05T10:00:00.000Z', `s${i}`)
      : i % 3 === 1
        ? reacted(`user-${i}`, '2026-02-05T10:00:01.000Z', `s${i - 1}`, 'liked')
        : rewarded(`user-${i}`, '2026-02-05T10:00:02.000Z', `s${i - 2}`, 0.5),
  );

const subjectOf = (e: ServerEvent): string => SUBJECTS[e.type];

/** Everything `sink.readAll(sinceMs)` yields. */
async function replayOf(sink: BusEventSink, sinceMs?: number): Promise<ServerEvent[]> {
  const events: ServerEvent[] = [];
  for await (const e of sink.readAll(sinceMs)) events.push(e);
  return events;
}
/** manyEvents' serves are at :00, reactions at :01, rewards at :02. */
const byTime = (events: ServerEvent[]): ServerEvent[] => (['tip.served', 'tip.reaction', 'tip.reward'] as const).flatMap((t) => events.filter((e) => e.type === t));

describe('bus event sink', () => {
  it('stores every event on its subject of the embedded bus, in publish order per subject, and replays them', async () => {
    const { dir, bus, spillPath } = await embedded();
    const sink = createBusEventSink(bus, { spillPath });
    sinks.push(sink);
    const events = manyEvents(3000);
    await Promise.all(events.map((e) => sink.publish(subjectOf(e), e)));
    await sink.flush();
    expect(sink.queued).toBe(0);
    for (const type of ['tip.served', 'tip.reaction', 'tip.reward'] as const) {
      const lines = (await readFile(join(dir, `${SUBJECTS[type]}.ndjson`), 'utf8')).trimEnd().split('\n');
      expect(lines.map((l) => JSON.parse(l) as ServerEvent)).toEqual(events.filter((e) => e.type === type));
    }
    expect(await replayOf(sink)).toEqual(byTime(events));
    // From a time on (an online-learning checkpoint's window): the serves at :00 are not read.
    expect(await replayOf(sink, Date.parse('2026-02-05T10:00:01.000Z'))).toEqual(byTime(events).filter((e) => e.type !== 'tip.served'));
    // A torn line (a crash mid-write) is skipped and counted, not fatal.
    await appendFile(join(dir, 'signals.tip.served.ndjson'), '{"type":"tip.served","event_id":"x"\n');
    let n = 0;
    for await (const _ of sink.readAll()) n++;
    expect([n, sink.skipped]).toEqual([events.length, 1]);
  });

  it('retries an event the bus refuses until it takes it, storing the others meanwhile, each exactly once', async () => {
    const { dir, bus, spillPath } = await embedded();
    const events = manyEvents(18).filter((e) => e.type === 'tip.served'); // 6
    const stubborn = events[2]!.event_id;
    const attempts = new Map<string, number>();
    const refusing: EventBus = {
      ...bus,
      kind: bus.kind,
      publish: (channel, e) => {
        const n = (attempts.get(e.event_id) ?? 0) + 1;
        attempts.set(e.event_id, n);
        return e.event_id === stubborn && n <= 2 ? Promise.reject(new Error('bus hiccup')) : bus.publish(channel, e);
      },
    };
    const sink = createBusEventSink(refusing, { spillPath, concurrency: 4 });
    sinks.push(sink);
    for (const e of events) await sink.publish(subjectOf(e), e);
    await sink.flush();
    expect(attempts.get(stubborn)).toBe(3);
    for (const e of events.filter((x) => x.event_id !== stubborn)) expect(attempts.get(e.event_id)).toBe(1);
    const stored = (await readFile(join(dir, 'signals.tip.served.ndjson'), 'utf8')).trimEnd().split('\n').map((l) => (JSON.parse(l) as ServerEvent).event_id);
    expect([...stored].sort()).toEqual(events.map((e) => e.event_id).sort());
    expect(stored.at(-1)).toBe(stubborn);
    expect(sink.spilled).toBe(0);
    expect(sink.health()).toEqual({ queued: 0, waiting: 0, refused: 2, spilled: 0 });
  });

  it('makes publishes wait for room in a full queue, admitting them as the bus drains and refusing them after fullWaitMs', async () => {
    const { dir, bus, spillPath } = await embedded();
    // A bus that holds every publish until the test releases them.
    let held: (() => void)[] = [];
    const release = (): void => {
      const h = held;
      held = [];
      for (const go of h) go();
    };
    const slow: EventBus = {
      ...bus,
      kind: bus.kind,
      publish: (channel, e) => new Promise<void>((go) => held.push(go)).then(() => bus.publish(channel, e)),
    };
    const sink = createBusEventSink(slow, { spillPath, maxQueued: 5, concurrency: 5, fullWaitMs: 300 });
    sinks.push(sink);
    const events = manyEvents(60).filter((e) => e.type === 'tip.served'); // 20
    for (const e of events.slice(0, 5)) await sink.publish(subjectOf(e), e);
    expect(sink.queued).toBe(5);
    let admitted = false;
    const waiting = sink.publish(subjectOf(events[5]!), events[5]!).then(() => (admitted = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(admitted).toBe(false);
    expect(sink.health()).toEqual({ queued: 5, waiting: 1, refused: 0, spilled: 0 });
    release();
    await waiting;
    // Full again (events 1–5 held by the bus), and nothing releases: refused after fullWaitMs.
    expect(sink.queued).toBe(5);
    await expect(sink.publish(subjectOf(events[6]!), events[6]!)).rejects.toMatchObject({ code: 'unavailable', message: /is behind: 5 events are waiting/ });
    const draining = (async () => {
      while (sink.queued > 0) {
        release();
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await sink.flush();
    await draining;
    const stored = (await readFile(join(dir, 'signals.tip.served.ndjson'), 'utf8')).trimEnd().split('\n').map((l) => (JSON.parse(l) as ServerEvent).event_id);
    expect(stored).toEqual(events.slice(0, 6).map((e) => e.event_id));
  });

  it('does not hang a shutdown while the bus is down: the server closes, and close spills what is queued', async () => {
    const { bus, spillPath } = await embedded();
    const down: EventBus = { ...bus, kind: bus.kind, publish: () => Promise.reject(new Error('bus down')) };
    const sink = createBusEventSink(down, { spillPath, flushTimeoutMs: 200 });
    const h = await createHarness({ deps: { events: sink } });
    const scored = await post(h.app, '/score', { user_id: 'u1' });
    expect(scored.status).toBe(200);
    const events = manyEvents(9);
    for (const e of events) await sink.publish(subjectOf(e), e);
    // The outage shows in /metrics: a backlog and refusals, nothing spilled yet.
    const metrics = (await get(h.app, '/metrics')).text;
    expect(metrics).toMatch(/\noo_ml_event_queue_depth 10\n/);
    expect(metrics).toMatch(/\noo_ml_event_publishes_waiting 0\n/);
    const refusals = (text: string): number => Number(/\noo_ml_event_bus_refusals_total (\d+)\n/.exec(text)?.[1]);
    expect(refusals(metrics)).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/\noo_ml_events_spilled_total 0\n/);
    // A second scrape mirrors the sink's count again instead of adding it up.
    expect(refusals((await get(h.app, '/metrics')).text)).toBe(sink.health().refused);
    await h.app.close(); // drains and flushes: bounded by flushTimeoutMs
    await sink.close();
    expect(sink.spilled).toBe(10);
    const lines = (await readFile(spillPath, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as ServerEvent);
    expect(lines[0]).toMatchObject({ type: 'tip.served', serve_id: scored.body['serve_id'] });
    expect(lines.slice(1)).toEqual(events);
    await expect(sink.publish('signals.tip.served', events[0]!)).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('spills at once, without retrying, an event the bus refuses as invalid', async () => {
    const { bus, spillPath } = await embedded();
    let calls = 0;
    const strict: EventBus = {
      ...bus,
      kind: bus.kind,
      publish: (channel, e) => {
        calls++;
        return e.type === 'tip.reward' ? Promise.reject(invalidInput('tip.reward is not accepted here')) : bus.publish(channel, e);
      },
    };
    const sink = createBusEventSink(strict, { spillPath });
    sinks.push(sink);
    const events = manyEvents(6);
    for (const e of events) await sink.publish(subjectOf(e), e);
    await sink.flush();
    expect(calls).toBe(6);
    expect(sink.spilled).toBe(2);
    expect(sink.health()).toEqual({ queued: 0, waiting: 0, refused: 2, spilled: 2 });
    const spilled = (await readFile(spillPath, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as ServerEvent);
    // Spills of one batch run concurrently: compare regardless of their order.
    const byId = (a: ServerEvent, b: ServerEvent) => (a.event_id < b.event_id ? -1 : 1);
    expect(spilled.sort(byId)).toEqual(events.filter((e) => e.type === 'tip.reward').sort(byId));
  });

  it('publishes what an earlier shutdown spilled, keeping only what the bus still refuses', async () => {
    const { bus, spillPath } = await embedded();
    const events = manyEvents(6);
    const bad = { ...events[0]!, event_id: 'bad', user_id: '' }; // the bus refuses an empty user id
    await mkdir(dirname(spillPath), { recursive: true });
    await writeFile(spillPath, [...events.slice(0, 3), bad, ...events.slice(3)].map((e) => JSON.stringify(e)).join('\n') + '\nnot json\n');
    const sink = createBusEventSink(bus, { spillPath });
    sinks.push(sink);
    expect(await sink.resendSpilled()).toEqual({ resent: 6, kept: 2 });
    expect(await replayOf(sink)).toEqual(byTime(events));
    expect((await readFile(spillPath, 'utf8')).trimEnd().split('\n')).toEqual([JSON.stringify(bad), 'not json']);
    // The rest stays until it is fixed; once nothing is left, the file goes.
    await writeFile(spillPath, JSON.stringify(events[1]) + '\n');
    expect(await sink.resendSpilled()).toEqual({ resent: 1, kept: 0 });
    expect(existsSync(spillPath)).toBe(false);
    expect(await sink.resendSpilled()).toEqual({ resent: 0, kept: 0 });
  });

  it('keeps every spilled event when the bus is still down, trying it once', async () => {
    const { bus, spillPath } = await embedded();
    let attempts = 0;
    const down: EventBus = {
      ...bus,
      kind: bus.kind,
      publish: () => {
        attempts++;
        return Promise.reject(new Error('bus down'));
      },
    };
    const events = manyEvents(5);
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    await mkdir(dirname(spillPath), { recursive: true });
    await writeFile(spillPath, text);
    const sink = createBusEventSink(down, { spillPath, flushTimeoutMs: 50, concurrency: 2 });
    sinks.push(sink);
    expect(await sink.resendSpilled()).toEqual({ resent: 0, kept: 5 });
    // One batch tried; the rest waits for a bus that is up.
    expect(attempts).toBe(2);
    expect(await readFile(spillPath, 'utf8')).toBe(text);
  });

  it('replays the valid spilled events the bus does not hold, in time order with the stored ones', async () => {
    const { bus, spillPath } = await embedded();
    const events = manyEvents(6);
    const sink = createBusEventSink(bus, { spillPath });
    sinks.push(sink);
    // The bus holds the first four; the spill file holds the last two, one of the stored ones
    // again (an event in flight at a shutdown can be both), an invalid event and a bad line.
    for (const e of events.slice(0, 4)) await sink.publish(subjectOf(e), e);
    await sink.flush();
    const invalid = { ...events[5]!, event_id: 'bad', user_id: '' };
    await mkdir(dirname(spillPath), { recursive: true });
    await writeFile(spillPath, [events[4], events[1], invalid, events[5]].map((e) => JSON.stringify(e)).concat('not json').join('\n') + '\n');
    expect(await replayOf(sink)).toEqual(byTime(events));
    expect(await replayOf(sink, Date.parse('2026-02-05T10:00:01.000Z'))).toEqual(byTime(events).filter((e) => e.type !== 'tip.served'));
  });

  it('loses nothing another process spills meanwhile, picks up what a crashed resend left, and keeps lines that are not events', async () => {
    const { bus, spillPath } = await embedded();
    const events = manyEvents(6);
    await mkdir(dirname(spillPath), { recursive: true });
    await writeFile(spillPath, [JSON.stringify(events[0]), 'null', '[1]'].join('\n') + '\n');
    // A resend that crashed after renaming its file aside.
    await writeFile(`${spillPath}.resending-1-0`, JSON.stringify(events[1]) + '\n');
    let appended = false;
    const appending: EventBus = {
      ...bus,
      kind: bus.kind,
      // Another server on this home spills while the resend runs.
      publish: async (channel, e) => {
        if (!appended) {
          appended = true;
          await appendFile(spillPath, JSON.stringify(events[2]) + '\n');
        }
        return bus.publish(channel, e);
      },
    };
    const sink = createBusEventSink(appending, { spillPath });
    sinks.push(sink);
    expect(await sink.resendSpilled()).toEqual({ resent: 2, kept: 2 });
    const left = (await readFile(spillPath, 'utf8')).trimEnd().split('\n');
    expect(left.sort()).toEqual([JSON.stringify(events[2]), 'null', '[1]'].sort());
    expect(existsSync(`${spillPath}.resending-1-0`)).toBe(false);
  });

  it('publishes to NATS JetStream and replays from it', async () => {
    nats = await startNatsServer();
    const home = await tempHome();
    const sink = createBusEventSink(createEventBusOver(await createNatsTransport(nats.url)), { spillPath: join(home.data, 'unsent.ndjson') });
    sinks.push(sink);
    const events = manyEvents(300);
    await Promise.all(events.map((e) => sink.publish(subjectOf(e), e)));
    await sink.flush();
    // Replay is in time order (each serve before its reward), publish order within a time.
    expect(await replayOf(sink)).toEqual(byTime(events));
  });
});

describe('a failing event sink', () => {
  it('exports no event-sink health metrics for a sink that never queues (not zeros that read as a healthy bus)', async () => {
    const h = await createHarness({ deps: { events: createMemoryEventSink() } });
    try {
      const metrics = (await get(h.app, '/metrics')).text;
      expect(metrics).toContain('oo_ml_pending_serves');
      for (const name of ['oo_ml_event_queue_depth', 'oo_ml_event_publishes_waiting', 'oo_ml_event_bus_refusals_total', 'oo_ml_events_spilled_total']) {
        expect(metrics).not.toContain(name);
      }
    } finally {
      await h.app.close();
    }
  });

  it('turns a refused serve or reaction into 503, keeping the serve rewardable', async () => {
    let fail = false;
    const memory = createMemoryEventSink();
    const sink = { ...memory, publish: (s: string, e: ServerEvent) => (fail ? Promise.reject(new Error('bus down')) : memory.publish(s, e)) };
    const h = await createHarness({ deps: { events: sink } });
    fail = true;
    let r = await post(h.app, '/score', { user_id: 'u1' });
    expect(r).toMatchObject({ status: 503, body: { error: 'unavailable', message: 'could not record the tip.served event: bus down' } });
    fail = false;
    const s = await post(h.app, '/score', { user_id: 'u1' });
    fail = true;
    r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'liked' });
    expect(r.status).toBe(503);
    fail = false;
    r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'liked' });
    expect(r.body).toMatchObject({ applied: true, reward: 1 });
    expect(memory.events.map((e) => e.type)).toEqual(['tip.served', 'tip.reaction']);
    expect(h.logs.join('')).toContain('event sink refused an event');
    await h.app.close();
  });
});
