import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { OoMlApp } from '../../src/server/app.js';
import { startNatsServer, type NatsTestServer } from '../helpers/nats-server.js';
import { tempHome } from '../helpers/temp-home.js';
import { busServers, type BusServer } from './bus-servers.js';
import { post } from './harness.js';

let nats: NatsTestServer | undefined;
afterEach(async () => {
  await nats?.stop();
  nats = undefined;
});
const servers = busServers();

/** A server over the bus (embedded under `dir`, or NATS) and the reset marker in `dir`, as `oo-ml serve` starts it. */
const serverOn = (dir: string, clockMs?: number, natsUrl?: string) =>
  servers.start(dir, { ...(clockMs === undefined ? {} : { clockMs }), ...(natsUrl === undefined ? {} : { natsUrl }) });
const stop = (s: BusServer): Promise<void> => servers.stop(s);

const scoreOf = async (app: OoMlApp, arm: string): Promise<unknown> => (await post(app, '/score', { user_id: 'u1', arms: [arm] })).body['score'];

describe('online learning across restarts', () => {
  it('rebuilds learned states and pending serves from the journal at start', async () => {
    const dir = (await tempHome()).home;
    const a = await serverOn(dir);
    const rewarded = ['completed', 'dismissed', 'liked'] as const;
    for (const reaction of rewarded) {
      const s = await post(a.app, '/score', { user_id: 'u1', arms: ['split_task'] });
      a.clock.ms += 1000;
      await post(a.app, '/reward', { serve_id: s.body['serve_id'], reaction });
    }
    const numeric = await post(a.app, '/score', { user_id: 'u1', arms: ['split_task'] });
    await post(a.app, '/reward', { serve_id: numeric.body['serve_id'], reward: 0.4 });
    const waiting = await post(a.app, '/score', { user_id: 'u1', arms: ['quick_win'] });
    const before = await scoreOf(a.app, 'split_task');
    expect(before).toBeCloseTo((2 + 0.4 + 0.5) / 5, 12);
    const clock = a.clock.ms;
    await stop(a);

    // Every event is one whole line of its subject's journal.
    const types = async (subject: string) =>
      (await readFile(join(dir, 'bus', `${subject}.ndjson`), 'utf8')).trimEnd().split('\n').map((l) => (JSON.parse(l) as { type: string }).type);
    expect(await types('signals.tip.served')).toEqual(Array(6).fill('tip.served'));
    expect(await types('feedback.tip.reaction')).toEqual(Array(3).fill('tip.reaction'));
    expect(await types('feedback.tip.reward')).toEqual(['tip.reward']);

    const b = await serverOn(dir, clock + 60_000);
    expect(await scoreOf(b.app, 'split_task')).toBe(before);
    // The serve made before the restart can still be rewarded, once.
    const r = await post(b.app, '/reward', { serve_id: waiting.body['serve_id'], reaction: 'completed' });
    expect(r.body).toMatchObject({ applied: true, reward: 1 });
    expect(await scoreOf(b.app, 'quick_win')).toBe(0.75);
    const rewardedBefore = await post(b.app, '/reward', { serve_id: waiting.body['serve_id'], reaction: 'completed' });
    expect(rewardedBefore.body['applied']).toBe(false);
  });

  it('skips torn journal lines, and a reset survives the restart', async () => {
    const dir = (await tempHome()).home;
    const a = await serverOn(dir);
    const s = await post(a.app, '/score', { user_id: 'u1', arms: ['take_break'] });
    await post(a.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'liked' });
    expect(await scoreOf(a.app, 'take_break')).toBe(0.75);
    await stop(a);
    await appendFile(join(dir, 'bus', 'signals.tip.served.ndjson'), '{"type":"tip.served","event_id":"x"\n');

    const b = await serverOn(dir);
    expect(await scoreOf(b.app, 'take_break')).toBe(0.75);
    expect(b.sink.skipped).toBe(1);
    b.clock.ms += 1000;
    const reset = await post(b.app, '/admin/reset', {}, { authorization: 'Bearer t' });
    expect(reset.status).toBe(200);
    expect(reset.body).toMatchObject({ reset: true, at: new Date(b.clock.ms).toISOString() });
    expect(await scoreOf(b.app, 'take_break')).toBe(0.5);
    const after = await post(b.app, '/score', { user_id: 'u1', arms: ['take_break'] });
    await post(b.app, '/reward', { serve_id: after.body['serve_id'], reaction: 'dismissed' });
    const clock = b.clock.ms;
    await stop(b);

    // Only the reward after the reset is replayed: (0 + 0.5) / (1 + 1).
    const c = await serverOn(dir, clock);
    expect(await scoreOf(c.app, 'take_break')).toBe(0.25);
  });

  it('rebuilds learning from NATS JetStream when the server publishes there', async () => {
    nats = await startNatsServer();
    const dir = (await tempHome()).home;
    const a = await serverOn(dir, undefined, nats.url);
    const s1 = await post(a.app, '/score', { user_id: 'u1', arms: ['quick_win'] });
    await post(a.app, '/reward', { serve_id: s1.body['serve_id'], reaction: 'liked' });
    const s2 = await post(a.app, '/score', { user_id: 'u1', arms: ['quick_win'] });
    await post(a.app, '/reward', { serve_id: s2.body['serve_id'], reward: 0.2 });
    const before = await scoreOf(a.app, 'quick_win');
    expect(before).toBeCloseTo((1 + 0.2 + 0.5) / 3, 12);
    const clock = a.clock.ms;
    await stop(a);
    const b = await serverOn(dir, clock, nats.url);
    expect(await scoreOf(b.app, 'quick_win')).toBe(before);
  });
});
