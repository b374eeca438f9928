/** What a killed command left in the temp folder: removed once its process is gone and it is old; nothing else is touched. */
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sweepOrphanTemps, tempPathFor } from '../../src/io/atomic.js';
import { runCli } from '../helpers/cli.js';

/** A pid no process has (Linux's pid_max is at most 2^22). */
const DEAD_PID = 2147483646;
const OLD = new Date(Date.now() - 20 * 60_000);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oo-ml-orphans-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Makes `name` in `dir` (a folder with a file inside when `folder`), last modified at `at`. */
async function left(name: string, at: Date, folder = false): Promise<void> {
  const path = join(dir, name);
  if (folder) {
    await mkdir(path);
    await writeFile(join(path, 'part.parquet'), 'x');
  } else await writeFile(path, 'x');
  await utimes(path, at, at);
}

describe('orphaned temporaries', () => {
  it('removes old temporaries of processes that are gone, and leaves young ones, live processes’ and other files', async () => {
    const temp = (pid: number, name: string) => `.${name}.tmp-${pid}-0123456789ab`;
    await left(temp(DEAD_PID, 'warehouse.duckdb'), OLD);
    await left(temp(DEAD_PID, 'features'), OLD, true);
    await left(temp(DEAD_PID, 'young'), new Date());
    await left(temp(process.pid, 'mine'), OLD);
    await left(temp(process.ppid, 'parent'), OLD);
    await left('notes.txt', OLD);
    await left('.x.tmp-abc-0123456789ab', OLD);
    // DuckDB's files beside a temporary database go with it.
    await left(`${temp(DEAD_PID, 'warehouse.duckdb')}.wal`, OLD);
    await left(`${temp(DEAD_PID, 'warehouse.duckdb')}.tmp`, OLD, true);
    // The aside copy of a previous output: after a crash between replaceDirAtomic's renames, the only copy left.
    await left(temp(DEAD_PID, 'features.old'), OLD, true);
    expect(await sweepOrphanTemps(dir)).toBe(4);
    expect((await readdir(dir)).sort()).toEqual([temp(DEAD_PID, 'young'), temp(process.pid, 'mine'), temp(process.ppid, 'parent'), temp(DEAD_PID, 'features.old'), '.x.tmp-abc-0123456789ab', 'notes.txt'].sort());
    // The names it recognises are the ones tempPathFor makes.
    expect(tempPathFor(join(dir, 'a.parquet'))).toMatch(new RegExp(`\\.a\\.parquet\\.tmp-${process.pid}-[0-9a-f]{12}$`));
    expect(await sweepOrphanTemps(join(dir, 'missing'))).toBe(0);
  });

  it('are swept when any command starts in the home', async () => {
    const tmp = join(dir, '.oo-ml', 'tmp');
    await mkdir(tmp, { recursive: true });
    const orphan = join(tmp, `.warehouse.duckdb.tmp-${DEAD_PID}-0123456789ab`);
    await writeFile(orphan, 'x');
    await utimes(orphan, OLD, OLD);
    const r = await runCli(['features', 'list', '--home', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readdir(tmp)).toEqual([]);
  });
});
