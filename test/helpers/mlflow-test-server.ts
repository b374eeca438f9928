/**
 * A real loopback MLflow server for tests: node:http on 127.0.0.1 (port 0) speaking the REST
 * protocol of shared/mlflow-rest.md Part 1 for the endpoints oo-ml uses, backed by a file store
 * in a temp dir. It enforces the protocol's rules the way MLflow does — JSON calls need
 * `Content-Type: application/json` (else 400 INVALID_PARAMETER_VALUE), DELETE reads its
 * parameters only from the JSON body, RESOURCE_ALREADY_EXISTS is HTTP 400, IDs are strings,
 * empty arrays are omitted, non-finite metric values travel as strings, log-batch limits are
 * checked, registry search is GET-only (POST → 405 HTML), unknown routes → 404 HTML — and lets a
 * test inject faults (429 + Retry-After, 503 plain text, 500 HTML before or after handling, a
 * hang, a connection reset) and inspect every request it received.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { isOoMlError, type OoMlError } from '../../src/errors.js';
import { createFileStore } from '../../src/registry/file-store.js';
import { MLFLOW_CODE_FOR_ERROR, MLFLOW_ERROR_CODES, type MlflowErrorCode } from '../../src/registry/mlflow-error-codes.js';
import type {
  Experiment,
  Metric,
  MetricComparator,
  ModelVersion,
  RegisteredModel,
  Run,
  RunInfo,
  RunQuery,
  RunStatus,
  Store,
  TerminalRunStatus,
} from '../../src/registry/store.js';

/** One request as the server saw it. */
export interface RecordedRequest {
  method: string;
  /** Path below `/api/2.0/` (e.g. `mlflow/runs/log-batch`). */
  path: string;
  query: Record<string, string[]>;
  json: unknown;
  contentType: string | undefined;
  authorization: string | undefined;
  bodyBytes: number;
}

/** A fault the next matching request(s) get instead of (or after) normal handling. */
export type Fault =
  | { kind: 'status429'; retryAfterSec?: number }
  | { kind: 'text503' }
  | { kind: 'html500'; afterHandling?: boolean }
  | { kind: 'hang'; ms: number }
  | { kind: 'reset' }
  | { kind: 'text403' }
  /** MLflow's basic-auth app refusing a user without permission (403 PERMISSION_DENIED). */
  | { kind: 'json403' }
  /** A 200 with this JSON body instead of the real answer (a misbehaving server or proxy). */
  | { kind: 'json200'; body: unknown }
  /** A gateway's 504 at once, while the server still carries the request out: at `runDeferred()`. */
  | { kind: 'gateway504Deferred' };

/** A file:// URI as the plain path MLflow reports for a plain-path artifact root. */
const plainPath = (uri: string): string => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);

/** Options of the test server. */
export interface MlflowTestServerOptions {
  /** `proxy` (default, like `mlflow server`): artifact URIs are `mlflow-artifacts:/…`; `file`: the store's `file://` URIs; `path`: the same as plain paths (`--default-artifact-root /some/path`). */
  artifacts?: 'proxy' | 'file' | 'path';
  /** Caps every search page, to exercise page-token following. */
  pageSize?: number;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token?: string;
}

/** A running server. */
export interface MlflowTestServer {
  readonly url: string;
  readonly root: string;
  /** The file store behind the server. */
  readonly store: Store;
  readonly requests: RecordedRequest[];
  /** Queues `fault` for the next `count` (default 1) requests whose path matches `path`. */
  inject(fault: Fault, options?: { count?: number; path?: string | RegExp }): void;
  /** Carries out the requests a `gateway504Deferred` answered (a slow server finishing them). */
  runDeferred(): Promise<void>;
  close(): Promise<void>;
}

