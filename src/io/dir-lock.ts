/**
 * Lock folders: `mkdir` without `recursive` is atomic and exclusive on every local file system,
 * so the process whose mkdir succeeds holds the lock; it writes `<pid>\n<host>\n<beat>\n<pid
 * namespace>\n` into `pid` inside. Pids are compared only within one pid namespace of one host
 * (two containers of one hostname each have their own; an owner file without a namespace, an
 * earlier version's, is taken for this one). A lock whose owner is such a process that no longer
 * runs was left by a crash and is taken over at once, and so is one naming this process's own
 * pid that this process does not hold (an earlier process's); one without an owner file past a short grace period (being created,
 * or left by a crash in between) too; any lock older than `staleMs`, where the caller gives one
 * (short critical sections: a pid may be reused), and one owned on another host (a folder shared
 * over the network) only then, since its pid means nothing here.
 *
 * A long-held lock (a server's or an ingest's, held for the process's life) beats: its holder
 * touches the owner file every `heartbeatMs` and records that period in it (a third line). Such
 * a lock is also abandoned once its beat has stopped for `HEARTBEAT_MISSES` periods, whoever it
 * names: one of another pid namespace (a container restarted under the same hostname, its folder
 * on a volume, finds its previous life's lock, while another container of that hostname would be
 * beating), one on another host, one whose pid was reused. Where only the beat can tell, the
 * taker watches the owner file for that long by its own clock (clocks are not compared across
 * hosts): a beat seen means held.
 *
 * Takeovers of one lock are made one at a time, under a second lock folder beside it
 * (`<lock>.break`, taken the same way), and judge the lock again under it, by its folder's
 * identity (inode and change time, and the owner file's last beat), not by its owner file, which
 * a new lock of the same pid reads the same: otherwise, of three processes at an abandoned lock,
 * the second could move aside the lock the first had just made while the third made its own, and
 * two would hold it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { unavailable, type OoMlError } from '../errors.js';

/** This host's name, as owner files record it. */
const HOST = hostname();

/** This process's pid namespace (Linux), as owner files record it; null where it cannot be read. */
const PID_NS = ((): string | null => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
})();

/** A beat period above this in an owner file is taken for a damaged file: no beat. */
const MAX_HEARTBEAT_MS = 60_000;

/** A beating lock is abandoned once this many of its periods pass without a beat. */
export const HEARTBEAT_MISSES = 10;

/** The beat of long-held locks: a lock left by a crash under this process's pid is taken over 10 s after its last beat. */
export const DEFAULT_HEARTBEAT_MS = 1_000;

/** Paths of the locks this process holds: a second take of one is refused at once, not watched. */
const heldHere = new Set<string>();

/** A lock folder without an owner file younger than this is being created, not abandoned. */
const OWNER_GRACE_MS = 5_000;

/** Who holds a lock, as its owner file says (null fields: not written, or unreadable). */
export interface LockOwner {
  pid: number | null;
  host: string | null;
  /** How often the holder touches the owner file (null: it does not; a short lock, or an earlier version's). */
  heartbeatMs: number | null;
  /** The holder's pid namespace (null: not recorded, an earlier version's file). */
  pidNs: string | null;
}

/** The holder of a lock as a message names it: `process 12 on host-a`, or `another process`. */
export function describeOwner(owner: LockOwner): string {
  return owner.pid === null ? 'another process' : `process ${owner.pid}${owner.host === null ? '' : ` on ${owner.host}`}`;
}

/** The error of every use of `what` once its lock at `path` is no longer this process's (deleted, or taken after this process stood still past its beat). */
export function lostLockError(path: string, what: string, hint: string): OoMlError {
  return unavailable(`${what} lost its lock ${path}: the process stood still past the lock's heartbeat (or the folder was deleted), and another process may hold it now`, {
    hint,
    details: { lock: path },
  });
}

/** What `tryDirLock` got: the lock (and its release), or who holds it. */
export type DirLockAttempt = { held: true; release: () => Promise<void> } | { held: false; owner: LockOwner };

/** Options of `tryDirLock`. */
export interface DirLockOptions {
  /** Age past which a lock is taken over whoever holds it (default: never); a holder on another host is judged by this alone. */
  staleMs?: number;
  /** Beat while held, every this many ms (a long-held lock: see the module doc). */
  heartbeatMs?: number;
  /** Called once when a beating lock must be watched before it can be judged, with how long that takes at most. */
  onWatch?: (owner: LockOwner, forMs: number) => void;
  /** Called once when a beat finds the lock no longer this holder's (deleted, or taken over while this process stood still). */
  onLost?: () => void;
}

/** A takeover lock older than this was left by a crash: a takeover is a few small syscalls. */
const BREAK_STALE_MS = 10_000;

/** How many times a taker waits for another's takeover of the same lock before reporting the lock held. */
const BREAK_WAITS = 200;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether process `pid` of this host runs (EPERM: it runs as another user; a zombie, killed and not yet reaped, does not). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // `<pid> (<comm>) <state> …`: the name may hold spaces and parentheses; the state follows the last `)`.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return true;
  }
}

