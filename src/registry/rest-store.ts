/**
 * The REST adapter: the `Store` over an MLflow tracking server's REST API 2.0
 * (shared/mlflow-rest.md Part 1). Transport rules, retries and error mapping live in
 * rest-client.ts; response shapes in mlflow-json.ts. This file maps each primitive to its
 * calls, follows page tokens, splits log batches within MLflow's limits, and reaches artifacts
 * through the `mlflow-artifacts` proxy routes (or a shared `file://` location).
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { conflict, invalidInput, isOoMlError, notFound, unavailable } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import {
  encodeMetricValue,
  responseValidators as V,
  toExperiment,
  toKeyValues,
  toMetric,
  toModelVersion,
  toRegisteredModel,
  toRun,
  toRunInfo,
} from './mlflow-json.js';
import { createRestClient, type RestClientOptions } from './rest-client.js';
import { compareRuns, formatRunFilter, quoteFilterValue } from './run-filter.js';
import { resolveRunName } from './run-name.js';
import { enforceLimits } from './store-limits.js';
import type { ArtifactEntry, Experiment, LogBatch, Metric, ModelVersion, RegisteredModel, Run, Store, TagMap } from './store.js';
import { runContextTags } from './run-context.js';

/** Options of the REST store: the transport's plus the clock for default timestamps. */
export interface RestStoreOptions extends RestClientOptions {
  /** Milliseconds since the epoch (default `Date.now`). */
  clock?: () => number;
  /** Folder for temporaries when writing to a shared `file://` artifact location (default beside the file). */
  tmpDir?: string;
}

/** MLflow's log-batch limits (`mlflow/utils/validation.py`); the request itself must stay under 1 MB. */
export const LOG_BATCH_LIMITS = { metrics: 1000, params: 100, tags: 100, total: 1000, bytes: 900_000 } as const;

// Page sizes within the server maxima (experiments ≤ 50 000, runs ≤ 50 000, models ≤ 1000).
const PAGE = 1000;
// How far a server clock may lag ours when recognising a version created by a lost attempt.
const CLOCK_SKEW_MS = 5 * 60_000;

type BatchChunk = { metrics: object[]; params: object[]; tags: object[] };

/** Splits a batch into requests within MLflow's per-request limits, keeping the given order. */
export function splitLogBatch(batch: LogBatch, now: number): BatchChunk[] {
  const chunks: BatchChunk[] = [];
  let cur: BatchChunk = { metrics: [], params: [], tags: [] };
  let bytes = 0;
  const add = (kind: keyof BatchChunk, item: object) => {
    const size = JSON.stringify(item).length + 1;
    const count = cur.metrics.length + cur.params.length + cur.tags.length;
    const limit = LOG_BATCH_LIMITS[kind];
    if (cur[kind].length >= limit || count >= LOG_BATCH_LIMITS.total || bytes + size > LOG_BATCH_LIMITS.bytes) {
      chunks.push(cur);
      cur = { metrics: [], params: [], tags: [] };
      bytes = 0;
    }
    cur[kind].push(item);
    bytes += size;
  };
  for (const p of batch.params ?? []) add('params', { key: p.key, value: p.value });
  for (const m of batch.metrics ?? []) {
    add('metrics', { key: m.key, value: encodeMetricValue(m.value), timestamp: m.timestamp ?? now, step: m.step ?? 0 });
  }
  for (const t of batch.tags ?? []) add('tags', { key: t.key, value: t.value });
  if (cur.metrics.length + cur.params.length + cur.tags.length > 0) chunks.push(cur);
  return chunks;
}

