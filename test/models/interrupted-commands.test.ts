/**
 * Commands that die half-way through their registry writes (a server gone, a killed process): a
 * store that stops after its N-th write, for every N, under train and promote. Whatever N, a
 * reader never finds an alias on an incomplete version, `listModels` names what was left, and
 * `repairModel` finishes it (or retires an incomplete version) so that the registry ends as the
 * command would have left it, with no duplicate history.
 */
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unavailable } from '../../src/errors.js';
import type { GateEvidence } from '../../src/experiments/gate.js';
import { promoteVersion } from '../../src/experiments/promotion.js';
import { buildFeatures } from '../../src/pipelines/feature-build.js';
import { DEFAULT_SYNTH_START, synthesize } from '../../src/pipelines/synth.js';
import { buildTrainingSet } from '../../src/pipelines/training-set.js';
import { trainPolicy } from '../../src/pipelines/train.js';
import { createFileStore } from '../../src/registry/file-store.js';
import { CARD_ARTIFACT } from '../../src/models/model-cards.js';
import { listModels } from '../../src/models/model-listing.js';
import { markPending, PENDING_TAG, repairModel, RETIRED_TAG } from '../../src/models/pending-moves.js';
import { readRollout } from '../../src/models/rollout-history.js';
import type { Store } from '../../src/registry/store.js';

const WRITES = new Set(['getOrCreateExperiment', 'setExperimentTag', 'createRun', 'finishRun', 'setTag', 'logBatch', 'logMetric', 'logParam', 'logArtifact', 'createRegisteredModel', 'updateRegisteredModel', 'setRegisteredModelTag', 'createModelVersion', 'updateModelVersion', 'setModelVersionTag', 'setAlias', 'deleteAlias']);

/** `store`, dying (every call refused) from its `n`-th write on; `writes` counts the writes it let through. */
function dyingAfter(store: Store, n: number): { store: Store; writes: () => number } {
  let writes = 0;
  let dead = false;
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (dead) return Promise.reject(unavailable('the MLflow server is gone'));
        if (WRITES.has(String(key))) {
          if (writes >= n) {
            dead = true;
            return Promise.reject(unavailable('the MLflow server is gone'));
          }
          writes++;
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, writes: () => writes };
}

/** The model card's line of aliases says what the registry says. */
async function cardMatchesAliases(store: Store, cards: string, model: string): Promise<void> {
  const card = await readFile(join(cards, `${model}.md`), 'utf8');
  const line = /Aliases: (.*)\.\n/.exec(card)?.[1] ?? '';
  const aliases = Object.entries((await store.getRegisteredModel(model)).aliases);
  for (const [alias, version] of aliases) expect(line).toContain(`@${alias} → v${version}`);
  expect(line.split(', ').filter((a) => a.startsWith('@'))).toHaveLength(aliases.length);
}

/** Every alias points at a complete version: described, its training run FINISHED with a card. */
async function aliasesOnCompleteVersions(store: Store, model: string): Promise<void> {
  for (const [alias, version] of Object.entries((await store.getRegisteredModel(model)).aliases)) {
    const v = await store.getModelVersion(model, version);
    expect(v.description, `@${alias} → v${version}`).not.toBe('');
    if (v.runId !== '') {
      expect((await store.getRun(v.runId)).info.status, `@${alias} → v${version}`).toBe('FINISHED');
      expect((await store.downloadArtifact(v.runId, CARD_ARTIFACT)).byteLength).toBeGreaterThan(0);
    }
  }
}

let base: string;
const NOW = new Date('2026-03-01T00:00:00Z');

beforeAll(async () => {
  // One small training set, copied into each case's home.
  base = await mkdtemp(join(tmpdir(), 'oo-ml-interrupted-'));
  const tmp = join(base, 'tmp');
  await synthesize({ users: 30, days: 10, seed: 5, start: DEFAULT_SYNTH_START, eventsDir: join(base, 'events'), tmpDir: tmp });
  await buildFeatures({ eventsDir: join(base, 'events'), warehouse: join(base, 'warehouse.duckdb'), featuresDir: join(base, 'features'), tmpDir: tmp, now: NOW });
  await buildTrainingSet({ eventsDir: join(base, 'events'), warehouse: join(base, 'warehouse.duckdb'), out: join(base, 'training-set.parquet'), tmpDir: tmp });
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function home(): Promise<{ dir: string; mlruns: string; cards: string; tmp: string; trainingSet: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'oo-ml-interrupted-case-'));
  await copyFile(join(base, 'training-set.parquet'), join(dir, 'training-set.parquet'));
  return { dir, mlruns: join(dir, 'mlruns'), cards: join(dir, 'cards'), tmp: join(dir, 'tmp'), trainingSet: join(dir, 'training-set.parquet') };
}