function ownerOf(text: string): LockOwner {
  const [pidText, host, beatText, ns] = text.split('\n');
  const pid = Number.parseInt(pidText ?? '', 10);
  const beat = Number.parseInt(beatText ?? '', 10);
  return {
    pid: Number.isInteger(pid) && pid > 0 ? pid : null,
    host: host === undefined || host === '' ? null : host,
    heartbeatMs: Number.isInteger(beat) && beat > 0 && beat <= MAX_HEARTBEAT_MS ? beat : null,
    pidNs: ns === undefined || ns === '' ? null : ns,
  };
}

/** What tells a lock folder from one made later at the same path (its inode and change time: an inode number alone is soon reused), and its last beat. */
interface FolderIdentity {
  ino: number;
  ctimeMs: number;
  /** The owner file's modification time (NaN: no owner file). */
  beatMs: number;
}

/** Whether two stats are of one file as it was (inode and change time). */
const sameFile = (a: { ino: number; ctimeMs: number }, b: { ino: number; ctimeMs: number }) => a.ino === b.ino && a.ctimeMs === b.ctimeMs;
/** Whether two identities are of one lock folder, not beaten between them. */
const sameBeat = (a: FolderIdentity, b: FolderIdentity) => sameFile(a, b) && Object.is(a.beatMs, b.beatMs);

/** A lock folder's age, its owner file's (the last beat's), and its identity; null when it is gone. */
async function lockStat(path: string): Promise<{ ageMs: number; beatAgeMs: number; madeMs: number; identity: FolderIdentity } | null> {
  try {
    const s = await stat(path);
    const owner = await stat(join(path, 'pid')).catch(() => null);
    const now = Date.now();
    const beatMs = owner === null ? Number.NaN : owner.mtimeMs;
    return { ageMs: now - s.mtimeMs, beatAgeMs: now - beatMs, madeMs: s.mtimeMs, identity: { ino: s.ino, ctimeMs: s.ctimeMs, beatMs } };
  } catch {
    return null;
  }
}

/** A beating lock watched since `sinceMs` (performance.now(): a wall-clock step is not silence), its beat as then. */
interface Watch {
  identity: FolderIdentity;
  sinceMs: number;
}

/**
 * A verdict on a lock: left behind, held, or (a beating lock only its beat can judge) to be
 * watched; with the folder judged. `gone` when it was released meanwhile.
 */
type Verdict = { state: 'left' | 'held' | 'watch'; identity: FolderIdentity } | 'gone';

/** Whether the lock at `path`, owned by `owner`, was left behind (and which folder was judged); `gone` when it was released meanwhile. */
async function abandoned(path: string, owner: LockOwner, staleMs: number, watch: Watch | null): Promise<Verdict> {
  const s = await lockStat(path);
  if (s === null) return 'gone';
  const judged = (state: 'left' | 'held' | 'watch') => ({ state, identity: s.identity });
  if (owner.pid === null) return judged(s.ageMs >= OWNER_GRACE_MS ? 'left' : 'held');
  // Past `staleMs` a lock is abandoned whoever holds it: its pid may have been reused since
  // (a container restarted under the same hostname runs as the same pid again).
  if (s.ageMs > staleMs) return judged('left');
  const heldByUs = heldHere.has(resolve(path));
  const thisHost = owner.host === null || owner.host === HOST;
  // Pids mean something only within one pid namespace. An owner file without one is taken for
  // ours when it does not beat (an earlier version's); one that beats is judged by its beat.
  const ourPids = thisHost && (owner.pidNs === null ? owner.heartbeatMs === null : PID_NS === null || owner.pidNs === PID_NS);
  if (ourPids) {
    // A process that no longer runs left it.
    if (!isRunning(owner.pid)) return judged('left');
    // Our own pid in our own namespace, on a lock made before this process started: an earlier
    // process's. (One made since is this process's, maybe being made or released by another of
    // its takers while this one looked; without a recorded namespace it could be another
    // container's: watched below.)
    if (owner.pid === process.pid && owner.pidNs !== null && owner.pidNs === PID_NS && !heldByUs && s.madeMs < performance.timeOrigin) return judged('left');
  }
  if (owner.heartbeatMs === null) return judged('held');
  const silentMs = owner.heartbeatMs * HEARTBEAT_MISSES;
  // This host's clock dates the last beat; another host's is not compared with it, but watched.
  if (thisHost && s.beatAgeMs > silentMs) return judged('left');
  if (watch !== null && sameFile(watch.identity, s.identity)) {
    if (!sameBeat(watch.identity, s.identity)) return judged('held');
    if (performance.now() - watch.sinceMs > silentMs) return judged('left');
    return judged('watch');
  }
  // Otherwise its beat decides, watched: a live holder beats within a period, while a pid that
  // runs may be another process's since, or stopped, and one of another namespace or host
  // cannot be asked.
  if (heldByUs) return judged('held');
  return judged('watch');
}

