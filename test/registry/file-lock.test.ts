/**
 * The file store's lock: a crashed holder on this host is taken over at once, a live one is
 * waited for and named on timeout, and a holder on another host only once its lock is stale.
 */
import { readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockPathFor, withFileLock } from '../../src/registry/file-lock.js';

/** A pid no process has (Linux's pid_max is at most 2^22). */
const DEAD_PID = 2147483646;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oo-ml-file-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A lock folder for `key` as another holder left it: its owner file's text (none when null), its age. */
async function leftLock(key: string, owner: string | null, ageMs = 0): Promise<string> {
  const path = lockPathFor(dir, key);
  await mkdir(path, { recursive: true });
  if (owner !== null) await writeFile(join(path, 'pid'), owner);
  const at = new Date(Date.now() - ageMs);
  await utimes(path, at, at);
  return path;
}

const ran = (key: string, options: { timeoutMs?: number; staleMs?: number }) => withFileLock(dir, key, async () => 'ran', options);

describe('the file-store lock', () => {
  it('takes over at once a lock whose holder on this host no longer runs, or an earlier version left without a host', async () => {
    await leftLock('a', `${DEAD_PID}\n${hostname()}\n`);
    await expect(ran('a', { timeoutMs: 0 })).resolves.toBe('ran');
    await leftLock('b', `${DEAD_PID}\n`);
    await expect(ran('b', { timeoutMs: 0 })).resolves.toBe('ran');
  });

  it('waits for a live holder and names it on timeout', async () => {
    // The parent process: alive, on this host, and not this process (whose pid on a lock it
    // does not hold means an earlier process under the same pid).
    const path = await leftLock('c', `${process.ppid}\n${hostname()}\n`, 1_000);
    await expect(ran('c', { timeoutMs: 30 })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining(`held by process ${process.ppid} on ${hostname()}`),
    });
    // Not taken: the holder's lock is still there, as it was.
    expect(await readFile(join(path, 'pid'), 'utf8')).toBe(`${process.ppid}\n${hostname()}\n`);
  });

  it('takes over a lock older than the stale age even when its pid runs here (a pid reused since)', async () => {
    await leftLock('j', `${process.ppid}\n${hostname()}\n`, 120_000);
    await expect(ran('j', { timeoutMs: 0, staleMs: 60_000 })).resolves.toBe('ran');
  });

  it("judges another host's lock by its age only", async () => {
    await leftLock('d', `${process.pid}\nsome-other-host\n`, 1_000);
    await expect(ran('d', { timeoutMs: 30, staleMs: 60_000 })).rejects.toMatchObject({ code: 'conflict' });
    // Its pid means nothing here, alive or not: only staleness frees it.
    await leftLock('e', `${DEAD_PID}\nsome-other-host\n`, 1_000);
    await expect(ran('e', { timeoutMs: 30, staleMs: 60_000 })).rejects.toMatchObject({ code: 'conflict' });
    await leftLock('f', `${process.pid}\nsome-other-host\n`, 120_000);
    await expect(ran('f', { timeoutMs: 0, staleMs: 60_000 })).resolves.toBe('ran');
  });

  it('leaves a lock without an owner file alone while it may be being made, and takes it over after', async () => {
    await leftLock('g', null);
    await expect(ran('g', { timeoutMs: 30 })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('held by another process') });
    await leftLock('h', null, 10_000);
    await expect(ran('h', { timeoutMs: 0 })).resolves.toBe('ran');
  });

  it('writes its own pid and host while it holds the lock, and removes the folder after', async () => {
    const path = lockPathFor(dir, 'i');
    const seen = await withFileLock(dir, 'i', () => readFile(join(path, 'pid'), 'utf8'));
    expect(seen).toBe(`${process.pid}\n${hostname()}\n\n${readlinkSync('/proc/self/ns/pid')}\n`);
    await expect(readFile(join(path, 'pid'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
