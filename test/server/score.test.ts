import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVENT_VALIDATORS } from '../../src/events/schemas.js';
import { assign, parseExperimentsConfig } from '../../src/experiments/assignment.js';
import { ARM_COUNT, ARM_IDS } from '../../src/features/arms.js';
import { PROFILE_FEATURE_NAMES, type ProfileValues } from '../../src/features/registry.js';
import { toVector, type VectorInput } from '../../src/features/vectors.js';
import type { PolicyProvider } from '../../src/server/deps.js';
import { fixedExperiments } from '../../src/server/experiments-source.js';
import { NO_EXPERIMENTS } from '../../src/server/serving-state.js';
import { AS_OF, closingHarness, get, hash32, post, specPolicyProvider, T0, until } from './harness.js';
import { meanSoftmax, meanSoftmaxPolicy } from './mean-softmax-policy.js';
import { syntheticValue } from '../../fixtures/synthetic-snapshot.js';

const harness = closingHarness();

function profileOf(i: number): ProfileValues {
  return Object.fromEntries(PROFILE_FEATURE_NAMES.map((n) => [n, syntheticValue(n, i)])) as ProfileValues;
}

/** A provider whose policy records every context vector it is asked to choose for. */
function recordingProvider(seen: Float64Array[]): PolicyProvider {
  const holder = { specs: { 'tip-policy@champion': { version: '1' } }, champion: 'tip-policy@champion', shadows: [] };
  const base = specPolicyProvider(holder);
  return {
    async load() {
      const loaded = await base.load(NO_EXPERIMENTS);
      for (const lp of loaded.byName.values()) {
        lp.policy = {
          ...meanSoftmaxPolicy,
          choose(s, x, rng) {
            seen.push(Float64Array.from(x));
            return meanSoftmaxPolicy.choose(s, x, rng);
          },
        };
      }
      return loaded;
    },
  };
}