describe('an interrupted train', () => {
  it('never leaves @candidate on an incomplete version, and --repair finishes or retires what it left', async () => {
    const h = await home();
    let t = NOW.getTime();
    const job = (store: Store) => ({ trainingSet: h.trainingSet, policy: 'egreedy-v1', model: 'tip-policy', store, cardsDir: h.cards, snapshotsDir: join(h.dir, 'snapshots'), tmpDir: h.tmp, now: () => new Date((t += 1000)) });
    // A first, whole train: v1 @candidate.
    await trainPolicy(job(createFileStore(h.mlruns)));
    await cp(h.mlruns, join(h.dir, 'mlruns.v1'), { recursive: true });
    // The writes of a whole train; it is cut at each of them, and once after the last.
    const counting = dyingAfter(createFileStore(h.mlruns), Number.MAX_SAFE_INTEGER);
    await rm(h.mlruns, { recursive: true, force: true });
    await cp(join(h.dir, 'mlruns.v1'), h.mlruns, { recursive: true });
    await trainPolicy(job(counting.store));
    const total = counting.writes();
    expect(total).toBeGreaterThan(10);
    const cuts = Array.from({ length: total + 1 }, (_, i) => i);
    const outcomes: string[] = [];
    for (const n of cuts) {
      await rm(h.mlruns, { recursive: true, force: true });
      await cp(join(h.dir, 'mlruns.v1'), h.mlruns, { recursive: true });
      const real = createFileStore(h.mlruns);
      const dying = dyingAfter(real, n);
      const done = await trainPolicy(job(dying.store)).then(
        () => true,
        () => false,
      );
      await aliasesOnCompleteVersions(real, 'tip-policy');
      const listed = (await listModels(real, 'tip-policy'))[0]!;
      const interrupted = listed.versions.filter((v) => v.interrupted !== null).map((v) => v.version);
      const repairs = await repairModel({ store: real, cardsDir: h.cards, tmpDir: h.tmp, now: () => NOW }, 'tip-policy');
      // Every version left with a record is repaired (a version whose run died before its record is retired too).
      for (const v of interrupted) expect(repairs.map((r) => r.version)).toContain(v);
      await aliasesOnCompleteVersions(real, 'tip-policy');
      // Whatever the train wrote into the card before it died, the repaired card says what the registry does.
      if (repairs.length > 0 || done) await cardMatchesAliases(real, h.cards, 'tip-policy');
      // No run of the model is left RUNNING (one that died before registering is marked FAILED).
      const experiments = (await real.searchExperiments()).map((e) => e.experimentId);
      expect(await real.searchRuns({ experimentIds: experiments, tags: { 'oo-ml.model': 'tip-policy' }, status: 'RUNNING' })).toEqual([]);
      const after = await real.getRegisteredModel('tip-policy');
      for (const v of await real.searchModelVersions('tip-policy')) expect(v.tags[PENDING_TAG] ?? '').toBe('');
      const history = (await readRollout(real, 'tip-policy')).filter((e) => e.alias === 'candidate');
      // Each move once: the first train's, and the second's when it (or its repair) finished.
      expect(history.map((e) => e.to)).toEqual(after.aliases['candidate'] === 2 ? [1, 2] : [1]);
      const versionRepair = repairs.find((r) => r.version !== null);
      outcomes.push(done ? 'done' : versionRepair === undefined ? 'untouched' : versionRepair.outcome);
      // Cut at its last write or later, the train completes.
      expect(done).toBe(n >= total);
    }
    // Died before the pending record (nothing to repair), while the version was incomplete
    // (retired), once it was complete (finished), and not at all.
    expect(new Set(outcomes)).toEqual(new Set(['untouched', 'retired', 'finished', 'done']));
    await rm(h.dir, { recursive: true, force: true });
  });
});

