/**
 * The registry `Store`: one small set of primitives over MLflow's tracking and model-registry
 * data, modelled on MLflow's abstract stores (`mlflow/store/tracking/abstract_store.py`,
 * `mlflow/store/model_registry/abstract_store.py`). Two adapters implement it — the on-disk
 * FileStore layout (`createFileStore`) and the REST API (`createRestStore`) — and
 * `createStore(trackingUri)` picks one by URI scheme. Promotion, rollback and model cards are
 * written once over this interface, never per adapter.
 *
 * Entities are read-only snapshots in camelCase; MLflow's snake_case never leaves the adapters.
 * Every adapter enforces MLflow's limits client-side (store-limits.ts), so over-long text is
 * rejected with `invalid_input` naming the key instead of being truncated silently by a server.
 *
 * Errors (OoMlError codes): unknown experiment/run/model/version/alias → `not_found`; a create
 * that collides → `already_exists`; bad names, over-long values, changed params, a hand-edited
 * invalid store → `invalid_input`; a server that cannot be reached or refuses us → `unavailable`.
 */

/** Lifecycle of an experiment or run: soft-deleted entities keep their folder/row. */
export type LifecycleStage = 'active' | 'deleted';

/** MLflow run statuses (FileStore meta.yaml stores them as 1..5 in this order). */
export const RUN_STATUSES = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'] as const;
/** A run status. */
export type RunStatus = (typeof RUN_STATUSES)[number];
/** The statuses a run can be finished with. */
export type TerminalRunStatus = 'FINISHED' | 'FAILED' | 'KILLED';

/** Key → value, for every kind of tag and for params (keys are unique per entity). */
export type TagMap = Readonly<Record<string, string>>;

/** An experiment: a named group of runs. */
export interface Experiment {
  /** Opaque string ID (FileStore: 18-digit random number; never parse it as a JS number). */
  readonly experimentId: string;
  readonly name: string;
  /** Where runs of this experiment put artifacts by default (a URI). */
  readonly artifactLocation: string;
  readonly lifecycleStage: LifecycleStage;
  /** Milliseconds since the epoch; null on legacy experiments that never recorded it. */
  readonly creationTime: number | null;
  readonly lastUpdateTime: number | null;
  readonly tags: TagMap;
}

/** One logged metric point. Values may be NaN or ±Infinity; they round-trip exactly. */
export interface Metric {
  readonly key: string;
  readonly value: number;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  readonly step: number;
}

/** One run parameter: immutable once logged (the same value again is accepted). */
export interface Param {
  readonly key: string;
  readonly value: string;
}

/** One run tag: mutable, the last write wins. */
export interface RunTag {
  readonly key: string;
  readonly value: string;
}

/** A run's metadata. */
export interface RunInfo {
  /** uuid4 hex (32 characters) for runs oo-ml creates. */
  readonly runId: string;
  readonly experimentId: string;
  /** Mirrors the `mlflow.runName` tag. */
  readonly runName: string;
  /** `''` when unknown; prefer the `mlflow.user` tag. */
  readonly userId: string;
  readonly status: RunStatus;
  readonly startTime: number;
  readonly endTime: number | null;
  /** Root of the run's artifacts (`file:///…` or `mlflow-artifacts:/…`). */
  readonly artifactUri: string;
  readonly lifecycleStage: LifecycleStage;
}

/** A run's logged data. */
export interface RunData {
  /** Per key, the latest point by (step, timestamp, value) — MLflow's run summary rule. */
  readonly metrics: Readonly<Record<string, Metric>>;
  readonly params: TagMap;
  readonly tags: TagMap;
}

/** A run: info plus data. */
export interface Run {
  readonly info: RunInfo;
  readonly data: RunData;
}

/** One entry of an artifact listing. */
export interface ArtifactEntry {
  /** Path relative to the run's artifact root, `/`-separated. */
  readonly path: string;
  readonly isDir: boolean;
  /** Size in bytes for files. */
  readonly fileSize?: number;
}

