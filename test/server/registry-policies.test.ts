import { describe, expect, it } from 'vitest';
import { unavailable } from '../../src/errors.js';
import { parseExperimentsConfig } from '../../src/experiments/assignment.js';
import { ARM_COUNT, ARM_IDS } from '../../src/features/arms.js';
import { getPolicy } from '../../src/policies/catalog.js';
import type { SerializedPolicyState } from '../../src/policies/policy.js';
import { createFileStore } from '../../src/registry/file-store.js';
import type { Store } from '../../src/registry/store.js';
import { createRegistryPolicyProvider } from '../../src/server/registry-policies.js';
import { fixedExperiments } from '../../src/server/experiments-source.js';
import { NO_EXPERIMENTS } from '../../src/server/serving-state.js';
import { POLICY_STATE_ARTIFACT as POLICY_STATE_PATH } from '../../src/models/policy-artifacts.js';
import { tempHome } from '../helpers/temp-home.js';
import { createHarness, get, post, until } from './harness.js';
import { meanSoftmax, testCatalog } from './mean-softmax-policy.js';

/** Registers `state` as the next version of tip-policy (logged as its run's policy/state.json). */
async function register(store: Store, state: SerializedPolicyState | string, params: Record<string, string> = {}): Promise<number> {
  const exp = await store.getOrCreateExperiment('oo-ml-train');
  const run = await store.createRun(exp.experimentId);
  if (Object.keys(params).length > 0) await store.logBatch(run.info.runId, { params: Object.entries(params).map(([key, value]) => ({ key, value })) });
  await store.logArtifact(run.info.runId, POLICY_STATE_PATH, typeof state === 'string' ? state : JSON.stringify(state));
  await store.getRegisteredModel('tip-policy').catch(() => store.createRegisteredModel('tip-policy'));
  return (await store.createModelVersion('tip-policy', `runs:/${run.info.runId}/policy`, run.info.runId)).version;
}

function trained(counts: number[], sums: number[]): SerializedPolicyState {
  const s = meanSoftmax.init(ARM_COUNT);
  counts.forEach((c, i) => (s.counts[i] = c));
  sums.forEach((v, i) => (s.sums[i] = v));
  return meanSoftmax.toJSON(s);
}

/** A file registry with two trained versions: v1 the champion, v2 the shadow. */
async function championAndShadow(): Promise<{ store: Store; v2: number }> {
  const store = createFileStore((await tempHome()).mlruns);
  const v1 = await register(store, trained([4, 0, 0, 0, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0, 0, 0]));
  const v2 = await register(store, trained([0, 2, 0, 0, 0, 0, 0, 0], [0, 2, 0, 0, 0, 0, 0, 0]));
  await store.setAlias('tip-policy', 'champion', v1);
  await store.setAlias('tip-policy', 'shadow', v2);
  return { store, v2 };
}

