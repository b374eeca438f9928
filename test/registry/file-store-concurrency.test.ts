/**
 * Concurrent writers on one file store: several node processes registering versions of the
 * same model at the same moment must produce versions 1..N exactly once each, every meta.yaml
 * valid and matching its folder, and nothing half-written anywhere in the root.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createFileStore } from '../../src/registry/file-store.js';

const CHILD = fileURLToPath(new URL('./register-versions.child.ts', import.meta.url));
const PROJECT = fileURLToPath(new URL('../..', import.meta.url));

interface Child {
  ready: Promise<void>;
  done: Promise<{ label: string; versions: number[] }>;
}

function spawnChild(root: string, model: string, count: number, goFile: string, label: string): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, root, model, String(count), goFile, label], {
    cwd: PROJECT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready\n')) markReady();
  });
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ label: string; versions: number[] }>((resolve, reject) => {
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${label} exited ${code}: ${err}`));
      const last = out.trim().split('\n').at(-1) ?? '';
      resolve(JSON.parse(last) as { label: string; versions: number[] });
    });
  });
  return { ready, done };
}

describe('file store under concurrent writers', () => {
  let home: string;
  let root: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'oo-ml-concurrency-'));
    root = join(home, 'mlruns');
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('4 processes × 10 versions of one model → versions 1..40, each exactly once', async () => {
    const store = createFileStore(root);
    await store.createRegisteredModel('tip-policy');
    const goFile = join(home, 'go');
    const children = ['a', 'b', 'c', 'd'].map((label) => spawnChild(root, 'tip-policy', 10, goFile, label));
    await Promise.all(children.map((c) => c.ready));
    await writeFile(goFile, 'go'); // every child starts registering at once
    const results = await Promise.all(children.map((c) => c.done));

    const claimed = results.flatMap((r) => r.versions).sort((x, y) => x - y);
    expect(claimed).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    // The writers really overlapped: in version order, the owner changes more often than four
    // back-to-back blocks of ten would (sequential children would pass every other check).
    const ownerOf = new Map(results.flatMap((r) => r.versions.map((v) => [v, r.label] as const)));
    const runs = claimed.filter((v, i) => i === 0 || ownerOf.get(v) !== ownerOf.get(claimed[i - 1]!)).length;
    expect(runs).toBeGreaterThan(4);
    for (const r of results) expect(r.versions).toEqual([...r.versions].sort((x, y) => x - y));

    const folders = (await readdir(join(root, 'models', 'tip-policy'))).filter((f) => f.startsWith('version-'));
    expect(folders.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `version-${i + 1}`).sort());
    const owners = new Map<string, number>();
    for (const folder of folders) {
      const meta = parse(await readFile(join(root, 'models', 'tip-policy', folder, 'meta.yaml'), 'utf8')) as Record<string, unknown>;
      expect(meta['version']).toBe(Number(folder.slice('version-'.length)));
      expect(meta['name']).toBe('tip-policy');
      const writer = await readFile(join(root, 'models', 'tip-policy', folder, 'tags', 'writer'), 'utf8');
      // The description and tags travelled with the folder: each version is one writer's whole work.
      expect(meta['description']).toMatch(new RegExp(`^${writer} #\\d$`));
      owners.set(writer, (owners.get(writer) ?? 0) + 1);
    }
    expect([...owners.values()]).toEqual([10, 10, 10, 10]);

    const versions = await store.searchModelVersions('tip-policy');
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(await readdir(join(home, '.oo-ml', 'tmp'))).toEqual([]);
  });

  it('concurrent calls in one process: versions, getOrCreate of one experiment, metric appends', async () => {
    const store = createFileStore(root);
    await store.createRegisteredModel('m');
    const versions = await Promise.all(Array.from({ length: 15 }, (_, i) => store.createModelVersion('m', `file:///tmp/${i}`, '')));
    expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));

    const exps = await Promise.all(Array.from({ length: 8 }, () => store.getOrCreateExperiment('shared')));
    expect(new Set(exps.map((e) => e.experimentId)).size).toBe(1);
    expect((await store.searchExperiments({ name: 'shared' })).length).toBe(1);

    const run = await store.createRun(exps[0]?.experimentId ?? '', { runName: 'r' });
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.logMetric(run.info.runId, 'loss', i / 10, { step: i, timestamp: 1 })));
    const history = await store.getMetricHistory(run.info.runId, 'loss');
    expect(history.map((m) => m.step).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const text = await readFile(join(root, exps[0]?.experimentId ?? '', run.info.runId, 'metrics', 'loss'), 'utf8');
    expect(text.split('\n').filter((l) => l !== '').every((l) => /^1 \d+\.\d+ \d+$/.test(l))).toBe(true);
  });

  it('readers during registrations never see an alias on a version their listing missed', async () => {
    // As concurrent `train`s: each registers a version, then points @candidate at it, while
    // others read the model. A reader that listed the versions just before a registration and
    // read the aliases just after must not call the new alias dangling.
    const writer = createFileStore(root);
    const reader = createFileStore(root);
    await writer.createRegisteredModel('m');
    let writing = true;
    const errors: string[] = [];
    let reads = 0;
    const readLoop = async (): Promise<void> => {
      while (writing) {
        for (const read of [() => reader.getRegisteredModel('m'), () => reader.searchModelVersions('m')]) {
          reads++;
          await read().catch((e: unknown) => errors.push((e as Error).message));
        }
      }
    };
    const readers = [readLoop(), readLoop(), readLoop()];
    for (let i = 0; i < 40; i++) {
      const v = await writer.createModelVersion('m', `file:///tmp/${i}`, '');
      await writer.setAlias('m', 'candidate', v.version);
    }
    writing = false;
    await Promise.all(readers);
    expect(reads).toBeGreaterThan(40);
    expect(errors).toEqual([]);
    expect((await reader.getRegisteredModel('m')).aliases).toEqual({ candidate: 40 });
  });
});
