import { describe, expect, it } from 'vitest';
import { EVENT_VALIDATORS } from '../../src/events/schemas.js';
import { wilsonInterval } from '../../src/evaluation/proportion-intervals.js';
import { closingHarness, get, post } from './harness.js';

const harness = closingHarness();
const TOKEN = { authorization: 'Bearer s3cret' };

describe('POST /reward', () => {
  it('applies a reaction once to the serving policy, records tip.reaction, and answers a repeat with applied: false', async () => {
    const h = await harness();
    const s = await post(h.app, '/score', { user_id: 'u1', arms: ['quick_win'] });
    h.clock.ms += 30_000;
    const r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'completed', dwell_ms: 4200 });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ serve_id: s.body['serve_id'], applied: true, reward: 1, policy: 'tip-policy@champion', model_version: '1', reason: null });
    const reaction = h.sink.events[1]!;
    expect(EVENT_VALIDATORS['tip.reaction'].check(reaction)).toBe(true);
    expect(reaction).toMatchObject({ type: 'tip.reaction', user_id: 'u1', serve_id: s.body['serve_id'], reaction: 'completed', dwell_ms: 4200 });
    expect(h.sink.subjects[1]).toBe('feedback.tip.reaction');
    // The policy learned: quick_win's mean is now (1 + 0.5) / (1 + 1).
    const after = await post(h.app, '/score', { user_id: 'u1', arms: ['quick_win'] });
    expect(after.body['score']).toBe(0.75);

    const repeat = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'dismissed' });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ applied: false, reward: 1, reason: `already rewarded at ${new Date(h.clock.ms).toISOString()}` });
    expect(h.sink.events.filter((e) => e.type === 'tip.reaction')).toHaveLength(1);
    expect((await post(h.app, '/score', { user_id: 'u1', arms: ['quick_win'] })).body['score']).toBe(0.75);
  });

  it('computes a reaction reward with the reward rule (dismissed 0) and accepts a bare reward in [0, 1]', async () => {
    const h = await harness();
    const a = await post(h.app, '/score', { user_id: 'u1', arms: ['time_block'] });
    expect((await post(h.app, '/reward', { serve_id: a.body['serve_id'], reaction: 'dismissed' })).body).toMatchObject({ applied: true, reward: 0 });
    const b = await post(h.app, '/score', { user_id: 'u1', arms: ['time_block'] });
    expect((await post(h.app, '/reward', { serve_id: b.body['serve_id'], reward: 0.25 })).body).toMatchObject({ applied: true, reward: 0.25 });
    // A bare reward is journaled as tip.reward, with its number.
    expect(h.sink.events.map((e) => e.type)).toEqual(['tip.served', 'tip.reaction', 'tip.served', 'tip.reward']);
    expect(h.sink.events[3]).toMatchObject({ type: 'tip.reward', serve_id: b.body['serve_id'], user_id: 'u1', reward: 0.25 });
    expect((await post(h.app, '/score', { user_id: 'u1', arms: ['time_block'] })).body['score']).toBeCloseTo((0 + 0.25 + 0.5) / 3, 12);
  });

  it('answers 404 for unknown, expired and evicted serves, and 400 for an ambiguous body', async () => {
    const h = await harness({ deps: { limits: { maxPendingServes: 3 } } });
    let r = await post(h.app, '/reward', { serve_id: 'never-served', reaction: 'liked' });
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ error: 'not_found', message: 'serve_id "never-served" is unknown or older than the reward window' });

    const first = await post(h.app, '/score', { user_id: 'u1' });
    for (let i = 0; i < 3; i++) await post(h.app, '/score', { user_id: 'u1' });
    r = await post(h.app, '/reward', { serve_id: first.body['serve_id'], reaction: 'liked' });
    expect(r.status).toBe(404); // dropped by the bound of 3 pending serves

    const late = await post(h.app, '/score', { user_id: 'u1' });
    h.clock.ms += 24 * 3_600_000 + 1;
    expect((await post(h.app, '/reward', { serve_id: late.body['serve_id'], reaction: 'liked' })).status).toBe(404);

    const s = await post(h.app, '/score', { user_id: 'u1' });
    r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'liked', reward: 1 });
    expect(r.status).toBe(400);
    expect(r.body['message']).toBe('give exactly one of "reaction" or "reward"');
    r = await post(h.app, '/reward', { serve_id: s.body['serve_id'] });
    expect(r.status).toBe(400);
    r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reward: 1, dwell_ms: 5 });
    expect(r.body['message']).toBe('"dwell_ms" is only accepted with a "reaction"');
    r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reward: 1.5 });
    expect(r.status).toBe(400);
    expect(r.body['details']).toEqual([{ path: '/reward', message: 'must be <= 1' }]);
    // The refused calls did not consume the serve.
    expect((await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'liked' })).body['applied']).toBe(true);
  });

  it('records but does not learn a reward whose policy version was replaced by a reload', async () => {
    const h = await harness({ deps: { adminToken: 's3cret' } });
    const s = await post(h.app, '/score', { user_id: 'u1' });
    h.policies.specs['tip-policy@champion'] = { version: '2' };
    expect((await post(h.app, '/admin/reload', {}, TOKEN)).status).toBe(200);
    const r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'completed' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ applied: false, model_version: '1', reward: 1 });
    expect(r.body['reason']).toContain('now serves version 2');
  });

  it('reports serves, rewards, a Wilson interval, latency quantiles and reactions per prompt version in /stats', async () => {
    const h = await harness();
    const reactions = ['completed', 'dismissed', 'liked', 'ignored', 'completed'] as const;
    for (const reaction of reactions) {
      const s = await post(h.app, '/score', { user_id: 'u1' });
      await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction });
    }
    await post(h.app, '/score', { user_id: 'u2' });
    const stats = await get(h.app, '/stats');
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ since: new Date(h.clock.ms).toISOString(), snapshot_id: 'snap-synthetic-100', pending_serves: 6 });
    const [row] = stats.body['policies'] as Record<string, unknown>[];
    expect(row).toMatchObject({ policy: 'tip-policy@champion', model_version: '1', shadow: false, serves: 6, rewards: 5, reward_sum: 3, reward_rate: 0.5 });
    const [low, high] = wilsonInterval(3, 6);
    expect(row!['reward_rate_ci95']).toEqual({ low, high });
    const latency = row!['latency_ms'] as Record<string, number>;
    expect(latency['count']).toBe(6);
    expect(latency['p50']!).toBeGreaterThan(0);
    expect(latency['p50']!).toBeLessThanOrEqual(latency['p99']!);
    expect(stats.body['prompt_versions']).toEqual([
      { prompt_version: 'v1', reactions: { completed: 2, dismissed: 1, ignored: 1, liked: 1 }, total: 5 },
    ]);
  });
});

