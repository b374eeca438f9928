/**
 * MLflow's limits and name rules, enforced on the client before any write reaches a backend.
 * Source: `mlflow/utils/validation.py` (see shared/mlflow-rest.md Part 1 §3). Servers run with
 * `MLFLOW_TRUNCATE_LONG_VALUES=true` by default and silently cut over-long param and tag values
 * (a 6001-char param is stored as 6000 chars with HTTP 200), and SQL backends cut descriptions
 * at 5000 chars — so oo-ml rejects such text itself, naming the key, and never lets a server
 * decide what to drop.
 *
 * `enforceLimits(store)` wraps an adapter so both adapters share exactly one set of checks.
 */
import { invalidInput } from '../errors.js';
import type { LogBatch, RunQuery, Store, TagMap } from './store.js';

/** The numeric limits, named as MLflow's validation module names them. */
export const MLFLOW_LIMITS = {
  keyLength: 250,
  paramValueLength: 6000,
  runTagValueLength: 8000,
  experimentNameLength: 500,
  experimentTagValueLength: 5000,
  /** Validation allows 100 000, but SQL columns hold 5000: stay migratable. */
  registryTagValueLength: 5000,
  /** `VARCHAR(5000)` in SQL stores (Postgres/MySQL truncate or fail). */
  descriptionLength: 5000,
  /** SQL column width of registered-model names. */
  modelNameLength: 256,
  aliasLength: 255,
  maxSearchResults: 50_000,
} as const;

const LONG_TEXT_HINT =
  'log long text as an artifact (store.logArtifact) and keep a short summary in the value';

// Python's \w is Unicode-aware, so letters and digits of any script pass MLflow's key regex.
const KEY_CHARS = /^[\p{L}\p{N}_\-. /:]+$/u;
const EXPERIMENT_ID = /^[a-zA-Z0-9][\w-]{0,63}$/;
const RUN_ID = /^[a-zA-Z0-9][\w-]{0,255}$/;
const ALIAS = /^[\w-]{1,255}$/;
// `latest` and `v<digits>` are reserved because `models:/name@latest` and `…@v3` are resolved
// by the client before aliases are consulted (mlflow/utils/validation.py
// `_validate_model_alias_name_reserved`).
const RESERVED_ALIAS = /^(latest|v\d+)$/i;

/** True when `name` is not the normalised form of itself as a POSIX path (`a/../b`, `./x`, `/x`, `a//b`, `a/`). */
function isUnnormalisedPath(name: string): boolean {
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//')) return true;
  return name.split('/').some((seg) => seg === '.' || seg === '..');
}

/** Checks a metric, param or tag key: ≤ 250 chars of letters, digits, `_ - . space / :`, a normalised path. */
export function checkKey(kind: string, key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw invalidInput(`${kind} key must be a non-empty string`);
  if (key.length > MLFLOW_LIMITS.keyLength) {
    throw invalidInput(`${kind} key "${key.slice(0, 40)}…" is ${key.length} characters; MLflow's limit is ${MLFLOW_LIMITS.keyLength}`, {
      details: { key, length: key.length, limit: MLFLOW_LIMITS.keyLength },
    });
  }
  if (!KEY_CHARS.test(key)) {
    throw invalidInput(`${kind} key "${key}" may only contain letters, digits, '_', '-', '.', ' ', '/' and ':'`, {
      details: { key },
    });
  }
  // Keys become file paths in the FileStore ("names may be treated as files").
  if (isUnnormalisedPath(key)) {
    throw invalidInput(`${kind} key "${key}" is not a normalised path (no leading or trailing '/', '//', '.' or '..' segments)`, {
      details: { key },
    });
  }
}

/** Checks a value's length against a limit, naming the key. */
export function checkValue(kind: string, key: string, value: string, limit: number): void {
  if (typeof value !== 'string') throw invalidInput(`${kind} "${key}" value must be a string`, { details: { key } });
  if (value.length > limit) {
    throw invalidInput(
      `${kind} "${key}" value is ${value.length} characters; MLflow's limit is ${limit} (servers truncate longer values silently)`,
      { hint: LONG_TEXT_HINT, details: { key, length: value.length, limit } },
    );
  }
}

/** Checks every entry of a tag map. */
function checkTags(kind: string, tags: TagMap | undefined, valueLimit: number): void {
  if (tags === undefined) return;
  for (const [k, v] of Object.entries(tags)) {
    checkKey(kind, k);
    checkValue(kind, k, v, valueLimit);
  }
}

