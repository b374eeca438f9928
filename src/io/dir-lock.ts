/**
 * Lock folders: `mkdir` without `recursive` is atomic and exclusive on every local file system,
 * so the process whose mkdir succeeds holds the lock; it writes `<pid>\n<host>\n` into `pid`
 * inside. A lock whose owner is a process of this host that no longer runs was left by a crash
 * and is taken over at once; one without an owner file past a short grace period (being created,
 * or left by a crash in between) too; any lock older than `staleMs`, where the caller gives one
 * (short critical sections: a pid may be reused), and one owned on another host (a folder shared
 * over the network) only then, since its pid means nothing here.
 *
 * Takeovers of one lock are made one at a time, under a second lock folder beside it
 * (`<lock>.break`, taken the same way), and judge the lock again under it, by its folder's
 * identity (inode and change time), not by its owner file, which a new lock of the same pid reads
 * the same: otherwise, of three processes at an abandoned lock, the second could move aside the
 * lock the first had just made while the third made its own, and two would hold it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** This host's name, as owner files record it. */
const HOST = hostname();


/** Removes a lock this process holds: its owner file, then the folder (anything else in it too). */
function release(path: string, ownerFile: string): void {
  try {
    unlinkSync(ownerFile);
    rmdirSync(path);
  } catch {
    rmSync(path, { recursive: true, force: true });
  }
}

/** A lock folder without an owner file younger than this is being created, not abandoned. */
const OWNER_GRACE_MS = 5_000;

/** Who holds a lock, as its owner file says (null fields: not written, or unreadable). */
export interface LockOwner {
  pid: number | null;
  host: string | null;
}

/** What `tryDirLock` got: the lock (and its release), or who holds it. */
export type DirLockAttempt = { held: true; release: () => Promise<void> } | { held: false; owner: LockOwner };

/** Options of `tryDirLock`. */
export interface DirLockOptions {
  /** Age past which a lock is taken over whoever holds it (default: never); a holder on another host is judged by this alone. */
  staleMs?: number;
}

/** A takeover lock older than this was left by a crash: a takeover is a few small syscalls. */
const BREAK_STALE_MS = 10_000;

/** How many times a taker waits for another's takeover of the same lock before reporting the lock held. */
const BREAK_WAITS = 200;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether process `pid` of this host runs (EPERM: it runs as another user). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerOf(text: string): LockOwner {
  const [pidText, host] = text.split('\n');
  const pid = Number.parseInt(pidText ?? '', 10);
  return { pid: Number.isInteger(pid) && pid > 0 ? pid : null, host: host === undefined || host === '' ? null : host };
}

/** What tells a lock folder from one made later at the same path: its inode and change time (an inode number alone is soon reused). */
interface FolderIdentity {
  ino: number;
  ctimeMs: number;
}

/** A lock folder's age and identity, or null when it is gone. */
async function lockStat(path: string): Promise<{ ageMs: number; identity: FolderIdentity } | null> {
  try {
    const s = await stat(path);
    return { ageMs: Date.now() - s.mtimeMs, identity: { ino: s.ino, ctimeMs: s.ctimeMs } };
  } catch {
    return null;
  }
}

/** A verdict on a lock: whether it was left behind, and which folder was judged. */
type Verdict = { left: boolean; identity: FolderIdentity } | 'gone';

/** Whether the lock at `path`, owned by `owner`, was left behind (and which folder was judged); `gone` when it was released meanwhile. */
async function abandoned(path: string, owner: LockOwner, staleMs: number): Promise<Verdict> {
  const s = await lockStat(path);
  if (s === null) return 'gone';
  const judged = (left: boolean) => ({ left, identity: s.identity });
  if (owner.pid === null) return judged(s.ageMs >= OWNER_GRACE_MS);
  // Past `staleMs` a lock is abandoned whoever holds it: its pid may have been reused since
  // (a container restarted under the same hostname runs as the same pid again).
  if (s.ageMs > staleMs) return judged(true);
  // An owner file without a host is an earlier version's, written on this host.
  // (This process's own pid counts as running: another container of the same hostname may run
  // as the same pid, and taking its lock would give it two holders.)
  if (owner.host === null || owner.host === HOST) return judged(!isRunning(owner.pid));
  return judged(false);
}

