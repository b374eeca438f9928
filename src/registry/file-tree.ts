/**
 * File-system primitives of the file store, shaped by how MLflow scans its tree
 * (shared/mlflow-rest.md Part 2 §6): every file under `metrics/`, `params/`, `tags/` and
 * `aliases/` is an entry and every sub-folder of the root an experiment, so nothing may ever
 * appear there half-written. New files and folders are built in a temporary folder outside the
 * root and moved in with one rename(2) or link(2).
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { invalidInput, internal } from '../errors.js';
import { readTextIfExists, writeFileAtomic } from '../io/atomic.js';

/** Error code of a failed fs call. */
export function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** True when `path` exists. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return false;
    throw e;
  }
}

/** Names of the sub-folders of `dir` (none when it does not exist), sorted. */
export async function listSubdirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return [];
    throw e;
  }
}

/**
 * Every file below `dir` as key → content, keys being `/`-joined relative paths (how MLflow
 * reads a metric `eval/dr` back from `metrics/eval/dr`). Content is the whole file, verbatim.
 */
export async function readFileTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const file of await listFilesRecursive(dir)) {
    // A tag or alias deleted by another writer between listing and reading is simply gone.
    const text = await readTextIfExists(file);
    if (text !== undefined) out[toKey(dir, file)] = text;
  }
  return out;
}

/** Every file path below `dir` (none when it does not exist). */
export async function listFilesRecursive(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return [];
    throw e;
  }
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** The `/`-separated key of `file` relative to `dir`. */
export function toKey(dir: string, file: string): string {
  return relative(dir, file).split(sep).join('/');
}

/** A fresh, unique temporary path inside `tmpDir` (created if needed). */
export async function freshTempPath(tmpDir: string, label: string): Promise<string> {
  await mkdir(tmpDir, { recursive: true });
  return join(tmpDir, `${label}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** Creates the folder that holds `path`, naming the key when a file stands in its way. */
export async function ensureParent(path: string, parent: string, what: string): Promise<void> {
  try {
    await mkdir(parent, { recursive: true });
  } catch (e) {
    if (errnoOf(e) === 'EEXIST' || errnoOf(e) === 'ENOTDIR') {
      throw invalidInput(`${what} cannot be stored at ${path}: a file stands where a folder is needed`, { details: { path } });
    }
    throw e;
  }
}

/** Replaces a file atomically through a temporary outside the scanned tree. */
export async function replaceFile(path: string, data: string | Uint8Array, tmpDir: string): Promise<void> {
  try {
    await writeFileAtomic(path, data, { tmpDir });
  } catch (e) {
    if (errnoOf(e) === 'EISDIR') throw invalidInput(`cannot write ${path}: a folder of that name exists`, { details: { path } });
    throw sameDevice(e, tmpDir);
  }
}

/**
 * Creates `path` with `data` only if it does not exist yet: the bytes are written to a
 * temporary file, which link(2) publishes atomically and exclusively. Returns false (and
 * leaves the existing file untouched) when the path already exists.
 */
export async function createFileExclusive(path: string, data: string, tmpDir: string): Promise<boolean> {
  const tmp = await freshTempPath(tmpDir, 'new');
  await writeAndSync(tmp, data, 'wx');
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'EEXIST') return false;
    throw sameDevice(e, tmpDir);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Appends whole lines to `path`: an existing file gets one O_APPEND write (so concurrent
 * appenders never interleave inside a line); a new file is published complete with link(2),
 * so a reader never sees it empty — MLflow fails on an empty metric file.
 */
export async function appendLines(path: string, lines: string, tmpDir: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeAndSync(path, lines, 'a', { mustExist: true });
      return;
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
    if (await createFileExclusive(path, lines, tmpDir)) return;
  }
  throw internal(`could not append to ${path}: it kept appearing and disappearing`);
}

async function writeAndSync(path: string, data: string, flags: 'wx' | 'a', options: { mustExist?: boolean } = {}): Promise<void> {
  if (options.mustExist === true) await stat(path); // 'a' would create it, empty for an instant.
  const handle = await open(path, flags);
  try {
    await handle.write(Buffer.from(data, 'utf8'));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Moves a completely built folder into place. Returns false when the target already exists
 * (rename(2) refuses to replace a non-empty folder: ENOTEMPTY/EEXIST), so callers can treat the
 * move as an exclusive create.
 */
export async function publishDir(tmp: string, target: string, tmpDir: string): Promise<boolean> {
  try {
    await rename(tmp, target);
    return true;
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') return false;
    throw sameDevice(e, tmpDir);
  }
}

function sameDevice(e: unknown, tmpDir: string): unknown {
  if (errnoOf(e) === 'EXDEV') {
    return invalidInput(`the temporary folder ${tmpDir} is on another file system than the store`, {
      hint: 'pass a tmpDir on the same file system as the mlruns folder',
      cause: e,
    });
  }
  return e;
}