describe('POST /score', () => {
  it('returns a decision and records it as a tip.served event', async () => {
    const h = await harness();
    const r = await post(h.app, '/score', {
      user_id: 'u5',
      context: { hour_of_day: 9, day_of_week: 2, tasks: [{ id: 'a', due: '2026-02-05T08:00:00Z' }, { id: 'b' }] },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      policy: 'tip-policy@champion',
      model_version: '1',
      experiment: null,
      variant: null,
      prompt_version: 'v1',
      fallbacks: [],
      score: 0.5,
      propensity: 1 / ARM_COUNT,
    });
    expect(ARM_IDS).toContain(r.body['arm']);
    expect(h.published.map((p) => p.event)).toHaveLength(1);
    const e = h.published.map((p) => p.event)[0]!;
    expect(EVENT_VALIDATORS['tip.served'].check(e)).toBe(true);
    expect(e).toMatchObject({
      type: 'tip.served',
      ts: T0.toISOString(),
      user_id: 'u5',
      serve_id: r.body['serve_id'],
      arm: r.body['arm'],
      propensity: 1 / ARM_COUNT,
      context: { hour_of_day: 9, day_of_week: 2, open_tasks: 2, overdue_tasks: 1 },
      shadow: false,
    });
    expect(h.published.map((p) => p.subject)).toEqual(['signals.tip.served']);
  });

  it('builds the vector through the feature contract: request context, snapshot profile, fallbacks', async () => {
    const seen: Float64Array[] = [];
    const h = await harness({ deps: { policies: recordingProvider(seen) } });
    const fallbackProfile: ProfileValues = { completion_rate: 0.4, dismiss_rate: 0.3, mean_dwell_sec: 20, preferred_hour: null, tip_volume: 0 };
    const v = (input: Omit<VectorInput, 'profile'> & { profile: ProfileValues }) => Array.from(toVector('v2', input));

    // Known user, full context: the snapshot's row, nothing falls back.
    let r = await post(h.app, '/score', {
      user_id: 'u7',
      context: { hour_of_day: 9, day_of_week: 2, tasks: [{ id: 'a', due: '2026-02-05T08:00:00Z' }, { id: 'b' }] },
    });
    expect(r.body['fallbacks']).toEqual([]);
    expect(Array.from(seen.at(-1)!)).toEqual(v({ hourOfDay: 9, dayOfWeek: 2, openTasks: 2, overdueTasks: 1, hasProfile: true, profile: profileOf(7) }));

    // Unknown user, no context: server clock (Thursday 12:00 UTC), empty task list, profile fallbacks.
    r = await post(h.app, '/score', { user_id: 'nobody' });
    expect(r.body['fallbacks']).toEqual(['hour_of_day', 'day_of_week', 'tasks', ...PROFILE_FEATURE_NAMES]);
    expect(Array.from(seen.at(-1)!)).toEqual(v({ hourOfDay: 12, dayOfWeek: 3, openTasks: 0, overdueTasks: 0, hasProfile: false, profile: fallbackProfile }));

    // profile_features: null → every profile feature falls back, even for a known user.
    r = await post(h.app, '/score', { user_id: 'u7', context: { hour_of_day: 9, day_of_week: 2, tasks: [] }, profile_features: null });
    expect(r.body['fallbacks']).toEqual([...PROFILE_FEATURE_NAMES]);
    expect(Array.from(seen.at(-1)!)).toEqual(v({ hourOfDay: 9, dayOfWeek: 2, openTasks: 0, overdueTasks: 0, hasProfile: false, profile: fallbackProfile }));

    // A partial profile from the request: its numbers over the snapshot's row, a null asking for
    // the feature's fallback, the rest the snapshot's.
    r = await post(h.app, '/score', { user_id: 'u7', context: { hour_of_day: 9, day_of_week: 2, tasks: [] }, profile_features: { completion_rate: 0.9, preferred_hour: 8, tip_volume: null } });
    expect(r.body['fallbacks']).toEqual(['tip_volume']);
    expect(Array.from(seen.at(-1)!)).toEqual(
      v({ hourOfDay: 9, dayOfWeek: 2, openTasks: 0, overdueTasks: 0, hasProfile: true, profile: { ...profileOf(7), completion_rate: 0.9, preferred_hour: 8, tip_volume: fallbackProfile['tip_volume']! } }),
    );
    // For a user the snapshot does not have, what is left out falls back.
    r = await post(h.app, '/score', { user_id: 'nobody', context: { hour_of_day: 9, day_of_week: 2, tasks: [] }, profile_features: { completion_rate: 0.9, preferred_hour: 8 } });
    expect(r.body['fallbacks']).toEqual(['dismiss_rate', 'mean_dwell_sec', 'tip_volume']);
    expect(Array.from(seen.at(-1)!)).toEqual(
      v({ hourOfDay: 9, dayOfWeek: 2, openTasks: 0, overdueTasks: 0, hasProfile: true, profile: { ...fallbackProfile, completion_rate: 0.9, preferred_hour: 8 } }),
    );

    // `ts` gives hour and day (Saturday 22:30 UTC) and the overdue cut-off; no clock fallback.
    r = await post(h.app, '/score', {
      user_id: 'u7',
      context: { ts: '2026-02-07T22:30:00Z', tasks: [{ id: 'a', due: '2026-02-07T22:00:00Z' }, { id: 'b', due: '2026-02-08T09:00:00Z' }] },
    });
    expect(r.body['fallbacks']).toEqual([]);
    expect(Array.from(seen.at(-1)!)).toEqual(v({ hourOfDay: 22, dayOfWeek: 5, openTasks: 2, overdueTasks: 1, hasProfile: true, profile: profileOf(7) }));

    // Two days later the 1-day features are stale (fallbacks); the 7-day preferred hour is not.
    h.clock.ms = AS_OF.getTime() + 2 * 86_400_000;
    r = await post(h.app, '/score', { user_id: 'u7', context: { hour_of_day: 9, day_of_week: 2, tasks: [] } });
    expect(r.body['fallbacks']).toEqual(['completion_rate', 'dismiss_rate', 'mean_dwell_sec', 'tip_volume']);
    expect(Array.from(seen.at(-1)!)).toEqual(
      v({ hourOfDay: 9, dayOfWeek: 2, openTasks: 0, overdueTasks: 0, hasProfile: true, profile: { ...fallbackProfile, preferred_hour: 7 } }),
    );
  });

  it('restricts to the allowed arms with the renormalised distribution, so propensities stay exact', async () => {
    const h = await harness();
    // Teach the policy distinct arm means through single-arm serves (propensity 1) and rewards.
    const rewards = [1, 0, 1, 1, 0, 0, 1, 0];
    const state = meanSoftmax.init(ARM_COUNT);
    for (let a = 0; a < ARM_COUNT; a++) {
      for (let n = 0; n <= a % 3; n++) {
        const s = await post(h.app, '/score', { user_id: 'u1', arms: [ARM_IDS[a]] });
        expect(s.body).toMatchObject({ arm: ARM_IDS[a], propensity: 1 });
        const rw = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reward: rewards[a] });
        expect(rw.body['applied']).toBe(true);
        meanSoftmax.update(state, new Float64Array(12), a, rewards[a]!);
      }
    }
    const p = meanSoftmax.probabilities(state, new Float64Array(12), new Float64Array(ARM_COUNT));
    await fc.assert(
      fc.asyncProperty(fc.subarray([...ARM_IDS], { minLength: 1 }), async (arms) => {
        const r = await post(h.app, '/score', { user_id: 'u2', arms });
        expect(r.status).toBe(200);
        const arm = ARM_IDS.indexOf(r.body['arm'] as (typeof ARM_IDS)[number]);
        expect(arms).toContain(ARM_IDS[arm]);
        const total = arms.reduce((acc, id) => acc + p[ARM_IDS.indexOf(id)]!, 0);
        expect(r.body['propensity']).toBeCloseTo(p[arm]! / total, 12);
        expect(r.body['score']).toBeCloseTo(meanSoftmax.score(state, new Float64Array(12), new Float64Array(ARM_COUNT))[arm]!, 12);
      }),
      { seed: 42, numRuns: 60 },
    );
  });

  it('takes the best allowed arm (ties uniform) when the policy puts no mass on the allowed arms', async () => {
    const h = await harness({ policies: { 'tip-policy@champion': { version: '1', t: 1e-6 } } });
    const s = await post(h.app, '/score', { user_id: 'u1', arms: ['split_task'] });
    await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'completed' });
    // split_task now has mean 0.75, the rest 0.5: at t = 1e-6 all mass is on split_task.
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const r = await post(h.app, '/score', { user_id: 'u1', arms: ['quick_win', 'take_break'] });
      expect(r.body['propensity']).toBe(0.5);
      seen.add(r.body['arm'] as string);
    }
    expect([...seen].sort()).toEqual(['quick_win', 'take_break']);
  });

  it('names unknown arms and unknown policies (400); a loaded policy in the body overrides the assignment', async () => {
    const h = await harness({ policies: { 'tip-policy@champion': { version: '1' }, linucb: { version: null } } });
    let r = await post(h.app, '/score', { user_id: 'u1', arms: ['split_task', 'nope', 'zzz'] });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: 'invalid_input', message: 'unknown arm(s): "nope", "zzz"' });
    expect(r.body['details']).toEqual([
      { path: '/arms/1', message: 'unknown arm "nope"' },
      { path: '/arms/2', message: 'unknown arm "zzz"' },
    ]);
    r = await post(h.app, '/score', { user_id: 'u1', policy: 'ghost' });
    expect(r.status).toBe(400);
    expect(r.body['message']).toBe('unknown policy "ghost"');
    expect(r.body['hint']).toBe('loaded policies: tip-policy@champion, linucb');
    r = await post(h.app, '/score', { user_id: 'u1', policy: 'linucb' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ policy: 'linucb', model_version: null, experiment: null, variant: null });
    expect(h.published.map((p) => p.event)).toHaveLength(1);
  });

  it('assigns users to experiment variants by xxhash32; a variant whose policy is missing is not ready', async () => {
    const experiments = parseExperimentsConfig(
      {
        experiments: [
          {
            name: 'exp1',
            salt: 'salt-1',
            variants: [
              { name: 'control', weight: 50, policy: 'tip-policy@champion' },
              { name: 'treatment', weight: 50, policy: 'alt' },
            ],
          },
        ],
      },
      'test',
    );
    const h = await harness({ policies: { 'tip-policy@champion': { version: '1' }, alt: { version: '9' } }, deps: { experiments: fixedExperiments(experiments) } });
    const variants = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const r = await post(h.app, '/score', { user_id: `u${i}` });
      const a = assign(experiments, `u${i}`, hash32, 'tip-policy@champion');
      expect(r.body).toMatchObject({ experiment: 'exp1', variant: a.variant, policy: a.policy });
      variants.add(a.variant!);
    }
    expect(variants.size).toBe(2);
    // /stats has a row per variant, counting its users' serves.
    const count = (v: string) => Array.from({ length: 40 }, (_, i) => assign(experiments, `u${i}`, hash32, 'x').variant).filter((x) => x === v).length;
    const rows = (await get(h.app, '/stats')).body['policies'] as { experiment: string; variant: string; policy: string; serves: number }[];
    expect(rows.map((r) => [r.experiment, r.variant, r.policy, r.serves]).sort()).toEqual([
      ['exp1', 'control', 'tip-policy@champion', count('control')],
      ['exp1', 'treatment', 'alt', count('treatment')],
    ]);

    const broken = await harness({ deps: { experiments: fixedExperiments(experiments) } });
    const ready = await get(broken.app, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body['message']).toContain('experiment "exp1" variant "treatment" needs policy "alt", which is not loaded');
    const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
    const treated = users.find((u) => assign(experiments, u, hash32, 'x').variant === 'treatment')!;
    const control = users.find((u) => assign(experiments, u, hash32, 'x').variant === 'control')!;
    const r = await post(broken.app, '/score', { user_id: treated });
    expect(r.status).toBe(503);
    expect(r.body['message']).toContain('policy "alt" is not loaded');
    expect((await post(broken.app, '/score', { user_id: control })).status).toBe(200);

    // A default policy the server does not have is a reason too (it was ready, and every /score of those users a 503 without one).
    const withDefault = parseExperimentsConfig({ default_policy: 'nosuch', experiments: [] }, 'test');
    const noDefault = await get((await harness({ deps: { experiments: fixedExperiments(withDefault) } })).app, '/readyz');
    expect([noDefault.status, noDefault.body['message']]).toEqual([503, expect.stringContaining(`the experiments file's default_policy "nosuch" is not loaded`)]);
    // Beside an experiment (which takes every user) it serves no one, and is not needed.
    const beside = parseExperimentsConfig({ default_policy: 'nosuch', experiments: experiments.experiments }, 'test');
    expect((await get((await harness({ policies: { 'tip-policy@champion': { version: '1' }, alt: { version: '9' } }, deps: { experiments: fixedExperiments(beside) } })).app, '/readyz')).status).toBe(200);
    // A shadow as a variant would serve and learn from rewards, which a shadow never does.
    const shadowVariant = parseExperimentsConfig(
      { experiments: [{ name: 'e', salt: 's', variants: [{ name: 'control', weight: 1, policy: 'tip-policy@champion' }, { name: 'treat', weight: 1, policy: 'tip-policy@shadow' }] }] },
      'test',
    );
    const shadowed = await harness({ policies: { 'tip-policy@champion': { version: '1' }, 'tip-policy@shadow': { version: '2' } }, shadows: ['tip-policy@shadow'], deps: { experiments: fixedExperiments(shadowVariant) } });
    const refused = await get(shadowed.app, '/readyz');
    expect([refused.status, refused.body['message']]).toEqual([503, expect.stringContaining('experiment "e" variant "treat" names the shadow "tip-policy@shadow", which never serves')]);
    // Both variants on one version (a promotion moved the candidate's version to champion): said, as an A/A test.
    const same = parseExperimentsConfig(
      { experiments: [{ name: 'e', salt: 's', variants: [{ name: 'control', weight: 1, policy: 'tip-policy@champion' }, { name: 'treat', weight: 1, policy: 'tip-policy@candidate' }] }] },
      'test',
    );
    const aa = await get((await harness({ policies: { 'tip-policy@champion': { version: '2' }, 'tip-policy@candidate': { version: '2' } }, deps: { experiments: fixedExperiments(same) } })).app, '/readyz');
    expect((aa.body['warnings'] as string[]).join(' ')).toContain('experiment "e": variants "control" and "treat" all serve tip-policy v2, so the experiment compares it with itself');
  });

  it('scores shadows after the reply, records them as shadow serves, and never lets them change served arms', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const specs = { 'tip-policy@champion': { version: '1' }, 'tip-policy@shadow': { version: '2' } };
    const h = await harness({ policies: specs, shadows: ['tip-policy@shadow'] });
    // Shadow events wait on the gate: if shadows ran before the reply, /score would hang.
    h.transport.beforePublish = (_subject, e) => (e.type === 'tip.served' && e.shadow ? gate : undefined);
    const r = await post(h.app, '/score', { user_id: 'u3', context: { hour_of_day: 10 } });
    expect(r.status).toBe(200);
    const shadows = () => h.published.map((p) => p.event).filter((e) => e.type === 'tip.served' && e.shadow);
    expect(shadows()).toHaveLength(0);
    release();
    await until(() => shadows().length === 1, 'the shadow serve to be stored');
    const shadow = shadows()[0];
    expect(shadow).toMatchObject({ type: 'tip.served', shadow: true, policy: 'tip-policy@shadow', model_version: '2', user_id: 'u3', serve_id: `${r.body['serve_id']}:shadow:0` });
    expect(EVENT_VALIDATORS['tip.served'].check(shadow)).toBe(true);
    const refused = await post(h.app, '/reward', { serve_id: `${r.body['serve_id']}:shadow:0`, reaction: 'completed' });
    expect(refused.status).toBe(409);
    expect(refused.body['message']).toContain('shadow decisions are never rewarded');
    // Nor can a request make the shadow serve (its serve would be rewardable).
    const forced = await post(h.app, '/score', { user_id: 'u3', policy: 'tip-policy@shadow' });
    expect([forced.status, forced.body['error'], forced.body['details']]).toEqual([409, 'conflict', [{ path: '/policy', message: 'shadow policy' }]]);

    // Same seed with and without a shadow: the same served arms.
    const a = await harness({ policies: specs, shadows: ['tip-policy@shadow'] });
    const b = await harness({ policies: specs });
    for (let i = 0; i < 20; i++) {
      const [x, y] = await Promise.all([post(a.app, '/score', { user_id: `u${i}` }), post(b.app, '/score', { user_id: `u${i}` })]);
      expect(x.body['arm']).toBe(y.body['arm']);
    }
    await until(() => a.published.filter((p) => p.event.type === 'tip.served' && p.event.shadow).length === 20, 'every shadow serve to be stored');
    const stats = await get(a.app, '/stats');
    const rows = stats.body['policies'] as { policy: string; shadow: boolean; serves: number; agreement: number | null }[];
    // A shadow is never rewarded: no reward rate (its estimate says what it would earn).
    expect(rows.find((row) => row.shadow)).toMatchObject({ policy: 'tip-policy@shadow', serves: 20, reward_rate: null, reward_rate_ci95: null });
    expect(rows.find((row) => !row.shadow)).toMatchObject({ policy: 'tip-policy@champion', serves: 20, agreement: null });
    // The shadow's agreement with the served arms: its arms against the served ones, request by request.
    const served = new Map(a.published.filter((p) => p.event.type === 'tip.served' && !p.event.shadow).map((p) => [(p.event as { serve_id: string }).serve_id, (p.event as { arm: string }).arm]));
    const shadowServes = a.published.filter((p) => p.event.type === 'tip.served' && p.event.shadow).map((p) => p.event as { serve_id: string; arm: string });
    const agreed = shadowServes.filter((e) => served.get(e.serve_id.split(':shadow:')[0]!) === e.arm).length;
    expect(rows.find((row) => row.shadow)!.agreement).toBeCloseTo(agreed / 20, 12);

    // Rewards for the even serves: the shadow's estimate is inverse propensity scoring on the
    // served decisions, x = 1[shadow arm = served arm] · reward / propensity, over its 20 decisions.
    const servedEvents = a.published.filter((p) => p.event.type === 'tip.served' && !p.event.shadow).map((p) => p.event as { serve_id: string; arm: string; propensity: number });
    const shadowArm = new Map(shadowServes.map((e) => [e.serve_id.split(':shadow:')[0]!, e.arm]));
    const xs: number[] = [];
    let weights = 0;
    for (const [i, e] of servedEvents.entries()) {
      const agrees = shadowArm.get(e.serve_id) === e.arm;
      if (agrees) weights += 1 / e.propensity;
      if (i % 2 !== 0) continue;
      const rewarded = await post(a.app, '/reward', { serve_id: e.serve_id, reaction: 'completed' });
      expect(rewarded.body).toMatchObject({ outcome: 'applied' });
      if (agrees) xs.push((rewarded.body['reward'] as number) / e.propensity);
    }
    expect(xs.length).toBeGreaterThan(0);
    const estimate = ((await get(a.app, '/stats')).body['policies'] as { shadow: boolean; estimate: Record<string, number> | null }[]).find((row) => row.shadow)!.estimate!;
    expect(estimate).toMatchObject({ decisions: 20, rewarded: xs.length, late: 0 });
    expect(estimate['ips']).toBeCloseTo(xs.reduce((t, x) => t + x, 0) / 20, 12);
    expect(estimate['snips']).toBeCloseTo(xs.reduce((t, x) => t + x, 0) / weights, 12);
    // The same sums on /metrics, for estimates over a window and across replicas.
    const metrics = (await get(a.app, '/metrics')).text;
    const sample = (name: string): number => Number(new RegExp(`^${name}\\{policy="tip-policy@shadow",model_version="2"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(sample('oo_ml_shadow_decisions_total')).toBe(20);
    expect(sample('oo_ml_shadow_weighted_rewards_total')).toBeCloseTo(estimate['weighted_rewards']!, 9);
    expect(sample('oo_ml_shadow_weights_total')).toBeCloseTo(weights, 9);
    // And the snapshot's age, with no feature past its TTL an hour after its as-of.
    expect(stats.body['snapshot']).toMatchObject({ age_s: 3600, stale_features: [] });
  });
});