/** A registered model: a name that versions are registered under. */
export interface RegisteredModel {
  readonly name: string;
  readonly creationTimestamp: number;
  /** Bumped by every registry mutation (tags, aliases, new versions, description). */
  readonly lastUpdatedTimestamp: number;
  /** Markdown; `''` when none. */
  readonly description: string;
  readonly tags: TagMap;
  /** Alias → version number. */
  readonly aliases: Readonly<Record<string, number>>;
}

/** One version of a registered model. */
export interface ModelVersion {
  readonly name: string;
  /** 1, 2, 3, … allocated by the store (max existing + 1); never reused. */
  readonly version: number;
  readonly creationTimestamp: number;
  readonly lastUpdatedTimestamp: number;
  /** Markdown (a model card summary); `''` when none. */
  readonly description: string;
  /** Where the model's files are, as given at registration. */
  readonly source: string;
  /** The run that produced it; `''` when none. */
  readonly runId: string;
  readonly runLink: string;
  /** `READY` for every version oo-ml creates. */
  readonly status: string;
  /** Deprecated MLflow stage; `None` for oo-ml versions (aliases replace stages). */
  readonly currentStage: string;
  readonly tags: TagMap;
  /** Aliases pointing at this version, sorted. */
  readonly aliases: readonly string[];
}

/** A metric point to log; timestamp defaults to the store's clock, step to 0. */
export interface MetricInput {
  readonly key: string;
  readonly value: number;
  readonly timestamp?: number;
  readonly step?: number;
}

/** Metrics, params and tags logged together. */
export interface LogBatch {
  readonly metrics?: readonly MetricInput[];
  readonly params?: readonly Param[];
  readonly tags?: readonly RunTag[];
}

/** Options of `createRun`. */
export interface CreateRunOptions {
  /** Shown in the UI; a random name is generated when omitted. */
  readonly runName?: string;
  readonly tags?: TagMap;
  /** Milliseconds since the epoch; defaults to the store's clock. */
  readonly startTime?: number;
}

/** Comparison operators a metric filter supports. */
export type MetricComparator = '=' | '!=' | '>' | '>=' | '<' | '<=';

/** One metric condition of a run search; `value` must be finite. */
export interface MetricFilter {
  readonly key: string;
  readonly op: MetricComparator;
  readonly value: number;
}

/**
 * What `searchRuns` supports uniformly on both adapters: all conditions are ANDed. Runs
 * without a metric never match a metric condition (MLflow's rule).
 */
export interface RunQuery {
  /** At least one experiment. */
  readonly experimentIds: readonly string[];
  /** Tag equality. */
  readonly tags?: TagMap;
  /** Param equality. */
  readonly params?: TagMap;
  readonly metrics?: readonly MetricFilter[];
  readonly status?: RunStatus;
  readonly runName?: string;
  /** Default `start_time DESC` (MLflow's default), ties broken by run ID ascending. */
  readonly orderBy?: 'start_time DESC' | 'start_time ASC';
  /** Default 1000, at most 50 000. */
  readonly maxResults?: number;
}

/** Options of `searchRegisteredModels`. */
export interface RegisteredModelQuery {
  /** SQL LIKE pattern on the name (`%` any run, `_` one character), case-sensitive. */
  readonly nameLike?: string;
}

/**
 * The primitives every backend provides. All methods are async and throw `OoMlError`.
 * Anything higher-level (promotion, rollback, model cards) is built over these.
 */
export interface Store {
  /** `file` for the on-disk layout, `rest` for an MLflow server. */
  readonly kind: 'file' | 'rest';
  /** Where the store lives (a `file://` root or a server's base URL), for messages. */
  readonly uri: string;

  /** The active experiment named `name`, created (with `tags`) when there is none. A name held by a deleted experiment → `conflict`. */
  getOrCreateExperiment(name: string, tags?: TagMap): Promise<Experiment>;
  /** The experiment with this ID (deleted ones too). */
  getExperiment(experimentId: string): Promise<Experiment>;
  /** The active experiment named `name`; `not_found` when there is none. */
  getExperimentByName(name: string): Promise<Experiment>;
  /** Every active experiment (optionally only the one named `name`), sorted by name. */
  searchExperiments(query?: { readonly name?: string }): Promise<Experiment[]>;
  /** Sets (overwrites) an experiment tag. */
  setExperimentTag(experimentId: string, key: string, value: string): Promise<void>;

