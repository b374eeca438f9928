/**
 * The embedded bus's streams: one append-only log per stream, cut into segment files,
 *
 *   <stream dir>/<first seq, 20 digits>.ndjson     e.g. events/00000000000000000001.ndjson
 *
 * Each message is one line: the subject, one space, the payload bytes exactly as published
 * (compact JSON, which never holds a raw newline), `\n`. A message's `seq` is its 1-based line
 * position in the stream across segments, so a segment is named by the seq of its first line and
 * nothing else needs storing. Like a JetStream stream, one log holds every subject of the stream
 * in one total order (the server's online learning folds serves and rewards in that order).
 *
 * Lines are appended whole — one write(2) per batch on an O_APPEND descriptor — and the append
 * resolves once the write returned: the line is in the log and survives a crash of the process
 * (`kill -9`). `fdatasync` (what survives a crash of the machine) runs by the writer's `syncMs`:
 * before each append resolves when 0 (group commit: see openStreamWriter), else at most that long
 * after a write, as JetStream's `sync_interval` (default 2 min) or Redis's `appendfsync
 * everysec` (a checkpoint past a stream cut short by a crash of the machine is noticed at start:
 * online-learning.ts). One writer per
 * stream at a time (the caller holds the stream's writer lock), so seqs are counted, not
 * stored. Readers take complete lines only, so a line being written is picked up on a later read.
 * A writer that crashed mid-line leaves a fragment without `\n`; the next writer first ends it
 * with `\n`, so the fragment becomes a line of its own (an invalid message, which consumers
 * dead-letter) and every reader and writer counts the same lines. Blank lines carry nothing: they
 * take a seq but are never delivered.
 *
 * Retention is JetStream's `limits` policy by whole segments: after a rotation (and when a writer
 * opens) sealed segments older than `maxAgeMs` (by mtime: the time of their newest line) are
 * deleted, then the oldest sealed ones while the stream holds more than `maxBytes`. The segment
 * being written is never deleted, so the stream's last seq survives every deletion. A rotation's
 * slow parts (the sealed segment's last fdatasync, the directory's sync, retention) run beside the
 * appends that follow it unless `syncMs` is 0; a failure fails the next batch, as a failed
 * interval sync does.
 */
import { writeSync } from 'node:fs';
import { mkdir, open as openFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { internal, invalidInput, isOoMlError, unavailable } from '../errors.js';
import { readDirIfExists } from '../io/atomic.js';

/** File extension of segments. */
export const SEGMENT_EXT = '.ndjson';
/** Digits of a segment name: every seq below 2^53 fits, and names sort as their seqs do. */
const SEQ_DIGITS = 20;
const SEGMENT_NAME = /^(\d{20})\.ndjson$/;
const NL = 0x0a;
const SP = 0x20;
/** Bytes per read(2) of readers and line counts: large reads, no per-line syscalls. */
const READ_CHUNK = 4 << 20;
/** At most this many bytes go into one write(2) of a group commit. */
const GROUP_COMMIT_BYTES = 1 << 20;

/** One segment file of a stream. */
export interface Segment {
  /** Seq of its first line. */
  firstSeq: number;
  path: string;
}

/** The file name of the segment whose first line has seq `firstSeq`. */
export function segmentName(firstSeq: number): string {
  return String(firstSeq).padStart(SEQ_DIGITS, '0') + SEGMENT_EXT;
}

/** The segments of the stream in `dir`, oldest first (none when the folder does not exist). */
export async function listSegments(dir: string): Promise<Segment[]> {
  const out: Segment[] = [];
  for (const { name } of await readDirIfExists(dir)) {
    const m = SEGMENT_NAME.exec(name);
    if (m !== null) out.push({ firstSeq: Number(m[1]), path: join(dir, name) });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Path of the previous layout's journal of `subject` in the bus folder `bus` (migrated by legacy-journals.ts). */
export function legacyJournalPath(bus: string, subject: string): string {
  return join(bus, subject + SEGMENT_EXT);
}

/**
 * Throws `invalid_input` unless `subject` can head a line: non-empty, without the space that ends
 * it or a newline. Nothing else is refused — a dead letter's subject is `dlq.` plus whatever a
 * torn line began with, and refusing it would leave that message unacked forever.
 */
export function checkSubject(subject: string): void {
  if (subject === '' || subject.includes(' ') || subject.includes('\n')) {
    throw invalidInput(`subject ${JSON.stringify(subject)} is empty or holds a space or a newline`, {
      hint: 'subjects are dot-separated tokens such as signals.tip.served',
    });
  }
}

/** Complete lines of `handle` between byte `from` and `to`, and the offset just after the last one. */
async function countLines(handle: FileHandle, from: number, to: number): Promise<{ lines: number; end: number }> {
  const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(1, to - from)));
  let lines = 0;
  let end = from;
  for (let pos = from; pos < to; ) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, to - pos), pos);
    if (bytesRead === 0) break;
    for (let i = buf.indexOf(NL, 0); i >= 0 && i < bytesRead; i = buf.indexOf(NL, i + 1)) {
      lines++;
      end = pos + i + 1;
    }
    pos += bytesRead;
  }
  return { lines, end };
}