describe("a train's own choices", () => {
  it('refuses an unknown policy, a bad parameter or model name as bad usage, before any run is logged', async () => {
    const h = await home();
    const store = createFileStore(h.mlruns);
    const job = { trainingSet: h.trainingSet, policy: 'linucb', model: 'tip-policy', store, cardsDir: h.cards, snapshotsDir: join(h.dir, 'snapshots'), tmpDir: h.tmp, now: () => NOW };
    const refused: [Partial<typeof job> & { params?: Record<string, number> }, RegExp][] = [
      [{ policy: 'nope' }, /unknown policy "nope"/],
      [{ params: { alpha: -1 } }, /parameter "alpha" of policy linucb must be/],
      [{ params: { bogus: 1 } }, /unknown parameter "bogus"/],
      [{ model: 'bad/name' }, /registered model name "bad\/name" may not contain/],
      [{ model: '' }, /registered model name must be a non-empty string/],
    ];
    for (const [change, message] of refused) {
      await expect(trainPolicy({ ...job, ...change }), JSON.stringify(change)).rejects.toMatchObject({ code: 'invalid_usage', message: expect.stringMatching(message) });
    }
    // Nothing at all: not even a registry root.
    expect(existsSync(h.mlruns)).toBe(false);
    expect(await store.searchExperiments()).toEqual([]);
    await rm(h.dir, { recursive: true, force: true });
  });
});

