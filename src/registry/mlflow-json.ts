/**
 * MLflow REST objects (shared/mlflow-rest.md Part 1 §5) as TypeBox schemas, and their mapping to
 * the library's camelCase entities. Every response body is decoded through one of these
 * schemas. They follow what servers actually send: every array may be omitted (empty fields
 * are left out), IDs and version numbers are strings (FileStore experiment IDs exceed 2^53),
 * non-finite metric values arrive as "NaN"/"Infinity"/"-Infinity", and 64-bit integers are
 * numbers but tolerated as digit strings. Extra keys are accepted: servers add fields across
 * versions (3.x adds `run_id` to metrics, `model_id` to versions).
 */
import Type, { type Static } from 'typebox';
import { invalidInput } from '../errors.js';
import { createValidator, type Validator } from '../validation.js';
import { RUN_STATUSES, type Experiment, type LifecycleStage, type Metric, type ModelVersion, type RegisteredModel, type Run, type RunInfo, type RunStatus } from './store.js';

const Int64 = Type.Union([Type.Integer(), Type.String({ pattern: '^-?[0-9]+$' })]);
const MetricValue = Type.Union([Type.Number(), Type.Literal('NaN'), Type.Literal('Infinity'), Type.Literal('-Infinity')]);
const KeyValue = Type.Object({ key: Type.String(), value: Type.Optional(Type.String()) });
const KeyValues = Type.Optional(Type.Array(KeyValue));
const PageToken = Type.Optional(Type.String());

/** `Experiment`. */
export const MlflowExperiment = Type.Object({
  experiment_id: Type.String(),
  name: Type.String(),
  artifact_location: Type.Optional(Type.String()),
  lifecycle_stage: Type.Optional(Type.String()),
  creation_time: Type.Optional(Int64),
  last_update_time: Type.Optional(Int64),
  tags: KeyValues,
});

/** `RunInfo` (status by name; the numeric enum value is accepted too). */
export const MlflowRunInfo = Type.Object({
  run_id: Type.Optional(Type.String()),
  run_uuid: Type.Optional(Type.String()),
  run_name: Type.Optional(Type.String()),
  experiment_id: Type.String(),
  user_id: Type.Optional(Type.String()),
  status: Type.Optional(Type.Union([Type.Union(RUN_STATUSES.map((s) => Type.Literal(s))), Type.Integer({ minimum: 1, maximum: 5 })])),
  start_time: Type.Optional(Int64),
  end_time: Type.Optional(Int64),
  artifact_uri: Type.Optional(Type.String()),
  lifecycle_stage: Type.Optional(Type.String()),
});

/** `Metric`. */
export const MlflowMetric = Type.Object({
  key: Type.String(),
  value: MetricValue,
  timestamp: Type.Optional(Int64),
  step: Type.Optional(Int64),
});

/** `Run`. */
export const MlflowRun = Type.Object({
  info: MlflowRunInfo,
  data: Type.Optional(
    Type.Object({ metrics: Type.Optional(Type.Array(MlflowMetric)), params: KeyValues, tags: KeyValues }),
  ),
});

/** `RegisteredModel` (`latest_versions` is stage-era and ignored). */
export const MlflowRegisteredModel = Type.Object({
  name: Type.String(),
  creation_timestamp: Type.Optional(Int64),
  last_updated_timestamp: Type.Optional(Int64),
  description: Type.Optional(Type.String()),
  tags: KeyValues,
  aliases: Type.Optional(Type.Array(Type.Object({ alias: Type.String(), version: Type.String({ pattern: '^[0-9]+$' }) }))),
});

/** `ModelVersion`. */
export const MlflowModelVersion = Type.Object({
  name: Type.String(),
  version: Type.String({ pattern: '^[0-9]+$' }),
  creation_timestamp: Type.Optional(Int64),
  last_updated_timestamp: Type.Optional(Int64),
  description: Type.Optional(Type.String()),
  source: Type.Optional(Type.String()),
  run_id: Type.Optional(Type.String()),
  run_link: Type.Optional(Type.String()),
  status: Type.Optional(Type.String()),
  current_stage: Type.Optional(Type.String()),
  tags: KeyValues,
  aliases: Type.Optional(Type.Array(Type.String())),
});