/** Counts the complete lines of one segment file incrementally (it only ever grows). */
export class LineCounter {
  private path = '';
  private offset = 0;
  private lines = 0;

  /** Complete lines in `path` now; an unreadable (deleted) file counts as none. */
  async count(path: string): Promise<number> {
    if (path !== this.path) {
      this.path = path;
      this.offset = 0;
      this.lines = 0;
    }
    let handle: FileHandle;
    try {
      handle = await openFile(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    try {
      const { size } = await handle.stat();
      if (size < this.offset) {
        // Replaced behind our back (a deleted and re-created bus): count again.
        this.offset = 0;
        this.lines = 0;
      }
      const { lines, end } = await countLines(handle, this.offset, size);
      this.lines += lines;
      if (lines > 0) this.offset = end;
      return this.lines;
    } finally {
      await handle.close();
    }
  }
}

/** The first and last seq of the stream in `dir` ({firstSeq: 1, lastSeq: 0} when empty). */
export async function streamExtent(dir: string, counter = new LineCounter()): Promise<{ firstSeq: number; lastSeq: number }> {
  const segments = await listSegments(dir);
  const first = segments[0];
  const last = segments.at(-1);
  if (first === undefined || last === undefined) return { firstSeq: 1, lastSeq: 0 };
  const lastSeq = last.firstSeq + (await counter.count(last.path)) - 1;
  // A stream whose only segment is new and empty holds nothing: firstSeq is lastSeq + 1.
  return { firstSeq: Math.min(first.firstSeq, lastSeq + 1), lastSeq };
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Limits of one stream (see the module comment). */
export interface RetentionLimits {
  /** Sealed segments whose newest line is older than this are deleted. */
  maxAgeMs: number;
  /** Then the oldest sealed segments while the stream holds more bytes than this. */
  maxBytes: number;
}

/** Options of a stream writer. */
export interface StreamWriterOptions extends RetentionLimits {
  /** A segment that has reached this size is sealed: the next batch starts a new one. */
  segmentBytes: number;
  /** Called after each batch is stored, with its bytes (this process's readers take them from memory). */
  onAppend?: (batch: AppendedBatch) => void;
  /** fdatasync policy: 0 = before each append resolves; else at most this many ms after a write (default 0). */
  syncMs?: number;
  /**
   * Runs once at open, after a crashed writer's fragment was closed off and the lines counted,
   * before anything is appended; it may add whole segments from `nextSeq` on (a migration) and
   * returns true when it did, so the writer counts again.
   */
  beforeAppend?: (nextSeq: number) => Promise<boolean>;
  /** Clock for retention (epoch ms), default Date.now. */
  now?: () => number;
}

/** A batch of whole lines as the writer stored it: `chunk` is the file's bytes from `offset` of the segment named by `segment`. */
export interface AppendedBatch {
  /** First seq of the segment written (its name). */
  segment: number;
  /** File offset of the chunk's first byte in that segment. */
  offset: number;
  /** The lines, `<subject> <payload>\n` each; never written to after the call. */
  chunk: Buffer;
}

/** Appends whole lines to one stream, in call order. */
export interface StreamWriter {
  /** Appends `<subject> <data>\n`; resolves with its seq once written (and fdatasynced when `syncMs` is 0). */
  append(subject: string, data: Uint8Array): Promise<number>;
  /** Waits for pending appends and a sealed segment's background work, then closes the segment; throws what failed in the background since the last batch. */
  close(): Promise<void>;
}

interface QueuedLine {
  subject: string;
  /** The payload, without its newline. */
  data: Uint8Array;
  resolve(seq: number): void;
  reject(e: unknown): void;
}

/** The segment being written and what was counted of it. */
interface OpenSegment {
  handle: FileHandle;
  firstSeq: number;
  bytes: number;
  /** Seq of the next line. */
  nextSeq: number;
}

/**
 * Opens the writer of the stream in `dir` (created if missing). The caller holds the stream's
 * writer lock: seqs are counted from the files, so two writers would hand out the same seq.
 *
 * Group commit: appends that arrive while a write (+ fdatasync) is running are written together
 * by the next one (one write(2)). With `syncMs` 0 each resolves only after the fdatasync that
 * covers its line — the guarantee of one sync per line, at a fraction of the syncs when many
 * publishers are in flight; otherwise a timer syncs what was written at most `syncMs` later, and
 * that sync runs beside the writes that follow it: appends that waited for it held every request
 * in flight for as long as the disk took (BENCHMARKS.md, "the interval sync").
 */
export async function openStreamWriter(dir: string, options: StreamWriterOptions): Promise<StreamWriter> {
  const now = options.now ?? Date.now;
  const syncMs = options.syncMs ?? 0;
  await mkdir(dir, { recursive: true });
  let seg = await openLastSegment(dir);
  try {
    if (options.beforeAppend !== undefined && (await options.beforeAppend(seg.nextSeq))) {
      await seg.handle.close();
      seg = await openLastSegment(dir);
    }
    await applyRetention(dir, seg.firstSeq, options, now());
  } catch (e) {
    await seg.handle.close();
    throw e;
  }

  const queue: QueuedLine[] = [];
  let running: Promise<void> | null = null;
  let closed = false;
  /** After a failed batch the file holds an unknown part of it: count again before the next. */
  let recount = false;
  /** Bytes written since the last fdatasync, and whether the loop should sync them now. */
  let unsynced = false;
  let syncDue = false;
  let syncTimer: NodeJS.Timeout | null = null;
  /** What failed in the background (the interval sync, a sealed segment's sync, retention): the next batch, or close, fails with it. */
  let backgroundError: Error | null = null;
  /** The interval fdatasync in flight (`syncMs` > 0), which later writes do not wait for. */
  let syncing: Promise<void> | null = null;
  /**
   * The sealed segments' last fdatasync and close, the directory's sync (the new segment's entry)
   * and retention, in order and beside the writes that follow, so a batch does not wait on the
   * disk for lines already written (bench:journal-rotation). Never rejects: a failure goes to
   * `backgroundError`.
   */
  let sealing: Promise<void> = Promise.resolve();
  /** The part of `sealing` up to the directory's sync: the new segment's lines count as synced only after it. */
  let entrySynced: Promise<void> = Promise.resolve();
  /** Records the first background failure, naming `what` (an error of ours keeps its own message). */
  const recordFailure =
    (what: string) =>
    (e: unknown): void => {
      backgroundError ??= isOoMlError(e) ? e : diskFailure(what, e);
    };

  // A batch starts on the next turn of the event loop: every append of this turn (the serves of
  // all requests read in one poll) shares its write.
  const kick = (): void => {
    running ??= new Promise<void>((resolve) => setImmediate(resolve)).then(writeLoop);
  };
  /** Asks the loop for an fdatasync at most `syncMs` from now. */
  function scheduleSync(): void {
    if (syncTimer !== null || closed) return;
    syncTimer = setTimeout(() => {
      syncTimer = null;
      syncDue = true;
      kick();
    }, syncMs);
    // A pending sync does not keep the process alive; close() syncs what is left.
    syncTimer.unref();
  }

  /**
   * Starts the interval sync of what was written, unless one is running (then the next timer
   * covers what this one may miss). It covers every byte written before it starts; bytes written
   * while it runs stay `unsynced` for the next.
   */
  function startSync(): void {
    syncDue = false;
    if (!unsynced) return;
    if (syncing !== null) {
      scheduleSync();
      return;
    }
    unsynced = false;
    const { handle, firstSeq } = seg;
    // A segment's lines count as synced only once its directory entry is.
    // Lines already acknowledged may be lost when it fails: the next batch fails with the error,
    // so the publisher sees the disk fail (the server spills and reports the bus degraded).
    syncing = entrySynced.then(() => handle.datasync()).then(() => undefined, recordFailure(`fdatasync of the bus segment ${join(dir, segmentName(firstSeq))}`));
    const current = syncing;
    void current.then(() => {
      if (syncing === current) syncing = null;
    });
  }

  /**
   * Seals the current segment and starts the one named by the next seq. The sealed segment's
   * last sync and close, the directory's sync and retention go to `sealing`; with `syncMs` 0 the
   * batch waits for them (its lines resolve synced, their file's entry included), otherwise they
   * run beside the writes that follow, as the interval sync does.
   */
  async function rotate(): Promise<void> {
    const path = join(dir, segmentName(seg.nextSeq));
    const handle = await openFile(path, 'a+');
    let size: number;
    try {
      ({ size } = await handle.stat());
    } catch (e) {
      await handle.close();
      throw e;
    }
    const old = { handle: seg.handle, path: join(dir, segmentName(seg.firstSeq)), unsynced, syncing };
    unsynced = false;
    // The interval sync in flight is the sealed segment's: the new one's may start beside it.
    syncing = null;
    const firstSeq = seg.nextSeq;
    seg = { handle, firstSeq, bytes: size, nextSeq: firstSeq };
    entrySynced = sealing.then(async () => {
      // What was written to the sealed segment is synced before its handle closes.
      await old.syncing;
      if (old.unsynced) await old.handle.datasync().catch(recordFailure(`fdatasync of the bus segment ${old.path}`));
      await old.handle.close().catch(recordFailure(`closing the bus segment ${old.path}`));
      // The new file's directory entry must survive a crash as its lines will.
      await syncDir(dir).catch(recordFailure(`fsync of the bus folder ${dir}`));
    });
    sealing = entrySynced.then(() => applyRetention(dir, firstSeq, options, now()).catch(recordFailure(`retention of the bus stream ${dir}`)));
    if (syncMs === 0) {
      // Each line resolves synced, its file's directory entry included: the rotating batch fails with what failed.
      await sealing;
      throwBackgroundError();
    }
  }

  /** Throws (once) what failed in the background since the last batch. */
  function throwBackgroundError(): void {
    const e = backgroundError;
    backgroundError = null;
    if (e !== null) throw e;
  }

  async function writeLoop(): Promise<void> {
    while (queue.length > 0 || syncDue) {
      if (syncDue) startSync();
      if (queue.length === 0) continue;
      let bytes = 0;
      let n = 0;
      while (n < queue.length) {
        const q = queue[n]!;
        const size = Buffer.byteLength(q.subject) + q.data.length + 2;
        if (n > 0 && bytes + size > GROUP_COMMIT_BYTES) break;
        bytes += size;
        n++;
      }
      const batch = queue.splice(0, n);
      try {
        throwBackgroundError();
        if (recount) {
          seg = await recountSegment(seg);
          recount = false;
        }
        if (seg.bytes >= options.segmentBytes) await rotate();
        // One copy of the whole batch, subjects and newlines included.
        const chunk = Buffer.allocUnsafe(bytes);
        let at = 0;
        for (const q of batch) {
          at += chunk.write(q.subject, at, 'utf8');
          chunk[at++] = SP;
          chunk.set(q.data, at);
          at += q.data.length;
          chunk[at++] = NL;
        }
        const offset = seg.bytes;
        // write(2) may write less than asked (disk nearly full, a signal): finish the batch.
        unsynced = true;
        for (let off = 0; off < chunk.length; ) {
          // Without a sync to wait for, write(2) to the page cache is a few µs: made here, it
          // saves the thread pool's round trip, which cost more on a busy core (bench:serve).
          const bytesWritten = syncMs === 0 ? (await seg.handle.write(chunk, off, chunk.length - off)).bytesWritten : writeSync(seg.handle.fd, chunk, off, chunk.length - off);
          if (bytesWritten === 0) throw unavailable(`the bus segment ${join(dir, segmentName(seg.firstSeq))} accepted no bytes`, { hint: 'check the free space of the disk holding the bus folder' });
          off += bytesWritten;
          seg.bytes += bytesWritten;
        }
        if (syncMs === 0) {
          await seg.handle.datasync();
          unsynced = false;
        } else scheduleSync();
        const first = seg.nextSeq;
        seg.nextSeq += batch.length;
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(first + i);
        options.onAppend?.({ segment: seg.firstSeq, offset, chunk });
      } catch (e) {
        recount = true;
        for (const q of batch) q.reject(e);
      }
    }
    running = null;
  }

  return {
    // Not async: an append is one promise (see event-bus.ts publish on what each costs per /score).
    append(subject, data) {
      if (closed) return Promise.reject(unavailable(`the bus stream ${dir} is closed`));
      try {
        checkSubject(subject);
      } catch (e) {
        return Promise.reject(e);
      }
      if (data.includes(NL)) return Promise.reject(internal(`bus payload for ${subject} contains a newline`));
      const done = new Promise<number>((resolve, reject) => queue.push({ subject, data, resolve, reject }));
      kick();
      return done;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (syncTimer !== null) clearTimeout(syncTimer);
      syncTimer = null;
      await running;
      await syncing;
      await sealing;
      try {
        if (unsynced) await seg.handle.datasync();
      } finally {
        await seg.handle.close();
      }
      // Background work that failed after the last batch: what close promised is not done.
      throwBackgroundError();
    },
  };
}

/** The error of background disk work that failed, `what` naming it (the next batch, or close, reports it). */
function diskFailure(what: string, error: unknown): Error {
  return unavailable(`${what} failed: ${error instanceof Error ? error.message : String(error)}`, { hint: 'check the disk holding the bus folder', cause: error });
}

/**
 * Opens the last segment for appending (creating the stream's first when there is none), closes
 * off a crashed writer's fragment with `\n`, and counts its lines to know the next seq.
 */
async function openLastSegment(dir: string): Promise<OpenSegment> {
  const last = (await listSegments(dir)).at(-1);
  const firstSeq = last?.firstSeq ?? 1;
  const handle = await openFile(last?.path ?? join(dir, segmentName(firstSeq)), 'a+');
  if (last === undefined) await syncDir(dir);
  try {
    return await recountSegment({ handle, firstSeq, bytes: 0, nextSeq: firstSeq });
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** `seg` with its bytes and next seq read from the file, after ending a fragment with `\n`. */
async function recountSegment(seg: OpenSegment): Promise<OpenSegment> {
  let { size } = await seg.handle.stat();
  if (size > 0) {
    const last = Buffer.alloc(1);
    await seg.handle.read(last, 0, 1, size - 1);
    if (last[0] !== NL) {
      // A crashed writer's fragment (or a failed batch's part): our first line must be its own.
      await seg.handle.write(Buffer.from([NL]));
      await seg.handle.datasync();
      size++;
    }
  }
  const { lines } = await countLines(seg.handle, 0, size);
  return { handle: seg.handle, firstSeq: seg.firstSeq, bytes: size, nextSeq: seg.firstSeq + lines };
}

/** Deletes sealed segments (those before `currentFirstSeq`) past the age limit, then past the size limit. */
async function applyRetention(dir: string, currentFirstSeq: number, limits: RetentionLimits, nowMs: number): Promise<void> {
  const infos: { path: string; sealed: boolean; size: number; mtimeMs: number }[] = [];
  for (const s of await listSegments(dir)) {
    try {
      const st = await stat(s.path);
      infos.push({ path: s.path, sealed: s.firstSeq < currentFirstSeq, size: st.size, mtimeMs: st.mtimeMs });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  let total = infos.reduce((n, s) => n + s.size, 0);
  for (const s of infos) {
    if (!s.sealed) break;
    if (nowMs - s.mtimeMs > limits.maxAgeMs || total > limits.maxBytes) {
      await removeSegment(s.path);
      total -= s.size;
    }
  }
}

async function removeSegment(path: string): Promise<void> {
  try {
    await rm(path, { force: true });
  } catch (e) {
    throw unavailable(`could not delete the expired bus segment ${path}: ${(e as Error).message}`, {
      hint: 'check the permissions of the bus folder; publishing goes on once the segment can be deleted',
      cause: e,
    });
  }
}

/** fsyncs a folder, so a file created in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await openFile(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

/** One line of a stream as a reader returns it. */
export interface StreamLine {
  subject: string;
  data: Uint8Array;
  seq: number;
}

/** Options of a stream reader. */
export interface StreamReaderOptions {
  /** How often a waiting reader looks for lines another process appended. */
  pollMs: number;
  /** Subscribes to this process's appends to the stream; returns the unsubscribe function. */
  subscribe?: (onAppend: (batch: AppendedBatch) => void) => () => void;
  /** Where this process's writer of the stream has written to, or null when no writer of this process holds it. */
  writtenTo?: () => WrittenTo | null;
}

/** The end of what the stream's writer wrote: segment (its first seq) and byte offset. */
export interface WrittenTo {
  segment: number;
  end: number;
}

/** Bytes of appended batches a reader keeps for its next read; past them it reads the file again. */
const PUSHED_BYTES = 16 << 20;

/** An ordered reader of one stream (see openStreamReader). */
export interface StreamReader {
  /** Up to `max` complete lines from where the last call stopped; never waits. */
  read(max: number): Promise<StreamLine[]>;
  /** Resolves after at most `ms`, early when this process appends to the stream. */
  wait(ms: number): Promise<void>;
  /** Up to `max` lines, as soon as at least one is there, or [] after `maxWaitMs`. */
  next(max: number, maxWaitMs: number): Promise<StreamLine[]>;
  close(): Promise<void>;
}

/**
 * An ordered reader of the stream in `dir` from `startSeq` on (from the oldest retained line
 * when that is older). It reads in chunks of several MiB and hands out views of them (no copy,
 * no syscall per line). It follows into the next segment when the current one has ended, and
 * when retention deleted the segment it is in, it goes on at the oldest remaining one.
 *
 * When the writer is in this process, a reader that has caught up takes each appended batch from
 * memory (the very bytes written, at the file offset it is at) and knows it is at the end without
 * a syscall: the server's fold follows its own serves this way, not by stat + read + readdir per
 * batch (bench:serve).
 */
export function openStreamReader(dir: string, startSeq: number, options: StreamReaderOptions): StreamReader {
  /** The segment being read, or null before the first line exists. */
  let seg: { handle: FileHandle; firstSeq: number } | null = null;
  /** Read bytes: [start, view.length) not yet parsed; view is a fresh chunk each refill, since lines handed out are views of it. */
  let view: Buffer = Buffer.alloc(0);
  let start = 0;
  /** File offset just after the bytes in `view`. */
  let fileOffset = 0;
  /** Seq of the line starting at `start`. */
  let nextSeq = startSeq;
  /** Lines before this are skipped (a reader starting mid-segment). */
  const skipBelow = startSeq;
  let closed = false;

  // Appends of this process wake a waiting reader at once; `dirty` covers an append that lands
  // between a read that found nothing and the wait that follows it.
  let dirty = false;
  let waiter: (() => void) | null = null;
  /** Batches this process appended since the last read, while they stay under PUSHED_BYTES. */
  let pushed: AppendedBatch[] = [];
  let pushedBytes = 0;
  const unsubscribe = options.subscribe?.((batch) => {
    if (pushedBytes + batch.chunk.length <= PUSHED_BYTES) {
      pushed.push(batch);
      pushedBytes += batch.chunk.length;
    } else {
      // A reader that does not keep up reads the file instead.
      pushed = [];
      pushedBytes = 0;
    }
    dirty = true;
    waiter?.();
  });

  /**
   * Appends the pushed bytes that continue the current segment at `fileOffset` to `view` (true
   * when any did); drops those already read. All of them in one copy: a reader that fell behind
   * (the fold, paused while a checkpoint flushes) holds thousands of small batches, and a copy of
   * the unparsed tail per batch made the catch-up quadratic, a busy event loop for seconds.
   */
  function takePushed(): boolean {
    if (seg === null) return false;
    let taken = 0;
    let at = fileOffset;
    const fresh: Buffer[] = [];
    for (const b of pushed) {
      const end = b.offset + b.chunk.length;
      if (b.segment < seg.firstSeq || (b.segment === seg.firstSeq && end <= at)) {
        taken++;
        continue;
      }
      // A later segment, or a gap (bytes this reader has not read yet): the file has them.
      if (b.segment !== seg.firstSeq || b.offset > at) break;
      fresh.push(b.chunk.subarray(at - b.offset));
      at = end;
      taken++;
    }
    for (const b of pushed.splice(0, taken)) pushedBytes -= b.chunk.length;
    if (fresh.length === 0) return false;
    if (start < view.length) fresh.unshift(view.subarray(start));
    view = fresh.length === 1 ? fresh[0]! : Buffer.concat(fresh);
    start = 0;
    fileOffset = at;
    return true;
  }

  /** Where this process's writer has written to when that is this reader's segment, else null. */
  function writtenHere(): WrittenTo | null {
    const to = options.writtenTo?.() ?? null;
    return to !== null && seg !== null && to.segment === seg.firstSeq ? to : null;
  }

  /** True when this process's writer has written nothing past what this reader has parsed. */
  function atWrittenEnd(): boolean {
    return writtenHere()?.end === fileOffset && start === view.length;
  }

  /** Opens the segment holding `seq` (or the oldest, when `seq` is older); false when there is none yet. */
  async function position(seq: number): Promise<boolean> {
    for (;;) {
      const segments = await listSegments(dir);
      if (segments.length === 0) return false;
      let target = segments[0]!;
      for (const s of segments) if (s.firstSeq <= seq) target = s;
      if (await openSegment(target)) return true;
    }
  }

  /** Switches to `target`; false when it vanished meanwhile (retention). */
  async function openSegment(target: Segment): Promise<boolean> {
    let handle: FileHandle;
    try {
      handle = await openFile(target.path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    await seg?.handle.close();
    seg = { handle, firstSeq: target.firstSeq };
    view = Buffer.alloc(0);
    start = 0;
    fileOffset = 0;
    nextSeq = target.firstSeq;
    return true;
  }

  /** The segment after the current one, or null. */
  async function following(): Promise<Segment | null> {
    const current = seg!.firstSeq;
    for (const s of await listSegments(dir)) if (s.firstSeq > current) return s;
    return null;
  }

  /**
   * Reads more of the current segment after the unparsed tail; false at its end. A chunk is
   * READ_CHUNK when that much is there (a reader catching up), only what is there when less (a
   * reader following appends line by line allocates no megabytes), and at least the tail again
   * (a line longer than a chunk is read in geometrically growing pieces, not copied quadratically).
   */
  async function refill(size: number): Promise<boolean> {
    if (fileOffset >= size) return false;
    const tail = view.length - start;
    const chunk = Buffer.allocUnsafeSlow(tail + Math.min(Math.max(READ_CHUNK, tail), size - fileOffset));
    view.copy(chunk, 0, start);
    const { bytesRead } = await seg!.handle.read(chunk, tail, chunk.length - tail, fileOffset);
    fileOffset += bytesRead;
    view = chunk.subarray(0, tail + bytesRead);
    start = 0;
    return bytesRead > 0;
  }

  /** Parses complete lines of `view` into `out`, up to `max`. */
  function parse(out: StreamLine[], max: number): void {
    let subject = '';
    let subjectBytes: Buffer | null = null;
    while (out.length < max) {
      const nl = view.indexOf(NL, start);
      if (nl < 0) return;
      const seq = nextSeq++;
      if (nl > start && seq >= skipBelow) {
        let sp = view.indexOf(SP, start);
        if (sp < 0 || sp > nl) sp = nl;
        // Runs of one subject are the common case: compare bytes rather than decode each.
        const len = sp - start;
        if (subjectBytes === null || subjectBytes.length !== len || view.compare(subjectBytes, 0, len, start, sp) !== 0) {
          subjectBytes = view.subarray(start, sp);
          subject = subjectBytes.toString('utf8');
        }
        out.push({ subject, data: view.subarray(Math.min(sp + 1, nl), nl), seq });
      }
      start = nl + 1;
    }
  }

  /** The read under way: close waits for it rather than closing the file under it. */
  let reading: Promise<StreamLine[]> | null = null;
  function read(max: number): Promise<StreamLine[]> {
    const current = readLines(max);
    reading = current;
    const done = (): void => {
      if (reading === current) reading = null;
    };
    current.then(done, done);
    return current;
  }

  async function readLines(max: number): Promise<StreamLine[]> {
    dirty = false;
    const out: StreamLine[] = [];
    if (closed) return out;
    if (seg === null && !(await position(nextSeq))) return out;
    // Pushed bytes continue the segment being written, which retention never deletes; so do
    // lines of that segment left in memory by a read that stopped at `max`, which need no stat
    // either (a reader catching up took one per batch through the thread pool). Lines left of
    // another segment wait for the stat below: retention may have deleted it meanwhile.
    if ((pushed.length > 0 && takePushed()) || writtenHere() !== null) {
      parse(out, max);
      if (out.length > 0) return out;
    }
    if (atWrittenEnd()) return out;
    const opened = await seg!.handle.stat();
    let { size } = opened;
    if (opened.nlink === 0) {
      // Retention deleted our segment: go on at the oldest one remaining, as JetStream does.
      const after = await following();
      if (!(after !== null && (await openSegment(after))) && !(await position(nextSeq))) return out;
      ({ size } = await seg!.handle.stat());
    }
    for (;;) {
      parse(out, max);
      if (out.length >= max) return out;
      if (await refill(size)) continue;
      if (out.length > 0) return out;
      // At the end of this segment: it is sealed once a later one exists, and then holds no
      // more than what a stat taken after seeing that one shows.
      const next = await following();
      if (next === null) return out;
      ({ size } = await seg!.handle.stat());
      if (fileOffset < size) continue;
      if (!(await openSegment(next)) && !(await position(next.firstSeq))) return out;
      ({ size } = await seg!.handle.stat());
    }
  }

  function wait(ms: number): Promise<void> {
    if (dirty || closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        waiter = null;
        resolve();
      }
      waiter = done;
    });
  }

  return {
    read,
    wait,
    async next(max, maxWaitMs) {
      const deadline = performance.now() + maxWaitMs;
      for (;;) {
        const out = await read(max);
        const left = deadline - performance.now();
        if (out.length > 0 || left <= 0 || closed) return out;
        await wait(Math.min(options.pollMs, left));
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe?.();
      waiter?.();
      await reading?.catch(() => undefined);
      await seg?.handle.close();
      seg = null;
    },
  };
}
