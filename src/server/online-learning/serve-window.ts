/**
 * The serve window: every serve the fold has seen within the reward window, addressable by its
 * id, so a reward arriving up to 24 h later (on any replica) finds what learning needs.
 *
 * Layout. Serve ids are `<issuer>-<sequence>`, dense per issuer (serve-id.ts), so a record's
 * place is computed, not looked up: chunks of CHUNK_RECORDS fixed-size records (serve-record.ts)
 * per issuer, in memory while recent (the hot tier, bounded by `hotRecords`), and in files of
 * FILE_RECORDS records per issuer on disk once evicted (the cold tier):
 *
 *   <dir>/owners.json                 the owner table (policy, version, prompt version, experiment, variant)
 *   <dir>/<issuer>/<file no>.serves   records at (sequence mod FILE_RECORDS) × RECORD_BYTES
 *
 * No hash map of ids and no object per serve: memory is the hot chunks (~90 KB each) plus a
 * little per issuer, whatever the traffic. At 1,000 serves a second a 24 h window is 86.4 M
 * records, RECORD_BYTES each on disk (BENCHMARKS.md gives the measured figures).
 *
 * The window is derived state: the events stream is the truth, and a checkpoint is only
 * written after `flush` made every record and claim it covers durable, so a restart resumes
 * from the checkpoint's position with the window it needs. Records past the checkpoint may be
 * on disk too (an eviction after it); folding their events again finds them and changes
 * nothing (fold.ts: adds are idempotent, claims keep the earliest reward).
 *
 * Without a folder (`dir: null`, tests and benchmarks of one process) evicted chunks are
 * dropped and their records counted as `forgotten`: replicas always run with a folder, since a
 * replica that forgot a serve would learn differently from one that did not.
 *
 * Concurrency: one writer (the fold, one event at a time) and readers (HTTP handlers looking up
 * a serve for /generate or /reward). A chunk stays in the map until its eviction write has
 * completed, so a reader never sees a record in neither tier.
 */
