import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../src/server/deps.js';
import { createFileJournalEventSink } from '../../src/server/file-journal-event-sink.js';
import { createMemoryEventSink } from '../../src/server/memory-event-sink.js';
import { reacted, served } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';
import { createHarness, post } from './harness.js';

describe('file journal', () => {
  it('appends one whole line per event, in publish order, and replays them', async () => {
    const path = join((await tempHome()).home, 'journal', 'events.ndjson');
    const sink = await createFileJournalEventSink(path);
    const events: ServerEvent[] = [];
    for (let i = 0; i < 2000; i++) {
      events.push(i % 2 === 0 ? served(`user-${i}`, '2026-02-05T10:00:00.000Z', `s${i}`) : reacted(`user-${i}`, '2026-02-05T10:00:01.000Z', `s${i - 1}`, 'liked'));
    }
    await Promise.all(events.map((e) => sink.publish('signals.x', e)));
    await sink.flush();
    const lines = (await readFile(path, 'utf8')).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l) as ServerEvent)).toEqual(events);
    const replayed: ServerEvent[] = [];
    for await (const e of sink.readAll()) replayed.push(e);
    expect(replayed).toEqual(events);
    await sink.close();
    await expect(sink.publish('signals.x', events[0]!)).rejects.toThrow('is closed');
  });

  it('applies backpressure when the buffer is full, and loses nothing', async () => {
    const path = join((await tempHome()).home, 'events.ndjson');
    const sink = await createFileJournalEventSink(path);
    const settled: boolean[] = [];
    // ~12 MiB of lines against a 1 MiB buffer.
    const events = Array.from({ length: 30_000 }, (_, i) => served(`user-${'x'.repeat(150)}-${i}`, '2026-02-05T10:00:00.000Z', `s${i}`));
    const all = events.map((e, i) => sink.publish('signals.tip.served', e).then(() => (settled[i] = true)));
    await null;
    expect(settled.filter(Boolean).length).toBeLessThan(events.length); // some waited for 'drain'
    await Promise.all(all);
    await sink.flush();
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(events.length);
    expect((JSON.parse(lines.at(-1)!) as ServerEvent).serve_id).toBe('s29999');
    await sink.close();
  });
});

describe('a failing event sink', () => {
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
