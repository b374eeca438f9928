/**
 * The embedded bus's journals: one append-only NDJSON file per subject,
 *
 *   <bus>/<subject>.ndjson        e.g. signals.tip.served.ndjson, dlq.signals.tip.served.ndjson
 *
 * Each message is one line: the payload bytes exactly as published (compact JSON, which never
 * holds a raw newline) followed by `\n`. A message's position is its line number (1-based),
 * which is the `seq` consumers see. Lines are appended whole — whole lines per write(2) on an
 * O_APPEND descriptor, so concurrent writers (the server, a CLI) never interleave inside a line —
 * and `datasync`ed before the publish resolves (group commit: see createJournalWriter). Readers take complete lines only, so a line being
 * written is picked up on a later read. A writer that crashed mid-line leaves a fragment without
 * `\n`; the next writer first ends it with `\n`, so the fragment becomes its own (invalid, hence
 * dead-lettered) line instead of corrupting the next message. Blank lines carry nothing and are
 * skipped.
 */
import { open as openFile, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, internal } from '../errors.js';

/** File extension of journals. */
export const JOURNAL_EXT = '.ndjson';
const NL = 0x0a;
const CHUNK = 64 * 1024;

/** A position in a journal: byte offset and the number of lines before it. */
export interface JournalPosition {
  offset: number;
  line: number;
}

/** The start of a journal. */
export const JOURNAL_START: JournalPosition = { offset: 0, line: 0 };

/** One message read from a journal. */
export interface JournalLine {
  data: Uint8Array;
  /** Line number, 1-based. */
  line: number;
  /** Position just after this line's `\n`. */
  end: JournalPosition;
}

/** Path of the journal of `subject` in `dir`. */
export function journalPath(dir: string, subject: string): string {
  return join(dir, subject + JOURNAL_EXT);
}

/** Subjects that have a journal in `dir`, sorted (none when the folder does not exist). */
export async function journalSubjects(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((n) => n.endsWith(JOURNAL_EXT) && !n.startsWith('.'))
    .map((n) => n.slice(0, -JOURNAL_EXT.length))
    .sort();
}

/**
 * Up to `max` complete lines of `path` from `from`, and the position after the last line read.
 * A journal shorter than `from` was truncated or replaced behind the reader's back: `conflict`.
 */
