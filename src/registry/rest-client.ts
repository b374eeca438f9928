/**
 * HTTP transport for MLflow's REST API (shared/mlflow-rest.md Part 1 §1–2): JSON bodies with
 * `Content-Type: application/json` on POST/PATCH/DELETE (DELETE parameters travel in the body),
 * GET parameters in the query string with repeated keys, bearer or basic auth from MLflow's
 * own environment variables, a per-request timeout, and retries modelled on MLflow's Python
 * client (408/429/500/502/503/504 and connection errors; exponential backoff with jitter;
 * `Retry-After` honoured).
 *
 * Creates are not blindly retried. A failure after which the server may or may not have acted
 * (500/502/504, a timeout, a reset connection) is "ambiguous": a create with a unique key is
 * retried and an answer of RESOURCE_ALREADY_EXISTS is then resolved by reading what exists;
 * a create without one (runs, model versions) first looks for what the lost attempt created.
 */
import { errnoOf, invalidInput, invalidUsage, OoMlError, unavailable } from '../errors.js';
import { readCappedBody } from '../io/capped-body.js';
import { redactUrl, splitUserInfo } from '../redact.js';
import type { Validator } from '../validation.js';
import { errorCodeFor, mlflowCodeForStatus } from './mlflow-error-codes.js';
import { errorBodyValidator } from './mlflow-json.js';

/** Options of the REST transport; every dependency with a side effect can be injected. */
export interface RestClientOptions {
  /** `fetch` implementation (default the global one). */
  fetch?: typeof fetch;
  /** Per-request timeout in ms (default 120 000, as MLflow's client). */
  timeoutMs?: number;
  /** Largest response body read, in bytes (default 256 MiB: an artifact oo-ml downloads is far smaller); a larger one fails the request, unread. */
  maxResponseBytes?: number;
  /** Retries after the first attempt (default 5). */
  retries?: number;
  /** First backoff in ms, doubled per retry (default 500) up to `maxBackoffMs` (default 30 000). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Random jitter added to each backoff, up to this many ms (default 1000). */
  jitterMs?: number;
  /** How to wait (default setTimeout); tests inject a recorder. */
  sleep?: (ms: number) => Promise<void>;
  /** Uniform [0, 1) for jitter (default Math.random). */
  random?: () => number;
  /** Bearer token; default `MLFLOW_TRACKING_TOKEN`. */
  token?: string;
  /** Basic auth; default `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`. */
  username?: string;
  password?: string;
  /** The MLflow variables (credentials, MLFLOW_HTTP_REQUEST_*), as Config read them (default none: the client reads no environment itself). */
  env?: NodeJS.ProcessEnv;
}

/** How a request may be repeated after a failure. */
export type RetryMode =
  /** Safe to repeat (reads, updates, tag/alias upserts, uploads, log-batch). */
  | 'idempotent'
  /** A create with a unique key (experiment, registered model). */
  | 'create-unique'
  /** A create without one (run, model version). */
  | 'create';

/** One REST call. */
export interface RestRequest<T> {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  /** Path below `<base>/api/2.0/` (e.g. `mlflow/runs/get`), or an absolute URL for artifacts. */
  path: string;
  query?: Record<string, string | number | readonly string[] | undefined>;
  json?: unknown;
  /** Raw body (artifact upload). */
  bytes?: Uint8Array;
  retry: RetryMode;
  /** For creates: the entity an earlier, ambiguous attempt created, or undefined. */
  findCreated?: () => Promise<T | undefined>;
}

/** A transport bound to one server. */
export interface RestClient {
  /** The server's root URL, without credentials. */
  readonly baseUrl: string;
  /** baseUrl as printed (secret query values redacted). */
  readonly shownUrl: string;
  /** Sends `req` and decodes the JSON answer with `validator`. */
  call<T>(req: RestRequest<never>, validator: Validator<T>): Promise<T>;
  /** Sends a create: decodes with `validator` then `map`; `req.findCreated` answers in the mapped type. */
  create<T, R>(req: RestRequest<R>, validator: Validator<T>, map: (decoded: T) => R): Promise<R>;
  /** Sends `req` and returns the raw body bytes. */
  callBytes(req: RestRequest<never>): Promise<Uint8Array>;
}

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
// The server answered before doing anything: safe to repeat even a create.
const NOT_PROCESSED_STATUSES = new Set([408, 429, 503]);
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const MAX_RETRY_AFTER_MS = 300_000;