/** `FileInfo` of an artifact listing. */
export const MlflowFileInfo = Type.Object({
  path: Type.String(),
  is_dir: Type.Optional(Type.Boolean()),
  file_size: Type.Optional(Int64),
});

/** The error body every MLflow failure carries (extra keys possible). */
export const MlflowErrorBody = Type.Object({ error_code: Type.String(), message: Type.Optional(Type.String()) });

/** Response schemas, one per call shape. */
export const MlflowResponses = {
  empty: Type.Object({}),
  createExperiment: Type.Object({ experiment_id: Type.String() }),
  experiment: Type.Object({ experiment: MlflowExperiment }),
  searchExperiments: Type.Object({ experiments: Type.Optional(Type.Array(MlflowExperiment)), next_page_token: PageToken }),
  run: Type.Object({ run: MlflowRun }),
  updateRun: Type.Object({ run_info: MlflowRunInfo }),
  searchRuns: Type.Object({ runs: Type.Optional(Type.Array(MlflowRun)), next_page_token: PageToken }),
  metricHistory: Type.Object({ metrics: Type.Optional(Type.Array(MlflowMetric)), next_page_token: PageToken }),
  listArtifacts: Type.Object({ root_uri: Type.Optional(Type.String()), files: Type.Optional(Type.Array(MlflowFileInfo)), next_page_token: PageToken }),
  registeredModel: Type.Object({ registered_model: MlflowRegisteredModel }),
  searchRegisteredModels: Type.Object({ registered_models: Type.Optional(Type.Array(MlflowRegisteredModel)), next_page_token: PageToken }),
  modelVersion: Type.Object({ model_version: MlflowModelVersion }),
  searchModelVersions: Type.Object({ model_versions: Type.Optional(Type.Array(MlflowModelVersion)), next_page_token: PageToken }),
} as const;

type Responses = typeof MlflowResponses;
/** Compiled validators of every response schema. */
export const responseValidators: { [K in keyof Responses]: Validator<Static<Responses[K]>> } = {
  empty: createValidator(MlflowResponses.empty),
  createExperiment: createValidator(MlflowResponses.createExperiment),
  experiment: createValidator(MlflowResponses.experiment),
  searchExperiments: createValidator(MlflowResponses.searchExperiments),
  run: createValidator(MlflowResponses.run),
  updateRun: createValidator(MlflowResponses.updateRun),
  searchRuns: createValidator(MlflowResponses.searchRuns),
  metricHistory: createValidator(MlflowResponses.metricHistory),
  listArtifacts: createValidator(MlflowResponses.listArtifacts),
  registeredModel: createValidator(MlflowResponses.registeredModel),
  searchRegisteredModels: createValidator(MlflowResponses.searchRegisteredModels),
  modelVersion: createValidator(MlflowResponses.modelVersion),
  searchModelVersions: createValidator(MlflowResponses.searchModelVersions),
};
/** Validator of MLflow's error body. */
export const errorBodyValidator = createValidator(MlflowErrorBody);

const toInt = (v: number | string | undefined): number | null => (v === undefined ? null : Number(v));

function toTagMap(kvs: readonly Static<typeof KeyValue>[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of kvs ?? []) out[kv.key] = kv.value ?? '';
  return out;
}

function toStage(s: string | undefined): LifecycleStage {
  return s === 'deleted' ? 'deleted' : 'active';
}

/** A metric value for JSON: non-finite values as MLflow's strings. */
export function encodeMetricValue(v: number): number | 'NaN' | 'Infinity' | '-Infinity' {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}

/** A metric value from JSON. */
export function decodeMetricValue(v: Static<typeof MetricValue>): number {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return v;
}