/** Checks a description (Markdown) against the 5000-char SQL column width. */
export function checkDescription(what: string, description: string | undefined): void {
  if (description === undefined) return;
  if (typeof description !== 'string') throw invalidInput(`${what} description must be a string`);
  if (description.length > MLFLOW_LIMITS.descriptionLength) {
    throw invalidInput(
      `${what} description is ${description.length} characters; the limit is ${MLFLOW_LIMITS.descriptionLength} (SQL stores hold VARCHAR(5000))`,
      { hint: 'keep a summary in the description and log the full text as a run artifact', details: { key: 'description', length: description.length, limit: MLFLOW_LIMITS.descriptionLength } },
    );
  }
}

/** Checks an experiment name: non-empty, ≤ 500 chars. */
export function checkExperimentName(name: string): void {
  if (typeof name !== 'string' || name.trim().length === 0) throw invalidInput('experiment name must be a non-empty string');
  if (name.length > MLFLOW_LIMITS.experimentNameLength) {
    throw invalidInput(`experiment name is ${name.length} characters; MLflow's limit is ${MLFLOW_LIMITS.experimentNameLength}`, {
      details: { key: 'name', length: name.length, limit: MLFLOW_LIMITS.experimentNameLength },
    });
  }
}

/** Checks an experiment ID's format. */
export function checkExperimentId(id: string): void {
  if (typeof id !== 'string' || !EXPERIMENT_ID.test(id)) {
    throw invalidInput(`experiment ID "${String(id)}" is invalid (expected ${EXPERIMENT_ID.source})`);
  }
}

/** Checks a run ID's format. */
export function checkRunId(id: string): void {
  if (typeof id !== 'string' || !RUN_ID.test(id)) throw invalidInput(`run ID "${String(id)}" is invalid (expected ${RUN_ID.source})`);
}

/** Checks a registered-model name: non-empty, ≤ 256 chars, no path separator, no `%` (FileStore folder names). */
export function checkModelName(name: string): void {
  if (typeof name !== 'string' || name.trim().length === 0) throw invalidInput('registered model name must be a non-empty string');
  if (name.length > MLFLOW_LIMITS.modelNameLength) {
    throw invalidInput(`registered model name is ${name.length} characters; the limit is ${MLFLOW_LIMITS.modelNameLength}`);
  }
  if (/[/\\%\0]/.test(name) || name === '.' || name === '..') {
    throw invalidInput(`registered model name "${name}" may not contain '/', '\\', '%' or NUL, nor be '.' or '..'`);
  }
}

/** Checks a model version number: a positive integer. */
export function checkVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw invalidInput(`model version must be a positive integer, got ${String(version)}`);
  }
}

/** Checks an alias: 1–255 chars of `[A-Za-z0-9_-]`, not `latest` nor `v<digits>`. */
export function checkAlias(alias: string): void {
  if (typeof alias !== 'string' || !ALIAS.test(alias)) {
    throw invalidInput(`alias "${String(alias)}" must be 1-255 characters of letters, digits, '_' and '-'`);
  }
  if (RESERVED_ALIAS.test(alias)) {
    throw invalidInput(`alias "${alias}" is reserved by MLflow ('latest' and 'v<number>' cannot be aliases)`);
  }
}

/** Checks an artifact path: relative, `/`-separated, no empty, `.` or `..` segments, no NUL or `\`. */
export function checkArtifactPath(path: string, allowRoot = false): void {
  if (typeof path !== 'string') throw invalidInput('artifact path must be a string');
  if (allowRoot && path === '') return;
  if (path === '' || path.startsWith('/') || /[\0\\]/.test(path) || /^[a-zA-Z]:/.test(path)) {
    throw invalidInput(`artifact path "${path}" must be a non-empty relative path using '/'`);
  }
  const segments = path.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw invalidInput(`artifact path "${path}" may not contain empty, '.' or '..' segments`);
  }
}

/** Checks a metric point's numbers: timestamp a non-negative int64 in ms, step an int64. */
export function checkMetricPoint(key: string, value: number, timestamp: number | undefined, step: number | undefined): void {
  checkKey('metric', key);
  if (typeof value !== 'number') throw invalidInput(`metric "${key}" value must be a number`, { details: { key } });
  if (timestamp !== undefined && (!Number.isSafeInteger(timestamp) || timestamp < 0)) {
    throw invalidInput(`metric "${key}" timestamp must be a non-negative integer (ms), got ${timestamp}`, { details: { key } });
  }
  if (step !== undefined && !Number.isSafeInteger(step)) {
    throw invalidInput(`metric "${key}" step must be an integer, got ${step}`, { details: { key } });
  }
}

