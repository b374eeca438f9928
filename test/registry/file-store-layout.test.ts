/**
 * The exact bytes the file store writes, checked against shared/mlflow-rest.md Part 2 §2–3:
 * every meta.yaml key by key, metric lines, tag/param/alias files without a trailing newline,
 * and nothing but MLflow's own entries anywhere inside the root (temporaries live outside).
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createFileStore } from '../../src/registry/file-store.js';
import type { Store } from '../../src/registry/store.js';

const T0 = 1_760_000_000_000;

async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) => join(e.parentPath, e.name).slice(dir.length + 1) + (e.isDirectory() ? '/' : '')).sort();
}

describe('file store on-disk layout', () => {
  let home: string;
  let root: string;
  let store: Store;
  let now: number;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'oo-ml-layout-'));
    root = join(home, 'mlruns');
    now = T0;
    store = createFileStore(root, { clock: () => now });
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('writes experiments, runs, metrics, params, tags and artifacts byte for byte as MLflow does', async () => {
    const exp = await store.getOrCreateExperiment('oo-ml', { team: 'bandits' });
    const id = exp.experimentId;
    expect(id).toMatch(/^[1-9]\d{17}$/);
    const run = await store.createRun(id, { runName: 'train', tags: { 'mlflow.user': 'ci' } });
    const runId = run.info.runId;
    expect(runId).toMatch(/^[0-9a-f]{32}$/);
    const rootUri = pathToFileURL(root).href;

    expect(await readFile(join(root, '0', 'meta.yaml'), 'utf8')).toBe(
      [
        `artifact_location: ${rootUri}/0`,
        `creation_time: ${T0}`,
        "experiment_id: '0'",
        `last_update_time: ${T0}`,
        'lifecycle_stage: active',
        'name: Default',
        '',
      ].join('\n'),
    );
    const expMeta = await readFile(join(root, id, 'meta.yaml'), 'utf8');
    expect(expMeta).toBe(
      [
        `artifact_location: ${rootUri}/${id}`,
        `creation_time: ${T0}`,
        // Numeric-looking IDs are YAML strings: PyYAML would otherwise load an int.
        `experiment_id: '${id}'`,
        `last_update_time: ${T0}`,
        'lifecycle_stage: active',
        'name: oo-ml',
        '',
      ].join('\n'),
    );
    expect(Object.keys(parse(expMeta) as object)).toEqual(['artifact_location', 'creation_time', 'experiment_id', 'last_update_time', 'lifecycle_stage', 'name']);

    const runMetaAtCreation = await readFile(join(root, id, runId, 'meta.yaml'), 'utf8');
    expect(runMetaAtCreation).toBe(
      [
        `artifact_uri: ${rootUri}/${id}/${runId}/artifacts`,
        'deleted_time: null',
        'end_time: null',
        "entry_point_name: ''",
        `experiment_id: '${id}'`,
        'lifecycle_stage: active',
        `run_id: ${runId}`,
        'run_name: train',
        `run_uuid: ${runId}`,
        "source_name: ''",
        'source_type: 4',
        "source_version: ''",
        `start_time: ${T0}`,
        'status: 1',
        'tags: []',
        'user_id: ci',
        '',
      ].join('\n'),
    );

    await store.logBatch(runId, {
      metrics: [
        { key: 'ips', value: 0.5, step: 0 },
        { key: 'ips', value: NaN, step: 1 },
        { key: 'ips', value: Infinity, step: 2 },
        { key: 'ips', value: -Infinity, step: 3 },
        { key: 'eval/dr', value: 1, step: 0 },
        { key: 'eval/dr', value: 1e-7, step: 1 },
      ],
      params: [{ key: 'policy', value: 'linucb' }, { key: 'notes', value: 'two\nlines' }],
      tags: [{ key: 'oo.snapshot', value: 'snap-1' }],
    });
    await store.logMetric(runId, 'ips', 0.25, { step: 4, timestamp: T0 + 9 });
    await store.logArtifact(runId, 'model-card/card.md', '# Card');
    now = T0 + 60_000;
    await store.finishRun(runId);

    // Python's str(float) spellings, single spaces, one whole line per point.
    expect(await readFile(join(root, id, runId, 'metrics', 'ips'), 'utf8')).toBe(
      `${T0} 0.5 0\n${T0} nan 1\n${T0} inf 2\n${T0} -inf 3\n${T0 + 9} 0.25 4\n`,
    );
    expect(await readFile(join(root, id, runId, 'metrics', 'eval', 'dr'), 'utf8')).toBe(`${T0} 1.0 0\n${T0} 1e-07 1\n`);
    // Whole file = value: no trailing newline, multi-line kept verbatim.
    expect(await readFile(join(root, id, runId, 'params', 'policy'), 'utf8')).toBe('linucb');
    expect(await readFile(join(root, id, runId, 'params', 'notes'), 'utf8')).toBe('two\nlines');
    expect(await readFile(join(root, id, runId, 'tags', 'oo.snapshot'), 'utf8')).toBe('snap-1');
    expect(await readFile(join(root, id, runId, 'tags', 'mlflow.runName'), 'utf8')).toBe('train');
    expect(await readFile(join(root, id, 'tags', 'team'), 'utf8')).toBe('bandits');
    expect(await readFile(join(root, id, runId, 'artifacts', 'model-card', 'card.md'), 'utf8')).toBe('# Card');

    // A rewrite drops deleted_time, as MLflow's _overwrite_run_info does.
    const finished = await readFile(join(root, id, runId, 'meta.yaml'), 'utf8');
    expect(finished).toBe(
      runMetaAtCreation
        .replace('deleted_time: null\n', '')
        .replace('end_time: null', `end_time: ${T0 + 60_000}`)
        .replace('status: 1', 'status: 3'),
    );
  });

  it('writes the registry layout with integer versions, alias files and bumped timestamps', async () => {
    const exp = await store.getOrCreateExperiment('reg');
    const { info } = await store.createRun(exp.experimentId, { runName: 'r' });
    await store.createRegisteredModel('tip-policy', 'Bandit.', { owner: 'ml' });
    const modelDir = join(root, 'models', 'tip-policy');
    expect(await readFile(join(modelDir, 'meta.yaml'), 'utf8')).toBe(
      ['aliases: {}', `creation_timestamp: ${T0}`, 'description: Bandit.', `last_updated_timestamp: ${T0}`, 'name: tip-policy', ''].join('\n'),
    );
    now = T0 + 1000;
    const source = `${info.artifactUri}/model`;
    await store.createModelVersion('tip-policy', source, info.runId, 'first', { gate: 'passed' });
    const versionMeta = await readFile(join(modelDir, 'version-1', 'meta.yaml'), 'utf8');
    expect(versionMeta).toBe(
      [
        `creation_timestamp: ${T0 + 1000}`,
        'current_stage: None',
        'description: first',
        `last_updated_timestamp: ${T0 + 1000}`,
        'name: tip-policy',
        `run_id: ${info.runId}`,
        "run_link: ''",
        `source: ${source}`,
        'status: READY',
        'status_message: null',
        `storage_location: ${source}`,
        'user_id: null',
        // An integer, never a quoted string: MLflow's max()+1 allocation needs ints.
        'version: 1',
        '',
      ].join('\n'),
    );
    expect((parse(versionMeta) as { version: unknown }).version).toBe(1);
    expect(await readFile(join(modelDir, 'version-1', 'tags', 'gate'), 'utf8')).toBe('passed');

    now = T0 + 2000;
    await store.setAlias('tip-policy', 'champion', 1);
    expect(await readFile(join(modelDir, 'aliases', 'champion'), 'utf8')).toBe('1');
    expect(await readFile(join(modelDir, 'meta.yaml'), 'utf8')).toBe(
      ['aliases:', "  champion: '1'", `creation_timestamp: ${T0}`, 'description: Bandit.', `last_updated_timestamp: ${T0 + 2000}`, 'name: tip-policy', ''].join('\n'),
    );
    now = T0 + 3000;
    await store.setModelVersionTag('tip-policy', 1, 'note', 'ok');
    expect((await store.getRegisteredModel('tip-policy')).lastUpdatedTimestamp).toBe(T0 + 3000);
    now = T0 + 4000;
    await store.deleteAlias('tip-policy', 'champion');
    expect((await store.getRegisteredModel('tip-policy')).lastUpdatedTimestamp).toBe(T0 + 4000);
  });

  it("reads and writes a moved store's artifacts in the store itself, where the run's meta still names the old place", async () => {
    const exp = (await store.getOrCreateExperiment('e')).experimentId;
    const run = await store.createRun(exp);
    await store.logArtifact(run.info.runId, 'policy/state.json', '{"v":1}');
    // Copied, the original still there: the recorded place exists and is used as it is.
    const copy = join(home, 'copy');
    await cp(root, copy, { recursive: true });
    const copied = createFileStore(copy, { clock: () => now });
    expect(new TextDecoder().decode(await copied.downloadArtifact(run.info.runId, 'policy/state.json'))).toBe('{"v":1}');
    // A run made in the copy keeps its artifacts in the copy, not in the original.
    const inCopy = await copied.createRun(exp);
    expect(inCopy.info.artifactUri).toBe(`${pathToFileURL(copy).href}/${exp}/${inCopy.info.runId}/artifacts`);
    await copied.logArtifact(inCopy.info.runId, 'notes.txt', 'in the copy');
    expect(await readFile(join(copy, exp, inCopy.info.runId, 'artifacts', 'notes.txt'), 'utf8')).toBe('in the copy');
    expect(existsSync(join(root, exp, inCopy.info.runId))).toBe(false);
    // Moved: the old place is gone, and the store reads and writes its own run folder.
    const moved = join(home, 'moved');
    await rename(root, moved);
    const movedStore = createFileStore(moved, { clock: () => now });
    expect(new TextDecoder().decode(await movedStore.downloadArtifact(run.info.runId, 'policy/state.json'))).toBe('{"v":1}');
    await movedStore.logArtifact(run.info.runId, 'notes.txt', 'after the move');
    expect(await readFile(join(moved, exp, run.info.runId, 'artifacts', 'notes.txt'), 'utf8')).toBe('after the move');
    // A run made after the move keeps its artifacts in the store too (the old place is not made again).
    const afterMove = await movedStore.createRun(exp);
    await movedStore.logArtifact(afterMove.info.runId, 'notes.txt', 'new');
    expect(await readFile(join(moved, exp, afterMove.info.runId, 'artifacts', 'notes.txt'), 'utf8')).toBe('new');
    expect(existsSync(root)).toBe(false);
    // The recorded location is left as MLflow wrote it.
    expect((await movedStore.getRun(run.info.runId)).info.artifactUri).toBe(`${pathToFileURL(root).href}/${exp}/${run.info.runId}/artifacts`);
  });

  it("puts a new run's artifacts under an experiment's artifact root set apart, before MLflow made its folder there", async () => {
    const exp = (await store.getOrCreateExperiment('apart')).experimentId;
    const artifactRoot = join(home, 'artifact-root');
    await mkdir(artifactRoot);
    const metaPath = join(root, exp, 'meta.yaml');
    const meta = await readFile(metaPath, 'utf8');
    await writeFile(metaPath, meta.replace(/^artifact_location: .*$/m, `artifact_location: ${pathToFileURL(join(artifactRoot, exp)).href}`));
    const run = await store.createRun(exp);
    expect(run.info.artifactUri).toBe(`${pathToFileURL(join(artifactRoot, exp)).href}/${run.info.runId}/artifacts`);
  });

  it('keeps an artifact root of its own that ends like the default place (an MLflow --default-artifact-root)', async () => {
    const exp = (await store.getOrCreateExperiment('e')).experimentId;
    const run = await store.createRun(exp);
    // As MLflow records it with a separate artifact root: <artifact root>/<experiment>/<run>/artifacts.
    const elsewhere = join(home, 'artifact-root', exp, run.info.runId, 'artifacts');
    await mkdir(join(elsewhere, 'policy'), { recursive: true });
    await writeFile(join(elsewhere, 'policy', 'state.json'), '{"v":"elsewhere"}');
    const metaPath = join(root, exp, run.info.runId, 'meta.yaml');
    const meta = await readFile(metaPath, 'utf8');
    await writeFile(metaPath, meta.replace(/^artifact_uri: .*$/m, `artifact_uri: ${pathToFileURL(elsewhere).href}`));
    expect(new TextDecoder().decode(await store.downloadArtifact(run.info.runId, 'policy/state.json'))).toBe('{"v":"elsewhere"}');
  });

  it('leaves no temporaries inside the root, and none behind in the temp area', async () => {
    const exp = await store.getOrCreateExperiment('clean');
    const a = await store.createRun(exp.experimentId, { runName: 'a' });
    await store.logBatch(a.info.runId, { metrics: [{ key: 'm', value: 1 }], params: [{ key: 'p', value: 'v' }], tags: [{ key: 't', value: 'x' }] });
    await store.logMetric(a.info.runId, 'm', 2);
    await store.setTag(a.info.runId, 't', 'y');
    await store.logArtifact(a.info.runId, 'dir/file.txt', 'hello');
    await store.finishRun(a.info.runId);
    await store.createRegisteredModel('m');
    await store.createModelVersion('m', 'file:///tmp/m', a.info.runId);
    await store.createModelVersion('m', 'file:///tmp/m', a.info.runId);
    await store.setAlias('m', 'champion', 1);
    await store.setAlias('m', 'champion', 2);
    await store.updateModelVersion('m', 2, 'desc');
    await store.updateRegisteredModel('m', 'model desc');
    await store.setRegisteredModelTag('m', 'k', 'v');

    const e = exp.experimentId;
    const r = a.info.runId;
    expect(await tree(root)).toEqual(
      [
        '.trash/',
        '0/',
        '0/meta.yaml',
        `${e}/`,
        `${e}/meta.yaml`,
        `${e}/${r}/`,
        `${e}/${r}/artifacts/`,
        `${e}/${r}/artifacts/dir/`,
        `${e}/${r}/artifacts/dir/file.txt`,
        `${e}/${r}/meta.yaml`,
        `${e}/${r}/metrics/`,
        `${e}/${r}/metrics/m`,
        `${e}/${r}/params/`,
        `${e}/${r}/params/p`,
        `${e}/${r}/tags/`,
        `${e}/${r}/tags/mlflow.runName`,
        `${e}/${r}/tags/mlflow.source.name`,
        `${e}/${r}/tags/mlflow.source.type`,
        `${e}/${r}/tags/mlflow.user`,
        `${e}/${r}/tags/t`,
        'models/',
        'models/m/',
        'models/m/aliases/',
        'models/m/aliases/champion',
        'models/m/meta.yaml',
        'models/m/tags/',
        'models/m/tags/k',
        'models/m/version-1/',
        'models/m/version-1/meta.yaml',
        'models/m/version-2/',
        'models/m/version-2/meta.yaml',
      ].sort(),
    );
    // Temporaries went to <home>/.oo-ml/tmp (outside the root) and were all cleaned up.
    expect(await readdir(join(home, '.oo-ml', 'tmp'))).toEqual([]);
    expect(await readdir(join(home, '.oo-ml', 'locks'))).toEqual([]);
  });
});