  /** Starts a RUNNING run in an experiment; tag `mlflow.runName` is always set. */
  createRun(experimentId: string, options?: CreateRunOptions): Promise<Run>;
  /** The run with this ID. */
  getRun(runId: string): Promise<Run>;
  /** Active runs of `query.experimentIds` matching every condition, ordered by start time. */
  searchRuns(query: RunQuery): Promise<Run[]>;
  /** Logs metrics (appended), params (immutable) and tags (overwritten) in as few calls as the backend allows. */
  logBatch(runId: string, batch: LogBatch): Promise<void>;
  /** Appends one metric point. */
  logMetric(runId: string, key: string, value: number, options?: { step?: number; timestamp?: number }): Promise<void>;
  /** Logs a param; a different value for an existing key → `invalid_input`. */
  logParam(runId: string, key: string, value: string): Promise<void>;
  /** Sets (overwrites) a run tag; `mlflow.runName` also renames the run. */
  setTag(runId: string, key: string, value: string): Promise<void>;
  /** Ends a run with `status` (default FINISHED) at `endTime` (default now). */
  finishRun(runId: string, status?: TerminalRunStatus, endTime?: number): Promise<RunInfo>;
  /** Every point logged for one metric key, in logging order. */
  getMetricHistory(runId: string, key: string): Promise<Metric[]>;

  /** Writes one artifact file at `relativePath` under the run's artifact root (replacing it). */
  logArtifact(runId: string, relativePath: string, data: Uint8Array | string): Promise<void>;
  /** The direct children of `path` (default the root) in the run's artifacts, sorted by path. */
  listArtifacts(runId: string, path?: string): Promise<ArtifactEntry[]>;
  /** The bytes of one artifact file. */
  downloadArtifact(runId: string, relativePath: string): Promise<Uint8Array>;

  /** Creates a registered model; an existing name → `already_exists`. */
  createRegisteredModel(name: string, description?: string, tags?: TagMap): Promise<RegisteredModel>;
  /** The registered model named `name`. */
  getRegisteredModel(name: string): Promise<RegisteredModel>;
  /** Registered models (optionally matching `nameLike`), sorted by name. */
  searchRegisteredModels(query?: RegisteredModelQuery): Promise<RegisteredModel[]>;
  /** Replaces the model's description (Markdown, ≤ 5000 chars). */
  updateRegisteredModel(name: string, description: string): Promise<RegisteredModel>;
  /** Sets (overwrites) a registered-model tag. */
  setRegisteredModelTag(name: string, key: string, value: string): Promise<void>;

  /** Registers `source` (produced by `runId`) as the next version of model `name`. */
  createModelVersion(
    name: string,
    source: string,
    runId: string,
    description?: string,
    tags?: TagMap,
  ): Promise<ModelVersion>;
  /** One version of a model. */
  getModelVersion(name: string, version: number): Promise<ModelVersion>;
  /** Every (not deleted) version of model `name`, by ascending version number. */
  searchModelVersions(name: string): Promise<ModelVersion[]>;
  /** Replaces a version's description (Markdown, ≤ 5000 chars). */
  updateModelVersion(name: string, version: number, description: string): Promise<ModelVersion>;
  /** Sets (overwrites) a model-version tag. */
  setModelVersionTag(name: string, version: number, key: string, value: string): Promise<void>;

  /** Points `alias` at `version`, moving it when it already points elsewhere. */
  setAlias(name: string, alias: string, version: number): Promise<void>;
  /** Removes `alias`; removing an alias that does not exist is a no-op. */
  deleteAlias(name: string, alias: string): Promise<void>;
  /** The version `alias` points at; an unknown alias → `not_found`. */
  getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion>;
}
