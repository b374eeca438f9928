/**
 * The Store contract: one test body run against every adapter (file store on a temp dir, REST
 * store against the loopback MLflow server). Whatever promotion, rollback and model cards rely
 * on is pinned here, so both adapters behave the same.
 */
import { beforeEach, afterEach, describe, expect, it } from 'vitest';
import { isOoMlError, type ErrorCode } from '../../src/errors.js';
import type { Store } from '../../src/registry/store.js';

/** An opened store and how to dispose of it. */
export interface StoreHarness {
  store: Store;
  close(): Promise<void>;
  /** Requests that reached a server so far (REST only): client-side checks must send none. */
  requestCount?: () => number;
}

/** Asserts that `promise` rejects with an OoMlError of `code` whose message matches `pattern`. */
export async function expectCode(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a ${code} error`).toBeDefined();
  expect(isOoMlError(caught) ? caught.code : caught).toBe(code);
  if (pattern !== undefined) expect((caught as Error).message).toMatch(pattern);
}

const T0 = 1_760_000_000_000;

/** Registers the contract suite for one adapter. */
export function runStoreContract(label: string, open: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${label}`, () => {
    let h: StoreHarness;
    let store: Store;
    beforeEach(async () => {
      h = await open();
      store = h.store;
    });
    afterEach(async () => {
      await h.close();
    });

    describe('experiments', () => {
      it('getOrCreate creates once and then returns the same experiment', async () => {
        const a = await store.getOrCreateExperiment('oo-ml/train', { team: 'ml', 'mlflow.note.content': '# notes' });
        const b = await store.getOrCreateExperiment('oo-ml/train');
        expect(b.experimentId).toBe(a.experimentId);
        expect(typeof a.experimentId).toBe('string');
        expect(a.experimentId).toMatch(/^[1-9]\d{17}$/);
        expect(a).toMatchObject({ name: 'oo-ml/train', lifecycleStage: 'active', tags: { team: 'ml', 'mlflow.note.content': '# notes' } });
        expect(await store.getExperiment(a.experimentId)).toEqual(a);
        expect(await store.getExperimentByName('oo-ml/train')).toEqual(a);
      });

      it('searches active experiments by name, Default included, sorted by name', async () => {
        await store.getOrCreateExperiment('zeta');
        await store.getOrCreateExperiment('alpha');
        const names = (await store.searchExperiments()).map((e) => e.name);
        expect(names).toEqual(['Default', 'alpha', 'zeta']);
        const only = await store.searchExperiments({ name: 'zeta' });
        expect(only.map((e) => e.name)).toEqual(['zeta']);
        expect((await store.searchExperiments({ name: 'Default' }))[0]?.experimentId).toBe('0');
      });

      it('sets experiment tags', async () => {
        const e = await store.getOrCreateExperiment('tagged');
        await store.setExperimentTag(e.experimentId, 'owner', 'bandits');
        await store.setExperimentTag(e.experimentId, 'owner', 'bandits-2');
        expect((await store.getExperiment(e.experimentId)).tags).toEqual({ owner: 'bandits-2' });
      });

      it('reports unknown experiments as not_found', async () => {
        await expectCode(store.getExperiment('123456789012345678'), 'not_found');
        await expectCode(store.getExperimentByName('nope'), 'not_found');
      });
    });

    describe('runs', () => {
      it('creates, reads and finishes a run', async () => {
        const e = await store.getOrCreateExperiment('runs');
        const run = await store.createRun(e.experimentId, { runName: 'train-linucb', tags: { 'mlflow.user': 'ci', 'oo.snapshot': 's1' }, startTime: T0 });
        expect(run.info).toMatchObject({ experimentId: e.experimentId, runName: 'train-linucb', status: 'RUNNING', startTime: T0, endTime: null, lifecycleStage: 'active' });
        expect(run.info.runId).toMatch(/^[0-9a-f]{32}$/);
        expect(run.data.tags).toMatchObject({ 'mlflow.runName': 'train-linucb', 'oo.snapshot': 's1' });
        expect(run.data.metrics).toEqual({});
        expect(await store.getRun(run.info.runId)).toEqual(run);

        const info = await store.finishRun(run.info.runId, 'FAILED', T0 + 5000);
        expect(info).toMatchObject({ status: 'FAILED', endTime: T0 + 5000 });
        expect((await store.getRun(run.info.runId)).info).toMatchObject({ status: 'FAILED', endTime: T0 + 5000, runName: 'train-linucb' });
        // FINISHED runs still accept writes (MLflow's rule).
        await store.setTag(run.info.runId, 'after', 'yes');
        expect((await store.getRun(run.info.runId)).data.tags['after']).toBe('yes');
      });

      it('names a run when no name is given', async () => {
        const e = await store.getOrCreateExperiment('unnamed');
        const run = await store.createRun(e.experimentId);
        expect(run.info.runName).not.toBe('');
        expect(run.data.tags['mlflow.runName']).toBe(run.info.runName);
        // What MLflow's client records of every run (its UI's User and Source columns); the caller's tags win.
        expect(run.data.tags).toMatchObject({ 'mlflow.user': expect.any(String), 'mlflow.source.type': 'LOCAL', 'mlflow.source.name': expect.any(String) });
        expect(run.data.tags['mlflow.user']).not.toBe('');
        expect(run.info.userId).toBe(run.data.tags['mlflow.user']);
        const named = await store.createRun(e.experimentId, { tags: { 'mlflow.user': 'ci', 'mlflow.source.name': 'nightly.sh' } });
        expect(named.data.tags).toMatchObject({ 'mlflow.user': 'ci', 'mlflow.source.name': 'nightly.sh', 'mlflow.source.type': 'LOCAL' });
      });

      it('reports unknown runs and experiments as not_found', async () => {
        await expectCode(store.getRun('0123456789abcdef0123456789abcdef'), 'not_found');
        await expectCode(store.createRun('123456789012345678'), 'not_found');
        await expectCode(store.logMetric('0123456789abcdef0123456789abcdef', 'ips', 1), 'not_found');
      });

      it('appends metrics and round-trips NaN and ±Infinity exactly', async () => {
        const e = await store.getOrCreateExperiment('metrics');
        const { info } = await store.createRun(e.experimentId, { runName: 'm' });
        const values = [0.5, NaN, Infinity, -Infinity, 1e-7, -0.25, 1e21, 3];
        await store.logBatch(info.runId, { metrics: values.map((value, step) => ({ key: 'weird', value, step, timestamp: T0 + step })) });
        await store.logMetric(info.runId, 'eval/dr', 0.5, { step: 0, timestamp: T0 });
        await store.logMetric(info.runId, 'eval/dr', 0.75, { step: 1, timestamp: T0 + 1 });
        const history = await store.getMetricHistory(info.runId, 'weird');
        expect(history.map((m) => m.step)).toEqual(values.map((_, i) => i));
        history.forEach((m, i) => expect(Object.is(m.value, values[i])).toBe(true));
        expect(history[1]?.timestamp).toBe(T0 + 1);
        const run = await store.getRun(info.runId);
        // The summary is the point with the largest (step, timestamp, value).
        expect(run.data.metrics['weird']).toEqual({ key: 'weird', value: 3, timestamp: T0 + 7, step: 7 });
        expect(run.data.metrics['eval/dr']).toEqual({ key: 'eval/dr', value: 0.75, timestamp: T0 + 1, step: 1 });
        expect(await store.getMetricHistory(info.runId, 'never-logged')).toEqual([]);
      });

      it('keeps params immutable: same value again is fine, another value is invalid_input', async () => {
        const e = await store.getOrCreateExperiment('params');
        const { info } = await store.createRun(e.experimentId, { runName: 'p' });
        await store.logParam(info.runId, 'policy', 'linucb');
        await store.logParam(info.runId, 'policy', 'linucb');
        await store.logBatch(info.runId, { params: [{ key: 'alpha', value: '0.1' }, { key: 'policy', value: 'linucb' }] });
        await expectCode(store.logParam(info.runId, 'policy', 'thompson'), 'invalid_input', /policy/);
        await expectCode(store.logBatch(info.runId, { params: [{ key: 'policy', value: 'egreedy' }] }), 'invalid_input', /policy/);
        await expectCode(store.logBatch(info.runId, { params: [{ key: 'x', value: '1' }, { key: 'x', value: '2' }] }), 'invalid_input', /"x"/);
        const multiLine = 'line one\nline two\n';
        await store.logParam(info.runId, 'notes', multiLine);
        expect((await store.getRun(info.runId)).data.params).toEqual({ policy: 'linucb', alpha: '0.1', notes: multiLine });
      });

      it('overwrites tags, last one in a batch wins, and mlflow.runName renames the run', async () => {
        const e = await store.getOrCreateExperiment('tags');
        const { info } = await store.createRun(e.experimentId, { runName: 'before' });
        await store.setTag(info.runId, 'stage', 'a');
        await store.logBatch(info.runId, { tags: [{ key: 'stage', value: 'b' }, { key: 'stage', value: 'c' }] });
        await store.setTag(info.runId, 'mlflow.runName', 'after');
        const run = await store.getRun(info.runId);
        expect(run.data.tags['stage']).toBe('c');
        expect(run.info.runName).toBe('after');
      });

      it('searches runs by experiment, tags, params, metrics and status, ordered by start time', async () => {
        const e1 = await store.getOrCreateExperiment('search-1');
        const e2 = await store.getOrCreateExperiment('search-2');
        const mk = async (exp: string, name: string, start: number, policy: string, ips: number, snapshot: string) => {
          const r = await store.createRun(exp, { runName: name, startTime: start, tags: { 'oo.snapshot': snapshot } });
          await store.logBatch(r.info.runId, { params: [{ key: 'policy', value: policy }], metrics: [{ key: 'ips', value: ips, timestamp: start }] });
          return r.info.runId;
        };
        const a = await mk(e1.experimentId, 'a', T0 + 1, 'linucb', 0.3, 's1');
        const b = await mk(e1.experimentId, 'b', T0 + 3, 'linucb', 0.6, 's2');
        const c = await mk(e1.experimentId, 'c', T0 + 2, 'thompson', 0.9, 's1');
        const d = await mk(e2.experimentId, 'd', T0 + 4, 'linucb', 0.7, 's1');
        await store.finishRun(c, 'FINISHED', T0 + 10);

        const ids = async (q: Parameters<Store['searchRuns']>[0]) => (await store.searchRuns(q)).map((r) => r.info.runId);
        expect(await ids({ experimentIds: [e1.experimentId] })).toEqual([b, c, a]);
        expect(await ids({ experimentIds: [e1.experimentId], orderBy: 'start_time ASC' })).toEqual([a, c, b]);
        expect(await ids({ experimentIds: [e1.experimentId, e2.experimentId], tags: { 'oo.snapshot': 's1' } })).toEqual([d, c, a]);
        expect(await ids({ experimentIds: [e1.experimentId], params: { policy: 'linucb' } })).toEqual([b, a]);
        expect(await ids({ experimentIds: [e1.experimentId, e2.experimentId], metrics: [{ key: 'ips', op: '>', value: 0.5 }], params: { policy: 'linucb' } })).toEqual([d, b]);
        expect(await ids({ experimentIds: [e1.experimentId], metrics: [{ key: 'ips', op: '<=', value: 0.6 }] })).toEqual([b, a]);
        expect(await ids({ experimentIds: [e1.experimentId], status: 'FINISHED' })).toEqual([c]);
        expect(await ids({ experimentIds: [e1.experimentId], runName: 'a' })).toEqual([a]);
        expect(await ids({ experimentIds: [e1.experimentId], tags: { 'oo.snapshot': "it's" } })).toEqual([]);
        expect(await ids({ experimentIds: [e1.experimentId, e2.experimentId], maxResults: 2 })).toEqual([d, b]);
        expect(await ids({ experimentIds: [e1.experimentId], metrics: [{ key: 'missing', op: '>', value: 0 }] })).toEqual([]);
      });
    });

    describe('artifacts', () => {
      it('logs, lists and downloads artifacts', async () => {
        const e = await store.getOrCreateExperiment('artifacts');
        const { info } = await store.createRun(e.experimentId, { runName: 'art' });
        const binary = new Uint8Array(256).map((_, i) => i);
        await store.logArtifact(info.runId, 'model-card/card.md', '# Card\n\nünïcode ✓\n');
        await store.logArtifact(info.runId, 'policy/state.bin', binary);
        await store.logArtifact(info.runId, 'top.json', '{"a":1}');
        await store.logArtifact(info.runId, 'top.json', '{"a":2}');

        expect(await store.listArtifacts(info.runId)).toEqual([
          { path: 'model-card', isDir: true },
          { path: 'policy', isDir: true },
          { path: 'top.json', isDir: false, fileSize: 7 },
        ]);
        expect(await store.listArtifacts(info.runId, 'policy')).toEqual([{ path: 'policy/state.bin', isDir: false, fileSize: 256 }]);
        expect(await store.listArtifacts(info.runId, 'nothing-here')).toEqual([]);
        expect(new TextDecoder().decode(await store.downloadArtifact(info.runId, 'model-card/card.md'))).toBe('# Card\n\nünïcode ✓\n');
        expect(await store.downloadArtifact(info.runId, 'policy/state.bin')).toEqual(binary);
        expect(new TextDecoder().decode(await store.downloadArtifact(info.runId, 'top.json'))).toBe('{"a":2}');
        await expectCode(store.downloadArtifact(info.runId, 'missing.txt'), 'not_found');
        await expectCode(store.logArtifact(info.runId, '../escape.txt', 'x'), 'invalid_input');
        await expectCode(store.logArtifact(info.runId, '/abs.txt', 'x'), 'invalid_input');
      });
    });

    describe('registered models', () => {
      it('creates, reads, searches, describes and tags models', async () => {
        const m = await store.createRegisteredModel('tip-policy', 'Bandit that picks the tip.', { owner: 'ml' });
        expect(m).toMatchObject({ name: 'tip-policy', description: 'Bandit that picks the tip.', tags: { owner: 'ml' }, aliases: {} });
        await store.createRegisteredModel('tip-writer');
        await store.createRegisteredModel('other_model');
        await expectCode(store.createRegisteredModel('tip-policy'), 'already_exists', /tip-policy/);
        expect((await store.getRegisteredModel('tip-writer')).description).toBe('');
        expect((await store.searchRegisteredModels()).map((x) => x.name)).toEqual(['other_model', 'tip-policy', 'tip-writer']);
        expect((await store.searchRegisteredModels({ nameLike: 'tip%' })).map((x) => x.name)).toEqual(['tip-policy', 'tip-writer']);
        expect((await store.searchRegisteredModels({ nameLike: 'tip-polic_' })).map((x) => x.name)).toEqual(['tip-policy']);

        const updated = await store.updateRegisteredModel('tip-policy', '## Card\n\nNew text.');
        expect(updated.description).toBe('## Card\n\nNew text.');
        expect(updated.lastUpdatedTimestamp).toBeGreaterThanOrEqual(m.lastUpdatedTimestamp);
        await store.setRegisteredModelTag('tip-policy', 'owner', 'ml-2');
        await store.setRegisteredModelTag('tip-policy', 'domain', 'tips');
        expect((await store.getRegisteredModel('tip-policy')).tags).toEqual({ owner: 'ml-2', domain: 'tips' });
        await expectCode(store.getRegisteredModel('nope'), 'not_found');
        await expectCode(store.setRegisteredModelTag('nope', 'k', 'v'), 'not_found');
      });

      it('numbers versions 1, 2, 3 and reads, lists, describes and tags them', async () => {
        const e = await store.getOrCreateExperiment('versions');
        const { info } = await store.createRun(e.experimentId, { runName: 'v' });
        await store.createRegisteredModel('tip-policy');
        const source = `${info.artifactUri}/model`;
        const v1 = await store.createModelVersion('tip-policy', source, info.runId, 'first', { snapshot: 's1' });
        const v2 = await store.createModelVersion('tip-policy', source, info.runId);
        const v3 = await store.createModelVersion('tip-policy', `${info.artifactUri}/model-3`, '');
        expect([v1.version, v2.version, v3.version]).toEqual([1, 2, 3]);
        expect(v1).toMatchObject({ name: 'tip-policy', source, runId: info.runId, description: 'first', status: 'READY', currentStage: 'None', tags: { snapshot: 's1' }, aliases: [] });
        expect(v3.runId).toBe('');
        expect(await store.getModelVersion('tip-policy', 1)).toEqual(v1);
        expect((await store.searchModelVersions('tip-policy')).map((v) => v.version)).toEqual([1, 2, 3]);

        const described = await store.updateModelVersion('tip-policy', 2, 'second, described');
        expect(described.description).toBe('second, described');
        await store.setModelVersionTag('tip-policy', 2, 'gate', 'passed');
        expect((await store.getModelVersion('tip-policy', 2)).tags).toEqual({ gate: 'passed' });

        await expectCode(store.getModelVersion('tip-policy', 9), 'not_found');
        await expectCode(store.createModelVersion('nope', source, info.runId), 'not_found');
        await expectCode(store.searchModelVersions('nope'), 'not_found');
        await expectCode(store.setModelVersionTag('tip-policy', 9, 'k', 'v'), 'not_found');
      });

      it('sets, moves and deletes aliases and resolves versions by alias', async () => {
        await store.createRegisteredModel('tip-policy');
        for (let i = 0; i < 3; i++) await store.createModelVersion('tip-policy', `file:///tmp/model-${i}`, '');
        await store.setAlias('tip-policy', 'champion', 1);
        await store.setAlias('tip-policy', 'candidate', 2);
        await store.setAlias('tip-policy', 'shadow', 2);
        expect((await store.getModelVersionByAlias('tip-policy', 'champion')).version).toBe(1);
        expect((await store.getModelVersion('tip-policy', 2)).aliases).toEqual(['candidate', 'shadow']);

        await store.setAlias('tip-policy', 'champion', 3);
        expect((await store.getModelVersionByAlias('tip-policy', 'champion')).version).toBe(3);
        expect((await store.getRegisteredModel('tip-policy')).aliases).toEqual({ champion: 3, candidate: 2, shadow: 2 });
        expect((await store.getModelVersion('tip-policy', 1)).aliases).toEqual([]);
        // Listed versions carry their aliases too (MLflow's SQL store leaves them out of searches).
        expect((await store.searchModelVersions('tip-policy')).map((v) => [v.version, v.aliases])).toEqual([
          [1, []],
          [2, ['candidate', 'shadow']],
          [3, ['champion']],
        ]);

        await store.deleteAlias('tip-policy', 'shadow');
        await store.deleteAlias('tip-policy', 'shadow');
        await expectCode(store.getModelVersionByAlias('tip-policy', 'shadow'), 'not_found', /shadow/);
        expect((await store.getRegisteredModel('tip-policy')).aliases).toEqual({ champion: 3, candidate: 2 });

        await expectCode(store.setAlias('tip-policy', 'champion', 7), 'not_found');
        await expectCode(store.setAlias('nope', 'champion', 1), 'not_found');
        await expectCode(store.setAlias('tip-policy', 'latest', 1), 'invalid_input', /reserved/);
        await expectCode(store.setAlias('tip-policy', 'V2', 1), 'invalid_input', /reserved/);
        await expectCode(store.setAlias('tip-policy', 'bad alias', 1), 'invalid_input');
      });

      it('bumps the model last_updated_timestamp on registry mutations', async () => {
        const m = await store.createRegisteredModel('bumped');
        await store.createModelVersion('bumped', 'file:///tmp/x', '');
        await store.setAlias('bumped', 'champion', 1);
        const after = await store.getRegisteredModel('bumped');
        expect(after.lastUpdatedTimestamp).toBeGreaterThanOrEqual(m.lastUpdatedTimestamp);
        expect(after.creationTimestamp).toBe(m.creationTimestamp);
      });
    });

    describe('limits are enforced client-side', () => {
      it('rejects over-long values naming the key, before any request is sent', async () => {
        const e = await store.getOrCreateExperiment('limits');
        const { info } = await store.createRun(e.experimentId, { runName: 'l' });
        await store.createRegisteredModel('limited');
        await store.createModelVersion('limited', 'file:///tmp/m', '');
        const sent = h.requestCount?.();

        await expectCode(store.logParam(info.runId, 'card', 'x'.repeat(6001)), 'invalid_input', /"card".*6001.*6000/);
        await expectCode(store.logBatch(info.runId, { params: [{ key: 'big', value: 'y'.repeat(6001) }] }), 'invalid_input', /"big"/);
        await expectCode(store.setTag(info.runId, 'long', 'z'.repeat(8001)), 'invalid_input', /"long".*8000/);
        await expectCode(store.logMetric(info.runId, 'bad key!', 1), 'invalid_input', /bad key!/);
        await expectCode(store.logMetric(info.runId, 'a/../b', 1), 'invalid_input', /a\/\.\.\/b/);
        await expectCode(store.logMetric(info.runId, 'k'.repeat(251), 1), 'invalid_input', /250/);
        await expectCode(store.updateRegisteredModel('limited', 'd'.repeat(5001)), 'invalid_input', /description.*5001/);
        await expectCode(store.updateModelVersion('limited', 1, 'd'.repeat(5001)), 'invalid_input', /description.*5001/);
        await expectCode(store.createRegisteredModel('x', 'd'.repeat(5001)), 'invalid_input', /description/);
        await expectCode(store.setRegisteredModelTag('limited', 'k', 'v'.repeat(5001)), 'invalid_input', /"k"/);
        await expectCode(store.getOrCreateExperiment('e'.repeat(501)), 'invalid_input', /500/);
        await expectCode(store.createRegisteredModel('a/b'), 'invalid_input', /a\/b/);
        await expectCode(store.createRegisteredModel('50%'), 'invalid_input', /%/);
        if (sent !== undefined) expect(h.requestCount?.()).toBe(sent);

        // At the limit is fine, and the value is stored whole.
        await store.logParam(info.runId, 'card', 'x'.repeat(6000));
        expect((await store.getRun(info.runId)).data.params['card']).toHaveLength(6000);
      });
    });
  });
}
