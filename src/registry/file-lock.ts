/**
 * A cross-process lock for short read-modify-write sections of the file store (rewriting a
 * registered model's meta.yaml, creating an experiment by name). `mkdir` without `recursive`
 * is atomic and exclusive on every local file system, so the process whose mkdir succeeds
 * holds the lock. Lock folders live outside the MLflow root: MLflow's readers treat every
 * sub-folder of the root as an experiment.
 *
 * A holder that crashed leaves its folder behind; one older than `staleMs` (far longer than
 * any critical section, which touches a few small files) is broken and taken over.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict } from '../errors.js';

/** How long to wait for a lock and when to consider a leftover lock abandoned. */
export interface FileLockOptions {
  timeoutMs?: number;
  staleMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The lock folder for `key` under `lockDir` (a readable prefix plus a hash, safe as a file name). */
export function lockPathFor(lockDir: string, key: string): string {
  const readable = key.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 40);
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return join(lockDir, `${readable}-${hash}.lock`);
}

/** Runs `fn` while holding the lock named `key`; throws `conflict` naming the lock on timeout. */
export async function withFileLock<T>(
  lockDir: string,
  key: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  const path = lockPathFor(lockDir, key);
  await mkdir(lockDir, { recursive: true });
  const started = Date.now();
  let delay = 2;
  for (;;) {
    try {
      await mkdir(path);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const age = await lockAge(path);
    if (age !== undefined && age > staleMs) {
      await rm(path, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > timeoutMs) {
      throw conflict(`timed out after ${timeoutMs} ms waiting for the file-store lock ${path}`, {
        hint: 'another oo-ml process is writing to the same store; if none is running, delete that lock folder',
        details: { lock: path },
      });
    }
    // Jitter keeps contending processes from waking in lock-step.
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 20);
  }
  try {
    return await fn();
  } finally {
    await rm(path, { recursive: true, force: true });
  }
}

async function lockAge(path: string): Promise<number | undefined> {
  try {
    return Date.now() - (await stat(path)).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
