/**
 * Failure handling of the REST adapter against the loopback server's fault injection: retries
 * with backoff and Retry-After (through an injected sleep, so no test waits for real), non-JSON
 * error bodies, timeouts, refused connections, resets, and creates whose answer was lost after
 * the server acted — which must neither duplicate nor lose the entity.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OoMlError } from '../../src/errors.js';
import { parseRetryAfter } from '../../src/registry/rest-client.js';
import { createRestStore, type RestStoreOptions } from '../../src/registry/rest-store.js';
import type { Store } from '../../src/registry/store.js';
import { startMlflowTestServer, type MlflowTestServer } from '../helpers/mlflow-test-server.js';

async function failure(p: Promise<unknown>): Promise<OoMlError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OoMlError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

describe('REST adapter under faults', () => {
  let server: MlflowTestServer;
  let sleeps: number[];
  const open = (options: RestStoreOptions = {}): Store =>
    createRestStore(server.url, {
      env: {},
      retries: 3,
      backoffMs: 100,
      jitterMs: 50,
      random: () => 0.5,
      timeoutMs: 5000,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      ...options,
    });
  const hits = (path: string) => server.requests.filter((r) => r.path === path).length;

  beforeEach(async () => {
    server = await startMlflowTestServer();
    sleeps = [];
  });
  afterEach(async () => {
    await server.close();
  });

  it('retries a 429 after exactly the Retry-After delay, then succeeds', async () => {
    const store = open();
    server.inject({ kind: 'status429', retryAfterSec: 2 }, { path: 'mlflow/experiments/get' });
    expect((await store.getExperiment('0')).name).toBe('Default');
    expect(sleeps).toEqual([2000]);
    expect(hits('mlflow/experiments/get')).toBe(2);
  });

  it('backs off exponentially with jitter on a 503 plain-text body, then gives up as unavailable', async () => {
    const store = open();
    server.inject({ kind: 'text503' }, { count: 10, path: 'mlflow/experiments/get' });
    const e = await failure(store.getExperiment('0'));
    expect(e.code).toBe('unavailable');
    expect(e.message).toMatch(/HTTP 503/);
    expect(e.details).toMatchObject({ status: 503, errorCode: 'TEMPORARILY_UNAVAILABLE', body: expect.stringMatching(/Service Unavailable/) });
    // 100·2^i + 0.5·50 jitter, for 3 retries after the first attempt.
    expect(sleeps).toEqual([125, 225, 425]);
    expect(hits('mlflow/experiments/get')).toBe(4);
  });

  it('recovers from one HTML 500 and reports persistent ones with a snippet of the page', async () => {
    const store = open();
    server.inject({ kind: 'html500' }, { path: 'mlflow/registered-models/search' });
    expect(await store.searchRegisteredModels()).toEqual([]);
    server.inject({ kind: 'html500' }, { count: 10, path: 'mlflow/registered-models/search' });
    const e = await failure(store.searchRegisteredModels());
    expect(e.code).toBe('unavailable');
    expect(e.details).toMatchObject({ status: 500, errorCode: 'INTERNAL_ERROR', body: expect.stringMatching(/Internal Server Error/) });
  });

  it('stops a listing whose server hands back the same page token again (unavailable, naming the endpoint) instead of paging forever', async () => {
    const store = open();
    server.inject({ kind: 'json200', body: { registered_models: [], next_page_token: 'again' } }, { count: 5, path: 'mlflow/registered-models/search' });
    await expect(store.searchRegisteredModels()).rejects.toMatchObject({
      code: 'unavailable',
      message: 'mlflow/registered-models/search returned the page token "again" a second time; its paging is broken',
    });
    expect(hits('mlflow/registered-models/search')).toBe(2);
  });

  it('refuses a created run whose answer has neither run_id nor run_uuid, instead of naming it ""', async () => {
    const store = open();
    const exp = await store.getOrCreateExperiment('no-id');
    server.inject({ kind: 'json200', body: { run: { info: { experiment_id: exp.experimentId, status: 'RUNNING' }, data: {} } } }, { path: 'mlflow/runs/create' });
    await expect(store.createRun(exp.experimentId, { runName: 'r' })).rejects.toMatchObject({ code: 'invalid_input', message: 'MLflow run info has neither run_id nor run_uuid' });
  });

  it('refuses an alias answer that is a version of another model', async () => {
    const store = open();
    for (const model of ['wanted', 'other']) {
      await server.store.createRegisteredModel(model);
      await server.store.createModelVersion(model, 'runs:/r/policy', '');
      await server.store.setAlias(model, 'champion', 1);
    }
    const otherAnswer: unknown = await (await fetch(`${server.url}/api/2.0/mlflow/registered-models/alias?name=other&alias=champion`)).json();
    server.inject({ kind: 'json200', body: otherAnswer }, { path: 'mlflow/registered-models/alias' });
    await expect(store.getModelVersionByAlias('wanted', 'champion')).rejects.toMatchObject({
      code: 'invalid_input',
      message: 'mlflow/registered-models/alias answered with version 1 of model "other", not of "wanted"',
    });
    expect((await store.getModelVersionByAlias('wanted', 'champion')).name).toBe('wanted');
  });

  it('times out a hung request as unavailable naming the URL', async () => {
    const store = open({ timeoutMs: 150, retries: 1 });
    server.inject({ kind: 'hang', ms: 3000 }, { count: 2, path: 'mlflow/experiments/get' });
    const e = await failure(store.getExperiment('0'));
    expect(e.code).toBe('unavailable');
    expect(e.message).toMatch(/timed out after 150 ms/);
    expect(e.message).toContain(`${server.url}/api/2.0/mlflow/experiments/get?experiment_id=0`);
    // Two attempts, each given up at its timeout (the server would have answered after 3 s).
    expect(hits('mlflow/experiments/get')).toBe(2);
    expect(sleeps).toHaveLength(1);
  });

  it('reports a refused connection as unavailable with a hint naming MLFLOW_TRACKING_URI', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const store = createRestStore(`http://127.0.0.1:${port}`, { env: {}, retries: 2, sleep: async (ms) => void sleeps.push(ms), random: () => 0 });
    const e = await failure(store.getOrCreateExperiment('x'));
    expect(e.code).toBe('unavailable');
    expect(e.message).toMatch(/cannot reach the MLflow server at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    expect(e.hint).toMatch(/MLFLOW_TRACKING_URI \(now http:\/\/127\.0\.0\.1:\d+\)/);
    expect(sleeps).toHaveLength(2);
  });

  it("follows MLflow's MLFLOW_HTTP_REQUEST_* variables: retries, backoff factor, jitter and timeout", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const env = { MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2', MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: '0.25', MLFLOW_HTTP_REQUEST_BACKOFF_JITTER: '0' };
    const store = createRestStore(`http://127.0.0.1:${port}`, { env, sleep: async (ms) => void sleeps.push(ms) });
    expect((await failure(store.getOrCreateExperiment('x'))).code).toBe('unavailable');
    // urllib3's Retry, as MLflow's client: the n-th retry waits factor × 2^(n-1).
    expect(sleeps).toEqual([250, 500]);

    sleeps = [];
    const once = createRestStore(`http://127.0.0.1:${port}`, { env: { MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0' }, sleep: async (ms) => void sleeps.push(ms) });
    expect((await failure(once.getOrCreateExperiment('x'))).code).toBe('unavailable');
    expect(sleeps).toEqual([]);

    server.inject({ kind: 'hang', ms: 3000 }, { path: 'mlflow/experiments/get' });
    const quick = createRestStore(server.url, { env: { MLFLOW_HTTP_REQUEST_TIMEOUT: '0.2', MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0' } });
    const timedOut = await failure(quick.getExperiment('0'));
    expect(timedOut.message).toMatch(/timed out after 200 ms/);

    for (const [name, value] of [['MLFLOW_HTTP_REQUEST_MAX_RETRIES', '-1'], ['MLFLOW_HTTP_REQUEST_TIMEOUT', 'soon'], ['MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', '1e9']] as const) {
      expect(() => createRestStore(server.url, { env: { [name]: value } })).toThrow(expect.objectContaining({ code: 'invalid_usage', message: expect.stringContaining(name) }));
    }
  });

  it('retries a reset connection on a read', async () => {
    const store = open();
    server.inject({ kind: 'reset' }, { path: 'mlflow/experiments/get' });
    expect((await store.getExperiment('0')).experimentId).toBe('0');
    expect(hits('mlflow/experiments/get')).toBe(2);
  });

  it('maps a 403 plain-text Host-check body to unavailable with the snippet, without retrying', async () => {
    const store = open();
    server.inject({ kind: 'text403' }, { path: 'mlflow/experiments/get' });
    const e = await failure(store.getExperiment('0'));
    expect(e.code).toBe('unavailable');
    expect(e.details).toMatchObject({ status: 403, body: expect.stringMatching(/DNS rebinding/) });
    expect(e.hint).toMatch(/MLFLOW_TRACKING_TOKEN/);
    expect(sleeps).toEqual([]);
  });

  it('says a 403 PERMISSION_DENIED is a missing permission, not missing credentials, for a user who has them', async () => {
    const store = createRestStore(server.url, { env: { MLFLOW_TRACKING_USERNAME: 'viewer', MLFLOW_TRACKING_PASSWORD: 'pw' }, retries: 0 });
    server.inject({ kind: 'json403' }, { path: 'mlflow/experiments/get' });
    const e = await failure(store.getExperiment('0'));
    expect(e.code).toBe('unavailable');
    expect(e.message).toMatch(/HTTP 403\): the user lacks permission for it: Permission denied/);
    expect(e.hint).toMatch(/EDIT \(or MANAGE\) permission/);
    expect(e.hint).not.toMatch(/set MLFLOW_TRACKING_TOKEN/);
  });

  it('reports a base URL that is not an MLflow server (HTML 404) as unavailable', async () => {
    const store = createRestStore(`${server.url}/not-mlflow`, { env: {}, retries: 0 });
    const e = await failure(store.getExperiment('0'));
    expect(e.code).toBe('unavailable');
    expect(e.hint).toMatch(/MLFLOW_TRACKING_URI/);
    expect(e.details).toMatchObject({ status: 404, body: expect.stringMatching(/Not Found/) });
  });

  describe('creates whose answer was lost after the server acted', () => {
    it('experiment: the retry answers RESOURCE_ALREADY_EXISTS and the existing one is returned', async () => {
      const store = open();
      server.inject({ kind: 'html500', afterHandling: true }, { path: 'mlflow/experiments/create' });
      const e = await store.getOrCreateExperiment('lost-answer');
      expect(e.name).toBe('lost-answer');
      expect(hits('mlflow/experiments/create')).toBe(2);
      expect(await server.store.searchExperiments({ name: 'lost-answer' })).toHaveLength(1);
    });

    it('registered model: resolved by reading it back when it matches the request', async () => {
      const store = open();
      server.inject({ kind: 'html500', afterHandling: true }, { path: 'mlflow/registered-models/create' });
      const m = await store.createRegisteredModel('lost-model', 'desc', { owner: 'ml' });
      expect(m).toMatchObject({ name: 'lost-model', description: 'desc', tags: { owner: 'ml' } });
      expect(hits('mlflow/registered-models/create')).toBe(2);
    });

    it('registered model: a different model of that name is still already_exists', async () => {
      const store = open();
      await server.store.createRegisteredModel('taken', 'someone else');
      server.inject({ kind: 'html500' }, { path: 'mlflow/registered-models/create' });
      const e = await failure(store.createRegisteredModel('taken', 'mine'));
      expect(e.code).toBe('already_exists');
    });

    it('run: found by name and start time instead of being created twice', async () => {
      const store = open();
      const exp = await store.getOrCreateExperiment('runs');
      server.inject({ kind: 'html500', afterHandling: true }, { path: 'mlflow/runs/create' });
      const run = await store.createRun(exp.experimentId, { runName: 'once', startTime: 1_700_000_000_000 });
      expect(run.info.runName).toBe('once');
      expect(hits('mlflow/runs/create')).toBe(1);
      expect(await server.store.searchRuns({ experimentIds: [exp.experimentId] })).toHaveLength(1);
    });

    it('run: created when the lost attempt never reached the store (connection reset)', async () => {
      const store = open();
      const exp = await store.getOrCreateExperiment('runs-2');
      server.inject({ kind: 'reset' }, { path: 'mlflow/runs/create' });
      const run = await store.createRun(exp.experimentId, { runName: 'after-reset' });
      expect(run.info.runName).toBe('after-reset');
      expect(hits('mlflow/runs/create')).toBe(2);
      expect(await server.store.searchRuns({ experimentIds: [exp.experimentId] })).toHaveLength(1);
    });

    it('run: a 429 (not processed) is simply retried', async () => {
      const store = open();
      const exp = await store.getOrCreateExperiment('runs-3');
      server.inject({ kind: 'status429', retryAfterSec: 1 }, { path: 'mlflow/runs/create' });
      await store.createRun(exp.experimentId, { runName: 'r' });
      expect(sleeps).toEqual([1000]);
      expect(await server.store.searchRuns({ experimentIds: [exp.experimentId] })).toHaveLength(1);
    });

    it('model version: the lost version is found, no second version is registered', async () => {
      const store = open();
      await store.createRegisteredModel('tip-policy');
      server.inject({ kind: 'html500', afterHandling: true }, { path: 'mlflow/model-versions/create' });
      const v = await store.createModelVersion('tip-policy', 'file:///tmp/m', '', 'card summary');
      expect(v.version).toBe(1);
      expect(hits('mlflow/model-versions/create')).toBe(1);
      expect((await server.store.searchModelVersions('tip-policy')).map((x) => x.version)).toEqual([1]);
    });

    it('model version: a gateway 504 while the server still registers it is looked for again before any retry', async () => {
      // The server finishes the deferred create while the client waits between its looks.
      const store = open({ sleep: async (ms) => void (sleeps.push(ms), await server.runDeferred()) });
      await store.createRegisteredModel('tip-policy');
      server.inject({ kind: 'gateway504Deferred' }, { path: 'mlflow/model-versions/create' });
      const v = await store.createModelVersion('tip-policy', 'file:///tmp/m', '');
      expect(v.version).toBe(1);
      expect(hits('mlflow/model-versions/create')).toBe(1);
      expect((await server.store.searchModelVersions('tip-policy')).map((x) => x.version)).toEqual([1]);
      expect(sleeps).toEqual([500]);
    });

    it('run: the same for a run still being made behind a gateway 504', async () => {
      const store = open({ sleep: async (ms) => void (sleeps.push(ms), await server.runDeferred()) });
      const exp = await store.getOrCreateExperiment('runs-4');
      server.inject({ kind: 'gateway504Deferred' }, { path: 'mlflow/runs/create' });
      await store.createRun(exp.experimentId, { runName: 'slow', startTime: 1_700_000_000_000 });
      expect(hits('mlflow/runs/create')).toBe(1);
      expect(await server.store.searchRuns({ experimentIds: [exp.experimentId] })).toHaveLength(1);
    });

    it('model version: retried when nothing was registered', async () => {
      const store = open();
      await store.createRegisteredModel('tip-policy');
      server.inject({ kind: 'html500' }, { path: 'mlflow/model-versions/create' });
      const v = await store.createModelVersion('tip-policy', 'file:///tmp/m', '');
      expect(v.version).toBe(1);
      expect(hits('mlflow/model-versions/create')).toBe(2);
    });
  });
});

describe('Retry-After parsing', () => {
  it('reads delay-seconds and HTTP dates, capped', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('99999')).toBe(300_000);
  });
});
