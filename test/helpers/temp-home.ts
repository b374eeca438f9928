/** Temporary oo-ml homes for tests: a fresh folder per call, removed after the suite. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { homePaths, type HomePaths } from '../../src/config.js';

const made: string[] = [];

afterAll(async () => {
  await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
});

/** A fresh, empty home folder and its paths. */
export async function tempHome(prefix = 'oo-ml-test-'): Promise<HomePaths> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return homePaths(dir);
}

/** A fresh, empty temp folder (removed after the suite). */
export async function tempDir(prefix = 'oo-ml-test-'): Promise<string> {
  return (await tempHome(prefix)).home;
}
