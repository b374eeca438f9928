/**
 * The write-ahead spill of one replica: the events it answered for while the bus could not
 * take them, on local disk before the answer, drained to the bus in order once it is back.
 *
 *   <state dir>/spill.ndjson    one event per line (compact JSON), appended
 *   <state dir>/spill.cursor    {"offset": <bytes drained>, "lines": <lines drained>}, written atomically
 *
 * Appends are group-committed: appends that arrive while a write + fdatasync runs go together in
 * the next one, and each resolves only once the fdatasync covering its line returned — the
 * guarantee of one sync per event at the cost of one sync per burst, so /score stays fast while
 * the bus is down. A `kill -9` loses nothing that was answered: the answer waited for the sync.
 *
 * Draining reads from the cursor; the cursor moves only past lines the bus acknowledged, so a
 * crash while draining publishes the last batch again (the bus's duplicate window, the fold's
 * claims and the ingest's event_id check keep a second copy from counting twice).
 */
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import Type from 'typebox';
import { internal } from '../../errors.js';
import { readTextIfExists, writeFileAtomic } from '../../io/atomic.js';
import { createValidator } from '../../validation.js';
import { replicaStatePaths } from './state-paths.js';

const NL = 0x0a;
/** At most this many bytes go into one write(2) of a group commit. */
const GROUP_BYTES = 1 << 20;
/** Bytes read per drain batch at most. */
const READ_BYTES = 1 << 20;