export async function readJournal(
  path: string,
  from: JournalPosition,
  max: number,
): Promise<{ lines: JournalLine[]; next: JournalPosition }> {
  let handle: FileHandle;
  try {
    handle = await openFile(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    if (from.offset === 0) return { lines: [], next: from };
    throw truncated(path, 0, from);
  }
  try {
    const { size } = await handle.stat();
    if (size < from.offset) throw truncated(path, size, from);
    const lines: JournalLine[] = [];
    const buf = Buffer.allocUnsafe(CHUNK);
    let readPos = from.offset;
    let lineStart = from.offset;
    let lineNo = from.line;
    let carry: Buffer = Buffer.alloc(0);
    while (lines.length < max) {
      const { bytesRead } = await handle.read(buf, 0, CHUNK, readPos);
      if (bytesRead === 0) break;
      readPos += bytesRead;
      const data = carry.length === 0 ? buf.subarray(0, bytesRead) : Buffer.concat([carry, buf.subarray(0, bytesRead)]);
      let i = 0;
      while (lines.length < max) {
        const nl = data.indexOf(NL, i);
        if (nl < 0) break;
        lineNo++;
        lineStart += nl + 1 - i;
        if (nl > i) lines.push({ data: Buffer.from(data.subarray(i, nl)), line: lineNo, end: { offset: lineStart, line: lineNo } });
        i = nl + 1;
      }
      if (lines.length >= max) break;
      carry = Buffer.from(data.subarray(i));
    }
    return { lines, next: { offset: lineStart, line: lineNo } };
  } finally {
    await handle.close();
  }
}

function truncated(path: string, size: number, from: JournalPosition): Error {
  return conflict(`journal ${path} is shorter (${size} bytes) than a consumer's position (${from.offset})`, {
    hint: 'the journal was truncated, replaced or removed; delete the consumer state under <bus>/consumers to read it from the start',
    details: { journal: path, size, offset: from.offset },
  });
}

/** Appends whole lines to the journals of one folder, one writer per subject, in call order. */
export interface JournalWriter {
  append(subject: string, data: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

interface QueuedLine {
  /** The payload, without its newline. */
  data: Uint8Array;
  resolve(): void;
  reject(e: unknown): void;
}

interface SubjectWriter {
  handle: FileHandle;
  /** Lines waiting for the next write; appends made while one is running join the next. */
  queue: QueuedLine[];
  /** The running write loop, or null when idle. */
  running: Promise<void> | null;
}

/** At most this many bytes go into one write(2) of a group commit. */
const GROUP_COMMIT_BYTES = 1 << 20;

/**
 * A writer for the journals in `dir` (the folder must exist before the first append).
 *
 * Group commit: appends that arrive while a write + datasync is running are written together by
 * the next one (one write(2), one fdatasync), and each resolves only after the datasync that
 * covers its line — the same guarantee as one sync per line, at a fraction of the syncs when
 * many publishers are in flight (the server's event sink publishes concurrently).
 */
export function createJournalWriter(dir: string): JournalWriter {
  const writers = new Map<string, Promise<SubjectWriter>>();
  /** The writers already open: an append to one of them takes no await. */
  const open = new Map<string, SubjectWriter>();

  async function openWriter(subject: string): Promise<SubjectWriter> {
    const handle = await openFile(journalPath(dir, subject), 'a+');
    const { size } = await handle.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      // A crashed writer's fragment: close it off so our first line stays a line of its own.
      if (last[0] !== NL) await handle.write(Buffer.from([NL]));
    }
    return { handle, queue: [], running: null };
  }

  function enqueue(w: SubjectWriter, data: Uint8Array): Promise<void> {
    const done = new Promise<void>((resolve, reject) => w.queue.push({ data, resolve, reject }));
    w.running ??= writeLoop(w);
    return done;
  }

  async function writeLoop(w: SubjectWriter): Promise<void> {
    while (w.queue.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < w.queue.length && (n === 0 || bytes + w.queue[n]!.data.length + 1 <= GROUP_COMMIT_BYTES)) bytes += w.queue[n++]!.data.length + 1;
      const batch = w.queue.splice(0, n);
      try {
        // One copy of the whole batch, newlines included.
        const chunk = Buffer.allocUnsafe(bytes);
        let at = 0;
        for (const q of batch) {
          chunk.set(q.data, at);
          at += q.data.length;
          chunk[at++] = NL;
        }
        // write(2) may write less than asked (disk nearly full, a signal): finish the batch.
        for (let off = 0; off < chunk.length; ) {
          const { bytesWritten } = await w.handle.write(chunk, off, chunk.length - off);
          if (bytesWritten === 0) throw internal(`a journal under ${dir} accepted no bytes`);
          off += bytesWritten;
        }
        await w.handle.datasync();
        for (const q of batch) q.resolve();
      } catch (e) {
        for (const q of batch) q.reject(e);
      }
    }
    w.running = null;
  }

  /** The first append to a subject: opens its writer (appends meanwhile share the opening). */
  async function appendOpening(subject: string, data: Uint8Array): Promise<void> {
    let pending = writers.get(subject);
    if (pending === undefined) {
      pending = openWriter(subject);
      writers.set(subject, pending);
      pending.catch(() => writers.delete(subject));
    }
    const w = await pending;
    // Not when close() ran meanwhile: that writer is being closed.
    if (writers.get(subject) === pending) open.set(subject, w);
    return enqueue(w, data);
  }

  return {
    // Not async: an open subject's append is one promise (was an async function awaiting the
    // writer's promise, two more per event): 2.6 → 0.7 µs per /score with shadow + events (profile).
    append(subject, data) {
      if (data.includes(NL)) return Promise.reject(internal(`journal payload for ${subject} contains a newline`));
      const ready = open.get(subject);
      if (ready !== undefined) return enqueue(ready, data);
      return appendOpening(subject, data);
    },
    async close() {
      const all = [...writers.values()];
      writers.clear();
      open.clear();
      for (const p of all) {
        const w = await p.catch(() => null);
        if (w === null) continue;
        await w.running;
        await w.handle.close();
      }
    },
  };
}