describe('a train that fails after registering its version', () => {
  it('retires the version and rewrites the card; promote refuses it, even forced; --repair retires one an older train left', async () => {
    const h = await home();
    let t = NOW.getTime();
    const real = createFileStore(h.mlruns);
    const job = (store: Store) => ({ trainingSet: h.trainingSet, policy: 'egreedy-v1', model: 'tip-policy', store, cardsDir: h.cards, snapshotsDir: join(h.dir, 'snapshots'), tmpDir: h.tmp, now: () => new Date((t += 1000)) });
    await trainPolicy(job(real));
    // The version's description write fails once (after the card was written with @candidate → v2); every other write works.
    let failed = false;
    const flaky = new Proxy(real, {
      get(target, key, receiver) {
        const value: unknown = Reflect.get(target, key, receiver);
        if (key !== 'updateModelVersion' || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (!failed) {
            failed = true;
            return Promise.reject(unavailable('the MLflow server answered 503'));
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    await expect(trainPolicy(job(flaky))).rejects.toThrow(/503/);
    const v2 = await real.getModelVersion('tip-policy', 2);
    expect(v2.tags[RETIRED_TAG]).toMatch(/^train failed before the version was complete: .*503/);
    expect(v2.tags[PENDING_TAG]).toBe('');
    expect((await real.getRun(v2.runId)).info.status).toBe('FAILED');
    expect((await real.getRegisteredModel('tip-policy')).aliases).toEqual({ candidate: 1 });
    await cardMatchesAliases(real, h.cards, 'tip-policy');

    const ctx = { store: real, cardsDir: h.cards, tmpDir: h.tmp, now: () => new Date((t += 1000)), evidence: async () => { throw new Error('the gate is never asked'); } };
    for (const force of [false, true]) {
      await expect(promoteVersion(ctx, { model: 'tip-policy', version: 2, to: 'shadow', force, reason: 'try' })).rejects.toThrow(/v2 cannot be promoted: it was retired \(train failed/);
    }
    // As an older train left it: no retired tag, its run FAILED. Promote says why; --repair retires it.
    await real.setModelVersionTag('tip-policy', 2, RETIRED_TAG, '');
    await expect(promoteVersion(ctx, { model: 'tip-policy', version: 2, to: 'shadow', force: true, reason: 'try' })).rejects.toThrow(`v2 cannot be promoted: its run ${v2.runId} is FAILED`);
    expect(await repairModel(ctx, 'tip-policy')).toEqual([{ model: 'tip-policy', version: 2, command: 'train', outcome: 'retired', why: `its run ${v2.runId} is FAILED` }]);
    expect((await real.getModelVersion('tip-policy', 2)).tags[RETIRED_TAG]).toBe(`its run ${v2.runId} is FAILED`);
    expect(await repairModel(ctx, 'tip-policy')).toEqual([]);
    // A version an interrupted command left with its record is refused until --repair.
    await markPending(real, 'tip-policy', 1, { command: 'promote', time: new Date(t).toISOString(), runId: null, moves: [{ time: new Date(t).toISOString(), alias: 'shadow', from: null, to: 1, reason: 'x', forced: false, figures: {} }] });
    await expect(promoteVersion(ctx, { model: 'tip-policy', version: 1, to: 'shadow', force: true, reason: 'try' })).rejects.toThrow(/an interrupted promote left it incomplete: run `oo-ml models --repair` first/);
    await rm(h.dir, { recursive: true, force: true });
  });
});

describe('an interrupted promote', () => {
  const good: Omit<GateEvidence, 'champion' | 'wasShadow' | 'baseline'> = {
    hasOpe: true,
    simDiff: { value: 0.02, ci95: [0.01, 0.03], seeds: 5 },
    opeDiff: { value: 0.0, ci95: [-0.005, 0.005], rows: 300, data: 'the last 300 rows' },
    flaggedSegments: [],
    segmentsChecked: 3,
    shadowExposure: { serves: 2000, hours: 30, agreement: 0.5, matured: 1000, ips: null, snips: null },
  };

  it('is finished by --repair into exactly what the promote would have done, whatever write it died at', async () => {
    const h = await home();
    let t = Date.parse('2026-02-01T00:00:00Z');
    const ctx = (store: Store) => ({
      store,
      cardsDir: h.cards,
      tmpDir: h.tmp,
      now: () => new Date((t += 60_000)),
      evidence: async ({ champion, wasShadow }: { champion: number | null; wasShadow: boolean }) => ({ champion, wasShadow, baseline: champion === null ? 'uniform random' : `champion v${champion}`, ...good }),
    });
    const seed = createFileStore(h.mlruns);
    await seed.createRegisteredModel('tip-policy');
    for (let i = 0; i < 2; i++) await seed.createModelVersion('tip-policy', `src-${i}`, '', `v${i + 1}`);
    await promoteVersion(ctx(seed), { model: 'tip-policy', version: 1, to: 'shadow' });
    await promoteVersion(ctx(seed), { model: 'tip-policy', version: 1, to: 'champion' });
    await promoteVersion(ctx(seed), { model: 'tip-policy', version: 2, to: 'shadow' });
    await cp(h.mlruns, join(h.dir, 'mlruns.before'), { recursive: true });
    let finished = 0;
    for (let n = 0; ; n++) {
      await rm(h.mlruns, { recursive: true, force: true });
      await cp(join(h.dir, 'mlruns.before'), h.mlruns, { recursive: true });
      const real = createFileStore(h.mlruns);
      const done = await promoteVersion(ctx(dyingAfter(real, n).store), { model: 'tip-policy', version: 2, to: 'champion' }).then(
        () => true,
        () => false,
      );
      // Rollout runs left RUNNING are closed too; what matters here is the version's move.
      const repairs = (await repairModel({ store: real, cardsDir: h.cards, tmpDir: h.tmp, now: () => new Date(t) }, 'tip-policy')).filter((r) => r.version !== null);
      if (repairs.length > 0) {
        expect(repairs).toMatchObject([{ version: 2, command: 'promote', outcome: 'finished' }]);
        finished++;
      }
      const aliases = (await real.getRegisteredModel('tip-policy')).aliases;
      const history = await readRollout(real, 'tip-policy');
      const champion = history.filter((e) => e.alias === 'champion');
      if (done || repairs.length > 0) {
        expect(aliases).toEqual({ champion: 2, 'previous-champion': 1 });
        expect(champion.map((e) => e.to)).toEqual([1, 2]);
      } else {
        // Died before its record: nothing happened.
        expect(aliases).toEqual({ champion: 1, shadow: 2 });
        expect(champion.map((e) => e.to)).toEqual([1]);
      }
      if (done) break;
      expect(n).toBeLessThan(200);
    }
    expect(finished).toBeGreaterThan(3);
    await rm(h.dir, { recursive: true, force: true });
  });
});