class ProtocolError extends Error {
  constructor(
    readonly code: MlflowErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const TERMINAL = new Set(['FINISHED', 'FAILED', 'KILLED']);

/** Starts a server on 127.0.0.1 with a fresh file store. */
export async function startMlflowTestServer(options: MlflowTestServerOptions = {}): Promise<MlflowTestServer> {
  const home = await mkdtemp(join(tmpdir(), 'oo-ml-mlflow-server-'));
  const root = join(home, 'mlruns');
  // A server's root exists from its start, so its Default experiment does, as MLflow's.
  await mkdir(root);
  const store = createFileStore(root);
  const requests: RecordedRequest[] = [];
  const faults: { fault: Fault; remaining: number; path: string | RegExp | undefined }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const deferred: (() => Promise<void>)[] = [];
  let url = '';
  const pageSize = options.pageSize ?? Number.MAX_SAFE_INTEGER;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void onRequest(req, res, Buffer.concat(chunks));
    });
  });

  async function onRequest(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const prefix = /^\/(?:ajax-)?api\/2\.0\//.exec(u.pathname)?.[0];
    const path = prefix === undefined ? u.pathname : u.pathname.slice(prefix.length);
    const query: Record<string, string[]> = {};
    for (const [k, v] of u.searchParams) (query[k] ??= []).push(v);
    let json: unknown;
    const contentType = req.headers['content-type'];
    if (contentType?.startsWith('application/json') === true && body.length > 0) {
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        json = undefined;
      }
    }
    requests.push({ method: req.method ?? '', path, query, json, contentType, authorization: req.headers.authorization, bodyBytes: body.length });

    const fault = takeFault(path);
    if (fault !== undefined) {
      switch (fault.kind) {
        case 'status429':
          return send(res, 429, { 'Content-Type': 'application/json', ...(fault.retryAfterSec === undefined ? {} : { 'Retry-After': String(fault.retryAfterSec) }) },
            JSON.stringify({ error_code: 'REQUEST_LIMIT_EXCEEDED', message: 'Too many requests' }));
        case 'text503':
          return send(res, 503, { 'Content-Type': 'text/plain' }, 'Service Unavailable: tracking routes are disabled (--artifacts-only)');
        case 'text403':
          return send(res, 403, { 'Content-Type': 'text/plain' }, 'Invalid Host header - possible DNS rebinding attack detected');
        case 'json403':
          return send(res, 403, { 'Content-Type': 'application/json' }, JSON.stringify({ error_code: 'PERMISSION_DENIED', message: 'Permission denied' }));
        case 'json200':
          return send(res, 200, { 'Content-Type': 'application/json' }, JSON.stringify(fault.body));
        case 'reset':
          req.socket.destroy();
          return;
        case 'hang': {
          const t = setTimeout(() => {
            timers.delete(t);
            if (!res.destroyed && !req.socket.destroyed) void handle(req, res, path, query, body, json);
          }, fault.ms);
          timers.add(t);
          return;
        }
        case 'gateway504Deferred':
          deferred.push(() => handle(req, undefined, path, query, body, json));
          return send(res, 504, { 'Content-Type': 'text/html' }, '<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center><hr><center>nginx</center></body></html>');
        case 'html500':
          if (fault.afterHandling === true) {
            // The server did the work, then the answer was lost: an ambiguous failure.
            await handle(req, undefined, path, query, body, json);
          }
          return send(res, 500, { 'Content-Type': 'text/html' }, '<!doctype html><html><title>500 Internal Server Error</title><h1>Internal Server Error</h1></html>');
      }
    }
    await handle(req, res, path, query, body, json);
  }

  function takeFault(path: string): Fault | undefined {
    const entry = faults.find((f) => f.remaining > 0 && (f.path === undefined || (typeof f.path === 'string' ? f.path === path : f.path.test(path))));
    if (entry === undefined) return undefined;
    entry.remaining -= 1;
    return entry.fault;
  }

  async function handle(req: IncomingMessage, res: ServerResponse | undefined, path: string, query: Record<string, string[]>, body: Buffer, json: unknown): Promise<void> {
    const method = req.method ?? 'GET';
    try {
      if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
        throw new ProtocolError('UNAUTHENTICATED', 'You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html');
      }
      if (path.startsWith('mlflow-artifacts/artifacts')) {
        const result = await artifactRoute(method, path, query, body);
        if (res !== undefined) {
          if (result instanceof Uint8Array) send(res, 200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': 'attachment' }, result);
          else sendJson(res, 200, result);
        }
        return;
      }
      const route = ROUTES[`${method} ${path}`];
      if (route === undefined) {
        const known = Object.keys(ROUTES).some((k) => k.endsWith(` ${path}`));
        if (res !== undefined) {
          if (known) send(res, 405, { 'Content-Type': 'text/html' }, '<!doctype html><title>405 Method Not Allowed</title><h1>Method Not Allowed</h1>');
          else send(res, 404, { 'Content-Type': 'text/html' }, '<!doctype html><title>404 Not Found</title><h1>Not Found</h1><p>The requested URL was not found on the server.</p>');
        }
        return;
      }
      let params: Record<string, unknown>;
      if (method === 'GET') {
        params = {};
        for (const [k, v] of Object.entries(query)) params[k] = v.length === 1 ? v[0] : v;
      } else {
        if (req.headers['content-type']?.startsWith('application/json') !== true) {
          throw new ProtocolError('INVALID_PARAMETER_VALUE', "Content-Type must be one of ['application/json']");
        }
        if (json === undefined && body.length > 0) throw new ProtocolError('INVALID_PARAMETER_VALUE', 'Malformed JSON request body');
        // DELETE, like POST and PATCH, reads parameters from the JSON body only.
        params = (json ?? {}) as Record<string, unknown>;
      }
      const result = await route(params);
      if (res !== undefined) sendJson(res, 200, result);
    } catch (e) {
      if (res === undefined) return;
      if (e instanceof ProtocolError) return sendError(res, e.code, e.message);
      if (isOoMlError(e)) return sendError(res, mlflowCodeOf(e), e.message);
      sendError(res, 'INTERNAL_ERROR', e instanceof Error ? e.message : String(e));
    }
  }

  function mlflowCodeOf(e: OoMlError): MlflowErrorCode {
    // MLflow reports a name held by a deleted experiment as RESOURCE_ALREADY_EXISTS.
    return e.code === 'conflict' ? 'RESOURCE_ALREADY_EXISTS' : MLFLOW_CODE_FOR_ERROR[e.code];
  }

  // ---- encoding -------------------------------------------------------------------------------

  const kv = (m: Readonly<Record<string, string>>) => Object.entries(m).map(([key, value]) => ({ key, value }));
  const nonFinite = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v);
  const metricJson = (m: Metric) => ({ key: m.key, value: nonFinite(m.value), timestamp: m.timestamp, step: m.step });
  const experimentJson = (e: Experiment) => ({
    experiment_id: e.experimentId,
    name: e.name,
    artifact_location: options.artifacts === 'file' ? e.artifactLocation : options.artifacts === 'path' ? plainPath(e.artifactLocation) : `mlflow-artifacts:/${e.experimentId}`,
    lifecycle_stage: e.lifecycleStage,
    ...(e.creationTime === null ? {} : { creation_time: e.creationTime }),
    ...(e.lastUpdateTime === null ? {} : { last_update_time: e.lastUpdateTime }),
    tags: kv(e.tags),
  });
  const runInfoJson = (i: RunInfo) => ({
    run_id: i.runId,
    run_uuid: i.runId,
    run_name: i.runName,
    experiment_id: i.experimentId,
    user_id: i.userId,
    status: i.status,
    start_time: i.startTime,
    ...(i.endTime === null ? {} : { end_time: i.endTime }),
    artifact_uri: options.artifacts === 'file' ? i.artifactUri : options.artifacts === 'path' ? plainPath(i.artifactUri) : `mlflow-artifacts:/${i.experimentId}/${i.runId}/artifacts`,
    lifecycle_stage: i.lifecycleStage,
  });
  const runJson = (r: Run) => ({
    info: runInfoJson(r.info),
    data: { metrics: Object.values(r.data.metrics).map(metricJson), params: kv(r.data.params), tags: kv(r.data.tags) },
    inputs: {},
  });
  const modelJson = (m: RegisteredModel) => ({
    name: m.name,
    creation_timestamp: m.creationTimestamp,
    last_updated_timestamp: m.lastUpdatedTimestamp,
    description: m.description,
    tags: kv(m.tags),
    aliases: Object.entries(m.aliases).map(([alias, version]) => ({ alias, version: String(version) })),
  });
  const versionJson = (v: ModelVersion) => ({
    name: v.name,
    version: String(v.version),
    creation_timestamp: v.creationTimestamp,
    last_updated_timestamp: v.lastUpdatedTimestamp,
    current_stage: v.currentStage,
    description: v.description,
    source: v.source,
    run_id: v.runId,
    run_link: v.runLink,
    status: v.status,
    tags: kv(v.tags),
    aliases: [...v.aliases],
  });
  // MLflow's SQL store (every database-backed server) leaves aliases out of search results;
  // only model-versions/get and get-by-alias carry them. The test server answers the same way.
  const searchedVersionJson = (v: ModelVersion) => {
    const { aliases: _aliases, ...rest } = versionJson(v);
    return rest;
  };

  // ---- parameters -----------------------------------------------------------------------------

  const required = (p: Record<string, unknown>, key: string): string => {
    const v = p[key];
    if (v === undefined || v === null || v === '') throw new ProtocolError('INVALID_PARAMETER_VALUE', `Missing value for required parameter '${key}'.`);
    if (typeof v !== 'string' && typeof v !== 'number') throw new ProtocolError('INVALID_PARAMETER_VALUE', `Invalid value for parameter '${key}'`);
    return String(v);
  };
  const optional = (p: Record<string, unknown>, key: string): string | undefined => (p[key] === undefined ? undefined : required(p, key));
  const intOf = (p: Record<string, unknown>, key: string): number | undefined => {
    const v = optional(p, key);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v)) throw new ProtocolError('INVALID_PARAMETER_VALUE', `Invalid value ${v} for parameter '${key}'`);
    return Number(v);
  };
  const metricValue = (v: unknown): number => {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    if (typeof v === 'number') return v;
    throw new ProtocolError('INVALID_PARAMETER_VALUE', `Invalid metric value ${JSON.stringify(v)}`);
  };
  const tagList = (v: unknown): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const t of (v ?? []) as { key: string; value?: string }[]) out[t.key] = t.value ?? '';
    return out;
  };
  const version = (p: Record<string, unknown>): number => {
    const v = required(p, 'version');
    if (!/^\d+$/.test(v)) throw new ProtocolError('INVALID_PARAMETER_VALUE', `Model version must be an integer, got '${v}'`);
    return Number(v);
  };
  /** Offset page tokens, as MLflow's FileStore uses (base64 of {"offset": n}). */
  function page<T>(items: T[], p: Record<string, unknown>): { items: T[]; next_page_token?: string } {
    const max = Math.min(intOf(p, 'max_results') ?? 1000, pageSize);
    const token = optional(p, 'page_token');
    const offset = token === undefined ? 0 : (JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { offset: number }).offset;
    const slice = items.slice(offset, offset + max);
    const next = offset + max < items.length ? Buffer.from(JSON.stringify({ offset: offset + max })).toString('base64') : undefined;
    return { items: slice, ...(next === undefined ? {} : { next_page_token: next }) };
  }

  // ---- routes ---------------------------------------------------------------------------------

  type Route = (p: Record<string, unknown>) => Promise<unknown>;
  const ROUTES: Record<string, Route> = {
    'POST mlflow/experiments/create': async (p) => {
      const name = required(p, 'name');
      const existing = (await store.searchExperiments({ name }))[0];
      if (existing !== undefined) throw new ProtocolError('RESOURCE_ALREADY_EXISTS', `Experiment '${name}' already exists.`);
      const e = await store.getOrCreateExperiment(name, tagList(p['tags']));
      return { experiment_id: e.experimentId };
    },
    'GET mlflow/experiments/get': async (p) => ({ experiment: experimentJson(await store.getExperiment(required(p, 'experiment_id'))) }),
    'GET mlflow/experiments/get-by-name': async (p) => ({ experiment: experimentJson(await store.getExperimentByName(required(p, 'experiment_name'))) }),
    'POST mlflow/experiments/search': async (p) => {
      // An omitted max_results becomes 0 on the server and is rejected.
      const max = intOf(p, 'max_results') ?? 0;
      if (max < 1 || max > 50_000) throw new ProtocolError('INVALID_PARAMETER_VALUE', `Invalid value ${max} for parameter 'max_results' supplied`);
      let name: string | undefined;
      for (const c of parseFilter(optional(p, 'filter'))) {
        if (c.entity !== 'attributes' || c.key !== 'name' || c.op !== '=') throw new ProtocolError('INVALID_PARAMETER_VALUE', `unsupported filter ${c.key}`);
        name = String(c.value);
      }
      const all = await store.searchExperiments(name === undefined ? {} : { name });
      const { items, next_page_token } = page(all, p);
      return { experiments: items.map(experimentJson), next_page_token };
    },
    'POST mlflow/experiments/set-experiment-tag': async (p) => {
      await store.setExperimentTag(required(p, 'experiment_id'), required(p, 'key'), required(p, 'value'));
      return {};
    },
    'POST mlflow/runs/create': async (p) => {
      const tags = tagList(p['tags']);
      const run = await store.createRun(optional(p, 'experiment_id') ?? '0', {
        ...(optional(p, 'run_name') === undefined ? {} : { runName: optional(p, 'run_name') }),
        tags,
        ...(intOf(p, 'start_time') === undefined ? {} : { startTime: intOf(p, 'start_time') }),
      });
      return { run: runJson(run) };
    },
    'POST mlflow/runs/update': async (p) => {
      const runId = required(p, 'run_id');
      const status = optional(p, 'status');
      if (status !== undefined && TERMINAL.has(status)) {
        return { run_info: runInfoJson(await store.finishRun(runId, status as TerminalRunStatus, intOf(p, 'end_time'))) };
      }
      return { run_info: runInfoJson((await store.getRun(runId)).info) };
    },
    'GET mlflow/runs/get': async (p) => ({ run: runJson(await store.getRun(required(p, 'run_id'))) }),
    'POST mlflow/runs/search': async (p) => {
      const ids = (p['experiment_ids'] ?? []) as string[];
      const query: { -readonly [K in keyof RunQuery]: RunQuery[K] } = { experimentIds: ids.map(String), maxResults: 50_000 };
      const tags: Record<string, string> = {};
      const params: Record<string, string> = {};
      const metrics: { key: string; op: MetricComparator; value: number }[] = [];
      for (const c of parseFilter(optional(p, 'filter'))) {
        if (c.entity === 'tags' && c.op === '=') tags[c.key] = String(c.value);
        else if (c.entity === 'params' && c.op === '=') params[c.key] = String(c.value);
        else if (c.entity === 'metrics' && typeof c.value === 'number' && c.op !== 'LIKE') metrics.push({ key: c.key, op: c.op, value: c.value });
        else if (c.entity === 'attributes' && c.key === 'status' && c.op === '=') query.status = String(c.value) as RunStatus;
        else if (c.entity === 'attributes' && c.key === 'run_name' && c.op === '=') query.runName = String(c.value);
        else throw new ProtocolError('INVALID_PARAMETER_VALUE', `test server does not support the clause ${c.entity}.${c.key} ${c.op}`);
      }
      query.tags = tags;
      query.params = params;
      query.metrics = metrics;
      const order = ((p['order_by'] ?? []) as string[])[0];
      if (order !== undefined && order !== 'attributes.start_time DESC' && order !== 'attributes.start_time ASC') {
        throw new ProtocolError('INVALID_PARAMETER_VALUE', `test server does not support order_by ${order}`);
      }
      query.orderBy = order === 'attributes.start_time ASC' ? 'start_time ASC' : 'start_time DESC';
      if (ids.length === 0) return {};
      const runs = await store.searchRuns(query);
      const { items, next_page_token } = page(runs, p);
      return { runs: items.map(runJson), next_page_token };
    },
    'POST mlflow/runs/log-batch': async (p) => {
      const runId = required(p, 'run_id');
      const metrics = (p['metrics'] ?? []) as { key: string; value: unknown; timestamp: unknown; step?: unknown }[];
      const params = (p['params'] ?? []) as { key: string; value: string }[];
      const tags = (p['tags'] ?? []) as { key: string; value: string }[];
      // mlflow/utils/validation.py _validate_batch_log_limits
      if (metrics.length > 1000) throw new ProtocolError('INVALID_PARAMETER_VALUE', `A batch logging request can contain at most 1000 metrics. Got ${metrics.length} metrics.`);
      if (params.length > 100) throw new ProtocolError('INVALID_PARAMETER_VALUE', `A batch logging request can contain at most 100 params. Got ${params.length} params.`);
      if (tags.length > 100) throw new ProtocolError('INVALID_PARAMETER_VALUE', `A batch logging request can contain at most 100 tags. Got ${tags.length} tags.`);
      if (metrics.length + params.length + tags.length > 1000) throw new ProtocolError('INVALID_PARAMETER_VALUE', 'A batch logging request can contain at most 1000 entities in total.');
      await store.logBatch(runId, {
        metrics: metrics.map((m) => ({ key: m.key, value: metricValue(m.value), timestamp: Number(m.timestamp), step: Number(m.step ?? 0) })),
        params,
        tags,
      });
      return {};
    },
    'POST mlflow/runs/log-metric': async (p) => {
      await store.logMetric(required(p, 'run_id'), required(p, 'key'), metricValue(p['value']), { timestamp: intOf(p, 'timestamp') ?? 0, step: intOf(p, 'step') ?? 0 });
      return {};
    },
    'POST mlflow/runs/log-parameter': async (p) => {
      await store.logParam(required(p, 'run_id'), required(p, 'key'), String(p['value'] ?? ''));
      return {};
    },
    'POST mlflow/runs/set-tag': async (p) => {
      await store.setTag(required(p, 'run_id'), required(p, 'key'), String(p['value'] ?? ''));
      return {};
    },
    'GET mlflow/metrics/get-history': async (p) => ({
      metrics: (await store.getMetricHistory(required(p, 'run_id'), required(p, 'metric_key'))).map(metricJson),
    }),
    'GET mlflow/artifacts/list': async (p) => {
      const runId = required(p, 'run_id');
      const run = await store.getRun(runId);
      const files = await store.listArtifacts(runId, optional(p, 'path') ?? '');
      return {
        root_uri: runInfoJson(run.info).artifact_uri,
        files: files.map((f) => ({ path: f.path, is_dir: f.isDir, ...(f.fileSize === undefined ? {} : { file_size: f.fileSize }) })),
      };
    },
    'POST mlflow/registered-models/create': async (p) => ({
      registered_model: modelJson(await store.createRegisteredModel(required(p, 'name'), optional(p, 'description'), tagList(p['tags']))),
    }),
    'GET mlflow/registered-models/get': async (p) => ({ registered_model: modelJson(await store.getRegisteredModel(required(p, 'name'))) }),
    'GET mlflow/registered-models/search': async (p) => {
      let nameLike: string | undefined;
      for (const c of parseFilter(optional(p, 'filter'))) {
        if (c.key !== 'name' || (c.op !== 'LIKE' && c.op !== '=')) throw new ProtocolError('INVALID_PARAMETER_VALUE', `unsupported filter ${c.key}`);
        nameLike = String(c.value);
      }
      const max = intOf(p, 'max_results') ?? 100;
      if (max > 1000) throw new ProtocolError('INVALID_PARAMETER_VALUE', `max_results must be at most 1000, got ${max}`);
      const all = await store.searchRegisteredModels(nameLike === undefined ? {} : { nameLike });
      const { items, next_page_token } = page(all, p);
      return { registered_models: items.map(modelJson), next_page_token };
    },
    'PATCH mlflow/registered-models/update': async (p) => ({
      registered_model: modelJson(await store.updateRegisteredModel(required(p, 'name'), String(p['description'] ?? ''))),
    }),
    'POST mlflow/registered-models/set-tag': async (p) => {
      await store.setRegisteredModelTag(required(p, 'name'), required(p, 'key'), String(p['value'] ?? ''));
      return {};
    },
    'POST mlflow/registered-models/alias': async (p) => {
      await store.setAlias(required(p, 'name'), required(p, 'alias'), version(p));
      return {};
    },
    'DELETE mlflow/registered-models/alias': async (p) => {
      await store.deleteAlias(required(p, 'name'), required(p, 'alias'));
      return {};
    },
    'GET mlflow/registered-models/alias': async (p) => {
      const name = required(p, 'name');
      const alias = required(p, 'alias');
      try {
        return { model_version: versionJson(await store.getModelVersionByAlias(name, alias)) };
      } catch (e) {
        // MLflow answers an unknown alias with 400 INVALID_PARAMETER_VALUE, not 404.
        if (isOoMlError(e, 'not_found') && /alias/.test(e.message)) throw new ProtocolError('INVALID_PARAMETER_VALUE', `Registered model alias ${alias} not found.`);
        throw e;
      }
    },
    'POST mlflow/model-versions/create': async (p) => ({
      model_version: versionJson(
        await store.createModelVersion(required(p, 'name'), required(p, 'source'), optional(p, 'run_id') ?? '', optional(p, 'description'), tagList(p['tags'])),
      ),
    }),
    'GET mlflow/model-versions/get': async (p) => ({ model_version: versionJson(await store.getModelVersion(required(p, 'name'), version(p))) }),
    'GET mlflow/model-versions/search': async (p) => {
      const clauses = parseFilter(optional(p, 'filter'));
      const name = clauses.find((c) => c.key === 'name' && c.op === '=')?.value;
      if (name === undefined) throw new ProtocolError('INVALID_PARAMETER_VALUE', 'test server needs a name = filter');
      let versions: ModelVersion[] = [];
      try {
        versions = await store.searchModelVersions(String(name));
      } catch (e) {
        if (!isOoMlError(e, 'not_found')) throw e;
      }
      const { items, next_page_token } = page(versions, p);
      return { model_versions: items.map(searchedVersionJson), next_page_token };
    },
    'PATCH mlflow/model-versions/update': async (p) => ({
      model_version: versionJson(await store.updateModelVersion(required(p, 'name'), version(p), String(p['description'] ?? ''))),
    }),
    'POST mlflow/model-versions/set-tag': async (p) => {
      await store.setModelVersionTag(required(p, 'name'), version(p), required(p, 'key'), String(p['value'] ?? ''));
      return {};
    },
  };

  /** `mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<rel>`: PUT uploads raw bytes, GET downloads. */
  async function artifactRoute(method: string, path: string, query: Record<string, string[]>, body: Buffer): Promise<Uint8Array | object> {
    if (options.artifacts === 'file' || options.artifacts === 'path') throw new ProtocolError('NOT_IMPLEMENTED', 'artifact proxying is disabled (--no-serve-artifacts)');
    const rest = decodeURIComponent(path.slice('mlflow-artifacts/artifacts'.length).replace(/^\//, ''));
    const m = /^([^/]+)\/([^/]+)\/artifacts\/(.+)$/.exec(rest);
    if (method === 'GET' && rest === '') {
      const listPath = query['path']?.[0] ?? '';
      const lm = /^([^/]+)\/([^/]+)\/artifacts\/?(.*)$/.exec(listPath);
      if (lm === null) throw new ProtocolError('INVALID_PARAMETER_VALUE', `bad artifact path ${listPath}`);
      const files = await store.listArtifacts(lm[2] ?? '', lm[3] ?? '');
      return { files: files.map((f) => ({ path: f.path.split('/').at(-1), is_dir: f.isDir, ...(f.fileSize === undefined ? {} : { file_size: f.fileSize }) })) };
    }
    if (m === null || rest.split('/').includes('..') || rest.includes('\0')) throw new ProtocolError('INVALID_PARAMETER_VALUE', `Invalid artifact path: '${rest}'`);
    const [, , runId = '', rel = ''] = m;
    if (method === 'PUT') {
      await store.logArtifact(runId, rel, new Uint8Array(body));
      return {};
    }
    if (method === 'GET') return store.downloadArtifact(runId, rel);
    throw new ProtocolError('ENDPOINT_NOT_FOUND', `unsupported ${method}`);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    root,
    store,
    requests,
    inject(fault, opts = {}) {
      faults.push({ fault, remaining: opts.count ?? 1, path: opts.path });
    },
    async runDeferred() {
      for (const run of deferred.splice(0)) await run();
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(home, { recursive: true, force: true });
    },
  };
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Uint8Array): void {
  res.writeHead(status, headers);
  res.end(body);
}

/** JSON with empty arrays, nulls and empty strings left out, as MLflow's proto → JSON does. */
function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, { 'Content-Type': 'application/json' }, JSON.stringify(value, (_k, v: unknown) => {
    if (Array.isArray(v) && v.length === 0) return undefined;
    if (v === null || v === '') return undefined;
    return v;
  }));
}