import { mkdir, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import Type from 'typebox';
import { invalidInput } from '../../errors.js';
import { readTextIfExists, writeFileAtomic } from '../../io/atomic.js';
import { createValidator } from '../../validation.js';
import { CLAIM_OFFSET, isPresent, MAX_OWNERS, readRecord, RECORD_BYTES, recordTime, writeClaim, writeRecord, type ServeRecord } from './serve-record.js';
import type { ServeIdParts } from './serve-id.js';

/** The serve window a checkpoint rests on: its owners and cold files (`<issuer>/<no>.serves` → bytes). */
export interface WindowManifest {
  owners: number;
  files: Record<string, number>;
}

/** Records per chunk (the unit of memory and of eviction). */
export const CHUNK_RECORDS = 1024;
/** Records per cold file (~92 MB): whole files are deleted once older than the window. */
export const FILE_RECORDS = 1 << 20;
const CHUNK_BYTES = CHUNK_RECORDS * RECORD_BYTES;
const CHUNKS_PER_FILE = FILE_RECORDS / CHUNK_RECORDS;
/** Cold file handles kept open at once. */
const MAX_HANDLES = 64;

/** Who made a serve; records point at an interned owner. */
export interface ServeOwner {
  policy: string;
  modelVersion: string | null;
  promptVersion: string | null;
  experiment: string | null;
  variant: string | null;
}

const OwnerSchema = Type.Object(
  {
    policy: Type.String(),
    modelVersion: Type.Union([Type.String(), Type.Null()]),
    promptVersion: Type.Union([Type.String(), Type.Null()]),
    experiment: Type.Union([Type.String(), Type.Null()]),
    variant: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
const OwnersFile = createValidator(
  Type.Object({ version: Type.Literal(1), owners: Type.Array(OwnerSchema, { maxItems: MAX_OWNERS }) }, { additionalProperties: false }),
);

/** Options of the window. */
export interface ServeWindowOptions {
  /** Folder of the cold tier, or null to keep memory only (evicted records are forgotten, and counted). */
  dir: string | null;
  /** Records kept in memory (default 1,048,576: ~92 MB). */
  hotRecords?: number;
  /** How long a serve is kept after its time, by the fold's event clock (the reward window plus slack). */
  keepMs: number;
  /** The server's xxhash32 (user ids). */
  hash32(s: string): number;
}

/** Sizes, for /stats and /metrics. */
export interface ServeWindowStats {
  hotRecords: number;
  hotBytes: number;
  coldFiles: number;
  coldBytes: number;
  issuers: number;
  /** Records dropped from memory with no cold tier to keep them. */
  forgotten: number;
}

interface Chunk {
  readonly issuer: IssuerState;
  readonly no: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  dirty: boolean;
  /** Present records (for the count in memory). */
  present: number;
  /** Set while the chunk is being written out; it stays readable until then. */
  evicting: boolean;
  /** Newest serve time among its records. */
  newestMs: number;
}

interface ColdFile {
  size: number;
  /** Newest serve time among its records (a lower bound for files found at start). */
  newestMs: number;
  handle: FileHandle | null;
  /** While the handle is being opened: concurrent readers share the one opening. */
  opening: Promise<FileHandle> | null;
  /** Operations using the handle now (it is not closed under them). */
  users: number;
  /** Written since the last flush (needs a datasync). */
  dirty: boolean;
}

interface IssuerState {
  readonly id: string;
  readonly chunks: Map<number, Chunk>;
  readonly files: Map<number, ColdFile>;
}

const ownerKey = (o: ServeOwner): string => `${o.policy}\u0000${o.modelVersion ?? '\u0001'}\u0000${o.promptVersion ?? '\u0001'}\u0000${o.experiment ?? '\u0001'}\u0000${o.variant ?? '\u0001'}`;

/** The window of serves; open with `openServeWindow`. */
export class ServeWindow {
  private readonly issuers = new Map<string, IssuerState>();
  /** Chunks in memory, oldest created first (eviction order). */
  private readonly order: Chunk[] = [];
  private orderHead = 0;
  private readonly owners: ServeOwner[] = [];
  private readonly ownerIds = new Map<string, number>();
  private ownersWritten = 0;
  private ownersWrite: Promise<void> = Promise.resolve();
  /** A write of the owner table is queued and not started: a new owner is in it already. */
  private ownersQueued = false;
  private ownersError: unknown = null;
  private readonly maxChunks: number;
  private hotChunks = 0;
  private hotPresent = 0;
  private forgotten = 0;
  private openHandles: ColdFile[] = [];

  /** Use `openServeWindow`. */
  constructor(private readonly options: ServeWindowOptions) {
    this.maxChunks = Math.max(2, Math.ceil((options.hotRecords ?? 1 << 20) / CHUNK_RECORDS));
  }

  /** @internal Loads the owner table and the cold files found in the folder. */
  async load(): Promise<void> {
    const dir = this.options.dir;
    if (dir === null) return;
    await mkdir(dir, { recursive: true });
    const text = await readTextIfExists(join(dir, 'owners.json'));
    if (text !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw invalidInput(`serve window owner table ${join(dir, 'owners.json')} is not JSON: ${(e as Error).message}`, {
          hint: `delete ${dir}: the checkpoint that rests on it is then set aside, and online learning is rebuilt from the events stream`,
        });
      }
      for (const o of OwnersFile.parse(json, `serve window owner table ${join(dir, 'owners.json')}`).owners) this.owner(o);
      this.ownersWritten = this.owners.length;
    }
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !/^[0-9a-f]{12}$/.test(entry.name)) continue;
      const issuer = this.issuer(entry.name);
      for (const name of await readdir(join(dir, entry.name))) {
        const m = /^(\d+)\.serves$/.exec(name);
        if (m === null) continue;
        const no = Number(m[1]);
        const path = join(dir, entry.name, name);
        const { size } = await stat(path);
        issuer.files.set(no, { size, newestMs: await this.newestIn(path, size), handle: null, opening: null, users: 0, dirty: false });
      }
    }
  }

  /**
   * The index of an owner (interned), or null once MAX_OWNERS distinct ones were named: the
   * fold then leaves such serves untracked (counted) rather than stopping.
   */
  owner(o: ServeOwner): number | null {
    const key = ownerKey(o);
    let i = this.ownerIds.get(key);
    if (i === undefined) {
      if (this.owners.length >= MAX_OWNERS) return null;
      i = this.owners.push({ ...o }) - 1;
      this.ownerIds.set(key, i);
      this.saveOwners();
    }
    return i;
  }

  /** The owner at index `i`. */
  ownerAt(i: number): ServeOwner | undefined {
    return this.owners[i];
  }

  /**
   * Adds a serve; false when its id already has a record (the serve was published twice), which
   * is kept as it is. Returns a promise only when a chunk must be read or another written.
   */
  add(id: ServeIdParts, record: ServeRecord): boolean | Promise<boolean> {
    const issuer = this.issuer(id.issuer);
    const no = Math.floor(id.seq / CHUNK_RECORDS);
    const chunk = issuer.chunks.get(no);
    if (chunk !== undefined) return this.addTo(chunk, id.seq, record);
    return this.chunkFor(issuer, no).then((c) => this.addTo(c, id.seq, record));
  }

  /** The record of a serve, or null when the window does not hold it. A promise only for a cold read. */
  get(id: ServeIdParts): ServeRecord | null | Promise<ServeRecord | null> {
    const issuer = this.issuers.get(id.issuer);
    if (issuer === undefined) return null;
    const chunk = issuer.chunks.get(Math.floor(id.seq / CHUNK_RECORDS));
    if (chunk !== undefined) return readRecord(chunk.view, (id.seq % CHUNK_RECORDS) * RECORD_BYTES, this.options.hash32);
    return this.readCold(issuer, id.seq);
  }

  /** Sets the claim of a serve the window holds (read with `get` just before), with the value it learned. */
  setClaim(id: ServeIdParts, claim: number, value: number): void | Promise<void> {
    const issuer = this.issuers.get(id.issuer);
    if (issuer === undefined) return;
    const chunk = issuer.chunks.get(Math.floor(id.seq / CHUNK_RECORDS));
    if (chunk !== undefined) {
      writeClaim(chunk.view, (id.seq % CHUNK_RECORDS) * RECORD_BYTES, claim, value);
      chunk.dirty = true;
      return;
    }
    return this.writeColdClaim(issuer, id.seq, claim, value);
  }

  /** Writes every changed chunk and claim to disk and syncs them (before a checkpoint). */
  async flush(): Promise<void> {
    if (this.options.dir === null) return;
    await this.ownersSaved();
    for (let i = this.orderHead; i < this.order.length; i++) {
      const c = this.order[i]!;
      if (c.dirty && !c.evicting) await this.writeChunk(c);
    }
    for (const issuer of this.issuers.values()) {
      for (const f of issuer.files.values()) {
        if (f.dirty && f.handle !== null) {
          await f.handle.datasync();
          f.dirty = false;
        }
      }
    }
  }

  /**
   * What a checkpoint at event time `eventTimeMs` rests on (after `flush`): the number of owners
   * and every cold file with its size, by `<issuer>/<no>.serves`, but those `prune(eventTimeMs)`
   * deletes (the checkpoint prunes right after it is written).
   */
  manifest(eventTimeMs: number): WindowManifest {
    const horizon = eventTimeMs - this.options.keepMs;
    const files: Record<string, number> = {};
    for (const issuer of this.issuers.values()) {
      for (const [no, f] of issuer.files) {
        if (!this.prunable(issuer, no, f, horizon)) files[`${issuer.id}/${no}.serves`] = f.size;
      }
    }
    return { owners: this.owners.length, files };
  }

  /**
   * Why the window on disk cannot be the one `manifest` describes (an owner or a file missing, a
   * file shorter), or null when it can be. Files past it (evictions after the checkpoint) are fine.
   */
  async shortOf(manifest: WindowManifest): Promise<string | null> {
    const dir = this.options.dir;
    if (dir === null) return null;
    if (this.owners.length < manifest.owners) return `${join(dir, 'owners.json')} holds ${this.owners.length} of its ${manifest.owners} owners`;
    for (const [name, size] of Object.entries(manifest.files)) {
      const found = await stat(join(dir, name)).then((s) => s.size, () => null);
      if (found === null) return `${join(dir, name)} is missing`;
      if (found < size) return `${join(dir, name)} holds ${found} of its ${size} bytes`;
    }
    return null;
  }

  /** Drops cold files whose serves are all older than `keepMs` before `eventTimeMs` (the fold's clock). */
  async prune(eventTimeMs: number): Promise<void> {
    const dir = this.options.dir;
    if (dir === null) return;
    const horizon = eventTimeMs - this.options.keepMs;
    for (const issuer of [...this.issuers.values()]) {
      for (const [no, f] of [...issuer.files]) {
        if (!this.prunable(issuer, no, f, horizon)) continue;
        await this.closeHandle(f);
        issuer.files.delete(no);
        await rm(this.filePath(issuer.id, no), { force: true });
      }
      if (issuer.files.size === 0 && issuer.chunks.size === 0) {
        this.issuers.delete(issuer.id);
        await rm(join(dir, issuer.id), { recursive: true, force: true });
      }
    }
  }

  /** Whether cold file `no` of `issuer` holds only serves older than `horizon`, none of them in memory. */
  private prunable(issuer: IssuerState, no: number, f: ColdFile, horizon: number): boolean {
    return f.newestMs < horizon && ![...issuer.chunks.values()].some((c) => Math.floor(c.no / CHUNKS_PER_FILE) === no);
  }

  /** Sizes now. */
  stats(): ServeWindowStats {
    let coldFiles = 0;
    let coldBytes = 0;
    for (const issuer of this.issuers.values()) {
      for (const f of issuer.files.values()) {
        coldFiles++;
        coldBytes += f.size;
      }
    }
    return { hotRecords: this.hotPresent, hotBytes: this.hotChunks * CHUNK_BYTES, coldFiles, coldBytes, issuers: this.issuers.size, forgotten: this.forgotten };
  }

  /** Flushes (unless `flush` is false: the folder is no longer this process's) and closes the files. */
  async close(flush = true): Promise<void> {
    if (flush) await this.flush();
    for (const f of this.openHandles) if (f.handle !== null) await f.handle.close();
    for (const f of this.openHandles) f.handle = null;
    this.openHandles = [];
  }

  private addTo(chunk: Chunk, seq: number, record: ServeRecord): boolean {
    const at = (seq % CHUNK_RECORDS) * RECORD_BYTES;
    if (isPresent(chunk.view, at)) return false;
    writeRecord(chunk.view, at, record);
    chunk.dirty = true;
    chunk.present++;
    this.hotPresent++;
    if (record.tsMs > chunk.newestMs) chunk.newestMs = record.tsMs;
    return true;
  }

  private issuer(id: string): IssuerState {
    let issuer = this.issuers.get(id);
    if (issuer === undefined) this.issuers.set(id, (issuer = { id, chunks: new Map(), files: new Map() }));
    return issuer;
  }

  /** A chunk in memory for (issuer, no): read back from its file when it was written out before; evicts the oldest chunk when over budget. */
  private async chunkFor(issuer: IssuerState, no: number): Promise<Chunk> {
    const bytes = new Uint8Array(CHUNK_BYTES);
    const chunk: Chunk = { issuer, no, bytes, view: new DataView(bytes.buffer), dirty: false, present: 0, evicting: false, newestMs: -Infinity };
    const file = issuer.files.get(Math.floor(no / CHUNKS_PER_FILE));
    const offset = (no % CHUNKS_PER_FILE) * CHUNK_BYTES;
    if (this.options.dir !== null && file !== undefined && file.size > offset) {
      await this.withHandle(issuer, Math.floor(no / CHUNKS_PER_FILE), file, (h) => h.read(bytes, 0, CHUNK_BYTES, offset));
      for (let i = 0; i < CHUNK_RECORDS; i++) {
        if (!isPresent(chunk.view, i * RECORD_BYTES)) continue;
        chunk.present++;
        const ts = recordTime(chunk.view, i * RECORD_BYTES);
        if (ts > chunk.newestMs) chunk.newestMs = ts;
      }
    }
    // Another caller may have made it meanwhile (a reader never makes chunks, but be exact).
    const raced = issuer.chunks.get(no);
    if (raced !== undefined) return raced;
    issuer.chunks.set(no, chunk);
    this.order.push(chunk);
    this.hotChunks++;
    this.hotPresent += chunk.present;
    while (this.hotChunks > this.maxChunks) await this.evictOldest();
    return chunk;
  }

  private async evictOldest(): Promise<void> {
    const chunk = this.order[this.orderHead];
    if (chunk === undefined) return;
    this.order[this.orderHead++] = undefined as unknown as Chunk;
    if (this.orderHead > 4096 && this.orderHead * 2 > this.order.length) {
      this.order.splice(0, this.orderHead);
      this.orderHead = 0;
    }
    this.hotChunks--;
    if (this.options.dir === null) {
      this.forgotten += chunk.present;
    } else if (chunk.dirty) {
      chunk.evicting = true;
      try {
        await this.writeChunk(chunk);
      } catch (e) {
        // Not written: it stays in memory, first in line for the next eviction.
        chunk.evicting = false;
        this.order[--this.orderHead] = chunk;
        this.hotChunks++;
        throw e;
      }
    }
    chunk.issuer.chunks.delete(chunk.no);
    this.hotPresent -= chunk.present;
  }

  private async writeChunk(chunk: Chunk): Promise<void> {
    await this.ownersSaved();
    const fileNo = Math.floor(chunk.no / CHUNKS_PER_FILE);
    let file = chunk.issuer.files.get(fileNo);
    if (file === undefined) chunk.issuer.files.set(fileNo, (file = { size: 0, newestMs: chunk.newestMs, handle: null, opening: null, users: 0, dirty: false }));
    else if (chunk.newestMs > file.newestMs) file.newestMs = chunk.newestMs;
    const offset = (chunk.no % CHUNKS_PER_FILE) * CHUNK_BYTES;
    await this.withHandle(chunk.issuer, fileNo, file, async (handle) => {
      for (let off = 0; off < CHUNK_BYTES; ) {
        const { bytesWritten } = await handle.write(chunk.bytes, off, CHUNK_BYTES - off, offset + off);
        off += bytesWritten;
      }
    });
    // Clean only once written (nothing changes a chunk while it is written: the fold waits for
    // its evictions, and flushes run with the fold paused); a failed write is retried later.
    chunk.dirty = false;
    file.size = Math.max(file.size, offset + CHUNK_BYTES);
    file.dirty = true;
  }

  private async readCold(issuer: IssuerState, seq: number): Promise<ServeRecord | null> {
    const fileNo = Math.floor(seq / FILE_RECORDS);
    const file = issuer.files.get(fileNo);
    const offset = (seq % FILE_RECORDS) * RECORD_BYTES;
    if (this.options.dir === null || file === undefined || file.size < offset + RECORD_BYTES) return null;
    const bytes = new Uint8Array(RECORD_BYTES);
    await this.withHandle(issuer, fileNo, file, (h) => h.read(bytes, 0, RECORD_BYTES, offset));
    return readRecord(new DataView(bytes.buffer), 0, this.options.hash32);
  }

  private async writeColdClaim(issuer: IssuerState, seq: number, claim: number, value: number): Promise<void> {
    const fileNo = Math.floor(seq / FILE_RECORDS);
    const file = issuer.files.get(fileNo);
    if (this.options.dir === null || file === undefined) return;
    const bytes = new Uint8Array(16);
    // The claim and its value, in place (writeClaim at a shifted origin writes exactly these 16 bytes).
    writeClaim(new DataView(bytes.buffer), -CLAIM_OFFSET, claim, value);
    await this.withHandle(issuer, fileNo, file, (h) => h.write(bytes, 0, 16, (seq % FILE_RECORDS) * RECORD_BYTES + CLAIM_OFFSET));
    file.dirty = true;
  }

  private filePath(issuer: string, no: number): string {
    return join(this.options.dir!, issuer, `${no}.serves`);
  }

  /** Runs `use` with the file's handle (opened once, shared), never closing it under a running use. */
  private async withHandle<T>(issuer: IssuerState, no: number, file: ColdFile, use: (handle: FileHandle) => Promise<T>): Promise<T> {
    file.users++;
    try {
      if (file.handle === null) {
        file.opening ??= this.openHandle(issuer, no, file).finally(() => (file.opening = null));
        await file.opening;
      }
      return await use(file.handle!);
    } finally {
      file.users--;
    }
  }

  private async openHandle(issuer: IssuerState, no: number, file: ColdFile): Promise<FileHandle> {
    // The least recently opened handle nobody is using is closed to stay within MAX_HANDLES
    // (when all are in use, briefly more are open).
    const idle = this.openHandles.findIndex((f) => f.users === 0 && f !== file);
    if (this.openHandles.length >= MAX_HANDLES && idle >= 0) {
      const [oldest] = this.openHandles.splice(idle, 1);
      const h = oldest!.handle;
      oldest!.handle = null;
      if (h !== null) {
        if (oldest!.dirty) {
          await h.datasync();
          oldest!.dirty = false;
        }
        await h.close();
      }
    }
    await mkdir(join(this.options.dir!, issuer.id), { recursive: true });
    // 'a+' creates the file; positional writes need a descriptor without O_APPEND.
    await (await open(this.filePath(issuer.id, no), 'a+')).close();
    const handle = await open(this.filePath(issuer.id, no), 'r+');
    file.handle = handle;
    this.openHandles.push(file);
    return handle;
  }

  private async closeHandle(file: ColdFile): Promise<void> {
    if (file.handle === null) return;
    await file.handle.close();
    file.handle = null;
    this.openHandles = this.openHandles.filter((f) => f !== file);
  }

  /** Newest serve time in the last chunk of a cold file (its records are in sequence order, roughly time order). */
  private async newestIn(path: string, size: number): Promise<number> {
    if (size === 0) return -Infinity;
    const from = Math.max(0, size - CHUNK_BYTES);
    const bytes = new Uint8Array(size - from);
    const handle = await open(path, 'r');
    try {
      await handle.read(bytes, 0, bytes.length, from);
    } finally {
      await handle.close();
    }
    const view = new DataView(bytes.buffer);
    let newest = -Infinity;
    for (let at = 0; at + RECORD_BYTES <= bytes.length; at += RECORD_BYTES) {
      const r = readRecord(view, at, this.options.hash32);
      if (r !== null && r.tsMs > newest) newest = r.tsMs;
    }
    return newest;
  }

  private saveOwners(): void {
    const dir = this.options.dir;
    if (dir === null) return;
    // One write waits at a time and takes the table as it is when it starts, so memory stays
    // linear in the owners however slow the disk (BENCHMARKS.md, "owner table").
    if (this.ownersQueued) return;
    this.ownersQueued = true;
    // Written (in order) before any chunk that may name the new owner reaches disk: writeChunk
    // and flush wait for it, so a record on disk never names an owner the table lacks.
    this.ownersWrite = this.ownersWrite.then(async () => {
      this.ownersQueued = false;
      const count = this.owners.length;
      if (count <= this.ownersWritten && this.ownersError === null) return;
      try {
        await writeFileAtomic(join(dir, 'owners.json'), JSON.stringify({ version: 1, owners: this.owners.slice(0, count) }) + '\n');
        this.ownersWritten = count;
        this.ownersError = null;
      } catch (e) {
        // Kept, not thrown here (nobody awaits this chain): the next disk write fails with it.
        this.ownersError = e;
      }
    });
  }

  /** Waits for the owner table to be on disk, writing it again when the last write failed (throws if that fails too). */
  private async ownersSaved(): Promise<void> {
    await this.ownersWrite;
    if (this.ownersError === null) return;
    this.ownersError = null;
    this.saveOwners();
    await this.ownersWrite;
    if (this.ownersError !== null) throw this.ownersError;
  }
}

/** Opens the window in `options.dir` (created when missing), or in memory only. */
export async function openServeWindow(options: ServeWindowOptions): Promise<ServeWindow> {
  const window = new ServeWindow(options);
  await window.load();
  return window;
}
