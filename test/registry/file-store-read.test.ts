/**
 * Reading stores the file store did not write: the minimal hand-written store of
 * shared/mlflow-rest.md Part 2 §7 (which real MLflow 2.12 and 3.6 servers read), with the
 * legacy forms MLflow tolerates, and hand-corrupted copies that must fail as invalid_input
 * naming the file and the problem.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/registry/file-store.js';
import type { Store } from '../../src/registry/store.js';
import { expectCode } from '../contracts/store.contract.js';

const EXP = '108340459790767148';
const RUN = '2b3c4d5e6f708192a3b4c5d6e7f80912';
const T = 1_700_000_000_000;

async function put(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

/** The §7 store, written by hand with MLflow's own spellings and some legacy forms. */
async function writeHandMadeStore(root: string): Promise<void> {
  const uri = pathToFileURL(root).href;
  await mkdir(join(root, '.trash'), { recursive: true });
  // Legacy Default experiment: integer ID, no lifecycle_stage, no timestamps.
  await put(join(root, '0', 'meta.yaml'), `artifact_location: ${uri}/0\nexperiment_id: 0\nname: Default\n`);
  await put(
    join(root, EXP, 'meta.yaml'),
    `artifact_location: ${uri}/${EXP}\ncreation_time: ${T}\nexperiment_id: '${EXP}'\nlast_update_time: ${T}\nlifecycle_stage: active\nname: bandits\n`,
  );
  await put(join(root, EXP, 'tags', 'team'), 'ml');
  const run = join(root, EXP, RUN);
  await put(
    join(run, 'meta.yaml'),
    [
      `artifact_uri: ${uri}/${EXP}/${RUN}/artifacts`,
      'end_time: null',
      "entry_point_name: ''",
      `experiment_id: '${EXP}'`,
      // lifecycle_stage and status missing: MLflow reads active / RUNNING.
      `run_id: ${RUN}`,
      'run_name: hand-made',
      `run_uuid: ${RUN}`,
      "source_name: ''",
      'source_type: 4',
      "source_version: ''",
      `start_time: ${T}`,
      'tags: []',
      "user_id: ''",
      '',
    ].join('\n'),
  );
  // Two fields (step 0) and three fields.
  await put(join(run, 'metrics', 'ips'), `${T} 0.25\n${T + 1} 0.5 1\n`);
  // Five fields: … step dataset_name dataset_digest.
  await put(join(run, 'metrics', 'eval', 'dr'), `${T} 0.5 0 train-set 1a2b3c\n`);
  // JavaScript spellings, which Python's float() also parses.
  await put(join(run, 'metrics', 'weird'), `${T} NaN 0\n${T} Infinity 1\n${T} -Infinity 2\n`);
  await put(join(run, 'params', 'policy'), 'linucb');
  await put(join(run, 'params', 'notes'), 'first line\nsecond line');
  await put(join(run, 'tags', 'mlflow.runName'), 'hand-made');
  await put(join(run, 'tags', 'mlflow.user'), 'someone');
  await put(join(run, 'artifacts', 'model-card', 'card.md'), '# Tip policy\n');
  const model = join(root, 'models', 'tip-policy');
  await put(join(model, 'meta.yaml'), `creation_timestamp: ${T}\ndescription: Picks tips.\nlast_updated_timestamp: ${T}\nname: tip-policy\n`);
  await put(join(model, 'tags', 'owner'), 'ml');
  await put(join(model, 'aliases', 'champion'), '1');
  await put(join(model, 'aliases', 'candidate'), '2');
  for (const v of [1, 2]) {
    await put(
      join(model, `version-${v}`, 'meta.yaml'),
      `creation_timestamp: ${T + v}\ncurrent_stage: None\ndescription: v${v}\nlast_updated_timestamp: ${T + v}\nname: tip-policy\nrun_id: ${RUN}\nsource: ${uri}/${EXP}/${RUN}/artifacts/model\nstatus: READY\nversion: ${v}\n`,
    );
  }
  await put(join(model, 'version-2', 'tags', 'gate'), 'passed');
}

