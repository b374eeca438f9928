/**
 * A cross-process lock for short read-modify-write sections of the file store (rewriting a
 * registered model's meta.yaml, creating an experiment by name): a lock folder (io/dir-lock.ts).
 * Lock folders live outside the MLflow root: MLflow's readers treat every sub-folder of the root
 * as an experiment.
 *
 * A holder that crashed on this host (`kill -9`) leaves its folder behind; it is taken over as
 * soon as its pid is seen not running. Any lock older than `staleMs`, far longer than any
 * critical section (a few small files), is taken over too: one held on another host (a store on
 * a shared file system), whose pid means nothing here, or one whose pid was reused since. The
 * wait outlasts it, so a crashed holder never needs a hand.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict } from '../errors.js';
import { tryDirLock, type LockOwner } from '../io/dir-lock.js';

/** How long to wait for a lock and when to consider a leftover lock of another host abandoned. */
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

function ownerText(owner: LockOwner): string {
  if (owner.pid === null) return 'another process';
  return `process ${owner.pid}${owner.host === null ? '' : ` on ${owner.host}`}`;
}

/** Runs `fn` while holding the lock named `key`; throws `conflict` naming the lock and its holder on timeout. */
export async function withFileLock<T>(
  lockDir: string,
  key: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const staleMs = options.staleMs ?? 60_000;
  const timeoutMs = options.timeoutMs ?? staleMs + 15_000;
  const path = lockPathFor(lockDir, key);
  await mkdir(lockDir, { recursive: true });
  const started = Date.now();
  let delay = 2;
  let release: () => Promise<void>;
  for (;;) {
    const got = await tryDirLock(path, { staleMs });
    if (got.held) {
      release = got.release;
      break;
    }
    if (Date.now() - started > timeoutMs) {
      throw conflict(`timed out after ${timeoutMs} ms waiting for the file-store lock ${path}, held by ${ownerText(got.owner)}`, {
        hint: 'another oo-ml process is writing to the same store; wait for it to finish, or stop it',
        details: { lock: path, ...(got.owner.pid === null ? {} : { pid: got.owner.pid }), ...(got.owner.host === null ? {} : { host: got.owner.host }) },
      });
    }
    // Jitter keeps contending processes from waking in lock-step.
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 20);
  }
  try {
    return await fn();
  } finally {
    await release();
  }
}
