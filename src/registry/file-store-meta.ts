/**
 * The FileStore's meta.yaml files: what MLflow writes (key by key, shared/mlflow-rest.md Part 2
 * §3) and what its readers tolerate. Writers emit exactly MLflow's keys; readers accept legacy
 * forms MLflow accepts (integer experiment IDs, missing lifecycle_stage or status, missing
 * timestamps on old experiments) and reject what makes MLflow fail (a null user_id, a quoted
 * model version, a null start_time), naming the file.
 */
import Type from 'typebox';
import { createValidator } from '../validation.js';
import { invalidInput } from '../errors.js';
import { dumpMlflowYaml, parseMlflowYaml } from './mlflow-yaml.js';
import { RUN_STATUSES, type Experiment, type LifecycleStage, type RunInfo, type RunStatus } from './store.js';

const Int = Type.Integer();
const OptionalInt = Type.Optional(Type.Union([Type.Integer(), Type.Null()]));
const OptionalText = Type.Optional(Type.Union([Type.String(), Type.Null()]));
const Stage = Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('deleted')]));

// Extra keys are allowed on read: MLflow itself ignores unknown keys, and newer versions add some.
const ExperimentMeta = Type.Object({
  artifact_location: Type.String(),
  // Legacy stores wrote experiment_id as an integer (mlflow _read_persisted_experiment_dict).
  experiment_id: Type.Union([Type.String(), Type.Integer()]),
  name: Type.String(),
  lifecycle_stage: Stage,
  creation_time: OptionalInt,
  last_update_time: OptionalInt,
});

const RunMeta = Type.Object({
  run_id: Type.Optional(Type.String()),
  run_uuid: Type.Optional(Type.String()),
  run_name: OptionalText,
  experiment_id: Type.Union([Type.String(), Type.Integer()]),
  // A null user_id makes every read of the run fail with HTTP 500 in MLflow (verified).
  user_id: Type.String(),
  status: Type.Optional(Type.Integer({ minimum: 1, maximum: 5 })),
  start_time: Int,
  end_time: OptionalInt,
  artifact_uri: Type.String(),
  lifecycle_stage: Stage,
});

const RegisteredModelMeta = Type.Object({
  name: Type.String(),
  creation_timestamp: Int,
  last_updated_timestamp: OptionalInt,
  description: OptionalText,
});

const ModelVersionMeta = Type.Object({
  name: Type.String(),
  // A quoted "10" breaks MLflow's next-version allocation (max() over mixed types, HTTP 500).
  version: Type.Integer({ minimum: 1 }),
  creation_timestamp: Int,
  last_updated_timestamp: OptionalInt,
  description: OptionalText,
  current_stage: OptionalText,
  source: OptionalText,
  run_id: OptionalText,
  run_link: OptionalText,
  status: OptionalText,
});

const experimentMeta = createValidator(ExperimentMeta);
const runMeta = createValidator(RunMeta);
const registeredModelMeta = createValidator(RegisteredModelMeta);
const modelVersionMeta = createValidator(ModelVersionMeta);

/** Marks a soft-deleted model version (kept so its number is never reused; reads return 404). */
export const STAGE_DELETED_INTERNAL = 'Deleted_Internal';

/** Run status → the integer MLflow stores (RUNNING 1 … KILLED 5). */
export function runStatusCode(status: RunStatus): number {
  return RUN_STATUSES.indexOf(status) + 1;
}

/** experiment meta.yaml text. */
export function encodeExperimentMeta(e: Omit<Experiment, 'tags'>): string {
  return dumpMlflowYaml({
    artifact_location: e.artifactLocation,
    creation_time: e.creationTime,
    experiment_id: e.experimentId,
    last_update_time: e.lastUpdateTime,
    lifecycle_stage: e.lifecycleStage,
    name: e.name,
  });
}

/** Parses an experiment meta.yaml, checking its ID against the folder name. */
export function decodeExperimentMeta(text: string, file: string, folderId: string): Omit<Experiment, 'tags'> {
  const m = experimentMeta.parse(parseMlflowYaml(text, file), file);
  const experimentId = String(m.experiment_id);
  if (experimentId !== folderId) {
    throw invalidInput(`${file}: experiment_id '${experimentId}' does not match its folder '${folderId}'`, {
      details: { file, experimentId, folder: folderId },
    });
  }
  return {
    experimentId,
    name: m.name,
    artifactLocation: m.artifact_location,
    lifecycleStage: (m.lifecycle_stage ?? 'active') as LifecycleStage,
    creationTime: m.creation_time ?? null,
    lastUpdateTime: m.last_update_time ?? null,
  };
}

/**
 * run meta.yaml text, with MLflow's legacy keys (`_make_persisted_run_info_dict`). `deletedTime`
 * is written as null at creation only: MLflow's later rewrites drop the key.
 */
export function encodeRunMeta(r: RunInfo, options: { atCreation: boolean }): string {
  return dumpMlflowYaml({
    artifact_uri: r.artifactUri,
    ...(options.atCreation ? { deleted_time: null } : {}),
    end_time: r.endTime,
    entry_point_name: '',
    experiment_id: r.experimentId,
    lifecycle_stage: r.lifecycleStage,
    run_id: r.runId,
    run_name: r.runName,
    run_uuid: r.runId,
    source_name: '',
    source_type: 4, // SourceType.LOCAL
    source_version: '',
    start_time: r.startTime,
    status: runStatusCode(r.status),
    tags: [],
    user_id: r.userId,
  });
}