/** Whether the lock at `path` is (still) abandoned, read afresh: the folder judged, or `gone`. */
async function judge(path: string, staleMs: number, watch: Watch | null): Promise<{ owner: LockOwner; verdict: Verdict }> {
  const owner = ownerOf(await readFile(join(path, 'pid'), 'utf8').catch(() => ''));
  return { owner, verdict: await abandoned(path, owner, staleMs, watch) };
}

/**
 * Takes the lock folder `path` once: held (with its release), or not (with its owner). An
 * abandoned lock (see the module doc) is moved aside and taken; one rename wins when two
 * processes try at once, and the moved lock is checked to be the one judged, not one just taken.
 * A beating lock only its beat can judge is watched first: this can take `HEARTBEAT_MISSES`
 * periods of its beat.
 */
export async function tryDirLock(path: string, options: DirLockOptions = {}): Promise<DirLockAttempt> {
  return tryLock(path, options.staleMs ?? Number.POSITIVE_INFINITY, true, options);
}

/** `tryDirLock`, with takeovers made under the break lock (`serialized`) or, for the break lock itself, not. */
async function tryLock(path: string, staleMs: number, serialized: boolean, options: DirLockOptions): Promise<DirLockAttempt> {
  const ownerFile = join(path, 'pid');
  let owner: LockOwner = { pid: null, host: null, heartbeatMs: null, pidNs: null };
  let waits = 0;
  let watch: Watch | null = null;
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
    if (made) return { held: true, release: hold(path, ownerFile, options) };
    const first = await judge(path, staleMs, watch);
    owner = first.owner;
    const verdict = first.verdict;
    if (verdict === 'gone') continue;
    if (verdict.state === 'held') return { held: false, owner };
    if (verdict.state === 'watch') {
      if (watch === null || !sameFile(watch.identity, verdict.identity)) {
        if (watch === null) options.onWatch?.(owner, owner.heartbeatMs! * HEARTBEAT_MISSES);
        watch = { identity: verdict.identity, sinceMs: performance.now() };
      }
      await sleep(owner.heartbeatMs! / 2);
      continue;
    }
    if (!serialized) {
      takeovers++;
      await moveAside(path, verdict.identity, owner);
      continue;
    }
    const breaker = await tryLock(`${path}.break`, BREAK_STALE_MS, false, {});
    if (!breaker.held) {
      // Another process is taking this lock over: a few milliseconds, then look again.
      if (++waits > BREAK_WAITS) return { held: false, owner };
      await sleep(2 + Math.random() * 8);
      continue;
    }
    try {
      takeovers++;
      // Judged before the break lock was ours: judged again, it must still be abandoned and the
      // same folder, not beaten since (an earlier taker may have replaced it since, with an
      // owner file that reads the same: this pid again, in this process).
      const again = (await judge(path, staleMs, watch)).verdict;
      if (again !== 'gone' && again.state === 'left' && sameBeat(again.identity, verdict.identity)) await moveAside(path, verdict.identity, owner);
    } finally {
      await breaker.release();
    }
  }
  return { held: false, owner };
}

/** Writes the owner file of the lock just made at `path` and, for a beating lock, starts its beat; returns its release. */
function hold(path: string, ownerFile: string, options: DirLockOptions): () => Promise<void> {
  const beat = options.heartbeatMs;
  let seen: { ino: number; ctimeMs: number };
  try {
    writeFileSync(ownerFile, `${process.pid}\n${HOST}\n${beat ?? ''}\n${PID_NS ?? ''}\n`);
    seen = statSync(ownerFile);
  } catch (e) {
    rmSync(path, { recursive: true, force: true });
    throw e;
  }
  const key = resolve(path);
  heldHere.add(key);
  let timer: NodeJS.Timeout | undefined;
  if (beat !== undefined) {
    timer = setInterval(() => {
      // Synchronous: a beat through the thread pool could queue behind slow file work and look
      // like silence. The owner file must be the one this holder last touched: one written
      // since (a takeover while this process stood still) has another inode or change time.
      try {
        const now = statSync(ownerFile);
        if (!sameFile(now, seen)) throw new Error('not ours');
        const t = new Date();
        utimesSync(ownerFile, t, t);
        seen = statSync(ownerFile);
      } catch {
        clearInterval(timer);
        heldHere.delete(key);
        options.onLost?.();
      }
    }, beat);
    timer.unref();
  }
  return async () => {
    clearInterval(timer);
    // Lost (see above, or found so now): the folder at the path is another holder's.
    if (!heldHere.delete(key)) return;
    try {
      const now = statSync(ownerFile);
      if (!sameFile(now, seen)) return;
    } catch {
      return;
    }
    release(path, ownerFile);
  };
}

/** Removes a lock this process holds: its owner file, then the folder (anything else in it too). */
function release(path: string, ownerFile: string): void {
  try {
    unlinkSync(ownerFile);
    rmdirSync(path);
  } catch {
    rmSync(path, { recursive: true, force: true });
  }
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