/** Checks a whole log batch, including MLflow's rule that a param key appears once per batch. */
export function checkLogBatch(batch: LogBatch): void {
  for (const m of batch.metrics ?? []) checkMetricPoint(m.key, m.value, m.timestamp, m.step);
  const seen = new Set<string>();
  for (const p of batch.params ?? []) {
    checkKey('param', p.key);
    checkValue('param', p.key, p.value, MLFLOW_LIMITS.paramValueLength);
    if (seen.has(p.key)) throw invalidInput(`param "${p.key}" appears more than once in one batch`, { details: { key: p.key } });
    seen.add(p.key);
  }
  for (const t of batch.tags ?? []) {
    checkKey('tag', t.key);
    checkValue('tag', t.key, t.value, MLFLOW_LIMITS.runTagValueLength);
  }
}

/** Checks a run query: known experiments, valid keys, finite metric bounds, a sane page size. */
export function checkRunQuery(query: RunQuery): void {
  if (!Array.isArray(query.experimentIds) || query.experimentIds.length === 0) {
    throw invalidInput('run search needs at least one experiment ID');
  }
  for (const id of query.experimentIds) checkExperimentId(id);
  for (const k of Object.keys(query.tags ?? {})) checkKey('tag', k);
  for (const k of Object.keys(query.params ?? {})) checkKey('param', k);
  for (const m of query.metrics ?? []) {
    checkKey('metric', m.key);
    if (!Number.isFinite(m.value)) throw invalidInput(`metric filter on "${m.key}" needs a finite value`, { details: { key: m.key } });
  }
  const max = query.maxResults;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1 || max > MLFLOW_LIMITS.maxSearchResults)) {
    throw invalidInput(`maxResults must be an integer between 1 and ${MLFLOW_LIMITS.maxSearchResults}, got ${max}`);
  }
}