const Cursor = createValidator(
  Type.Object({ offset: Type.Integer({ minimum: 0 }), lines: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
);

interface Queued {
  data: Buffer;
  resolve(): void;
  reject(e: unknown): void;
}

/** One batch read for draining. */
export interface SpillBatch {
  /** The lines, without their newlines. */
  lines: string[];
  /** Cursor after each line (pass the one after the last line the bus took to `commit`). */
  ends: number[];
}

/** The spill of a state folder. */
export class Spill {
  private handle: FileHandle | null = null;
  private size = 0;
  private cursor = 0;
  private drainedLines = 0;
  private lines = 0;
  private queue: Queued[] = [];
  private running: Promise<void> | null = null;
  private inFlight = 0;
  private appended = 0;
  /** While the drained file is being removed; the next append waits for it. */
  private clearing: Promise<void> | null = null;
  /** Set once the state folder is no longer this process's: nothing more is written or drained. */
  private refused: Error | null = null;

  private constructor(readonly dir: string) {}

  /** Opens the spill in `dir`, counting what is left to drain from an earlier run. */
  static async open(dir: string): Promise<Spill> {
    const spill = new Spill(dir);
    await spill.load();
    return spill;
  }

  /** Path of the spill file. */
  get path(): string {
    return replicaStatePaths(this.dir).spill;
  }

  /** Events on disk not yet drained. */
  get backlog(): number {
    return this.lines - this.drainedLines;
  }

  /** Events appended by this process. */
  get appendedTotal(): number {
    return this.appended;
  }

  /** True when nothing is left to drain and no append is in flight (the spill may be switched off). */
  get idle(): boolean {
    return this.inFlight === 0 && this.cursor === this.size;
  }

  /** From now on every append fails with `e`, and nothing is read for draining (the folder is another process's). */
  refuse(e: Error): void {
    this.refused = e;
  }

  /** Appends one line (no newline in it); resolves once it is on disk. */
  append(line: string): Promise<void> {
    if (this.refused !== null) return Promise.reject(this.refused);
    const data = Buffer.from(line + '\n');
    if (data.indexOf(NL) !== data.length - 1) return Promise.reject(internal('a spilled event holds a newline'));
    this.inFlight++;
    const done = new Promise<void>((resolve, reject) => this.queue.push({ data, resolve, reject }));
    this.running ??= this.writeLoop();
    return done.finally(() => this.inFlight--);
  }

  /** Up to `max` lines from the cursor (none when drained). */
  async read(max: number): Promise<SpillBatch> {
    if (this.cursor >= this.size || this.handle === null || this.refused !== null) return { lines: [], ends: [] };
    const want = Math.min(READ_BYTES, this.size - this.cursor);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await this.handle.read(buf, 0, want, this.cursor);
    const lines: string[] = [];
    const ends: number[] = [];
    let at = 0;
    while (lines.length < max) {
      const nl = buf.indexOf(NL, at);
      if (nl < 0 || nl >= bytesRead) break;
      lines.push(buf.toString('utf8', at, nl));
      ends.push(this.cursor + nl + 1);
      at = nl + 1;
    }
    // A single line longer than READ_BYTES: read it whole.
    if (lines.length === 0 && bytesRead === READ_BYTES) {
      const rest = Buffer.allocUnsafe(this.size - this.cursor);
      await this.handle.read(rest, 0, rest.length, this.cursor);
      const nl = rest.indexOf(NL);
      if (nl >= 0) {
        lines.push(rest.toString('utf8', 0, nl));
        ends.push(this.cursor + nl + 1);
      }
    }
    return { lines, ends };
  }

  /** Moves the cursor to `offset` (an `ends` entry), `count` lines further, durably. */
  async commit(offset: number, count: number): Promise<void> {
    if (this.refused !== null) throw this.refused;
    this.cursor = offset;
    this.drainedLines += count;
    await writeFileAtomic(replicaStatePaths(this.dir).spillCursor, JSON.stringify({ offset: this.cursor, lines: this.drainedLines }) + '\n');
  }

  /** Removes the drained spill (only when `idle`); the next append starts a new file. */
  async clear(): Promise<void> {
    if (!this.idle || this.clearing !== null || this.refused !== null) return;
    const handle = this.handle;
    this.handle = null;
    this.size = 0;
    this.cursor = 0;
    this.lines = 0;
    this.drainedLines = 0;
    this.clearing = (async () => {
      await handle?.close();
      await rm(replicaStatePaths(this.dir).spillCursor, { force: true });
      await rm(this.path, { force: true });
    })();
    try {
      await this.clearing;
    } finally {
      this.clearing = null;
    }
  }

  /** Waits for appends in flight, then closes the file (its contents stay for the next start). */
  async close(): Promise<void> {
    await this.running;
    await this.handle?.close();
    this.handle = null;
  }

  private async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const cursorText = await readTextIfExists(replicaStatePaths(this.dir).spillCursor);
    let text: Buffer | null = null;
    try {
      const h = await open(this.path, 'r');
      try {
        text = await h.readFile();
      } finally {
        await h.close();
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text === null) return;
    // A crash mid-append leaves a fragment without its newline: the answer it belonged to was
    // never given, so it is cut off rather than drained.
    const lastNl = text.lastIndexOf(NL);
    this.size = lastNl + 1;
    let lines = 0;
    for (let i = text.indexOf(NL); i >= 0; i = text.indexOf(NL, i + 1)) lines++;
    this.lines = lines;
    if (cursorText !== undefined) {
      try {
        const c = Cursor.parse(JSON.parse(cursorText), 'spill cursor');
        if (c.offset <= this.size) {
          this.cursor = c.offset;
          this.drainedLines = c.lines;
        }
      } catch {
        // A cursor that does not parse: drain from the start (the bus and the fold drop repeats).
      }
    }
    this.handle = await open(this.path, 'r+');
    if (text.length > this.size) await this.handle.truncate(this.size);
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        let bytes = 0;
        let n = 0;
        while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.data.length <= GROUP_BYTES)) bytes += this.queue[n++]!.data.length;
        const batch = this.queue.splice(0, n);
        try {
          let handle = this.handle;
          if (handle === null) {
            if (this.clearing !== null) await this.clearing;
            await mkdir(this.dir, { recursive: true });
            await (await open(this.path, 'a+')).close();
            handle = this.handle = await open(this.path, 'r+');
          }
          const chunk = batch.length === 1 ? batch[0]!.data : Buffer.concat(batch.map((q) => q.data), bytes);
          for (let off = 0; off < chunk.length; ) {
            const { bytesWritten } = await handle.write(chunk, off, chunk.length - off, this.size + off);
            if (bytesWritten === 0) throw internal(`the spill ${this.path} accepted no bytes`);
            off += bytesWritten;
          }
          await handle.datasync();
          this.size += chunk.length;
          this.lines += batch.length;
          this.appended += batch.length;
          for (const q of batch) q.resolve();
        } catch (e) {
          for (const q of batch) q.reject(e);
        }
      }
    } finally {
      this.running = null;
    }
  }
}