/** Default `maxResponseBytes`: a server answering without end must not take the process's memory. */
const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

type Outcome =
  | { kind: 'ok'; status: number; body: Uint8Array }
  | { kind: 'too_large'; status: number }
  | { kind: 'http'; status: number; body: Uint8Array; retryAfterMs: number | undefined; location?: string | undefined }
  | { kind: 'network'; code: string; error: unknown }
  | { kind: 'timeout'; error: unknown };

/**
 * When a create whose answer was lost is looked for (ms after the failure, between looks): a
 * server behind a gateway that gave up (504), or one the client stopped waiting for, may still be
 * making it; sent again at once, it was made twice.
 */
const LOST_CREATE_LOOKS_MS = [0, 500, 1_000, 2_000, 4_000];

/** Creates a transport for the MLflow server at `baseUrl`. */
export function createRestClient(baseUrl: string, options: RestClientOptions = {}): RestClient {
  // User info in the URI (https://user:pass@host) is basic auth, as MLflow's client takes it; the
  // URL requests go to carries none (fetch refuses such URLs), and printed URLs never show it.
  const split = splitUserInfo(baseUrl.replace(/\/+$/, ''));
  const { username: uriUser, password: uriPass } = split;
  const base = split.url.replace(/\/+$/, '');
  const shown = redactUrl(base);
  const env = options.env ?? {};
  const doFetch = options.fetch ?? fetch;
  // MLflow's own variables, as its Python client reads them; options (tests) win.
  const fromEnv = httpSettingsFromEnv(env);
  const timeoutMs = options.timeoutMs ?? fromEnv.timeoutMs ?? 120_000;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const retries = options.retries ?? fromEnv.retries ?? 5;
  const backoffMs = options.backoffMs ?? fromEnv.backoffMs ?? 500;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const jitterMs = options.jitterMs ?? fromEnv.jitterMs ?? 1000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  const credentials = authHeader(options, env, uriUser === undefined ? undefined : { username: uriUser, password: uriPass ?? '' });
  const auth = credentials?.header;

  function urlOf(req: RestRequest<unknown>): string {
    const url = new URL(/^https?:\/\//.test(req.path) ? req.path : `${base}/api/2.0/${req.path}`);
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v === undefined) continue;
      // Repeated fields repeat the key: experiment_ids=1&experiment_ids=2.
      if (Array.isArray(v)) for (const x of v as readonly string[]) url.searchParams.append(k, x);
      else url.searchParams.append(k, String(v));
    }
    return url.toString();
  }

  const origin = new URL(base).origin;

  async function attempt(req: RestRequest<unknown>, url: string): Promise<Outcome> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    // Credentials go to the tracking server only: an artifact_uri naming another host (a
    // misconfigured or hostile server) does not get them, as fetch itself drops them on a
    // redirect to another origin.
    if (auth !== undefined && new URL(url).origin === origin) headers['Authorization'] = auth;
    let body: string | Uint8Array | undefined;
    if (req.bytes !== undefined) {
      headers['Content-Type'] = 'application/octet-stream';
      body = req.bytes;
    } else if (req.method !== 'GET') {
      // MLflow rejects a JSON call without this header (400 INVALID_PARAMETER_VALUE).
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(req.json ?? {});
    }
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      // Redirects are reported, not followed: fetch turns a redirected POST into a GET, and on
      // Node 20 cannot send a bytes body again, which read as a network failure, retried.
      const res = await doFetch(url, { method: req.method, headers, body, signal, redirect: 'manual' });
      const bytes = await readCappedBody(res, maxResponseBytes);
      if (bytes === null) return { kind: 'too_large', status: res.status };
      if (res.ok) return { kind: 'ok', status: res.status, body: bytes };
      return { kind: 'http', status: res.status, body: bytes, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')), location: res.headers.get('location') ?? undefined };
    } catch (e) {
      if (signal.aborted || isAbort(e)) return { kind: 'timeout', error: e };
      return { kind: 'network', code: networkCode(e), error: e };
    }
  }

  function delayFor(retryIndex: number, outcome: Outcome): number {
    if (outcome.kind === 'http' && outcome.retryAfterMs !== undefined) return outcome.retryAfterMs;
    return Math.min(maxBackoffMs, backoffMs * 2 ** retryIndex) + random() * jitterMs;
  }

  async function send<T>(req: RestRequest<T>): Promise<{ outcome: Outcome; url: string; afterAmbiguous: boolean; found?: T }> {
    const url = urlOf(req as RestRequest<unknown>);
    let afterAmbiguous = false;
    for (let i = 0; ; i++) {
      const outcome = await attempt(req as RestRequest<unknown>, url);
      if (outcome.kind === 'ok' || !isRetryable(outcome)) return { outcome, url, afterAmbiguous };
      const ambiguous = !notProcessed(outcome);
      if (ambiguous && req.retry === 'create') {
        // The lost attempt may have created the run/version: look before creating another,
        // and never repeat such a create without a way to look. A gateway's 504 or a client
        // timeout comes while the server may still be making it: look again over a few seconds.
        if (req.findCreated === undefined) return { outcome, url, afterAmbiguous };
        for (const waitMs of LOST_CREATE_LOOKS_MS) {
          if (waitMs > 0) await sleep(waitMs);
          const found = await req.findCreated();
          if (found !== undefined) return { outcome, url, afterAmbiguous: true, found };
        }
      }
      afterAmbiguous ||= ambiguous;
      if (i >= retries) return { outcome, url, afterAmbiguous };
      await sleep(delayFor(i, outcome));
    }
  }

  async function run<T>(req: RestRequest<T>): Promise<{ body: Uint8Array; url: string } | { found: T }> {
    const { outcome, url, afterAmbiguous, found } = await send(req);
    if (found !== undefined) return { found };
    if (outcome.kind === 'ok') return { body: outcome.body, url };
    const error = toError(req, url, outcome);
    if (req.retry === 'create-unique' && afterAmbiguous && error.code === 'already_exists' && req.findCreated !== undefined) {
      // The first attempt most likely succeeded before its answer was lost.
      const existing = await req.findCreated();
      if (existing !== undefined) return { found: existing };
    }
    throw error;
  }

  function toError(req: RestRequest<unknown>, fullUrl: string, outcome: Exclude<Outcome, { kind: 'ok' }>): OoMlError {
    const url = redactUrl(fullUrl);
    const where = `${req.method} ${url}`;
    const uriHint = `check MLFLOW_TRACKING_URI (now ${shown}) and that the MLflow server is running`;
    if (outcome.kind === 'timeout') {
      return unavailable(`MLflow request ${where} timed out after ${timeoutMs} ms`, {
        hint: `the server at ${shown} is slow or hung; ${uriHint}`,
        details: { url, timeoutMs },
        cause: outcome.error,
      });
    }
    if (outcome.kind === 'too_large') {
      return unavailable(`the MLflow server at ${shown} answered ${where} (HTTP ${outcome.status}) with more than ${maxResponseBytes} bytes: not read further`, {
        hint: `${uriHint}; a larger artifact needs a larger maxResponseBytes`,
        details: { url, status: outcome.status, maxResponseBytes },
      });
    }
    if (outcome.kind === 'network') {
      return unavailable(`cannot reach the MLflow server at ${shown} (${outcome.code}) for ${req.method} ${url}`, {
        hint: uriHint,
        details: { url, errno: outcome.code },
        cause: outcome.error,
      });
    }
    if (outcome.status >= 300 && outcome.status < 400) {
      const to = outcome.location === undefined ? 'another address' : redactUrl(new URL(outcome.location, fullUrl).toString());
      return unavailable(`the server at ${shown} redirected ${where} (HTTP ${outcome.status}) to ${to}`, {
        hint: `set MLFLOW_TRACKING_URI to the address the server redirects to (now ${shown}; an http URL behind an https-only proxy, or a missing path prefix, redirects)`,
        details: { url, status: outcome.status, ...(outcome.location === undefined ? {} : { location: to }) },
      });
    }
    const text = new TextDecoder().decode(outcome.body);
    const parsed = parseErrorBody(text);
    const mlflowCode = parsed?.error_code ?? mlflowCodeForStatus(outcome.status);
    const snippet = parsed === undefined ? text.replace(/\s+/g, ' ').trim().slice(0, 200) : undefined;
    const details = { url, status: outcome.status, errorCode: mlflowCode, ...(snippet === undefined ? {} : { body: snippet }) };
    const message = parsed?.message ?? (snippet === '' ? `HTTP ${outcome.status}` : `HTTP ${outcome.status}: ${snippet}`);
    if (outcome.status === 401) {
      return unavailable(`the MLflow server refused ${where} (HTTP 401: not authenticated): ${message}`, {
        hint:
          (auth === undefined
            ? 'set MLFLOW_TRACKING_TOKEN (bearer) or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD; '
            : `the credentials sent (${credentials!.source}) were refused: check them; `) +
          'an MLflow 3.x server also rejects a Host header that is not localhost unless started with --allowed-hosts',
        details,
      });
    }
    if (outcome.status === 403) {
      // Authenticated (or anonymous where the server allows it), but not allowed: new credentials
      // would not help, a permission would.
      return unavailable(`the MLflow server refused ${where} (HTTP 403): the user lacks permission for it: ${message}`, {
        hint:
          auth === undefined
            ? 'the server allows no anonymous writes here: set MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD of a user with EDIT (or MANAGE) permission'
            : 'ask the MLflow admin for EDIT (or MANAGE) permission on this experiment or registered model, or use a user that has it; ' +
              'an MLflow 3.x server also answers 403 to a Host header that is not localhost unless started with --allowed-hosts',
        details,
      });
    }
    if (parsed === undefined && (outcome.status === 404 || outcome.status === 405)) {
      return unavailable(`the server at ${shown} does not serve ${where} (HTTP ${outcome.status})`, {
        hint: `is MLFLOW_TRACKING_URI (now ${shown}) the root URL of an MLflow server?`,
        details,
      });
    }
    const code = errorCodeFor(mlflowCode, outcome.status);
    return new OoMlError(code, `MLflow ${where} failed: ${mlflowCode}: ${message}`, {
      ...(code === 'unavailable' ? { hint: `the MLflow server at ${shown} failed; retry later or check its logs` } : {}),
      details,
    });
  }

  async function decode<T>(req: RestRequest<unknown>, fullUrl: string, body: Uint8Array, validator: Validator<T>): Promise<T> {
    const url = redactUrl(fullUrl);
    const text = new TextDecoder().decode(body).trim();
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch (e) {
      throw invalidInput(`MLflow answered ${req.method} ${url} with a body that is not JSON: ${text.slice(0, 120)}`, {
        hint: `is MLFLOW_TRACKING_URI (now ${shown}) an MLflow server?`,
        cause: e,
      });
    }
    return validator.parse(json, `MLflow response to ${req.method} ${req.path}`);
  }

  return {
    baseUrl: base,
    shownUrl: shown,
    async call<T>(req: RestRequest<never>, validator: Validator<T>): Promise<T> {
      const result = await run(req);
      if ('found' in result) throw new Error('unreachable: a request without findCreated found an entity');
      return decode(req, result.url, result.body, validator);
    },
    async create<T, R>(req: RestRequest<R>, validator: Validator<T>, map: (decoded: T) => R): Promise<R> {
      const result = await run(req);
      if ('found' in result) return result.found;
      return map(await decode(req as RestRequest<unknown>, result.url, result.body, validator));
    },
    async callBytes(req: RestRequest<never>): Promise<Uint8Array> {
      const result = await run(req);
      if ('found' in result) throw new Error('unreachable: a request without findCreated found an entity');
      return result.body;
    },
  };
}