/** Opens the MLflow server at `baseUrl` (e.g. `http://127.0.0.1:5000`) as a Store. */
export function createRestStore(baseUrl: string, options: RestStoreOptions = {}): Store {
  const client = createRestClient(baseUrl, options);
  const base = client.baseUrl;
  const clock = options.clock ?? Date.now;

  // ---- experiments ----------------------------------------------------------------------------

  async function getExperiment(experimentId: string): Promise<Experiment> {
    const r = await client.call({ method: 'GET', path: 'mlflow/experiments/get', query: { experiment_id: experimentId }, retry: 'idempotent' }, V.experiment);
    return toExperiment(r.experiment);
  }

  /** get-by-name prefers an active experiment over a deleted one of the same name. */
  async function findByName(name: string): Promise<Experiment | undefined> {
    try {
      const r = await client.call({ method: 'GET', path: 'mlflow/experiments/get-by-name', query: { experiment_name: name }, retry: 'idempotent' }, V.experiment);
      return toExperiment(r.experiment);
    } catch (e) {
      if (isOoMlError(e, 'not_found')) return undefined;
      throw e;
    }
  }

  async function getOrCreateExperiment(name: string, tags?: TagMap): Promise<Experiment> {
    const existing = await findByName(name);
    if (existing === undefined) {
      try {
        const createdId = await client.create(
          {
            method: 'POST',
            path: 'mlflow/experiments/create',
            json: { name, tags: toKeyValues(tags) },
            retry: 'create-unique',
            // getOrCreate: whoever created it, the experiment of that name is the answer.
            findCreated: async () => (await findByName(name))?.experimentId,
          },
          V.createExperiment,
          (r) => r.experiment_id,
        );
        return getExperiment(createdId);
      } catch (e) {
        if (!isOoMlError(e, 'already_exists')) throw e;
        // Another writer created it meanwhile, or a deleted experiment holds the name.
      }
    }
    const found = existing ?? (await findByName(name));
    if (found === undefined) throw conflict(`experiment "${name}" could not be created and does not exist`);
    if (found.lifecycleStage === 'deleted') {
      throw conflict(`experiment name "${name}" belongs to deleted experiment ${found.experimentId}`, {
        hint: 'restore it in the MLflow UI, run `mlflow gc` on the server, or pick another name',
      });
    }
    return found;
  }

  async function searchExperiments(query: { name?: string } = {}): Promise<Experiment[]> {
    const out = await collectPages<Experiment>('mlflow/experiments/search', async (pageToken) => {
      const r = await client.call(
        {
          method: 'POST',
          path: 'mlflow/experiments/search',
          json: {
            // max_results must always be sent: an omitted value becomes 0 and is rejected.
            max_results: PAGE,
            view_type: 'ACTIVE_ONLY',
            ...(query.name === undefined ? {} : { filter: `name = ${quoteFilterValue(query.name)}` }),
            ...(pageToken === undefined ? {} : { page_token: pageToken }),
          },
          retry: 'idempotent',
        },
        V.searchExperiments,
      );
      return { items: (r.experiments ?? []).map(toExperiment), next: r.next_page_token };
    });
    return out.filter((e) => e.lifecycleStage === 'active').sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  // ---- runs -----------------------------------------------------------------------------------

  async function getRun(runId: string): Promise<Run> {
    const r = await client.call({ method: 'GET', path: 'mlflow/runs/get', query: { run_id: runId }, retry: 'idempotent' }, V.run);
    return toRun(r.run);
  }

  async function searchRuns(query: Parameters<Store['searchRuns']>[0]): Promise<Run[]> {
    const want = query.maxResults ?? 1000;
    const filter = formatRunFilter(query);
    const out = await collectPages<Run>(
      'mlflow/runs/search',
      async (pageToken, have) => {
        const r = await client.call(
          {
            method: 'POST',
            path: 'mlflow/runs/search',
            json: {
              experiment_ids: query.experimentIds,
              ...(filter === '' ? {} : { filter }),
              run_view_type: 'ACTIVE_ONLY',
              max_results: Math.min(PAGE, want - have),
              order_by: [`attributes.${query.orderBy ?? 'start_time DESC'}`],
              ...(pageToken === undefined ? {} : { page_token: pageToken }),
            },
            retry: 'idempotent',
          },
          V.searchRuns,
        );
        return { items: (r.runs ?? []).map(toRun), next: r.next_page_token };
      },
      (have) => have >= want,
    );
    return out.sort(compareRuns(query)).slice(0, want);
  }

  async function createRun(experimentId: string, opts: { runName?: string; tags?: TagMap; startTime?: number } = {}): Promise<Run> {
    const tags: Record<string, string> = { ...runContextTags(), ...opts.tags };
    // Named here, not by the server, so that a lost create can be recognised afterwards.
    const runName = resolveRunName(opts.runName, tags);
    const startTime = opts.startTime ?? clock();
    return client.create(
      {
        method: 'POST',
        path: 'mlflow/runs/create',
        json: { experiment_id: experimentId, run_name: runName, start_time: startTime, tags: toKeyValues(tags) },
        retry: 'create',
        findCreated: async () => {
          const runs = await searchRuns({ experimentIds: [experimentId], runName, tags, maxResults: 10 });
          return runs.find((x) => x.info.startTime === startTime);
        },
      },
      V.run,
      (r) => toRun(r.run),
    );
  }

  async function logBatch(runId: string, batch: LogBatch): Promise<void> {
    // log-batch is repeatable: params accept the same value again, tags are overwritten, and a
    // repeated metric point is the same point (MLflow's own client retries it too).
    for (const chunk of splitLogBatch(batch, clock())) {
      await client.call({ method: 'POST', path: 'mlflow/runs/log-batch', json: { run_id: runId, ...chunk }, retry: 'idempotent' }, V.empty);
    }
  }

  async function getMetricHistory(runId: string, key: string): Promise<Metric[]> {
    return collectPages<Metric>('mlflow/metrics/get-history', async (pageToken) => {
      const r = await client.call(
        { method: 'GET', path: 'mlflow/metrics/get-history', query: { run_id: runId, metric_key: key, page_token: pageToken }, retry: 'idempotent' },
        V.metricHistory,
      );
      return { items: (r.metrics ?? []).map(toMetric), next: r.next_page_token };
    });
  }

  // ---- artifacts ------------------------------------------------------------------------------

  /** Where a run's artifact lives: a proxied URL or a local file (shared file system). */
  function locate(runId: string, artifactUri: string, relativePath: string): { url: string } | { file: string } {
    const rel = relativePath.split('/').map(encodeURIComponent).join('/');
    if (artifactUri.startsWith('mlflow-artifacts:')) {
      const parsed = new URL(artifactUri);
      // mlflow-artifacts://host:port/path uses that host; mlflow-artifacts:/path the tracking server.
      const origin = parsed.host !== '' ? `${new URL(base).protocol}//${parsed.host}` : base;
      const path = parsed.pathname.replace(/^\/+|\/+$/g, '');
      return { url: `${origin}/api/2.0/mlflow-artifacts/artifacts/${path}/${rel}` };
    }
    if (/^https?:\/\//.test(artifactUri)) return { url: `${artifactUri.replace(/\/+$/, '')}/${rel}` };
    if (artifactUri.startsWith('file:')) return { file: join(fileURLToPath(artifactUri), ...relativePath.split('/')) };
    // A plain path (`mlflow server --default-artifact-root /some/path`, which MLflow's client
    // takes as a local folder): the same as file://.
    if (isAbsolute(artifactUri)) return { file: join(artifactUri, ...relativePath.split('/')) };
    throw unavailable(`run ${runId} keeps its artifacts at ${artifactUri}, which oo-ml cannot reach`, {
      hint: 'start the MLflow server with --serve-artifacts (the default) so artifacts are proxied, or use a file:// artifact root',
    });
  }

  async function logArtifact(runId: string, relativePath: string, data: Uint8Array | string): Promise<void> {
    const run = await getRun(runId);
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const where = locate(runId, run.info.artifactUri, relativePath);
    if ('file' in where) {
      await writeFileAtomic(where.file, bytes, options.tmpDir === undefined ? {} : { tmpDir: options.tmpDir });
      return;
    }
    await client.call({ method: 'PUT', path: where.url, bytes, retry: 'idempotent' }, V.empty);
  }

  async function listArtifacts(runId: string, path = ''): Promise<ArtifactEntry[]> {
    const out = await collectPages<ArtifactEntry>('mlflow/artifacts/list', async (pageToken) => {
      // Listing through the tracking API works for proxied and file:// artifact roots alike.
      const r = await client.call(
        {
          method: 'GET',
          path: 'mlflow/artifacts/list',
          query: { run_id: runId, ...(path === '' ? {} : { path }), page_token: pageToken },
          retry: 'idempotent',
        },
        V.listArtifacts,
      );
      const items = (r.files ?? []).map((f): ArtifactEntry =>
        f.is_dir === true ? { path: f.path, isDir: true } : { path: f.path, isDir: false, ...(f.file_size === undefined ? {} : { fileSize: Number(f.file_size) }) },
      );
      return { items, next: r.next_page_token };
    });
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async function downloadArtifact(runId: string, relativePath: string): Promise<Uint8Array> {
    const run = await getRun(runId);
    const where = locate(runId, run.info.artifactUri, relativePath);
    const missing = () => notFound(`artifact "${relativePath}" of run ${runId} not found`);
    if ('file' in where) {
      try {
        if (!(await stat(where.file)).isFile()) throw missing();
        return new Uint8Array(await readFile(where.file));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missing();
        throw e;
      }
    }
    try {
      return await client.callBytes({ method: 'GET', path: where.url, retry: 'idempotent' });
    } catch (e) {
      if (!isOoMlError(e) || !hasStatus(e)) throw e;
      // Servers answer a missing artifact with 404 or with a 500 from the artifact repository:
      // the listing says which.
      const parent = relativePath.includes('/') ? relativePath.slice(0, relativePath.lastIndexOf('/')) : '';
      const listed = await listArtifacts(runId, parent);
      if (!listed.some((f) => f.path === relativePath && !f.isDir)) throw missing();
      throw e;
    }
  }

  // ---- registry -------------------------------------------------------------------------------

  async function getRegisteredModel(name: string): Promise<RegisteredModel> {
    const r = await client.call({ method: 'GET', path: 'mlflow/registered-models/get', query: { name }, retry: 'idempotent' }, V.registeredModel);
    return toRegisteredModel(r.registered_model);
  }

  async function createRegisteredModel(name: string, description?: string, tags?: TagMap): Promise<RegisteredModel> {
    return client.create(
      {
        method: 'POST',
        path: 'mlflow/registered-models/create',
        json: { name, ...(description === undefined ? {} : { description }), tags: toKeyValues(tags) },
        retry: 'create-unique',
        // Safe only when the model that exists is the one this call asked for.
        findCreated: async () => {
          const m = await getRegisteredModel(name);
          const same = m.description === (description ?? '') && Object.entries(tags ?? {}).every(([k, v]) => m.tags[k] === v);
          return same ? m : undefined;
        },
      },
      V.registeredModel,
      (r) => toRegisteredModel(r.registered_model),
    );
  }

  async function searchRegisteredModels(query: { nameLike?: string } = {}): Promise<RegisteredModel[]> {
    const out = await collectPages<RegisteredModel>('mlflow/registered-models/search', async (pageToken) => {
      // GET only: a POST to this route answers 405.
      const r = await client.call(
        {
          method: 'GET',
          path: 'mlflow/registered-models/search',
          query: {
            max_results: PAGE,
            filter: query.nameLike === undefined ? undefined : `name LIKE ${quoteFilterValue(query.nameLike)}`,
            page_token: pageToken,
          },
          retry: 'idempotent',
        },
        V.searchRegisteredModels,
      );
      return { items: (r.registered_models ?? []).map(toRegisteredModel), next: r.next_page_token };
    });
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async function getModelVersion(name: string, version: number): Promise<ModelVersion> {
    const r = await client.call(
      { method: 'GET', path: 'mlflow/model-versions/get', query: { name, version: String(version) }, retry: 'idempotent' },
      V.modelVersion,
    );
    return toModelVersion(r.model_version);
  }

  async function searchModelVersions(name: string): Promise<ModelVersion[]> {
    // The model must exist: an empty search cannot tell "no versions" from "no model". Its alias
    // map also gives each version its aliases: MLflow's SQL store leaves them out of search
    // results (its file store does not), so they are taken from the model on every server.
    const model = await getRegisteredModel(name);
    const aliasesOf = new Map<number, string[]>();
    for (const [alias, version] of Object.entries(model.aliases)) aliasesOf.set(version, [...(aliasesOf.get(version) ?? []), alias]);
    const out = await collectPages<ModelVersion>('mlflow/model-versions/search', async (pageToken) => {
      const r = await client.call(
        {
          method: 'GET',
          path: 'mlflow/model-versions/search',
          query: { filter: `name = ${quoteFilterValue(name)}`, max_results: PAGE, page_token: pageToken },
          retry: 'idempotent',
        },
        V.searchModelVersions,
      );
      const items = (r.model_versions ?? [])
        .map(toModelVersion)
        .filter((v) => v.name === name)
        .map((v) => ({ ...v, aliases: (aliasesOf.get(v.version) ?? []).sort() }));
      return { items, next: r.next_page_token };
    });
    return out.sort((a, b) => a.version - b.version);
  }

  async function createModelVersion(name: string, source: string, runId: string, description?: string, tags?: TagMap): Promise<ModelVersion> {
    const requestedAt = clock();
    return client.create(
      {
        method: 'POST',
        path: 'mlflow/model-versions/create',
        json: {
          name,
          source,
          ...(runId === '' ? {} : { run_id: runId }),
          ...(description === undefined ? {} : { description }),
          tags: toKeyValues(tags),
        },
        retry: 'create',
        // A version of this model with the same source, run and description, created since this
        // call started, is the one the lost attempt registered.
        findCreated: async () => {
          const candidates = (await searchModelVersions(name)).filter(
            (v) =>
              v.source === source &&
              v.runId === runId &&
              v.description === (description ?? '') &&
              v.creationTimestamp >= requestedAt - CLOCK_SKEW_MS &&
              Object.entries(tags ?? {}).every(([k, val]) => v.tags[k] === val),
          );
          return candidates.at(-1);
        },
      },
      V.modelVersion,
      (r) => ofModel(name, toModelVersion(r.model_version), 'mlflow/model-versions/create'),
    );
  }

  async function getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    try {
      const r = await client.call(
        { method: 'GET', path: 'mlflow/registered-models/alias', query: { name, alias }, retry: 'idempotent' },
        V.modelVersion,
      );
      return ofModel(name, toModelVersion(r.model_version), 'mlflow/registered-models/alias');
    } catch (e) {
      // MLflow answers an unknown alias with 400 INVALID_PARAMETER_VALUE ("Registered model
      // alias X not found."), not 404; the alias was validated above, so this means not found.
      if (isOoMlError(e, 'invalid_input') && /alias .* not found/i.test(e.message)) {
        throw notFound(`model "${name}" has no alias "${alias}"`, { cause: e });
      }
      throw e;
    }
  }

  const post = async (path: string, json: unknown) => {
    await client.call({ method: 'POST', path, json, retry: 'idempotent' }, V.empty);
  };

  const store: Store = {
    kind: 'rest',
    uri: base,
    getOrCreateExperiment,
    getExperiment,
    async getExperimentByName(name) {
      const e = await findByName(name);
      if (e === undefined || e.lifecycleStage !== 'active') throw notFound(`experiment "${name}" not found on ${base}`);
      return e;
    },
    searchExperiments,
    async setExperimentTag(experimentId, key, value) {
      await post('mlflow/experiments/set-experiment-tag', { experiment_id: experimentId, key, value });
    },
    createRun,
    getRun,
    searchRuns,
    logBatch,
    async logMetric(runId, key, value, opts = {}) {
      await post('mlflow/runs/log-metric', { run_id: runId, key, value: encodeMetricValue(value), timestamp: opts.timestamp ?? clock(), step: opts.step ?? 0 });
    },
    async logParam(runId, key, value) {
      await post('mlflow/runs/log-parameter', { run_id: runId, key, value });
    },
    async setTag(runId, key, value) {
      await post('mlflow/runs/set-tag', { run_id: runId, key, value });
    },
    async finishRun(runId, status = 'FINISHED', endTime) {
      const r = await client.call(
        { method: 'POST', path: 'mlflow/runs/update', json: { run_id: runId, status, end_time: endTime ?? clock() }, retry: 'idempotent' },
        V.updateRun,
      );
      return toRunInfo(r.run_info);
    },
    getMetricHistory,
    logArtifact,
    listArtifacts,
    downloadArtifact,
    createRegisteredModel,
    getRegisteredModel,
    searchRegisteredModels,
    async updateRegisteredModel(name, description) {
      const r = await client.call(
        { method: 'PATCH', path: 'mlflow/registered-models/update', json: { name, description }, retry: 'idempotent' },
        V.registeredModel,
      );
      return toRegisteredModel(r.registered_model);
    },
    async setRegisteredModelTag(name, key, value) {
      await post('mlflow/registered-models/set-tag', { name, key, value });
    },
    createModelVersion,
    getModelVersion,
    searchModelVersions,
    async updateModelVersion(name, version, description) {
      const r = await client.call(
        { method: 'PATCH', path: 'mlflow/model-versions/update', json: { name, version: String(version), description }, retry: 'idempotent' },
        V.modelVersion,
      );
      return toModelVersion(r.model_version);
    },
    async setModelVersionTag(name, version, key, value) {
      await post('mlflow/model-versions/set-tag', { name, version: String(version), key, value });
    },
    async setAlias(name, alias, version) {
      await post('mlflow/registered-models/alias', { name, alias, version: String(version) });
    },
    async deleteAlias(name, alias) {
      // DELETE parameters travel in the JSON body; query parameters are ignored by MLflow.
      await client.call({ method: 'DELETE', path: 'mlflow/registered-models/alias', json: { name, alias }, retry: 'idempotent' }, V.empty);
    },
    getModelVersionByAlias,
  };
  return enforceLimits(store);
}

/**
 * `version`, checked to belong to the model asked for: a server or proxy answering for another
 * model would otherwise have oo-ml serve or promote that model's version under this name.
 */
function ofModel(name: string, version: ModelVersion, endpoint: string): ModelVersion {
  if (version.name !== name) {
    throw invalidInput(`${endpoint} answered with version ${version.version} of model "${version.name}", not of "${name}"`, {
      details: [{ path: '/model_version/name', message: `expected "${name}"` }],
    });
  }
  return version;
}

/**
 * Every item of one paged listing of `endpoint`: `page(token, have)` fetches the page at `token`
 * (undefined: the first) given how many items came before; the listing stops after the last page,
 * or once `enough(have)`. The one paging loop of this adapter; PageTokens guards it.
 */
async function collectPages<T>(
  endpoint: string,
  page: (token: string | undefined, have: number) => Promise<{ items: readonly T[]; next: string | undefined }>,
  enough: (have: number) => boolean = () => false,
): Promise<T[]> {
  const out: T[] = [];
  const pages = new PageTokens(endpoint);
  let token: string | undefined;
  do {
    const r = await page(token, out.length);
    out.push(...r.items);
    token = pages.next(r.next);
  } while (token !== undefined && !enough(out.length));
  return out;
}

/**
 * The page tokens of one listing. A server that hands back a token it gave before would page
 * forever (each page appended again): that is `unavailable`, naming the endpoint, as is a listing
 * past MAX_PAGES.
 */
class PageTokens {
  private readonly seen = new Set<string>();

  constructor(private readonly endpoint: string) {}

  /** The token of the next page, or undefined after the last one. */
  next(token: string | undefined): string | undefined {
    if (token === undefined || token === '') return undefined;
    if (this.seen.has(token)) {
      throw unavailable(`${this.endpoint} returned the page token "${token.slice(0, 80)}" a second time; its paging is broken`, {
        hint: 'check the MLflow server (or proxy) behind MLFLOW_TRACKING_URI',
        details: { endpoint: this.endpoint, pages: this.seen.size + 1 },
      });
    }
    if (this.seen.size >= MAX_PAGES) {
      throw unavailable(`${this.endpoint} listed more than ${MAX_PAGES} pages; stopping`, { details: { endpoint: this.endpoint } });
    }
    this.seen.add(token);
    return token;
  }
}

/** Most pages one listing reads (at PAGE items a page: far more than a registry holds). */
const MAX_PAGES = 10_000;

function hasStatus(e: { details: unknown }): boolean {
  return typeof e.details === 'object' && e.details !== null && 'status' in e.details;
}