describe('registry-backed policies', () => {
  it('loads champion and shadow from alias → run → policy/state.json, and the server serves them', async () => {
    const { store, v2 } = await championAndShadow();
    const provider = createRegistryPolicyProvider({ store, catalog: testCatalog });
    const loaded = await provider.load(NO_EXPERIMENTS);
    expect([...loaded.byName.keys()].sort()).toEqual(['tip-policy@champion', 'tip-policy@shadow']);
    expect(loaded).toMatchObject({ champion: 'tip-policy@champion', shadows: ['tip-policy@shadow'], problems: [] });
    expect(loaded.byName.get('tip-policy@champion')).toMatchObject({ modelVersion: '1', layout: 'v2' });

    const server = await createHarness({ deps: { policies: provider } });
    const r = await post(server.app, '/score', { user_id: 'u1', arms: ['split_task'] });
    expect(r.body).toMatchObject({ policy: 'tip-policy@champion', model_version: '1', score: (3 + 0.5) / (4 + 1) });
    await server.app.close();

    // A shadow whose version an experiment's variant serves would shadow its own decisions: not scored as a shadow.
    await store.setAlias('tip-policy', 'candidate', v2);
    const experiments = parseExperimentsConfig(
      { experiments: [{ name: 'e', salt: 's', variants: [{ name: 'control', weight: 1, policy: 'tip-policy@champion' }, { name: 'treat', weight: 1, policy: 'tip-policy@candidate' }] }] },
      'test',
    );
    const both = await createRegistryPolicyProvider({ store, catalog: testCatalog }).load(experiments);
    expect(both.shadows).toEqual([]);
    // Said, not dropped in silence: a /readyz warning (the shadow serves nothing, so it is no reason to be unready).
    expect(both.problems).toEqual([{ name: 'tip-policy@shadow', reason: 'not shadowed: its version 2 serves already, as tip-policy@candidate' }]);
    const withExperiment = await createHarness({ deps: { policies: createRegistryPolicyProvider({ store, catalog: testCatalog }), experiments: fixedExperiments(experiments) } });
    try {
      expect((await get(withExperiment.app, '/readyz')).body).toMatchObject({ ready: true, shadows: [], warnings: ['tip-policy@shadow: not shadowed: its version 2 serves already, as tip-policy@candidate'] });
    } finally {
      await withExperiment.app.close();
    }
  });

  it('keeps serving the versions it has when a reload finds the registry down (503 naming what serves; the shadow kept with a warning), and takes the new ones once it is back', async () => {
    const { store, v2 } = await championAndShadow();
    // The registry as the server reaches it: calls fail as the REST store's do while MLflow is
    // down (every call, or only the shadow alias's lookup).
    const outage = { on: false, shadowOnly: false };
    const down = () => Promise.reject(unavailable('cannot reach the MLflow server at http://127.0.0.1:5000 (ECONNREFUSED)'));
    const reached = new Proxy(store, {
      get: (target, key, receiver) => {
        const value: unknown = Reflect.get(target, key, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (outage.on || (outage.shadowOnly && key === 'getModelVersionByAlias' && args[1] === 'shadow')) return down();
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const server = await createHarness({ deps: { policies: createRegistryPolicyProvider({ store: reached, catalog: testCatalog }), adminToken: 't', limits: { reloadRetryMs: 10 } } });
    const admin = { authorization: 'Bearer t' };
    const readyz = async () => (await get(server.app, '/readyz')).body;
    try {
      outage.on = true;
      const reload = await post(server.app, '/admin/reload', {}, admin);
      expect(reload.status).toBe(503);
      expect(reload.body['message']).toBe('reload kept the previous version of what failed to load: policy tip-policy@champion: cannot reach the MLflow server at http://127.0.0.1:5000 (ECONNREFUSED) (kept version 1)');
      expect(await readyz()).toMatchObject({ ready: true, model_version: '1', shadows: ['tip-policy@shadow'], warnings: ['policy tip-policy@shadow: cannot reach the MLflow server at http://127.0.0.1:5000 (ECONNREFUSED) (kept version 2)'] });
      expect((await get(server.app, '/metrics')).text).toContain('oo_ml_ready 1');
      expect(await post(server.app, '/score', { user_id: 'u1' })).toMatchObject({ status: 200, body: { model_version: '1' } });

      // Back, but for the shadow's lookup, with the champion moved onto the shadow's version:
      // the retries take the champion, and the old shadow, serving now, is no shadow any more.
      await store.setAlias('tip-policy', 'champion', v2);
      outage.shadowOnly = true;
      outage.on = false;
      await until(async () => (await readyz())['model_version'] === '2', 'the new champion taken by a retry');
      expect(await readyz()).toMatchObject({ ready: true, model_version: '2', shadows: [], warnings: [expect.stringMatching(/^tip-policy@shadow: cannot reach .*; its version 2 serves now, so it is no longer a shadow$/)] });

      // All back, the shadow alias gone: a reload by hand (the retries stopped once what serves loaded).
      outage.shadowOnly = false;
      await store.deleteAlias('tip-policy', 'shadow');
      expect(await post(server.app, '/admin/reload', {}, admin)).toMatchObject({ status: 200, body: { ready: true } });
      expect(await readyz()).toMatchObject({ model_version: '2', shadows: [], warnings: [] });
    } finally {
      await server.app.close();
    }
  });

  it('names every policy it could not load; no shadow alias is not a problem', async () => {
    const h = await tempHome();
    const store = createFileStore(h.mlruns);
    let loaded = await createRegistryPolicyProvider({ store, catalog: testCatalog }).load(NO_EXPERIMENTS);
    expect(loaded.byName.size).toBe(0);
    expect(loaded.problems).toEqual([{ name: 'tip-policy@champion', reason: expect.stringContaining('tip-policy') }]);

    const bad = await register(store, '{"policy": "mean-softmax", "k": ');
    await store.setAlias('tip-policy', 'champion', bad);
    loaded = await createRegistryPolicyProvider({ store, catalog: testCatalog }).load(NO_EXPERIMENTS);
    expect(loaded.problems![0]!.reason).toMatch(/policy state tip-policy@champion \(v\d+, run \w+\) is not valid JSON/);

    const fewArms = meanSoftmax.toJSON(meanSoftmax.init(5));
    await store.setAlias('tip-policy', 'champion', await register(store, fewArms));
    loaded = await createRegistryPolicyProvider({ store, catalog: testCatalog }).load(NO_EXPERIMENTS);
    expect(loaded.problems![0]!.reason).toBe(`version 2 was trained for 5 arms; the contract has ${ARM_COUNT}`);

    loaded = await createRegistryPolicyProvider({ store, catalog: { missing: 'the policy catalog is not part of this build' } }).load(NO_EXPERIMENTS);
    expect(loaded.problems).toEqual([
      { name: 'tip-policy@champion', reason: 'the policy catalog is not part of this build' },
      { name: 'tip-policy@shadow', reason: 'the policy catalog is not part of this build' },
    ]);
  });

  it('serves a registered LinUCB from the real policy catalog, and built-ins named by an experiment', async () => {
    const h = await tempHome();
    const store = createFileStore(h.mlruns);
    const linucb = getPolicy('linucb');
    const state = linucb.init(ARM_COUNT);
    await store.setAlias('tip-policy', 'champion', await register(store, linucb.toJSON(state)));
    const experiments = {
      experiments: [{ name: 'e', salt: 's', variants: [{ name: 'a', weight: 1, policy: 'tip-policy@champion' }, { name: 'b', weight: 1, policy: 'thompson' }] }],
    };
    const provider = createRegistryPolicyProvider({ store, catalog: getPolicy });
    const loaded = await provider.load(experiments);
    expect(loaded.problems).toEqual([]);
    expect(loaded.byName.get('thompson')).toMatchObject({ modelVersion: null, layout: 'v2' });
    const server = await createHarness({ deps: { policies: provider, experiments: fixedExperiments(experiments) } });
    const policies = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await post(server.app, '/score', { user_id: `u${i}`, context: { hour_of_day: 9, tasks: [{ id: 'a' }] } });
      expect(r.status).toBe(200);
      expect(ARM_IDS).toContain(r.body['arm']);
      expect(r.body['propensity']).toBeGreaterThan(0);
      policies.add(r.body['policy'] as string);
      const rw = await post(server.app, '/reward', { serve_id: r.body['serve_id'], reaction: 'completed' });
      expect(rw.body['applied']).toBe(true);
    }
    expect([...policies].sort()).toEqual(['thompson', 'tip-policy@champion']);
    await server.app.close();
  });

  it('serves a version with the exploration floor its run records: every arm possible, the propensity exact', async () => {
    const h = await tempHome();
    const store = createFileStore(h.mlruns);
    const linucb = getPolicy('linucb');
    // A greedy LinUCB that has learned one arm is best: without a floor it serves that arm with propensity 1.
    const state = linucb.init(ARM_COUNT);
    const x = new Float64Array(12).fill(0.5);
    for (let i = 0; i < 50; i++) linucb.update(state, x, 2, 1);
    await store.setAlias('tip-policy', 'champion', await register(store, linucb.toJSON(state), { exploration_floor: '0.4' }));
    const provider = createRegistryPolicyProvider({ store, catalog: getPolicy });
    const server = await createHarness({ deps: { policies: provider } });
    const seen = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const r = await post(server.app, '/score', { user_id: `u${i}` });
      expect(r.status).toBe(200);
      seen.set(r.body['arm'] as string, r.body['propensity'] as number);
    }
    // The greedy arm with (1 − 0.4) + 0.4/8, every other arm drawn with 0.4/8.
    expect(seen.get(ARM_IDS[2]!)).toBeCloseTo(0.65, 12);
    const others = [...seen].filter(([arm]) => arm !== ARM_IDS[2]);
    expect(others.length).toBeGreaterThan(0);
    for (const [, p] of others) expect(p).toBeCloseTo(0.05, 12);
    await server.app.close();

    await store.setAlias('tip-policy', 'champion', await register(store, linucb.toJSON(state), { exploration_floor: 'lots' }));
    const loaded = await createRegistryPolicyProvider({ store, catalog: getPolicy }).load(NO_EXPERIMENTS);
    expect(loaded.problems).toEqual([{ name: 'tip-policy@champion', reason: expect.stringMatching(/has param exploration_floor="lots", not a number in \[0, 1\)/) }]);
  });
});
