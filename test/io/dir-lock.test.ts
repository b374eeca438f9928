/**
 * Lock folders under contention: however many processes (here, concurrent takers in one
 * process, whose file-system calls interleave the same way) find an abandoned lock at once, one
 * holds it at a time; and a takeover left half-done by a crash does not block the next.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tryDirLock } from '../../src/io/dir-lock.js';

/** A pid no process has (Linux's pid_max is at most 2^22). */
const DEAD_PID = 2147483646;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oo-ml-dir-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A lock folder as a crashed holder of this host left it. */
async function deadLock(path: string): Promise<void> {
  await mkdir(path);
  await writeFile(join(path, 'pid'), `${DEAD_PID}\n${hostname()}\n`);
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('lock folders', () => {
  it('let one of many takers of an abandoned lock hold it at a time', async () => {
    let most = 0;
    let taken = 0;
    for (let round = 0; round < 60; round++) {
      const path = join(dir, `lock-${round}`);
      await deadLock(path);
      let holding = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (;;) {
            const got = await tryDirLock(path);
            if (got.held) {
              holding++;
              most = Math.max(most, holding);
              await turn();
              await new Promise((resolve) => setTimeout(resolve, 1));
              holding--;
              taken++;
              await got.release();
              return;
            }
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
          }
        }),
      );
    }
    expect(taken).toBe(60 * 8);
    expect(most).toBe(1);
    // Nothing left beside the locks: no takeover lock, no lock moved aside.
    expect(await readdir(dir)).toEqual([]);
  }, 60_000);

  it("leaves a lock naming this process's pid alone (another container of the same hostname may run as the same pid)", async () => {
    const path = join(dir, 'lock');
    await mkdir(path);
    await writeFile(join(path, 'pid'), `${process.pid}\n${hostname()}\n`);
    expect(await tryDirLock(path)).toEqual({ held: false, owner: { pid: process.pid, host: hostname() } });
  });

  it('takes over a lock whose takeover a crashed process left half-done', async () => {
    const path = join(dir, 'lock');
    await deadLock(path);
    await deadLock(`${path}.break`);
    const got = await tryDirLock(path);
    expect(got.held).toBe(true);
    if (got.held) await got.release();
    expect(await readdir(dir)).toEqual([]);
  });
});