/** Parses a run meta.yaml, checking run and experiment IDs against the folders. */
export function decodeRunMeta(text: string, file: string, folderRunId: string, folderExperimentId: string): RunInfo {
  const m = runMeta.parse(parseMlflowYaml(text, file), file);
  const runId = m.run_id ?? m.run_uuid;
  if (runId === undefined) throw invalidInput(`${file}: missing run_id`, { details: { file } });
  if (runId !== folderRunId) {
    throw invalidInput(`${file}: run_id '${runId}' does not match its folder '${folderRunId}'`, { details: { file } });
  }
  const experimentId = String(m.experiment_id);
  if (experimentId !== folderExperimentId) {
    throw invalidInput(`${file}: experiment_id '${experimentId}' does not match the experiment folder '${folderExperimentId}'`, {
      details: { file },
    });
  }
  return {
    runId,
    experimentId,
    runName: m.run_name ?? '',
    userId: m.user_id,
    status: RUN_STATUSES[(m.status ?? 1) - 1] ?? 'RUNNING',
    startTime: m.start_time,
    endTime: m.end_time ?? null,
    artifactUri: m.artifact_uri,
    lifecycleStage: (m.lifecycle_stage ?? 'active') as LifecycleStage,
  };
}

/** What a registered model's meta.yaml holds (tags and aliases live in folders). */
export interface RegisteredModelRecord {
  name: string;
  creationTimestamp: number;
  lastUpdatedTimestamp: number;
  description: string | null;
}

/**
 * registered model meta.yaml text. MLflow also writes an `aliases` map here that its readers
 * ignore (the `aliases/` folder is authoritative); it is kept in step for human readers.
 */
export function encodeRegisteredModelMeta(m: RegisteredModelRecord, aliases: Readonly<Record<string, number>>): string {
  const aliasMap: Record<string, string> = {};
  for (const [alias, version] of Object.entries(aliases)) aliasMap[alias] = String(version);
  return dumpMlflowYaml({
    aliases: aliasMap,
    creation_timestamp: m.creationTimestamp,
    description: m.description,
    last_updated_timestamp: m.lastUpdatedTimestamp,
    name: m.name,
  });
}

/** Parses a registered model's meta.yaml, checking the name against the folder. */
export function decodeRegisteredModelMeta(text: string, file: string, folderName: string): RegisteredModelRecord {
  const m = registeredModelMeta.parse(parseMlflowYaml(text, file), file);
  if (m.name !== folderName) {
    throw invalidInput(`${file}: name '${m.name}' does not match its folder '${folderName}'`, { details: { file } });
  }
  return {
    name: m.name,
    creationTimestamp: m.creation_timestamp,
    lastUpdatedTimestamp: m.last_updated_timestamp ?? m.creation_timestamp,
    description: m.description ?? null,
  };
}

/** What a model version's meta.yaml holds. */
export interface ModelVersionRecord {
  name: string;
  version: number;
  creationTimestamp: number;
  lastUpdatedTimestamp: number;
  description: string | null;
  currentStage: string;
  source: string;
  runId: string;
  runLink: string;
  status: string;
}

/**
 * model version meta.yaml text: `version` a YAML integer, `storage_location` = source (MLflow
 * copies it unless the source is a `models:/` URI), no `model_id` (3.x would try to look up a
 * logged model) and no `aliases` (MLflow ≥ 3 no longer writes them here).
 */
export function encodeModelVersionMeta(v: ModelVersionRecord): string {
  return dumpMlflowYaml({
    creation_timestamp: v.creationTimestamp,
    current_stage: v.currentStage,
    description: v.description,
    last_updated_timestamp: v.lastUpdatedTimestamp,
    name: v.name,
    run_id: v.runId,
    run_link: v.runLink,
    source: v.source,
    status: v.status,
    status_message: null,
    storage_location: v.source,
    user_id: null,
    version: v.version,
  });
}

/** Parses a model version's meta.yaml, checking name and number against the folders. */
export function decodeModelVersionMeta(text: string, file: string, modelName: string, folderVersion: number): ModelVersionRecord {
  const m = modelVersionMeta.parse(parseMlflowYaml(text, file), file);
  if (m.name !== modelName) {
    throw invalidInput(`${file}: name '${m.name}' does not match the model folder '${modelName}'`, { details: { file } });
  }
  if (m.version !== folderVersion) {
    throw invalidInput(`${file}: version ${m.version} does not match its folder 'version-${folderVersion}'`, { details: { file } });
  }
  return {
    name: m.name,
    version: m.version,
    creationTimestamp: m.creation_timestamp,
    lastUpdatedTimestamp: m.last_updated_timestamp ?? m.creation_timestamp,
    description: m.description ?? null,
    currentStage: m.current_stage ?? 'None',
    source: m.source ?? '',
    runId: m.run_id ?? '',
    runLink: m.run_link ?? '',
    status: m.status ?? 'READY',
  };
}