describe('reading a hand-written MLflow store (mlflow-rest.md Part 2 §7)', () => {
  let home: string;
  let root: string;
  let store: Store;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'oo-ml-read-'));
    root = join(home, 'mlruns');
    await writeHandMadeStore(root);
    store = createFileStore(root);
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('lists experiments with tags, legacy integer IDs included', async () => {
    const exps = await store.searchExperiments();
    expect(exps.map((e) => [e.experimentId, e.name, e.lifecycleStage])).toEqual([
      ['0', 'Default', 'active'],
      [EXP, 'bandits', 'active'],
    ]);
    expect(exps[1]?.tags).toEqual({ team: 'ml' });
    expect(exps[0]?.creationTime).toBeNull();
  });

  it('reads the run: 2/3/5-field metric lines, non-finite values, multi-line params', async () => {
    const run = await store.getRun(RUN);
    expect(run.info).toMatchObject({ runName: 'hand-made', status: 'RUNNING', lifecycleStage: 'active', userId: '', experimentId: EXP });
    expect(run.data.metrics['ips']).toEqual({ key: 'ips', value: 0.5, timestamp: T + 1, step: 1 });
    expect(run.data.metrics['eval/dr']).toEqual({ key: 'eval/dr', value: 0.5, timestamp: T, step: 0 });
    expect(run.data.params).toEqual({ policy: 'linucb', notes: 'first line\nsecond line' });
    expect(run.data.tags).toEqual({ 'mlflow.runName': 'hand-made', 'mlflow.user': 'someone' });
    const weird = await store.getMetricHistory(RUN, 'weird');
    expect(weird.map((m) => m.value)).toEqual([NaN, Infinity, -Infinity]);
    expect((await store.getMetricHistory(RUN, 'ips')).map((m) => m.step)).toEqual([0, 1]);
  });

  it('finds the run by metric and param, as the verified search `metrics.`eval/dr` = 0.5 and params.policy = "linucb"`', async () => {
    const runs = await store.searchRuns({ experimentIds: [EXP], metrics: [{ key: 'eval/dr', op: '=', value: 0.5 }], params: { policy: 'linucb' } });
    expect(runs.map((r) => r.info.runId)).toEqual([RUN]);
  });

  it('reads the registry, resolves aliases and registers version 3 on top', async () => {
    const model = await store.getRegisteredModel('tip-policy');
    expect(model).toMatchObject({ description: 'Picks tips.', tags: { owner: 'ml' }, aliases: { champion: 1, candidate: 2 } });
    expect((await store.getModelVersionByAlias('tip-policy', 'champion')).version).toBe(1);
    expect((await store.getModelVersion('tip-policy', 2)).tags).toEqual({ gate: 'passed' });
    const v3 = await store.createModelVersion('tip-policy', 'file:///tmp/model', RUN);
    expect(v3.version).toBe(3);
    expect((await store.searchModelVersions('tip-policy')).map((v) => [v.version, v.aliases])).toEqual([
      [1, ['champion']],
      [2, ['candidate']],
      [3, []],
    ]);
  });

  it('lists and downloads artifacts', async () => {
    expect(await store.listArtifacts(RUN, 'model-card')).toEqual([{ path: 'model-card/card.md', isDir: false, fileSize: 13 }]);
    expect(new TextDecoder().decode(await store.downloadArtifact(RUN, 'model-card/card.md'))).toBe('# Tip policy\n');
  });

  it('does not recreate Default when it is present with a legacy meta file', async () => {
    await store.getOrCreateExperiment('new-one');
    expect((await store.getExperiment('0')).name).toBe('Default');
  });

  const model = (r: string) => join(r, 'models', 'tip-policy');
  const corruptions: { name: string; corrupt: (root: string) => Promise<void>; read: (s: Store) => Promise<unknown>; file: RegExp; problem: RegExp }[] = [
    {
      name: 'bad YAML in an experiment meta.yaml',
      corrupt: (r) => put(join(r, EXP, 'meta.yaml'), 'name: [unclosed\nexperiment_id: 1\n'),
      read: (s) => s.searchExperiments(),
      file: new RegExp(`mlruns/${EXP}/meta\\.yaml`),
      problem: /not valid YAML/,
    },
    {
      name: 'an experiment_id that does not match its folder',
      corrupt: (r) => put(join(r, EXP, 'meta.yaml'), `artifact_location: x\nexperiment_id: '42'\nname: bandits\n`),
      read: (s) => s.getExperiment(EXP),
      file: new RegExp(`mlruns/${EXP}/meta\\.yaml`),
      problem: /does not match its folder/,
    },
    {
      name: 'a version folder without meta.yaml',
      corrupt: (r) => mkdir(join(model(r), 'version-3')),
      read: (s) => s.searchModelVersions('tip-policy'),
      file: /mlruns\/models\/tip-policy\/version-3\/meta\.yaml/,
      problem: /missing/,
    },
    {
      name: 'an alias pointing at a missing version',
      corrupt: (r) => put(join(model(r), 'aliases', 'champion'), '7'),
      read: (s) => s.getModelVersionByAlias('tip-policy', 'champion'),
      file: /mlruns\/models\/tip-policy\/aliases\/champion/,
      problem: /version 7, which does not exist/,
    },
    {
      name: 'an alias pointing at a missing version (read through the model)',
      corrupt: (r) => put(join(model(r), 'aliases', 'candidate'), 'two'),
      read: (s) => s.getRegisteredModel('tip-policy'),
      file: /aliases\/candidate/,
      problem: /not a version number/,
    },
    {
      name: 'a registered model whose name does not match its folder',
      corrupt: (r) => put(join(model(r), 'meta.yaml'), `creation_timestamp: ${T}\nname: other-name\n`),
      read: (s) => s.getRegisteredModel('tip-policy'),
      file: /mlruns\/models\/tip-policy\/meta\.yaml/,
      problem: /does not match its folder/,
    },
    {
      name: 'a quoted version number',
      corrupt: (r) => put(join(model(r), 'version-2', 'meta.yaml'), `creation_timestamp: ${T}\nname: tip-policy\nversion: '2'\n`),
      read: (s) => s.searchModelVersions('tip-policy'),
      file: /version-2\/meta\.yaml/,
      problem: /\/version/,
    },
    {
      name: 'a model folder without meta.yaml',
      corrupt: (r) => mkdir(join(r, 'models', 'half-made')),
      read: (s) => s.searchRegisteredModels(),
      file: /mlruns\/models\/half-made\/meta\.yaml/,
      problem: /missing/,
    },
    {
      name: 'a null user_id',
      corrupt: async (r) => {
        const f = join(r, EXP, RUN, 'meta.yaml');
        await put(f, `artifact_uri: x\nexperiment_id: '${EXP}'\nrun_id: ${RUN}\nstart_time: ${T}\nuser_id: null\n`);
      },
      read: (s) => s.getRun(RUN),
      file: new RegExp(`${RUN}/meta\\.yaml`),
      problem: /user_id/,
    },
    {
      name: 'a metric line with four fields',
      corrupt: (r) => put(join(r, EXP, RUN, 'metrics', 'ips'), `${T} 0.25 0\n${T} 0.5 1 extra\n`),
      read: (s) => s.getRun(RUN),
      file: /metrics\/ips:2/,
      problem: /expected 2, 3 or 5/,
    },
    {
      name: 'an empty metric file',
      corrupt: (r) => put(join(r, EXP, RUN, 'metrics', 'ips'), ''),
      read: (s) => s.getRun(RUN),
      file: /metrics\/ips/,
      problem: /empty metric file/,
    },
    {
      name: 'a stray temp folder in the root',
      corrupt: (r) => mkdir(join(r, '.tmp-123')),
      read: (s) => s.searchExperiments(),
      file: /mlruns\/\.tmp-123/,
      problem: /not a valid experiment ID/,
    },
  ];

  it.each(corruptions)('reports $name as invalid_input naming the file', async ({ corrupt, read, file, problem }) => {
    await corrupt(root);
    let caught: unknown;
    try {
      await read(store);
    } catch (e) {
      caught = e;
    }
    await expectCode(Promise.reject(caught), 'invalid_input');
    expect((caught as Error).message).toMatch(file);
    expect((caught as Error).message).toMatch(problem);
  });
});
