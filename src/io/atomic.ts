/**
 * Atomic file-system writes. Every file oo-ml writes goes through here: the bytes land in a
 * temporary file first and are renamed over the target, so a crash leaves either the old file
 * or the new one, never a torn one. rename(2) is atomic only within one file system, so the
 * temporary always sits beside its target (or in a caller-given folder on the same device).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Options for atomic writes: where temporaries go (same file system as the target). */
export interface AtomicOptions {
  tmpDir?: string;
}

/** A unique, hidden temporary name for `target` (inside `tmpDir` or beside the target). */
export function tempPathFor(target: string, options: AtomicOptions = {}): string {
  const dir = options.tmpDir ?? dirname(target);
  return join(dir, `.${basename(target)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** Writes `data` to `target` atomically (temp file, fsync, rename). Creates parent folders. */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: AtomicOptions = {},
): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  if (options.tmpDir !== undefined) await mkdir(options.tmpDir, { recursive: true });
  const tmp = tempPathFor(target, options);
  const handle = await open(tmp, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Runs `build(tmpDir)` to fill a fresh temporary folder, then moves it to `target`, replacing
 * an existing folder. The old folder is renamed aside first and removed only after the new one
 * is in place, so a crash at any point leaves one complete version on disk.
 */
export async function replaceDirAtomic<T>(
  target: string,
  build: (tmpDir: string) => Promise<T>,
  options: AtomicOptions = {},
): Promise<T> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempPathFor(target, options);
  await mkdir(tmp, { recursive: true });
  let result: T;
  try {
    result = await build(tmp);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  const aside = tempPathFor(`${target}.old`, options);
  const hadOld = await exists(target);
  if (hadOld) await rename(target, aside);
  try {
    await rename(tmp, target);
  } catch (e) {
    if (hadOld) await rename(aside, target);
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  if (hadOld) await rm(aside, { recursive: true, force: true });
  return result;
}

/** True when `path` exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** Reads a UTF-8 file, or undefined when it (or a folder on its path) does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}
