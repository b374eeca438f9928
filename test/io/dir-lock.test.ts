/**
 * Lock folders under contention: however many processes (here, concurrent takers in one
 * process, whose file-system calls interleave the same way) find an abandoned lock at once, one
 * holds it at a time; and a takeover left half-done by a crash does not block the next.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { HEARTBEAT_MISSES, tryDirLock, type LockOwner } from '../../src/io/dir-lock.js';

/** This process's pid namespace, as owner files record it. */
const PID_NS = readlinkSync('/proc/self/ns/pid');

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
    expect(await tryDirLock(path)).toEqual({ held: false, owner: { pid: process.pid, host: hostname(), heartbeatMs: null, pidNs: null } });
  });

  it('takes over a lock whose holder is a zombie (killed, not yet reaped by its parent)', async () => {
    // A parent that forks a child which exits at once, prints its pid, and never reaps it (it
    // sleeps until the test kills it). Perl, as `sh -c 'sleep 0 & …; exec sleep'` was not: dash
    // sometimes reaped a child that ended before the exec (1 in 200 under load), and the wait
    // for a zombie that never came held the test until its timeout.
    const parent = spawn('perl', ['-e', '$| = 1; my $pid = fork(); exit 0 if $pid == 0; print "$pid\\n"; sleep 300;'], { stdio: ['ignore', 'pipe', 'ignore'] });
    onTestFinished(() => {
      parent.kill('SIGKILL');
    });
    const zombie = Number((await once(parent.stdout, 'data'))[0].toString().trim());
    await until(async () => (await readFile(`/proc/${zombie}/stat`, 'latin1').catch(() => '')).includes(') Z '));
    const path = join(dir, 'lock');
    await mkdir(path);
    await writeFile(join(path, 'pid'), `${zombie}\n${hostname()}\n`);
    const got = await tryDirLock(path);
    expect(got.held).toBe(true);
    if (got.held) await got.release();
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

/** A beating lock's owner file as a holder wrote it, its last beat `agoMs` ago. */
async function beatingLock(path: string, owner: { pid: number; host: string; heartbeatMs: number; pidNs?: string | null }, agoMs: number): Promise<void> {
  await mkdir(path);
  const file = join(path, 'pid');
  await writeFile(file, `${owner.pid}\n${owner.host}\n${owner.heartbeatMs}\n${owner.pidNs ?? ''}\n`);
  const at = new Date(Date.now() - agoMs);
  await utimes(file, at, at);
}

/** Touches the owner file of the lock at `path` every 20 ms, as a live holder does, until the returned stop is called. */
function beating(path: string): () => void {
  const beat = setInterval(() => {
    const t = new Date();
    void utimes(join(path, 'pid'), t, t).catch(() => undefined);
  }, 20);
  return () => clearInterval(beat);
}

const until = async (done: () => Promise<boolean> | boolean): Promise<void> => {
  while (!(await done())) await new Promise((resolve) => setTimeout(resolve, 5));
};

describe('beating lock folders', () => {
  it('record their period and beat while held, and stop at release', async () => {
    const path = join(dir, 'lock');
    const got = await tryDirLock(path, { heartbeatMs: 10 });
    expect(got.held).toBe(true);
    expect(await readFile(join(path, 'pid'), 'utf8')).toBe(`${process.pid}\n${hostname()}\n10\n${PID_NS}\n`);
    const first = (await stat(join(path, 'pid'))).mtimeMs;
    await until(async () => (await stat(join(path, 'pid'))).mtimeMs > first);
    if (got.held) await got.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuse a second take in the process that holds them at once, without watching', async () => {
    const path = join(dir, 'lock');
    const got = await tryDirLock(path, { heartbeatMs: 60_000 });
    const watched: LockOwner[] = [];
    const again = await tryDirLock(path, { heartbeatMs: 60_000, onWatch: (o) => watched.push(o) });
    expect(again).toEqual({ held: false, owner: { pid: process.pid, host: hostname(), heartbeatMs: 60_000, pidNs: PID_NS } });
    expect(watched).toEqual([]);
    if (got.held) await got.release();
  });

  it("take over a lock naming this process's pid in this pid namespace made before it started at once (an earlier process's), and watch one of another namespace (another container of this hostname)", async () => {
    const path = join(dir, 'lock');
    await beatingLock(path, { pid: process.pid, host: hostname(), heartbeatMs: 60_000, pidNs: PID_NS }, 0);
    // Made before this process started (an earlier process of this pid): taken at once, beat or not.
    const before = new Date(performance.timeOrigin - 60_000);
    await utimes(path, before, before);
    const watched: number[] = [];
    const got = await tryDirLock(path, { onWatch: (_o, forMs) => watched.push(forMs) });
    expect(got.held).toBe(true);
    if (got.held) await got.release();
    // A pid that does not run here means nothing in another namespace: its beat decides.
    const other = { pid: DEAD_PID, host: hostname(), heartbeatMs: 20, pidNs: 'pid:[1]' };
    await beatingLock(path, other, 0);
    const stop = beating(path);
    try {
      expect(await tryDirLock(path, { onWatch: (_o, forMs) => watched.push(forMs) })).toEqual({ held: false, owner: other });
    } finally {
      stop();
    }
    expect(watched).toEqual([20 * HEARTBEAT_MISSES]);
    // Silent, it is taken once the beat has been missed long enough.
    const later = await tryDirLock(path);
    expect(later.held).toBe(true);
    if (later.held) await later.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("take over a lock naming this process's pid without a namespace once its beat has been silent long enough (a restarted container's previous life)", async () => {
    const path = join(dir, 'lock');
    // Silent for twice the limit already: taken at once.
    await beatingLock(path, { pid: process.pid, host: hostname(), heartbeatMs: 1_000 }, 2 * 1_000 * HEARTBEAT_MISSES);
    const watched: number[] = [];
    const got = await tryDirLock(path, { onWatch: (_o, forMs) => watched.push(forMs) });
    expect(got.held).toBe(true);
    expect(watched).toEqual([]);
    if (got.held) await got.release();
    // Beaten just now: watched for the limit, then taken.
    await beatingLock(path, { pid: process.pid, host: hostname(), heartbeatMs: 20 }, 0);
    const later = await tryDirLock(path, { onWatch: (_o, forMs) => watched.push(forMs) });
    expect(watched).toEqual([20 * HEARTBEAT_MISSES]);
    expect(later.held).toBe(true);
    if (later.held) await later.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('leave a lock whose beat is seen while watched (another container of this hostname, as this pid)', async () => {
    const path = join(dir, 'lock');
    const owner = { pid: process.pid, host: hostname(), heartbeatMs: 20, pidNs: null };
    await beatingLock(path, owner, 0);
    const stop = beating(path);
    try {
      expect(await tryDirLock(path)).toEqual({ held: false, owner });
    } finally {
      stop();
    }
  });

  it("judge another host's lock by its beat alone, watched by this host's clock", async () => {
    const path = join(dir, 'lock');
    // Its clock a day ahead of ours: the age it wrote means nothing here.
    await beatingLock(path, { pid: 7, host: 'elsewhere.example', heartbeatMs: 20 }, -86_400_000);
    const watched: LockOwner[] = [];
    const got = await tryDirLock(path, { onWatch: (o) => watched.push(o) });
    expect(watched).toEqual([{ pid: 7, host: 'elsewhere.example', heartbeatMs: 20, pidNs: null }]);
    expect(got.held).toBe(true);
    if (got.held) await got.release();
  });

  it('take over a silent lock whose pid runs again on this host (a reused pid), leaving one that beats', async () => {
    const path = join(dir, 'lock');
    // The parent runs: a pid of this host that is not this process.
    await beatingLock(path, { pid: process.ppid, host: hostname(), heartbeatMs: 1_000 }, 2 * 1_000 * HEARTBEAT_MISSES);
    const got = await tryDirLock(path);
    expect(got.held).toBe(true);
    if (got.held) await got.release();
    await beatingLock(path, { pid: process.ppid, host: hostname(), heartbeatMs: 20 }, 0);
    const stop = beating(path);
    try {
      expect(await tryDirLock(path)).toEqual({ held: false, owner: { pid: process.ppid, host: hostname(), heartbeatMs: 20, pidNs: null } });
    } finally {
      stop();
    }
  });

  it('tell their holder when the lock is no longer its own, and leave the new holder\'s lock at release', async () => {
    const path = join(dir, 'lock');
    let lost = 0;
    const got = await tryDirLock(path, {
      heartbeatMs: 10,
      onLost: () => {
        lost++;
      },
    });
    expect(got.held).toBe(true);
    // Taken over while this holder stood still: another lock folder at the path.
    await rm(path, { recursive: true });
    await mkdir(path);
    await writeFile(join(path, 'pid'), `${process.pid}\n${hostname()}\n10\n`);
    await until(() => lost > 0);
    if (got.held) await got.release();
    expect(await readdir(path)).toEqual(['pid']);
    expect(lost).toBe(1);
  });
});