/** Whether the lock at `path` is (still) abandoned, read afresh: the folder judged, or `gone`. */
async function judge(path: string, staleMs: number): Promise<{ owner: LockOwner; verdict: Verdict }> {
  const owner = ownerOf(await readFile(join(path, 'pid'), 'utf8').catch(() => ''));
  return { owner, verdict: await abandoned(path, owner, staleMs) };
}

/**
 * Takes the lock folder `path` once: held (with its release), or not (with its owner). An
 * abandoned lock (see the module doc) is moved aside and taken; one rename wins when two
 * processes try at once, and the moved lock is checked to be the one judged, not one just taken.
 */
export async function tryDirLock(path: string, options: DirLockOptions = {}): Promise<DirLockAttempt> {
  return tryLock(path, options.staleMs ?? Number.POSITIVE_INFINITY, true);
}

/** `tryDirLock`, with takeovers made under the break lock (`serialized`) or, for the break lock itself, not. */
async function tryLock(path: string, staleMs: number, serialized: boolean): Promise<DirLockAttempt> {
  const ownerFile = join(path, 'pid');
  let owner: LockOwner = { pid: null, host: null };
  let waits = 0;
  // Takeovers tried (a lock released meanwhile is just tried again).
  for (let takeovers = 0; takeovers < 3; ) {
    let made = false;
    // Taking and releasing are a few small syscalls, made synchronously: through the thread pool
    // they took twice the old lock's time, and the file store takes a lock per registry write.
    try {
      mkdirSync(path);
      made = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (made) {
      try {
        writeFileSync(ownerFile, `${process.pid}\n${HOST}\n`);
      } catch (e) {
        rmSync(path, { recursive: true, force: true });
        throw e;
      }
      return { held: true, release: async () => release(path, ownerFile) };
    }
    const first = await judge(path, staleMs);
    owner = first.owner;
    const verdict = first.verdict;
    if (verdict === 'gone') continue;
    if (!verdict.left) return { held: false, owner };
    if (!serialized) {
      takeovers++;
      await moveAside(path, verdict.identity, owner);
      continue;
    }
    const breaker = await tryLock(`${path}.break`, BREAK_STALE_MS, false);
    if (!breaker.held) {
      // Another process is taking this lock over: a few milliseconds, then look again.
      if (++waits > BREAK_WAITS) return { held: false, owner };
      await sleep(2 + Math.random() * 8);
      continue;
    }
    try {
      takeovers++;
      // Judged before the break lock was ours: judged again, it must still be abandoned and the
      // same folder (an earlier taker may have replaced it since, with an owner file that reads
      // the same: this pid again, in this process).
      const again = (await judge(path, staleMs)).verdict;
      const same = again !== 'gone' && again.identity.ino === verdict.identity.ino && again.identity.ctimeMs === verdict.identity.ctimeMs;
      if (same && again.left) await moveAside(path, verdict.identity, owner);
    } finally {
      await breaker.release();
    }
  }
  return { held: false, owner };
}

/**
 * Moves the abandoned lock folder at `path` (`identity` as judged) aside and removes it; a lock
 * made there since is checked for and put back.
 */
async function moveAside(path: string, identity: FolderIdentity, owner: LockOwner): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  // A rename keeps the inode but moves the change time, so the inode is compared here, and the
  // owner too: an inode number is soon reused (ext4 gives a folder made at once after a removal
  // the same one).
  const moved = await stat(aside).catch(() => null);
  const movedOwner = ownerOf(await readFile(join(aside, 'pid'), 'utf8').catch(() => ''));
  if (moved === null || moved.ino !== identity.ino || movedOwner.pid !== owner.pid || movedOwner.host !== owner.host) {
    // A live lock was moved (its holder released the judged one and another took the path in
    // between): put it back. Should yet another process have taken the path in this instant,
    // the rename fails and the moved lock stays aside; the lock at the path holds.
    await rename(aside, path).catch(() => undefined);
    return;
  }
  await rm(aside, { recursive: true, force: true });
}