/** Wraps an adapter so every call is checked against MLflow's limits before it runs. */
export function enforceLimits(store: Store): Store {
  return {
    kind: store.kind,
    uri: store.uri,
    async getOrCreateExperiment(name, tags) {
      checkExperimentName(name);
      checkTags('experiment tag', tags, MLFLOW_LIMITS.experimentTagValueLength);
      return store.getOrCreateExperiment(name, tags);
    },
    async getExperiment(id) {
      checkExperimentId(id);
      return store.getExperiment(id);
    },
    async getExperimentByName(name) {
      checkExperimentName(name);
      return store.getExperimentByName(name);
    },
    async searchExperiments(query) {
      if (query?.name !== undefined) checkExperimentName(query.name);
      return store.searchExperiments(query);
    },
    async setExperimentTag(id, key, value) {
      checkExperimentId(id);
      checkKey('experiment tag', key);
      checkValue('experiment tag', key, value, MLFLOW_LIMITS.experimentTagValueLength);
      return store.setExperimentTag(id, key, value);
    },
    async createRun(experimentId, options) {
      checkExperimentId(experimentId);
      checkTags('tag', options?.tags, MLFLOW_LIMITS.runTagValueLength);
      if (options?.runName !== undefined) checkValue('tag', 'mlflow.runName', options.runName, MLFLOW_LIMITS.runTagValueLength);
      if (options?.startTime !== undefined && (!Number.isSafeInteger(options.startTime) || options.startTime < 0)) {
        throw invalidInput(`run startTime must be a non-negative integer (ms), got ${options.startTime}`);
      }
      return store.createRun(experimentId, options);
    },
    async getRun(runId) {
      checkRunId(runId);
      return store.getRun(runId);
    },
    async searchRuns(query) {
      checkRunQuery(query);
      return store.searchRuns(query);
    },
    async logBatch(runId, batch) {
      checkRunId(runId);
      checkLogBatch(batch);
      return store.logBatch(runId, batch);
    },
    async logMetric(runId, key, value, options) {
      checkRunId(runId);
      checkMetricPoint(key, value, options?.timestamp, options?.step);
      return store.logMetric(runId, key, value, options);
    },
    async logParam(runId, key, value) {
      checkRunId(runId);
      checkKey('param', key);
      checkValue('param', key, value, MLFLOW_LIMITS.paramValueLength);
      return store.logParam(runId, key, value);
    },
    async setTag(runId, key, value) {
      checkRunId(runId);
      checkKey('tag', key);
      checkValue('tag', key, value, MLFLOW_LIMITS.runTagValueLength);
      return store.setTag(runId, key, value);
    },
    async finishRun(runId, status, endTime) {
      checkRunId(runId);
      if (status !== undefined && !['FINISHED', 'FAILED', 'KILLED'].includes(status)) {
        throw invalidInput(`a run can only be finished as FINISHED, FAILED or KILLED, got "${String(status)}"`);
      }
      if (endTime !== undefined && (!Number.isSafeInteger(endTime) || endTime < 0)) {
        throw invalidInput(`run endTime must be a non-negative integer (ms), got ${endTime}`);
      }
      return store.finishRun(runId, status, endTime);
    },
    async getMetricHistory(runId, key) {
      checkRunId(runId);
      checkKey('metric', key);
      return store.getMetricHistory(runId, key);
    },
    async logArtifact(runId, relativePath, data) {
      checkRunId(runId);
      checkArtifactPath(relativePath);
      if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw invalidInput(`artifact "${relativePath}" must be bytes or a string`);
      return store.logArtifact(runId, relativePath, data);
    },
    async listArtifacts(runId, path) {
      checkRunId(runId);
      checkArtifactPath(path ?? '', true);
      return store.listArtifacts(runId, path);
    },
    async downloadArtifact(runId, relativePath) {
      checkRunId(runId);
      checkArtifactPath(relativePath);
      return store.downloadArtifact(runId, relativePath);
    },
    async createRegisteredModel(name, description, tags) {
      checkModelName(name);
      checkDescription(`registered model "${name}"`, description);
      checkTags('registered model tag', tags, MLFLOW_LIMITS.registryTagValueLength);
      return store.createRegisteredModel(name, description, tags);
    },
    async getRegisteredModel(name) {
      checkModelName(name);
      return store.getRegisteredModel(name);
    },
    async searchRegisteredModels(query) {
      if (query?.nameLike !== undefined && (typeof query.nameLike !== 'string' || query.nameLike === '')) {
        throw invalidInput('nameLike must be a non-empty LIKE pattern');
      }
      return store.searchRegisteredModels(query);
    },
    async updateRegisteredModel(name, description) {
      checkModelName(name);
      checkDescription(`registered model "${name}"`, description);
      return store.updateRegisteredModel(name, description);
    },
    async setRegisteredModelTag(name, key, value) {
      checkModelName(name);
      checkKey('registered model tag', key);
      checkValue('registered model tag', key, value, MLFLOW_LIMITS.registryTagValueLength);
      return store.setRegisteredModelTag(name, key, value);
    },
    async createModelVersion(name, source, runId, description, tags) {
      checkModelName(name);
      if (typeof source !== 'string' || source === '' || source.includes('\0')) {
        throw invalidInput('model version source must be a non-empty URI or path');
      }
      if (runId !== '') checkRunId(runId);
      checkDescription(`model "${name}" version`, description);
      checkTags('model version tag', tags, MLFLOW_LIMITS.registryTagValueLength);
      return store.createModelVersion(name, source, runId, description, tags);
    },
    async getModelVersion(name, version) {
      checkModelName(name);
      checkVersion(version);
      return store.getModelVersion(name, version);
    },
    async searchModelVersions(name) {
      checkModelName(name);
      return store.searchModelVersions(name);
    },
    async updateModelVersion(name, version, description) {
      checkModelName(name);
      checkVersion(version);
      checkDescription(`model "${name}" version ${version}`, description);
      return store.updateModelVersion(name, version, description);
    },
    async setModelVersionTag(name, version, key, value) {
      checkModelName(name);
      checkVersion(version);
      checkKey('model version tag', key);
      checkValue('model version tag', key, value, MLFLOW_LIMITS.registryTagValueLength);
      return store.setModelVersionTag(name, version, key, value);
    },
    async setAlias(name, alias, version) {
      checkModelName(name);
      checkAlias(alias);
      checkVersion(version);
      return store.setAlias(name, alias, version);
    },
    async deleteAlias(name, alias) {
      checkModelName(name);
      checkAlias(alias);
      return store.deleteAlias(name, alias);
    },
    async getModelVersionByAlias(name, alias) {
      checkModelName(name);
      checkAlias(alias);
      return store.getModelVersionByAlias(name, alias);
    },
  };
}
