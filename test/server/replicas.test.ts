/**
 * Two replicas of the server in one process over one embedded events stream (each with its own
 * state folder, as two `oo-ml serve` with `--state-dir`): a reward sent to either replica is
 * learned by both, once, and their policy states stay identical.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEmbeddedTransport } from '../../src/events/embedded-transport.js';
import { closingHarness, get, post, until, type Harness } from './harness.js';

const harness = closingHarness();

async function pair(): Promise<[Harness, Harness]> {
  const a = await harness({ stateDir: undefined });
  const b = await harness({ dir: a.dir, stateDir: join(a.dir, 'state-b'), transport: createEmbeddedTransport(join(a.dir, 'bus'), { pollMs: 5 }), seed: 99 });
  return [a, b];
}

interface LearningRow {
  name: string;
  model_version: string | null;
  updates: number;
  digest: string;
}

async function learning(h: Harness): Promise<{ position: number; policies: LearningRow[] }> {
  const stats = await get(h.app, '/stats');
  expect(stats.status).toBe(200);
  return stats.body['learning'] as { position: number; policies: LearningRow[] };
}

describe('replicas on one stream', () => {
  it('a reward sent to the replica that did not make the serve is applied once, and both replicas learn it', async () => {
    const [a, b] = await pair();
    const scored = await post(a.app, '/score', { user_id: 'u1' });
    expect(scored.status).toBe(200);
    const serveId = scored.body['serve_id'] as string;
    const rewarded = await post(b.app, '/reward', { serve_id: serveId, reaction: 'completed' });
    expect(rewarded.status).toBe(200);
    expect(rewarded.body).toMatchObject({ serve_id: serveId, outcome: 'applied', applied: true, reward: 1, policy: 'tip-policy@champion', model_version: '1' });
    // A retry, on either replica, is a duplicate and changes nothing.
    const again = await post(a.app, '/reward', { serve_id: serveId, reaction: 'completed' });
    await until(async () => (await learning(a)).position >= (await learning(b)).position, 'replica A to fold the reward');
    expect(again.body).toMatchObject({ outcome: 'duplicate', applied: false, event_id: null });
    await until(async () => (await learning(a)).position === (await learning(b)).position, 'both replicas at the same position');
    const [la, lb] = [await learning(a), await learning(b)];
    expect(la.policies[0]!.updates).toBe(1);
    expect(lb.policies).toEqual(la.policies);
  });
});
