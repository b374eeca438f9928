import { describe, expect, it } from 'vitest';
import { EVENT_VALIDATORS } from '../../src/events/schemas.js';
import { wilsonInterval } from '../../src/evaluation/proportion-intervals.js';
import { closingHarness, get, post, until, type Harness } from './harness.js';

const harness = closingHarness();
const TOKEN = { authorization: 'Bearer s3cret' };

const reactions = (h: Harness) => h.published.filter((p) => p.event.type === 'tip.reaction' || p.event.type === 'tip.reward');

describe('POST /reward', () => {
  it('applies a reaction once to the serving policy, records tip.reaction on the feedback stream, and answers a repeat as a duplicate', async () => {
    const h = await harness();
    const s = await post(h.app, '/score', { user_id: 'u1', arms: ['quick_win'] });
    h.clock.ms += 30_000;
    const r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'completed', dwell_ms: 4200 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ serve_id: s.body['serve_id'], outcome: 'applied', applied: true, reward: 1, policy: 'tip-policy@champion', model_version: '1', reason: null });
    const [reaction] = reactions(h);
    expect(reaction!.subject).toBe('feedback.tip.reaction');
    expect(EVENT_VALIDATORS['tip.reaction'].check(reaction!.event)).toBe(true);
    expect(reaction!.event).toMatchObject({ type: 'tip.reaction', event_id: r.body['event_id'], user_id: 'u1', serve_id: s.body['serve_id'], reaction: 'completed', dwell_ms: 4200 });
    // The policy learned: quick_win's mean is now (1 + 0.5) / (1 + 1).
    const after = await post(h.app, '/score', { user_id: 'u1', arms: ['quick_win'] });
    expect(after.body['score']).toBe(0.75);

    const repeat = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'dismissed' });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ outcome: 'duplicate', applied: false, event_id: null });
    expect(repeat.body['reason']).toContain(`position ${reaction!.seq}`);
    expect(reactions(h)).toHaveLength(1);
    expect((await post(h.app, '/score', { user_id: 'u1', arms: ['quick_win'] })).body['score']).toBe(0.75);
  });

  it('computes a reaction reward with the reward rule (dismissed 0) and accepts a bare reward in [0, 1]', async () => {
    const h = await harness();
    const a = await post(h.app, '/score', { user_id: 'u1', arms: ['time_block'] });
    expect((await post(h.app, '/reward', { serve_id: a.body['serve_id'], reaction: 'dismissed' })).body).toMatchObject({ applied: true, reward: 0 });
    const b = await post(h.app, '/score', { user_id: 'u1', arms: ['time_block'] });
    expect((await post(h.app, '/reward', { serve_id: b.body['serve_id'], reward: 0.25 })).body).toMatchObject({ applied: true, reward: 0.25 });
    // A bare reward is recorded as tip.reward, with its number.
    expect(h.published.map((p) => p.event.type)).toEqual(['tip.served', 'tip.reaction', 'tip.served', 'tip.reward']);
    expect(h.published[3]!.event).toMatchObject({ type: 'tip.reward', serve_id: b.body['serve_id'], user_id: 'u1', reward: 0.25 });
    expect((await post(h.app, '/score', { user_id: 'u1', arms: ['time_block'] })).body['score']).toBeCloseTo((0 + 0.25 + 0.5) / 3, 12);
  });

  it('answers 404 for ids it never issued and serves it never saw, records a reaction with user_id anyway, and 400 for an ambiguous body', async () => {
    const h = await harness({ deps: { limits: { serveWaitMs: 20, rewardWaitMs: 2_000 } } });
    let r = await post(h.app, '/reward', { serve_id: 'never-served', reaction: 'liked' });
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ error: 'not_found', message: 'serve_id "never-served" is not a serve id oo-ml issued' });
    // Well formed, but no serve of that id reached the stream: 404 unless the user is named.
    r = await post(h.app, '/reward', { serve_id: '0123456789ab-zz', reaction: 'liked' });
    expect(r.status).toBe(404);
    expect(r.body['hint']).toContain('send user_id');
    expect(reactions(h)).toHaveLength(0);
    r = await post(h.app, '/reward', { serve_id: '0123456789ab-zz', user_id: 'u1', reaction: 'liked' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'waiting', applied: false, reward: null });
    expect(reactions(h)).toHaveLength(1);

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
    // A reaction it does not know: the answer lists the ones it does.
    r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'clicked' });
    expect([r.status, r.body['details']]).toEqual([400, [{ path: '/reaction', message: 'must be one of "completed", "dismissed", "ignored", "liked"' }]]);
    r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], user_id: 'u2', reaction: 'liked' });
    expect(r.status).toBe(409);
    expect(r.body['details']).toEqual([{ path: '/user_id', message: "not the serve's user" }]);
    // The refused calls did not consume the serve.
    expect((await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'liked' })).body['applied']).toBe(true);
  });

  it("answers 404 for the next id this replica would issue, even with user_id, so no reaction waits for and claims a later serve", async () => {
    const h = await harness({ deps: { limits: { serveWaitMs: 20, rewardWaitMs: 2_000 } } });
    const s = await post(h.app, '/score', { user_id: 'victim' });
    const id = String(s.body['serve_id']);
    const [issuer, seq] = id.split('-') as [string, string];
    const next = `${issuer}-${(parseInt(seq, 36) + 1).toString(36)}`;
    const r = await post(h.app, '/reward', { serve_id: next, user_id: 'victim', reaction: 'dismissed' });
    expect(r.status).toBe(404);
    expect(r.body['details']).toEqual([{ path: '/serve_id', message: 'not issued (yet) by the replica it names' }]);
    expect(reactions(h)).toHaveLength(0);
    // The serve that id then names takes its real reaction.
    const later = await post(h.app, '/score', { user_id: 'victim' });
    expect(later.body['serve_id']).toBe(next);
    // Folded before it is rewarded: this harness waits only 20 ms for a serve it has not seen.
    await until(async () => (await h.app.ooMl.learning.waitForServe(next, 0)) !== null, 'the serve to be folded');
    expect((await post(h.app, '/reward', { serve_id: next, reaction: 'completed' })).body).toMatchObject({ outcome: 'applied', reward: 1 });
    // Ids this replica issued stay rewardable, and another issuer's ids are not judged by this one's counter.
    expect((await post(h.app, '/reward', { serve_id: id, reaction: 'liked' })).body).toMatchObject({ outcome: 'applied' });
    expect((await post(h.app, '/reward', { serve_id: '0123456789ab-zz', user_id: 'u1', reaction: 'liked' })).status).toBe(200);
    // A shadow suffix on something that is not a serve id is just not a serve id.
    const garbage = await post(h.app, '/reward', { serve_id: 'garbage:shadow:1', reaction: 'liked' });
    expect([garbage.status, garbage.body['message']]).toEqual([404, 'serve_id "garbage:shadow:1" is not a serve id oo-ml issued']);
    expect((await post(h.app, '/reward', { serve_id: `${id}:shadow:1`, reaction: 'liked' })).status).toBe(409);
  });

  it('records but does not learn a reward later than the reward window', async () => {
    const h = await harness();
    const s = await post(h.app, '/score', { user_id: 'u1' });
    h.clock.ms += 24 * 3_600_000 + 1;
    const r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'liked' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'expired', applied: false, reward: 0 });
    expect(reactions(h)).toHaveLength(1);
    expect((await get(h.app, '/stats')).body['learning']).toMatchObject({ rewards: { expired: 1, applied: 0 } });
  });

  it('records a retried reward once: the same serve and feedback is the same event on the bus, answered as the first call was', async () => {
    const h = await harness();
    const late = await post(h.app, '/score', { user_id: 'u1' });
    h.clock.ms += 24 * 3_600_000 + 1;
    const body = { serve_id: late.body['serve_id'], reaction: 'liked' };
    const first = await post(h.app, '/reward', body);
    const retried = await post(h.app, '/reward', body);
    expect(first.body).toMatchObject({ outcome: 'expired', event_id: `${late.body['serve_id'] as string}/liked` });
    expect(retried.body).toEqual(first.body);
    expect(reactions(h)).toHaveLength(1);
    // Sent twice at once for a fresh serve: one event, and both calls answered with what it did.
    const fresh = await post(h.app, '/score', { user_id: 'u2' });
    const both = await Promise.all([0, 1].map(() => post(h.app, '/reward', { serve_id: fresh.body['serve_id'], reward: 0.5 })));
    expect(both.map((r) => r.body)).toEqual([both[0]!.body, both[0]!.body]);
    expect(both[0]!.body).toMatchObject({ outcome: 'applied', reward: 0.5 });
    expect(h.published.filter((p) => p.event.type === 'tip.reward')).toHaveLength(1);
    // Another reaction to the serve is another event, which the first reward already claimed.
    expect((await post(h.app, '/reward', { serve_id: fresh.body['serve_id'], reaction: 'dismissed' })).body).toMatchObject({ outcome: 'duplicate', event_id: null });
  });

  it('records but does not learn a reward whose policy version was replaced by a reload', async () => {
    const h = await harness({ deps: { adminToken: 's3cret' } });
    const s = await post(h.app, '/score', { user_id: 'u1' });
    h.policies.specs['tip-policy@champion'] = { version: '2' };
    expect((await post(h.app, '/admin/reload', {}, TOKEN)).status).toBe(200);
    const r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'completed' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'version_changed', applied: false, model_version: '1', reward: 1 });
    expect(r.body['reason']).toContain('does not serve version 1');
  });

  it('reports serves, rewards, a Wilson interval, latency quantiles and reactions per prompt version in /stats', async () => {
    const h = await harness();
    const kinds = ['completed', 'dismissed', 'liked', 'ignored', 'completed'] as const;
    for (const reaction of kinds) {
      const s = await post(h.app, '/score', { user_id: 'u1' });
      await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction });
    }
    await post(h.app, '/score', { user_id: 'u2' });
    // The last serve is folded a moment after its answer.
    await until(async () => ((await get(h.app, '/stats')).body['learning'] as { position: number }).position === 11, 'the fold to reach the last serve');
    await post(h.app, '/score', { user_id: '' });
    const stats = await get(h.app, '/stats');
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ since: new Date(h.clock.ms).toISOString(), snapshot_id: 'snap-synthetic-100' });
    // Every answered request by status (the /stats polls of `until` included), for a dashboard's rates and errors.
    const requests = stats.body['requests'] as { total: number; by_status: Record<string, number> };
    expect(requests.by_status['400']).toBe(1);
    expect(requests.by_status['200']).toBeGreaterThanOrEqual(11);
    expect(requests.total).toBe(Object.values(requests.by_status).reduce((a, b) => a + b, 0));
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
    expect(stats.body['learning']).toMatchObject({
      position: 11,
      serves: 6,
      rewards: { applied: 5, duplicate: 0 },
      policies: [{ name: 'tip-policy@champion', model_version: '1', updates: 5, served: true }],
      serve_window: { hot_records: 6, cold_files: 0, forgotten: 0 },
    });
    expect(stats.body['bus']).toMatchObject({ kind: 'embedded', connected: true, mode: 'direct', spill_backlog: 0 });
  });
});