function sendError(res: ServerResponse, code: MlflowErrorCode, message: string): void {
  sendJson(res, MLFLOW_ERROR_CODES[code].http, { error_code: code, message });
}

/** One clause of an MLflow search filter. */
interface FilterClause {
  entity: 'tags' | 'params' | 'metrics' | 'attributes';
  key: string;
  op: MetricComparator | 'LIKE';
  value: string | number;
}

const ENTITY: Record<string, FilterClause['entity']> = {
  tags: 'tags', tag: 'tags', params: 'params', param: 'params', metrics: 'metrics', metric: 'metrics',
  attributes: 'attributes', attribute: 'attributes', attr: 'attributes', run: 'attributes',
};

/** Parses `a.b = 'x' and c.d > 1` (keys bare, backquoted or double-quoted; values quoted or numeric). */
export function parseFilter(filter: string | undefined): FilterClause[] {
  if (filter === undefined || filter.trim() === '') return [];
  const clauses: FilterClause[] = [];
  const re = /\s*(?:(\w+)\.)?(`[^`]+`|"[^"]+"|[\w.:/-]+)\s*(!=|>=|<=|=|>|<|\bLIKE\b|\bILIKE\b)\s*('(?:[^']*)'|"(?:[^"]*)"|-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*(?:\band\b|$)/iy;
  let pos = 0;
  while (pos < filter.length) {
    re.lastIndex = pos;
    const m = re.exec(filter);
    if (m === null) throw new ProtocolError('INVALID_PARAMETER_VALUE', `Invalid filter '${filter}' at position ${pos}`);
    const [, prefix, rawKey = '', rawOp = '', rawValue = ''] = m;
    const entity = prefix === undefined ? 'attributes' : ENTITY[prefix.toLowerCase()];
    if (entity === undefined) throw new ProtocolError('INVALID_PARAMETER_VALUE', `Invalid entity type '${prefix}'`);
    const key = /^[`"]/.test(rawKey) ? rawKey.slice(1, -1) : rawKey;
    const op = rawOp.toUpperCase() === 'ILIKE' ? 'LIKE' : (rawOp.toUpperCase() as FilterClause['op']);
    const value = /^['"]/.test(rawValue) ? rawValue.slice(1, -1) : Number(rawValue);
    clauses.push({ entity, key, op, value });
    pos = re.lastIndex;
  }
  return clauses;
}