/** `Experiment` → entity. */
export function toExperiment(e: Static<typeof MlflowExperiment>): Experiment {
  return {
    experimentId: e.experiment_id,
    name: e.name,
    artifactLocation: e.artifact_location ?? '',
    lifecycleStage: toStage(e.lifecycle_stage),
    creationTime: toInt(e.creation_time),
    lastUpdateTime: toInt(e.last_update_time),
    tags: toTagMap(e.tags),
  };
}

/** `Metric` → entity. */
export function toMetric(m: Static<typeof MlflowMetric>): Metric {
  return { key: m.key, value: decodeMetricValue(m.value), timestamp: toInt(m.timestamp) ?? 0, step: toInt(m.step) ?? 0 };
}

/** `RunInfo` → entity. */
export function toRunInfo(i: Static<typeof MlflowRunInfo>): RunInfo {
  const status: RunStatus = typeof i.status === 'number' ? (RUN_STATUSES[i.status - 1] ?? 'RUNNING') : (i.status ?? 'RUNNING');
  const runId = i.run_id || i.run_uuid;
  // The schema cannot say "one of the two": without either, every later call would name run "".
  if (runId === undefined || runId === '') {
    throw invalidInput('MLflow run info has neither run_id nor run_uuid', { details: [{ path: '/run_id', message: 'missing' }] });
  }
  return {
    runId,
    experimentId: i.experiment_id,
    runName: i.run_name ?? '',
    userId: i.user_id ?? '',
    status,
    startTime: toInt(i.start_time) ?? 0,
    endTime: toInt(i.end_time),
    artifactUri: i.artifact_uri ?? '',
    lifecycleStage: toStage(i.lifecycle_stage),
  };
}

/** `Run` → entity (the summary metrics come from the server). */
export function toRun(r: Static<typeof MlflowRun>): Run {
  const metrics: Record<string, Metric> = {};
  for (const m of r.data?.metrics ?? []) metrics[m.key] = toMetric(m);
  const tags = toTagMap(r.data?.tags);
  const info = toRunInfo(r.info);
  return {
    info: { ...info, runName: info.runName !== '' ? info.runName : (tags['mlflow.runName'] ?? '') },
    data: { metrics, params: toTagMap(r.data?.params), tags },
  };
}

/** `RegisteredModel` → entity. */
export function toRegisteredModel(m: Static<typeof MlflowRegisteredModel>): RegisteredModel {
  const aliases: Record<string, number> = {};
  for (const a of m.aliases ?? []) aliases[a.alias] = Number(a.version);
  return {
    name: m.name,
    creationTimestamp: toInt(m.creation_timestamp) ?? 0,
    lastUpdatedTimestamp: toInt(m.last_updated_timestamp) ?? toInt(m.creation_timestamp) ?? 0,
    description: m.description ?? '',
    tags: toTagMap(m.tags),
    aliases,
  };
}

/** `ModelVersion` → entity. */
export function toModelVersion(v: Static<typeof MlflowModelVersion>): ModelVersion {
  return {
    name: v.name,
    version: Number(v.version),
    creationTimestamp: toInt(v.creation_timestamp) ?? 0,
    lastUpdatedTimestamp: toInt(v.last_updated_timestamp) ?? toInt(v.creation_timestamp) ?? 0,
    description: v.description ?? '',
    source: v.source ?? '',
    runId: v.run_id ?? '',
    runLink: v.run_link ?? '',
    status: v.status ?? 'READY',
    currentStage: v.current_stage ?? 'None',
    tags: toTagMap(v.tags),
    aliases: [...(v.aliases ?? [])].sort(),
  };
}

/** Tag map → MLflow's `[{key, value}]`. */
export function toKeyValues(tags: Readonly<Record<string, string>> | undefined): { key: string; value: string }[] {
  return Object.entries(tags ?? {}).map(([key, value]) => ({ key, value }));
}
