/**
 * The file-store adapter: MLflow's FileStore layout under one root (default `<home>/mlruns`),
 * written so that a real `mlflow ui --backend-store-uri ./mlruns` and `mlflow migrate-filestore`
 * read it (shared/mlflow-rest.md Part 2). Tracking and registry share the root, as in MLflow:
 *
 *   <root>/.trash/   <root>/0/ (Default)   <root>/<18-digit id>/<uuid4 hex run>/…
 *   <root>/models/<name>/{meta.yaml, tags/, aliases/, version-<N>/{meta.yaml, tags/}}
 *
 * Safe with concurrent writers in several processes: temporaries live outside the root
 * (default `<root>/../.oo-ml/tmp`), new experiments, runs and versions are built completely and
 * renamed in, a version number is claimed by that rename (a rename onto an existing version
 * folder fails, and the writer retries with the next number), metric lines are appended whole,
 * and read-modify-write of meta.yaml files happens under a short lock (`file-lock.ts`).
 */
import { randomInt, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { alreadyExists, conflict, invalidInput, notFound } from '../errors.js';
import { withFileLock } from './file-lock.js';
import {
  STAGE_DELETED_INTERNAL,
  decodeExperimentMeta,
  decodeModelVersionMeta,
  decodeRegisteredModelMeta,
  decodeRunMeta,
  encodeExperimentMeta,
  encodeModelVersionMeta,
  encodeRegisteredModelMeta,
  encodeRunMeta,
  type ModelVersionRecord,
  type RegisteredModelRecord,
} from './file-store-meta.js';
import {
  appendLines,
  createFileExclusive,
  ensureParent,
  errnoOf,
  freshTempPath,
  listSubdirs,
  pathExists,
  publishDir,
  readFileTree,
  replaceFile,
} from './file-tree.js';
import { readTextIfExists } from '../io/atomic.js';
import { formatMetricLine, latestPoint, parseMetricFile } from './metric-line.js';
import { compareRuns, matchesRunQuery } from './run-filter.js';
import { resolveRunName } from './run-name.js';
import { enforceLimits } from './store-limits.js';
import type {
  ArtifactEntry,
  Experiment,
  LogBatch,
  Metric,
  ModelVersion,
  RegisteredModel,
  Run,
  RunInfo,
  RunQuery,
  Store,
  TagMap,
} from './store.js';
import { runContextTags } from './run-context.js';

/** Options of the file store. */
export interface FileStoreOptions {
  /** Milliseconds since the epoch (default `Date.now`). */
  clock?: () => number;
  /** Temporaries, on the same file system as the root (default `<root>/../.oo-ml/tmp`). */
  tmpDir?: string;
  /** Cross-process lock folders (default `<root>/../.oo-ml/locks`). */
  lockDir?: string;
}

const META = 'meta.yaml';
const TRASH = '.trash';
const MODELS = 'models';
const DEFAULT_EXPERIMENT_ID = '0';
// Sub-folders of an experiment that are not runs (mlflow FileStore `_get_run_dirs` skips them).
const NON_RUN_DIRS = new Set(['tags', 'datasets', 'traces', 'models']);
const EXPERIMENT_ID = /^[a-zA-Z0-9][\w-]{0,63}$/;
const VERSION_DIR = /^version-(\d+)$/;
const MAX_VERSION_ATTEMPTS = 200;

/** Opens (lazily creating) an MLflow FileStore at `root`, a path or a `file:` URI. */
export function createFileStore(root: string, options: FileStoreOptions = {}): Store {
  const rootDir = resolve(root.startsWith('file:') ? fileURLToPath(root) : root);
  const homeDir = dirname(rootDir);
  const tmpDir = options.tmpDir ?? join(homeDir, '.oo-ml', 'tmp');
  const lockDir = options.lockDir ?? join(homeDir, '.oo-ml', 'locks');
  const clock = options.clock ?? Date.now;
  const modelsDir = join(rootDir, MODELS);
  const runLocations = new Map<string, string>();
  let ready: Promise<void> | undefined;

  const rel = (p: string) => (p.startsWith(homeDir) ? p.slice(homeDir.length + 1) : p);
  const locked = <T>(key: string, fn: () => Promise<T>) => withFileLock(lockDir, `${rootDir}\0${key}`, fn);

  // ---- layout -------------------------------------------------------------------------------

  /** MLflow creates `.trash/`, `models/` and the Default experiment when it opens a new root. */
  function ensureRoot(): Promise<void> {
    ready ??= (async () => {
      try {
        await mkdir(join(rootDir, TRASH), { recursive: true });
      } catch (e) {
        if (errnoOf(e) === 'EEXIST' || errnoOf(e) === 'ENOTDIR') {
          throw invalidInput(`the MLflow store root ${rootDir} is not a folder`, { hint: 'point MLFLOW_TRACKING_URI or --home at a folder', cause: e });
        }
        throw e;
      }
      await mkdir(modelsDir, { recursive: true });
      const hasDefault =
        (await pathExists(join(rootDir, DEFAULT_EXPERIMENT_ID))) || (await pathExists(join(rootDir, TRASH, DEFAULT_EXPERIMENT_ID)));
      if (!hasDefault) await publishExperiment(DEFAULT_EXPERIMENT_ID, 'Default', {});
    })().catch((e: unknown) => {
      ready = undefined;
      throw e;
    });
    return ready;
  }

  /**
   * Before a read: a root that exists is completed as MLflow opens one; a missing root reads as
   * empty and is not created (a failed or read-only command on a mistyped home leaves nothing).
   */
  async function readRoot(): Promise<void> {
    if (ready !== undefined || (await pathExists(rootDir))) await ensureRoot();
  }

  const artifactLocationFor = (experimentId: string) => pathToFileURL(join(rootDir, experimentId)).href;
  /**
   * Where a new run of an experiment keeps its artifacts: the experiment's artifact location,
   * except that another store's folder of the experiment is this store's: one holding its
   * `meta.yaml` (this store is a copy made with `cp -r`: a run made in the copy wrote its
   * artifacts into the original), or one whose root is gone (this store was moved). An artifact
   * root set apart is kept, its experiment folder made or not yet (MLflow makes it at the first
   * artifact).
   */
  const runArtifactBase = async (location: string, experimentId: string): Promise<string> => {
    const trimmed = location.replace(/\/+$/, '');
    const own = artifactLocationFor(experimentId);
    if (!trimmed.startsWith('file:') || trimmed === own || !trimmed.endsWith(`/${experimentId}`)) return trimmed;
    const there = fileURLToPath(trimmed);
    return !(await pathExists(dirname(there))) || (await pathExists(join(there, 'meta.yaml'))) ? own : trimmed;
  };

  /** Builds an experiment folder in the temp area and renames it in; false if the ID is taken. */
  async function publishExperiment(experimentId: string, name: string, tags: TagMap): Promise<boolean> {
    const now = clock();
    const tmp = await freshTempPath(tmpDir, 'experiment');
    try {
      await mkdir(tmp, { recursive: true });
      await writeNew(join(tmp, META), encodeExperimentMeta({
        experimentId,
        name,
        artifactLocation: artifactLocationFor(experimentId),
        lifecycleStage: 'active',
        creationTime: now,
        lastUpdateTime: now,
      }));
      for (const [k, v] of Object.entries(tags)) await writeNew(join(tmp, 'tags', k), v);
      return await publishDir(tmp, join(rootDir, experimentId), tmpDir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  // ---- experiments ----------------------------------------------------------------------------

  async function readExperimentAt(dir: string, id: string): Promise<Experiment | undefined> {
    const file = join(dir, META);
    const text = await readTextIfExists(file);
    if (text === undefined) return undefined;
    const meta = decodeExperimentMeta(text, rel(file), id);
    return { ...meta, tags: await readFileTree(join(dir, 'tags')) };
  }

  /** Every experiment folder: active ones at the root, deleted ones in `.trash/`. */
  async function listExperiments(includeTrash: boolean): Promise<Experiment[]> {
    await readRoot();
    const out: Experiment[] = [];
    const scan = async (base: string) => {
      for (const name of await listSubdirs(base)) {
        if (base === rootDir && (name === TRASH || name === MODELS)) continue;
        // MLflow validates every folder name as an experiment ID: a stray `.tmp-1` makes
        // experiment search fail with HTTP 400, so report it instead of hiding it.
        if (!EXPERIMENT_ID.test(name)) {
          throw invalidInput(`${rel(join(base, name))}: folder name is not a valid experiment ID, so MLflow cannot read this store`, {
            hint: 'move the folder out of the mlruns root',
            details: { file: rel(join(base, name)) },
          });
        }
        // A folder without meta.yaml is skipped, as MLflow skips it (with a warning).
        const e = await readExperimentAt(join(base, name), name);
        if (e !== undefined) out.push(e);
      }
    };
    await scan(rootDir);
    if (includeTrash) await scan(join(rootDir, TRASH));
    return out;
  }

  async function getExperiment(experimentId: string): Promise<Experiment> {
    await readRoot();
    const e =
      (await readExperimentAt(join(rootDir, experimentId), experimentId)) ??
      (await readExperimentAt(join(rootDir, TRASH, experimentId), experimentId));
    if (e === undefined) throw notFound(`experiment ${experimentId} not found in ${rootDir}`);
    return e;
  }

  async function findExperimentByName(name: string): Promise<{ active?: Experiment; deleted?: Experiment }> {
    const all = await listExperiments(true);
    return {
      active: all.find((e) => e.name === name && e.lifecycleStage === 'active'),
      deleted: all.find((e) => e.name === name && e.lifecycleStage === 'deleted'),
    };
  }

  async function getOrCreateExperiment(name: string, tags: TagMap = {}): Promise<Experiment> {
    const found = await findExperimentByName(name);
    if (found.active !== undefined) return found.active;
    return locked(`experiment-name:${name}`, async () => {
      const again = await findExperimentByName(name);
      if (again.active !== undefined) return again.active;
      if (again.deleted !== undefined) {
        // MLflow keeps the name of a trashed experiment reserved until `mlflow gc`.
        throw conflict(`experiment name "${name}" belongs to deleted experiment ${again.deleted.experimentId}`, {
          hint: 'restore it in the MLflow UI, run `mlflow gc`, or pick another name',
        });
      }
      await ensureRoot();
      for (;;) {
        // MLflow's FileStore IDs: 18 random digits, no leading zero, so concurrent creators do not collide.
        const id = `${randomInt(1, 10)}${String(randomInt(0, 1e9)).padStart(9, '0')}${String(randomInt(0, 1e8)).padStart(8, '0')}`;
        if (await publishExperiment(id, name, tags)) return getExperiment(id);
      }
    });
  }

  async function getExperimentByName(name: string): Promise<Experiment> {
    const found = await findExperimentByName(name);
    if (found.active === undefined) throw notFound(`experiment "${name}" not found in ${rootDir}`);
    return found.active;
  }

  async function setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    const e = await getExperiment(experimentId);
    if (e.lifecycleStage !== 'active') throw invalidInput(`experiment ${experimentId} is deleted`);
    const tagsDir = join(rootDir, experimentId, 'tags');
    await writeValue(join(tagsDir, key), tagsDir, `experiment tag "${key}"`, value);
  }

  // ---- runs -----------------------------------------------------------------------------------

  /** The folder of a run, found by scanning experiments (as MLflow's `_find_run_root` does). */
  async function findRunDir(runId: string): Promise<{ dir: string; experimentId: string }> {
    await readRoot();
    const cached = runLocations.get(runId);
    if (cached !== undefined && (await pathExists(join(cached, META)))) {
      return { dir: cached, experimentId: cached.split(/[\\/]/).at(-2) ?? '' };
    }
    for (const base of [rootDir, join(rootDir, TRASH)]) {
      for (const exp of await listSubdirs(base)) {
        if (base === rootDir && (exp === TRASH || exp === MODELS)) continue;
        const dir = join(base, exp, runId);
        if (await pathExists(join(dir, META))) {
          runLocations.set(runId, dir);
          return { dir, experimentId: exp };
        }
      }
    }
    throw notFound(`run ${runId} not found in ${rootDir}`);
  }

  async function readRunInfo(dir: string, runId: string, experimentId: string): Promise<RunInfo> {
    const file = join(dir, META);
    const text = await readTextIfExists(file);
    if (text === undefined) throw notFound(`run ${runId} not found in ${rootDir}`);
    return decodeRunMeta(text, rel(file), runId, experimentId);
  }

  async function readRunAt(dir: string, runId: string, experimentId: string): Promise<Run> {
    const info = await readRunInfo(dir, runId, experimentId);
    const metrics: Record<string, Metric> = {};
    for (const [key, text] of Object.entries(await readFileTree(join(dir, 'metrics')))) {
      const latest = latestPoint(parseMetricFile(text, rel(join(dir, 'metrics', key))));
      if (latest !== undefined) metrics[key] = { key, ...latest };
    }
    const tags = await readFileTree(join(dir, 'tags'));
    return {
      info: { ...info, runName: info.runName !== '' ? info.runName : (tags['mlflow.runName'] ?? '') },
      data: { metrics, params: await readFileTree(join(dir, 'params')), tags },
    };
  }

  async function getRun(runId: string): Promise<Run> {
    const { dir, experimentId } = await findRunDir(runId);
    return readRunAt(dir, runId, experimentId);
  }

  /** The run's folder and info, refusing writes to a deleted run (as MLflow does). */
  async function writableRun(runId: string): Promise<{ dir: string; info: RunInfo }> {
    const { dir, experimentId } = await findRunDir(runId);
    const info = await readRunInfo(dir, runId, experimentId);
    if (info.lifecycleStage !== 'active') {
      throw invalidInput(`run ${runId} is deleted; it cannot be written to`, { hint: 'restore the run in the MLflow UI first' });
    }
    return { dir, info };
  }

  async function createRun(experimentId: string, opts: { runName?: string; tags?: TagMap; startTime?: number } = {}): Promise<Run> {
    const experiment = await getExperiment(experimentId);
    if (experiment.lifecycleStage !== 'active') {
      throw invalidInput(`experiment ${experimentId} is deleted; runs cannot be created in it`);
    }
    const tags: Record<string, string> = { ...runContextTags(), ...opts.tags };
    const runName = resolveRunName(opts.runName, tags);
    tags['mlflow.runName'] = runName;
    const runId = randomUUID().replace(/-/g, '');
    const info: RunInfo = {
      runId,
      experimentId,
      runName,
      userId: tags['mlflow.user'] ?? '',
      status: 'RUNNING',
      startTime: opts.startTime ?? clock(),
      endTime: null,
      // FileStore: the experiment's artifact location + /<run_id>/artifacts.
      artifactUri: `${await runArtifactBase(experiment.artifactLocation, experimentId)}/${runId}/artifacts`,
      lifecycleStage: 'active',
    };
    const tmp = await freshTempPath(tmpDir, 'run');
    try {
      await mkdir(join(tmp, 'metrics'), { recursive: true });
      await mkdir(join(tmp, 'params'), { recursive: true });
      await mkdir(join(tmp, 'artifacts'), { recursive: true });
      await writeNew(join(tmp, META), encodeRunMeta(info, { atCreation: true }));
      for (const [k, v] of Object.entries(tags)) await writeNew(join(tmp, 'tags', k), v);
      const dir = join(rootDir, experimentId, runId);
      if (!(await publishDir(tmp, dir, tmpDir))) throw conflict(`run folder ${rel(dir)} already exists`);
      runLocations.set(runId, dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return getRun(runId);
  }

  async function rewriteRunMeta(runId: string, change: (info: RunInfo) => RunInfo): Promise<RunInfo> {
    return locked(`run:${runId}`, async () => {
      const { dir, info } = await writableRun(runId);
      const next = change(info);
      await replaceFile(join(dir, META), encodeRunMeta(next, { atCreation: false }), tmpDir);
      return next;
    });
  }

  async function logParamAt(dir: string, runId: string, key: string, value: string): Promise<void> {
    const paramsDir = join(dir, 'params');
    const path = join(paramsDir, key);
    await ensureParent(path, dirname(path), `param "${key}"`);
    if (await createFileExclusive(path, value, tmpDir)) return;
    const existing = await readFile(path, 'utf8');
    // Params are immutable in MLflow: the same value again is fine, a different one is an error.
    if (existing !== value) {
      throw invalidInput(`param "${key}" of run ${runId} is already "${existing.slice(0, 80)}"; params cannot be changed (new value "${value.slice(0, 80)}")`, {
        hint: 'log the new value under another key or in a new run',
        details: { key },
      });
    }
  }

  async function logBatch(runId: string, batch: LogBatch): Promise<void> {
    const { dir } = await writableRun(runId);
    // MLflow's FileStore order: params, then metrics, then tags.
    for (const p of batch.params ?? []) await logParamAt(dir, runId, p.key, p.value);
    const byKey = new Map<string, string>();
    const now = clock();
    for (const m of batch.metrics ?? []) {
      const line = formatMetricLine({ timestamp: m.timestamp ?? now, value: m.value, step: m.step ?? 0 });
      byKey.set(m.key, (byKey.get(m.key) ?? '') + line);
    }
    for (const [key, lines] of byKey) {
      const path = join(dir, 'metrics', key);
      await ensureParent(path, dirname(path), `metric "${key}"`);
      await appendLines(path, lines, tmpDir);
    }
    const tags = new Map<string, string>();
    for (const t of batch.tags ?? []) tags.set(t.key, t.value); // last one in a request wins
    for (const [key, value] of tags) await setTagAt(dir, runId, key, value);
  }

  async function setTagAt(dir: string, runId: string, key: string, value: string): Promise<void> {
    const tagsDir = join(dir, 'tags');
    await writeValue(join(tagsDir, key), tagsDir, `tag "${key}"`, value);
    // Setting mlflow.runName renames the run: meta.yaml's run_name mirrors the tag.
    if (key === 'mlflow.runName') await rewriteRunMeta(runId, (info) => ({ ...info, runName: value }));
  }

  async function getMetricHistory(runId: string, key: string): Promise<Metric[]> {
    const { dir } = await findRunDir(runId);
    const path = join(dir, 'metrics', key);
    const text = await readTextIfExists(path);
    if (text === undefined) return [];
    return parseMetricFile(text, rel(path)).map((p) => ({ key, ...p }));
  }

  async function searchRuns(query: RunQuery): Promise<Run[]> {
    await readRoot();
    const runs: Run[] = [];
    for (const experimentId of new Set(query.experimentIds)) {
      const expDir = join(rootDir, experimentId);
      if (!(await pathExists(join(expDir, META)))) continue;
      for (const runId of await listSubdirs(expDir)) {
        if (NON_RUN_DIRS.has(runId)) continue;
        // A run folder without meta.yaml is skipped silently, as MLflow does.
        if (!(await pathExists(join(expDir, runId, META)))) continue;
        const run = await readRunAt(join(expDir, runId), runId, experimentId);
        if (matchesRunQuery(run, query)) runs.push(run);
      }
    }
    return runs.sort(compareRuns(query)).slice(0, query.maxResults ?? 1000);
  }

  // ---- artifacts ------------------------------------------------------------------------------

  /**
   * Where a run's artifacts are: its recorded location, except that a run whose recorded place
   * (`…/<experiment>/<run>/artifacts`) no longer exists while its own folder here has them uses
   * that: the store was moved since (quickstart's `.previous` folder), for reads and writes
   * alike. A recorded place that exists is used as it is (an artifact root of its own, or the
   * original of a copied store). MLflow reads the recorded path as it is.
   */
  async function artifactRoot(runId: string): Promise<string> {
    const { dir, experimentId } = await findRunDir(runId);
    const info = await readRunInfo(dir, runId, experimentId);
    const uri = info.artifactUri;
    const recorded = uri.startsWith('file:') ? fileURLToPath(uri) : uri.startsWith('/') ? uri : null;
    if (recorded !== null) {
      const own = join(dir, 'artifacts');
      const moved =
        recorded !== own &&
        recorded.replace(/\/+$/, '').endsWith(`/${experimentId}/${runId}/artifacts`) &&
        !(await pathExists(recorded)) &&
        (await pathExists(own));
      return moved ? own : recorded;
    }
    throw invalidInput(`run ${runId} keeps its artifacts at ${uri}; the file store can only reach file:// artifact locations`, {
      hint: 'set MLFLOW_TRACKING_URI to the MLflow server that created this run',
    });
  }

  async function logArtifact(runId: string, relativePath: string, data: Uint8Array | string): Promise<void> {
    await writableRun(runId);
    const base = await artifactRoot(runId);
    const path = join(base, ...relativePath.split('/'));
    await ensureParent(path, dirname(path), `artifact "${relativePath}"`);
    await replaceFile(path, data, tmpDir);
  }

  async function listArtifacts(runId: string, path = ''): Promise<ArtifactEntry[]> {
    const base = await artifactRoot(runId);
    const dir = path === '' ? base : join(base, ...path.split('/'));
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      // MLflow lists a missing folder (or a file) as empty.
      if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return [];
      throw e;
    }
    const out: ArtifactEntry[] = [];
    for (const e of entries) {
      const p = path === '' ? e.name : `${path}/${e.name}`;
      if (e.isDirectory()) out.push({ path: p, isDir: true });
      else if (e.isFile()) out.push({ path: p, isDir: false, fileSize: (await stat(join(dir, e.name))).size });
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async function downloadArtifact(runId: string, relativePath: string): Promise<Uint8Array> {
    const base = await artifactRoot(runId);
    try {
      return new Uint8Array(await readFile(join(base, ...relativePath.split('/'))));
    } catch (e) {
      if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'EISDIR' || errnoOf(e) === 'ENOTDIR') {
        throw notFound(`artifact "${relativePath}" of run ${runId} not found`);
      }
      throw e;
    }
  }

  // ---- registry -------------------------------------------------------------------------------

  const modelDir = (name: string) => join(modelsDir, name);

  async function readModelRecord(name: string): Promise<RegisteredModelRecord> {
    await readRoot();
    const dir = modelDir(name);
    const file = join(dir, META);
    const text = await readTextIfExists(file);
    if (text === undefined) {
      if (await pathExists(dir)) {
        // MLflow fails registry search (HTTP 500) on a model folder without meta.yaml.
        throw invalidInput(`${rel(file)}: missing; the registered model folder is incomplete`, { details: { file: rel(file) } });
      }
      throw notFound(`registered model "${name}" not found in ${rootDir}`);
    }
    return decodeRegisteredModelMeta(text, rel(file), name);
  }

  /** Every version folder of a model (deleted ones included), by number. */
  async function readVersionRecords(name: string): Promise<ModelVersionRecord[]> {
    const dir = modelDir(name);
    const out: ModelVersionRecord[] = [];
    for (const folder of await listSubdirs(dir)) {
      // MLflow reads only sub-folders named version-*; anything else there is ignored.
      if (!folder.startsWith('version-')) continue;
      const match = VERSION_DIR.exec(folder);
      const file = join(dir, folder, META);
      if (match === null) throw invalidInput(`${rel(join(dir, folder))}: not a version folder name (expected version-<N>)`, { details: { file: rel(join(dir, folder)) } });
      const text = await readTextIfExists(file);
      if (text === undefined) {
        throw invalidInput(`${rel(file)}: missing; the version folder is incomplete (MLflow cannot read this model)`, { details: { file: rel(file) } });
      }
      out.push(decodeModelVersionMeta(text, rel(file), name, Number(match[1])));
    }
    return out.sort((a, b) => a.version - b.version);
  }

  /**
   * Alias → version, every alias checked to point at a live version, and the versions it was
   * checked against. An alias may point at a version created after `versions` was listed (a
   * concurrent `train` registers a version, then sets @candidate): the versions are listed again
   * once before an alias is called dangling.
   */
  async function readAliases(name: string, versions: readonly ModelVersionRecord[]): Promise<{ aliases: Record<string, number>; versions: readonly ModelVersionRecord[] }> {
    const aliasDir = join(modelDir(name), 'aliases');
    const files = Object.entries(await readFileTree(aliasDir));
    const listed = new Set(versions.map((v) => v.version));
    const known = files.every(([, text]) => !/^\d+$/.test(text.trim()) || listed.has(Number(text.trim()))) ? versions : await readVersionRecords(name);
    const out: Record<string, number> = {};
    for (const [alias, text] of files) out[alias] = resolveAlias(name, alias, text, known);
    return { aliases: out, versions: known };
  }

  function resolveAlias(name: string, alias: string, text: string, versions: readonly ModelVersionRecord[]): number {
    const file = rel(join(modelDir(name), 'aliases', alias));
    if (!/^\d+$/.test(text.trim())) throw invalidInput(`${file}: alias content "${text.slice(0, 20)}" is not a version number`, { details: { file } });
    const version = Number(text.trim());
    const target = versions.find((v) => v.version === version);
    if (target === undefined || target.currentStage === STAGE_DELETED_INTERNAL) {
      throw invalidInput(`${file}: alias "${alias}" points at version ${version}, which does not exist`, {
        hint: 'delete the alias file or point it at an existing version (the versions were listed again: this is not a concurrent write)',
        details: { file },
      });
    }
    return version;
  }

  async function toModelVersion(record: ModelVersionRecord, aliases: Readonly<Record<string, number>>, knownTags?: TagMap): Promise<ModelVersion> {
    const tags = knownTags ?? (await readFileTree(join(modelDir(record.name), `version-${record.version}`, 'tags')));
    return {
      name: record.name,
      version: record.version,
      creationTimestamp: record.creationTimestamp,
      lastUpdatedTimestamp: record.lastUpdatedTimestamp,
      description: record.description ?? '',
      source: record.source,
      runId: record.runId,
      runLink: record.runLink,
      status: record.status,
      currentStage: record.currentStage,
      tags,
      aliases: Object.entries(aliases).filter(([, v]) => v === record.version).map(([a]) => a).sort(),
    };
  }

  async function getRegisteredModel(name: string): Promise<RegisteredModel> {
    const record = await readModelRecord(name);
    const versions = await readVersionRecords(name);
    return {
      name: record.name,
      creationTimestamp: record.creationTimestamp,
      lastUpdatedTimestamp: record.lastUpdatedTimestamp,
      description: record.description ?? '',
      tags: await readFileTree(join(modelDir(name), 'tags')),
      aliases: (await readAliases(name, versions)).aliases,
    };
  }

  /** Rewrites the model's meta.yaml under its lock: MLflow bumps last_updated_timestamp on every registry mutation. */
  async function touchModel(name: string, change: (r: RegisteredModelRecord) => RegisteredModelRecord = (r) => r): Promise<void> {
    await locked(`model:${name}`, async () => {
      const record = await readModelRecord(name);
      const next = change({ ...record, lastUpdatedTimestamp: Math.max(record.lastUpdatedTimestamp, clock()) });
      const aliases = await readAliasesLenient(name);
      await replaceFile(join(modelDir(name), META), encodeRegisteredModelMeta(next, aliases), tmpDir);
    });
  }

  /** The alias map written into meta.yaml for human readers (ignored by MLflow on read). */
  async function readAliasesLenient(name: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [alias, text] of Object.entries(await readFileTree(join(modelDir(name), 'aliases')))) {
      if (/^\d+$/.test(text.trim())) out[alias] = Number(text.trim());
    }
    return out;
  }

  async function createRegisteredModel(name: string, description?: string, tags: TagMap = {}): Promise<RegisteredModel> {
    await ensureRoot();
    const exists = () => alreadyExists(`registered model "${name}" already exists`);
    if (await pathExists(modelDir(name))) throw exists();
    const now = clock();
    const tmp = await freshTempPath(tmpDir, 'model');
    try {
      await mkdir(tmp, { recursive: true });
      const record = { name, creationTimestamp: now, lastUpdatedTimestamp: now, description: description ?? null };
      await writeNew(join(tmp, META), encodeRegisteredModelMeta(record, {}));
      for (const [k, v] of Object.entries(tags)) await writeNew(join(tmp, 'tags', k), v);
      if (!(await publishDir(tmp, modelDir(name), tmpDir))) throw exists();
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return getRegisteredModel(name);
  }

  async function searchRegisteredModels(query: { nameLike?: string } = {}): Promise<RegisteredModel[]> {
    await readRoot();
    const like = query.nameLike === undefined ? undefined : likeToRegExp(query.nameLike);
    const out: RegisteredModel[] = [];
    for (const name of await listSubdirs(modelsDir)) {
      if (like !== undefined && !like.test(name)) continue;
      out.push(await getRegisteredModel(name));
    }
    return out;
  }

  async function updateRegisteredModel(name: string, description: string): Promise<RegisteredModel> {
    await touchModel(name, (r) => ({ ...r, description }));
    return getRegisteredModel(name);
  }

  async function setRegisteredModelTag(name: string, key: string, value: string): Promise<void> {
    await readModelRecord(name);
    const tagsDir = join(modelDir(name), 'tags');
    await writeValue(join(tagsDir, key), tagsDir, `registered model tag "${key}"`, value);
    await touchModel(name);
  }

  /** The highest version number in use (deleted versions included: numbers are never reused). */
  async function maxVersionNumber(name: string): Promise<number> {
    let max = 0;
    for (const folder of await listSubdirs(modelDir(name))) {
      const match = VERSION_DIR.exec(folder);
      if (match !== null) max = Math.max(max, Number(match[1]));
    }
    return max;
  }

  async function createModelVersion(name: string, source: string, runId: string, description?: string, tags: TagMap = {}): Promise<ModelVersion> {
    await readModelRecord(name);
    const now = clock();
    const tmp = await freshTempPath(tmpDir, 'version');
    let created: ModelVersionRecord | undefined;
    try {
      await mkdir(tmp, { recursive: true });
      for (const [k, v] of Object.entries(tags)) await writeNew(join(tmp, 'tags', k), v);
      // Next number = max existing + 1. The rename that publishes version-N is the claim: it
      // fails when another writer got there first, and this writer moves on to the next number.
      let candidate = 0;
      for (let attempt = 0; attempt < MAX_VERSION_ATTEMPTS && created === undefined; attempt++) {
        candidate = Math.max(candidate + 1, (await maxVersionNumber(name)) + 1);
        const record: ModelVersionRecord = {
          name,
          version: candidate,
          creationTimestamp: now,
          lastUpdatedTimestamp: now,
          description: description ?? null,
          currentStage: 'None',
          source,
          runId,
          runLink: '',
          status: 'READY',
        };
        await replaceFile(join(tmp, META), encodeModelVersionMeta(record), tmpDir);
        if (await publishDir(tmp, join(modelDir(name), `version-${candidate}`), tmpDir)) created = record;
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    if (created === undefined) throw conflict(`could not allocate a version of model "${name}" after ${MAX_VERSION_ATTEMPTS} attempts`);
    await touchModel(name);
    // A new version has no aliases yet, and its tags are the ones just written.
    return toModelVersion(created, {}, { ...tags });
  }

  async function liveVersion(name: string, version: number): Promise<ModelVersionRecord> {
    await readModelRecord(name);
    const dir = join(modelDir(name), `version-${version}`);
    const file = join(dir, META);
    const text = await readTextIfExists(file);
    if (text === undefined) {
      if (await pathExists(dir)) throw invalidInput(`${rel(file)}: missing; the version folder is incomplete`, { details: { file: rel(file) } });
      throw notFound(`model "${name}" has no version ${version}`);
    }
    const record = decodeModelVersionMeta(text, rel(file), name, version);
    if (record.currentStage === STAGE_DELETED_INTERNAL) throw notFound(`model "${name}" version ${version} was deleted`);
    return record;
  }

  async function getModelVersion(name: string, version: number): Promise<ModelVersion> {
    const record = await liveVersion(name, version);
    return toModelVersion(record, (await readAliases(name, await readVersionRecords(name))).aliases);
  }

  async function searchModelVersions(name: string): Promise<ModelVersion[]> {
    await readModelRecord(name);
    const { aliases, versions } = await readAliases(name, await readVersionRecords(name));
    const live = versions.filter((v) => v.currentStage !== STAGE_DELETED_INTERNAL);
    return Promise.all(live.map((v) => toModelVersion(v, aliases)));
  }

  async function updateModelVersion(name: string, version: number, description: string): Promise<ModelVersion> {
    await locked(`model:${name}`, async () => {
      const record = await liveVersion(name, version);
      const next = { ...record, description, lastUpdatedTimestamp: Math.max(record.lastUpdatedTimestamp, clock()) };
      await replaceFile(join(modelDir(name), `version-${version}`, META), encodeModelVersionMeta(next), tmpDir);
    });
    await touchModel(name);
    return getModelVersion(name, version);
  }

  async function setModelVersionTag(name: string, version: number, key: string, value: string): Promise<void> {
    await liveVersion(name, version);
    const tagsDir = join(modelDir(name), `version-${version}`, 'tags');
    await writeValue(join(tagsDir, key), tagsDir, `model version tag "${key}"`, value);
    await touchModel(name);
  }

  async function setAlias(name: string, alias: string, version: number): Promise<void> {
    await liveVersion(name, version);
    await locked(`model:${name}`, async () => {
      // Upsert: moving an alias is rewriting its one file.
      const aliasDir = join(modelDir(name), 'aliases');
      await writeValue(join(aliasDir, alias), aliasDir, `alias "${alias}"`, String(version));
    });
    await touchModel(name);
  }

  async function deleteAlias(name: string, alias: string): Promise<void> {
    await readModelRecord(name);
    const path = join(modelDir(name), 'aliases', alias);
    // Deleting an unknown alias is a no-op in MLflow's FileStore.
    if (!(await pathExists(path))) return;
    await locked(`model:${name}`, () => rm(path, { force: true }));
    await touchModel(name);
  }

  async function getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    await readModelRecord(name);
    const text = await readTextIfExists(join(modelDir(name), 'aliases', alias));
    if (text === undefined) throw notFound(`model "${name}" has no alias "${alias}"`);
    const versions = await readVersionRecords(name);
    const version = resolveAlias(name, alias, text, versions);
    return getModelVersion(name, version);
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Writes a new file inside a temporary folder that is not yet visible. */
  async function writeNew(path: string, data: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await replaceFile(path, data, tmpDir);
  }

  /** Writes a tag/alias value: the whole file is the value, no trailing newline (MLflow's `write_to`). */
  async function writeValue(path: string, baseDir: string, what: string, value: string): Promise<void> {
    await ensureParent(path, dirname(path), what);
    if (!dirname(path).startsWith(baseDir)) throw invalidInput(`${what} escapes its folder`);
    await replaceFile(path, value, tmpDir);
  }

  const store: Store = {
    kind: 'file',
    uri: pathToFileURL(rootDir).href,
    getOrCreateExperiment,
    getExperiment,
    getExperimentByName,
    async searchExperiments(query = {}) {
      const all = await listExperiments(false);
      return all
        .filter((e) => e.lifecycleStage === 'active' && (query.name === undefined || e.name === query.name))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    setExperimentTag,
    createRun,
    getRun,
    searchRuns,
    logBatch,
    async logMetric(runId, key, value, opts = {}) {
      await logBatch(runId, { metrics: [{ key, value, ...opts }] });
    },
    async logParam(runId, key, value) {
      const { dir } = await writableRun(runId);
      await logParamAt(dir, runId, key, value);
    },
    async setTag(runId, key, value) {
      const { dir } = await writableRun(runId);
      await setTagAt(dir, runId, key, value);
    },
    async finishRun(runId, status = 'FINISHED', endTime) {
      return rewriteRunMeta(runId, (info) => ({ ...info, status, endTime: endTime ?? clock() }));
    },
    getMetricHistory,
    logArtifact,
    listArtifacts,
    downloadArtifact,
    createRegisteredModel,
    getRegisteredModel,
    searchRegisteredModels,
    updateRegisteredModel,
    setRegisteredModelTag,
    createModelVersion,
    getModelVersion,
    searchModelVersions,
    updateModelVersion,
    setModelVersionTag,
    setAlias,
    deleteAlias,
    getModelVersionByAlias,
  };
  return enforceLimits(store);
}

/** SQL LIKE (`%`, `_`) as an anchored, case-sensitive RegExp. */
export function likeToRegExp(pattern: string): RegExp {
  const body = [...pattern]
    .map((c) => (c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 's');
}