/**
 * The Authorization header MLflow's client would send, and where its credentials come from (named
 * in a refusal, never their value): a token first, then a user and password (options, the
 * tracking URI's user info, the environment, in that order).
 */
function authHeader(options: RestClientOptions, env: NodeJS.ProcessEnv, uri: { username: string; password: string } | undefined): { header: string; source: string } | undefined {
  const token = options.token ?? nonEmpty(env['MLFLOW_TRACKING_TOKEN']);
  if (token !== undefined) return { header: `Bearer ${token}`, source: 'the bearer token of MLFLOW_TRACKING_TOKEN' };
  const fromUri = options.username === undefined && uri !== undefined;
  const user = options.username ?? uri?.username ?? nonEmpty(env['MLFLOW_TRACKING_USERNAME']);
  const pass = options.password ?? uri?.password ?? nonEmpty(env['MLFLOW_TRACKING_PASSWORD']);
  if (user === undefined || pass === undefined) return undefined;
  return {
    header: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
    source: fromUri ? 'the user and password in MLFLOW_TRACKING_URI' : 'MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD',
  };
}

/** MLflow's HTTP request variables that are set, checked (invalid_usage naming the variable). */
export interface HttpSettings {
  retries?: number;
  timeoutMs?: number;
  backoffMs?: number;
  jitterMs?: number;
}

