/**
 * Atomic file-system writes. Every file oo-ml writes goes through here: the bytes land in a
 * temporary file first and are renamed over the target, so a crash leaves either the old file
 * or the new one, never a torn one. rename(2) is atomic only within one file system, so the
 * temporary always sits beside its target (or in a caller-given folder when that is on the same
 * device). A folder output replaces only an earlier output of the same kind (OUTPUT_MARKER) or
 * an empty folder, so an `--out` that names a user's folder or file never deletes it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { conflict } from '../errors.js';
import { isRunning } from './dir-lock.js';

/** Options for atomic writes: where temporaries go (same file system as the target). */
export interface AtomicOptions {
  tmpDir?: string;
}

/** Marks a folder as an output of oo-ml: it holds one line, the kind of output (`event-log`…). */
export const OUTPUT_MARKER = '.oo-ml-output';

/** Options of `replaceDirAtomic`. */
export interface ReplaceDirOptions extends AtomicOptions {
  /**
   * What the folder is (`event-log`, `features`, `snapshot`): the new folder gets an
   * OUTPUT_MARKER saying so, and an existing target is replaced only if it is empty or marked
   * with this kind — never a user's folder or file that an `--out` happened to name.
   */
  kind?: string;
  /**
   * The names such an output held before outputs were marked: a folder holding nothing else is
   * taken as an earlier version's output of this kind (so an existing home keeps working).
   */
  legacyNames?: readonly string[];
}

/**
 * Throws `conflict` unless `target` is missing, an empty folder, a folder marked as `kind`, or an
 * unmarked folder holding only `legacyNames`.
 */
export async function assertReplaceable(target: string, kind: string, legacyNames: readonly string[] = []): Promise<void> {
  let info;
  try {
    info = await lstat(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const refuse = (why: string) =>
    conflict(`${target} ${why}; oo-ml replaces only a folder it wrote as ${kind}`, {
      hint: 'choose another folder, or move this one away first (an output of an oo-ml from before outputs were marked is refused too, unless it holds only that output\'s own files)',
      details: { path: target, kind },
    });
  if (!info.isDirectory()) throw refuse(info.isSymbolicLink() ? 'is a symbolic link' : 'is a file');
  const entries = await readdir(target);
  if (entries.length === 0) return;
  const marker = await readTextIfExists(join(target, OUTPUT_MARKER));
  if (marker === undefined) {
    if (legacyNames.length > 0 && entries.every((e) => legacyNames.includes(e))) return;
    throw refuse('holds files oo-ml did not write');
  }
  if (marker.trim() !== kind) throw refuse(`is an oo-ml ${marker.trim() || 'output'}, not its ${kind}`);
}

/** A unique, hidden temporary name for `target` (inside `tmpDir` or beside the target). */
export function tempPathFor(target: string, options: AtomicOptions = {}): string {
  const dir = options.tmpDir ?? dirname(target);
  return join(dir, `.${basename(target)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** A temporary's name (tempPathFor), and what DuckDB adds beside a database there (`.wal`, its `.tmp` spill folder): the pid of the process that made it. */
const TEMP_NAME = /\.tmp-(\d+)-[0-9a-f]{12}(?:\.wal|\.tmp)?$/;
/** replaceDirAtomic's aside copy of the previous output: after a crash between its two renames, the only copy left. */
const ASIDE_NAME = /\.old\.tmp-\d+-[0-9a-f]{12}$/;
/** Temporaries younger than this are left alone whatever their pid (a store shared with another host, whose pids mean nothing here). */
const ORPHAN_AGE_MS = 10 * 60_000;

/**
 * Removes what a killed command left in `tmpDir`: temporaries (tempPathFor's names, and DuckDB's
 * files beside them) whose process of this host no longer runs and that are older than ten
 * minutes. An aside copy of a previous output (replaceDirAtomic) is kept, as is anything else.
 * Returns how many it removed; a missing folder is none.
 */
export async function sweepOrphanTemps(tmpDir: string, now = Date.now()): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir(tmpDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  let removed = 0;
  for (const name of entries) {
    if (ASIDE_NAME.test(name)) continue;
    const pid = Number(TEMP_NAME.exec(name)?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || isRunning(pid)) continue;
    const path = join(tmpDir, name);
    const info = await lstat(path).catch(() => null);
    if (info === null || now - info.mtimeMs < ORPHAN_AGE_MS) continue;
    await rm(path, { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/**
 * A temporary name for `target` that a rename can move onto it: in `tmpDir` (created) when that
 * is on the target folder's file system, else beside the target — an `--out` on another file
 * system (a tmpfs /tmp, another disk) would otherwise fail with EXDEV. The target's folder must
 * exist.
 */
export async function tempPathNear(target: string, options: AtomicOptions = {}): Promise<string> {
  if (options.tmpDir === undefined) return tempPathFor(target);
  await mkdir(options.tmpDir, { recursive: true });
  const [tmpDev, targetDev] = await Promise.all([stat(options.tmpDir), stat(dirname(target))]);
  return tmpDev.dev === targetDev.dev ? tempPathFor(target, options) : tempPathFor(target);
}

/** Writes `data` to `target` atomically (temp file, fsync, rename). Creates parent folders. */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: AtomicOptions = {},
): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = await tempPathNear(target, options);
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
  options: ReplaceDirOptions = {},
): Promise<T> {
  // Before the build, so a refusal costs nothing; again before the swap (something may have
  // appeared meanwhile).
  if (options.kind !== undefined) await assertReplaceable(target, options.kind, options.legacyNames);
  await mkdir(dirname(target), { recursive: true });
  const tmp = await tempPathNear(target, options);
  await mkdir(tmp, { recursive: true });
  let result: T;
  try {
    result = await build(tmp);
    if (options.kind !== undefined) {
      await writeFile(join(tmp, OUTPUT_MARKER), options.kind + '\n');
      await assertReplaceable(target, options.kind, options.legacyNames);
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  // Beside the new folder's temporary: the same file system as the target, already checked.
  const aside = tempPathFor(`${target}.old`, { tmpDir: dirname(tmp) });
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

/** The entries of a folder, or none when it does not exist. */
export async function readDirIfExists(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** The SHA-256 of the file at `path`, in hex, read as a stream. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
