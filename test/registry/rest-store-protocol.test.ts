/**
 * The REST adapter's wire behaviour, observed on the loopback MLflow server: headers, where
 * parameters travel, page-token following, log-batch splitting within MLflow's limits, auth.
 * The first block checks that the test server itself enforces MLflow's protocol rules, so the
 * adapter's passing tests mean something.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRestClient } from '../../src/registry/rest-client.js';
import { responseValidators } from '../../src/registry/mlflow-json.js';
import { createRestStore, splitLogBatch } from '../../src/registry/rest-store.js';
import type { Store } from '../../src/registry/store.js';
import { expectCode } from '../contracts/store.contract.js';
import { startMlflowTestServer, type MlflowTestServer } from '../helpers/mlflow-test-server.js';

describe('the loopback server speaks MLflow’s protocol', () => {
  let server: MlflowTestServer;
  beforeEach(async () => {
    server = await startMlflowTestServer();
  });
  afterEach(async () => {
    await server.close();
  });

  const api = (path: string) => `${server.url}/api/2.0/${path}`;

  it('rejects a POST without Content-Type: application/json with 400 INVALID_PARAMETER_VALUE', async () => {
    const res = await fetch(api('mlflow/experiments/create'), { method: 'POST', body: JSON.stringify({ name: 'x' }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error_code: 'INVALID_PARAMETER_VALUE', message: "Content-Type must be one of ['application/json']" });
  });

  it('reads DELETE parameters from the JSON body only', async () => {
    const res = await fetch(`${api('mlflow/registered-models/alias')}?name=m&alias=a`, { method: 'DELETE', headers: { 'Content-Type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/Missing value for required parameter 'name'/);
  });

  it('answers RESOURCE_ALREADY_EXISTS with HTTP 400, IDs as strings, empty arrays omitted', async () => {
    const post = (path: string, body: unknown) =>
      fetch(api(path), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const created = (await (await post('mlflow/experiments/create', { name: 'dup' })).json()) as { experiment_id: unknown };
    expect(typeof created.experiment_id).toBe('string');
    const again = await post('mlflow/experiments/create', { name: 'dup' });
    expect(again.status).toBe(400);
    expect(((await again.json()) as { error_code: string }).error_code).toBe('RESOURCE_ALREADY_EXISTS');
    const run = (await (await post('mlflow/runs/create', { experiment_id: created.experiment_id })).json()) as { run: { data: Record<string, unknown> } };
    expect(run.run.data).not.toHaveProperty('metrics');
    expect(run.run.data).not.toHaveProperty('params');
  });

  it('answers a POST to GET-only registry search with 405 HTML, an unknown route with 404 HTML, a missing max_results with 400', async () => {
    const post = await fetch(api('mlflow/registered-models/search'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('content-type')).toMatch(/text\/html/);
    const unknown = await fetch(api('mlflow/nothing-here'));
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toMatch(/<title>404/);
    const search = await fetch(api('mlflow/experiments/search'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(search.status).toBe(400);
  });
});

describe('REST adapter on the wire', () => {
  let server: MlflowTestServer;
  let store: Store;
  beforeEach(async () => {
    server = await startMlflowTestServer({ pageSize: 2 });
    store = createRestStore(server.url, { retries: 0, env: {} });
  });
  afterEach(async () => {
    await server.close();
  });

  it('sends Content-Type on every POST/PATCH/DELETE, none on GET, and DELETE parameters in the body', async () => {
    await store.createRegisteredModel('m', 'd');
    await store.createModelVersion('m', 'file:///tmp/m', '');
    await store.setAlias('m', 'champion', 1);
    await store.updateRegisteredModel('m', 'new');
    await store.deleteAlias('m', 'champion');
    await store.getRegisteredModel('m');
    for (const r of server.requests) {
      if (r.method === 'GET') expect(r.contentType).toBeUndefined();
      else expect(r.contentType, `${r.method} ${r.path}`).toBe('application/json');
    }
    const del = server.requests.find((r) => r.method === 'DELETE');
    expect(del).toMatchObject({ path: 'mlflow/registered-models/alias', query: {}, json: { name: 'm', alias: 'champion' } });
    const patch = server.requests.find((r) => r.method === 'PATCH');
    expect(patch?.path).toBe('mlflow/registered-models/update');
    const setAlias = server.requests.find((r) => r.path === 'mlflow/registered-models/alias' && r.method === 'POST');
    expect(setAlias?.json).toEqual({ name: 'm', alias: 'champion', version: '1' });
  });

  it('always sends max_results and follows page tokens', async () => {
    for (const n of ['a', 'b', 'c', 'd', 'e']) await store.getOrCreateExperiment(n);
    const before = server.requests.length;
    const names = (await store.searchExperiments()).map((e) => e.name);
    expect(names).toEqual(['Default', 'a', 'b', 'c', 'd', 'e']);
    const searches = server.requests.slice(before).filter((r) => r.path === 'mlflow/experiments/search');
    expect(searches).toHaveLength(3);
    for (const s of searches) expect((s.json as { max_results: number }).max_results).toBeGreaterThan(0);
    expect((searches[1]?.json as { page_token?: string }).page_token).toBeDefined();

    for (let i = 0; i < 5; i++) await store.createRegisteredModel(`model-${i}`);
    expect((await store.searchRegisteredModels({ nameLike: 'model-%' })).length).toBe(5);
    const modelSearches = server.requests.filter((r) => r.path === 'mlflow/registered-models/search');
    expect(modelSearches).toHaveLength(3);
    expect(modelSearches[0]?.query).toMatchObject({ max_results: ['1000'], filter: ["name LIKE 'model-%'"] });
  });

  it('repeats the key for repeated GET parameters', async () => {
    const client = createRestClient(server.url, { retries: 0, env: {} });
    const r = await client.call(
      { method: 'GET', path: 'mlflow/experiments/get', query: { experiment_id: '0', experiment_ids: ['1', '2'] }, retry: 'idempotent' },
      responseValidators.experiment,
    );
    expect(r.experiment.name).toBe('Default');
    expect(server.requests.at(-1)?.query).toEqual({ experiment_id: ['0'], experiment_ids: ['1', '2'] });
  });

  it('splits a mixed batch within 1000 metrics, 100 params and 1000 entities per request', async () => {
    const e = await store.getOrCreateExperiment('batch');
    const run = await store.createRun(e.experimentId, { runName: 'b' });
    const metrics = Array.from({ length: 2500 }, (_, i) => ({ key: 'loss', value: i === 7 ? NaN : i / 1000, step: i, timestamp: 1 }));
    const params = Array.from({ length: 250 }, (_, i) => ({ key: `p${i}`, value: String(i) }));
    await store.logBatch(run.info.runId, { metrics, params, tags: [{ key: 't', value: 'v' }] });
    const batches = server.requests.filter((r) => r.path === 'mlflow/runs/log-batch').map((r) => r.json as { metrics?: unknown[]; params?: unknown[]; tags?: unknown[] });
    const sizes = batches.map((b) => [b.params?.length ?? 0, b.metrics?.length ?? 0, b.tags?.length ?? 0]);
    expect(sizes).toEqual([
      [100, 0, 0],
      [100, 0, 0],
      [50, 950, 0],
      [0, 1000, 0],
      [0, 550, 1],
    ]);
    for (const b of batches) expect((b.metrics?.length ?? 0) + (b.params?.length ?? 0) + (b.tags?.length ?? 0)).toBeLessThanOrEqual(1000);
    // Non-finite values travel as MLflow's strings.
    expect(batches[2]?.metrics?.[7]).toEqual({ key: 'loss', value: 'NaN', timestamp: 1, step: 7 });
    const history = await store.getMetricHistory(run.info.runId, 'loss');
    expect(history).toHaveLength(2500);
    expect(Number.isNaN(history[7]?.value)).toBe(true);
    expect(Object.keys((await store.getRun(run.info.runId)).data.params)).toHaveLength(250);
  });

  it('sends 2500 metrics as 3 log-batch requests (1000 + 1000 + 500), observed on the server', async () => {
    const e = await store.getOrCreateExperiment('batch-3');
    const run = await store.createRun(e.experimentId, { runName: 'b3' });
    await store.logBatch(run.info.runId, { metrics: Array.from({ length: 2500 }, (_, i) => ({ key: 'm', value: i, step: i, timestamp: 5 })) });
    const batches = server.requests.filter((r) => r.path === 'mlflow/runs/log-batch').map((r) => r.json as { run_id: string; metrics: unknown[] });
    expect(batches.map((b) => b.metrics.length)).toEqual([1000, 1000, 500]);
    expect(batches.every((b) => b.run_id === run.info.runId)).toBe(true);
    expect(batches[0]?.metrics[0]).toEqual({ key: 'm', value: 0, timestamp: 5, step: 0 });
    expect((await store.getMetricHistory(run.info.runId, 'm')).map((m) => m.value)).toEqual(Array.from({ length: 2500 }, (_, i) => i));
  });

  it('keeps each log-batch request under 1 MB even with long values', () => {
    const tags = Array.from({ length: 100 }, (_, i) => ({ key: `t${i}`, value: 'x'.repeat(8000) }));
    const params = Array.from({ length: 100 }, (_, i) => ({ key: `p${i}`, value: 'y'.repeat(6000) }));
    const chunks = splitLogBatch({ tags, params }, 0);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(JSON.stringify(c).length).toBeLessThan(1_000_000);
    expect(chunks.reduce((n, c) => n + c.tags.length + c.params.length, 0)).toBe(200);
  });
});

describe('REST adapter authentication', () => {
  let server: MlflowTestServer;
  beforeEach(async () => {
    server = await startMlflowTestServer({ token: 's3cret' });
  });
  afterEach(async () => {
    await server.close();
  });

  it('sends MLFLOW_TRACKING_TOKEN as a bearer token', async () => {
    const store = createRestStore(server.url, { retries: 0, env: { MLFLOW_TRACKING_TOKEN: 's3cret' } });
    expect((await store.getExperiment('0')).name).toBe('Default');
    expect(server.requests.at(-1)?.authorization).toBe('Bearer s3cret');
  });

  it('sends basic auth from MLFLOW_TRACKING_USERNAME/PASSWORD', async () => {
    const store = createRestStore(server.url, { retries: 0, env: { MLFLOW_TRACKING_USERNAME: 'ann', MLFLOW_TRACKING_PASSWORD: 'pw' } });
    await expectCode(store.getExperiment('0'), 'unavailable');
    expect(server.requests.at(-1)?.authorization).toBe(`Basic ${Buffer.from('ann:pw').toString('base64')}`);
  });

  it('takes user:password in the tracking URI as basic auth and prints the URI without them', async () => {
    const withUser = server.url.replace('http://', 'http://ann:pw%2Fsecret@');
    const store = createRestStore(withUser, { retries: 0, env: {} });
    const e = await store.getExperiment('0').then(
      () => undefined,
      (err: unknown) => err as { message: string; hint?: string; details?: unknown },
    );
    expect(server.requests.at(-1)?.authorization).toBe(`Basic ${Buffer.from('ann:pw/secret').toString('base64')}`);
    expect(e).toBeDefined();
    const printed = JSON.stringify({ message: e!.message, hint: e!.hint, details: e!.details });
    expect(printed).toContain(server.url);
    expect(printed).not.toMatch(/ann|secret|pw%2F/);
  });

  it('turns 401 into unavailable with a hint about MLFLOW_TRACKING_TOKEN, without retrying', async () => {
    const store = createRestStore(server.url, { retries: 3, env: {}, sleep: async () => {} });
    let caught: unknown;
    await store.getExperiment('0').catch((e: unknown) => (caught = e));
    expect(caught).toMatchObject({ code: 'unavailable', hint: expect.stringMatching(/MLFLOW_TRACKING_TOKEN/) });
    expect(server.requests).toHaveLength(1);
    // Credentials that were sent and refused: says so, naming where they came from, not what they are.
    const wrong = createRestStore(server.url, { retries: 0, env: { MLFLOW_TRACKING_TOKEN: 'wrong-token' } });
    const refused = await wrong.getExperiment('0').then(() => undefined, (e: unknown) => e as { hint: string });
    expect(refused?.hint).toContain('the credentials sent (the bearer token of MLFLOW_TRACKING_TOKEN) were refused');
    expect(refused?.hint).not.toContain('wrong-token');
  });

  it('sends its credentials to the tracking server only, not to another host an artifact URI names', async () => {
    const elsewhere = await startMlflowTestServer();
    try {
      const client = createRestClient(server.url, { retries: 0, env: { MLFLOW_TRACKING_TOKEN: 's3cret' } });
      await client.callBytes({ method: 'GET', path: `${elsewhere.url}/api/2.0/mlflow/experiments/get?experiment_id=0`, retry: 'idempotent' });
      expect(elsewhere.requests.at(-1)?.authorization).toBeUndefined();
      await client.callBytes({ method: 'GET', path: 'mlflow/experiments/get', query: { experiment_id: '0' }, retry: 'idempotent' });
      expect(server.requests.at(-1)?.authorization).toBe('Bearer s3cret');
    } finally {
      await elsewhere.close();
    }
  });

  it('reports a redirect, naming where to, instead of following it (a POST would become a GET, an upload fail as unreachable)', async () => {
    const redirecting = createServer((req, res) => {
      res.writeHead(308, { Location: `${server.url}${req.url ?? '/'}` });
      res.end();
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      const from = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`;
      const store = createRestStore(from, { retries: 3, env: {}, sleep: async () => {} });
      const e = await store.createRun('0', { runName: 'r' }).then(() => undefined, (err: unknown) => err as { code: string; message: string; hint: string });
      expect(e).toMatchObject({ code: 'unavailable', message: expect.stringContaining(`redirected POST ${from}/api/2.0/mlflow/runs/create (HTTP 308) to ${server.url}/api/2.0/mlflow/runs/create`) });
      expect(e?.hint).toContain('set MLFLOW_TRACKING_URI to the address the server redirects to');
      expect(server.requests.filter((r) => r.path === 'mlflow/runs/create')).toHaveLength(0);
    } finally {
      await new Promise<void>((resolve) => redirecting.close(() => resolve()));
    }
  });
});

describe('REST adapter against a server that answers without end', () => {
  it('stops reading past its byte cap, with or without a declared length, and says so without retrying', async () => {
    let requests = 0;
    const endless = createServer((req, res) => {
      requests++;
      if (req.url?.includes('declared') === true) {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(10 * 1024 * 1024) });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const more = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', more);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      more();
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(endless.address() as AddressInfo).port}`;
      const client = createRestClient(url, { retries: 3, env: {}, sleep: async () => {}, maxResponseBytes: 1024 * 1024 });
      for (const path of ['mlflow/experiments/search', 'mlflow/declared/search']) {
        const e = await client.callBytes({ method: 'GET', path, query: {}, retry: 'idempotent' }).then(() => undefined, (err: unknown) => err as { code: string; message: string });
        expect(e, path).toMatchObject({ code: 'unavailable', message: expect.stringContaining(`with more than ${1024 * 1024} bytes: not read further`) });
      }
      expect(requests).toBe(2);
    } finally {
      endless.closeAllConnections();
      await new Promise<void>((resolve) => endless.close(() => resolve()));
    }
  });
});

describe('REST adapter with a plain-path artifact root', () => {
  it('reads and writes artifacts under a run whose artifact URI is a plain path (mlflow server --default-artifact-root /path)', async () => {
    const server = await startMlflowTestServer({ artifacts: 'path' });
    try {
      const store = createRestStore(server.url, { retries: 0, env: {} });
      const e = await store.getOrCreateExperiment('plain');
      const run = await store.createRun(e.experimentId, { runName: 'train' });
      expect(run.info.artifactUri.startsWith('/')).toBe(true);
      await store.logArtifact(run.info.runId, 'card/model_card.md', new TextEncoder().encode('# card\n'));
      expect(new TextDecoder().decode(await store.downloadArtifact(run.info.runId, 'card/model_card.md'))).toBe('# card\n');
      expect((await store.listArtifacts(run.info.runId)).map((a) => a.path)).toEqual(['card']);
      expect((await store.finishRun(run.info.runId, 'FINISHED')).status).toBe('FINISHED');
    } finally {
      await server.close();
    }
  });
});