/**
 * Reads MLFLOW_HTTP_REQUEST_MAX_RETRIES (retries after the first attempt), _TIMEOUT (seconds per
 * request), _BACKOFF_FACTOR (seconds: the n-th retry waits factor × 2^(n-1), as urllib3's Retry
 * that MLflow uses) and _BACKOFF_JITTER (seconds of random jitter added). Unset or empty: the
 * client's defaults.
 */
export function httpSettingsFromEnv(env: NodeJS.ProcessEnv): HttpSettings {
  const read = (name: string, integer: boolean, min: number, max: number): number | undefined => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return undefined;
    const v = Number(raw);
    if (!Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
      throw invalidUsage(`${name} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}, got "${raw}"`, {
        hint: `fix or unset ${name} (MLflow's client reads it too)`,
      });
    }
    return v;
  };
  const out: HttpSettings = {};
  const retries = read('MLFLOW_HTTP_REQUEST_MAX_RETRIES', true, 0, 100);
  if (retries !== undefined) out.retries = retries;
  const timeout = read('MLFLOW_HTTP_REQUEST_TIMEOUT', false, 0.001, 86_400);
  if (timeout !== undefined) out.timeoutMs = Math.round(timeout * 1000);
  const factor = read('MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', false, 0, 3_600);
  if (factor !== undefined) out.backoffMs = factor * 1000;
  const jitter = read('MLFLOW_HTTP_REQUEST_BACKOFF_JITTER', false, 0, 3_600);
  if (jitter !== undefined) out.jitterMs = jitter * 1000;
  return out;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function isRetryable(o: Outcome): boolean {
  if (o.kind === 'http') return RETRY_STATUSES.has(o.status);
  return o.kind === 'network' || o.kind === 'timeout';
}

/** True when the server certainly did not act on the request. */
function notProcessed(o: Outcome): boolean {
  if (o.kind === 'http') return NOT_PROCESSED_STATUSES.has(o.status);
  return o.kind === 'network' && NOT_CONNECTED.has(o.code);
}

/** `Retry-After` as delay-seconds or an HTTP date, in ms (capped). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.min(MAX_RETRY_AFTER_MS, Math.round(Number(v) * 1000));
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, at - now));
}

function parseErrorBody(text: string): { error_code: string; message?: string } | undefined {
  try {
    const json: unknown = JSON.parse(text);
    return errorBodyValidator.check(json) ? json : undefined;
  } catch {
    return undefined;
  }
}

function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');
}

/** The errno behind a failed fetch (undici wraps it in `cause`). */
function networkCode(e: unknown): string {
  return errnoOf(e) ?? (e instanceof Error ? e.message : 'network error');
}
