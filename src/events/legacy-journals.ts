/**
 * The embedded bus's previous layout, and its migration into the streams of journal.ts:
 *
 *   <bus>/<subject>.ndjson          one journal per subject: one payload per line, no subject
 *   <bus>/consumers/<name>.json     {"version":1,"consumer":…,"subjects":{"<subject>":{"offset":…,"line":…}}}
 *
 * A stream's writer migrates its journals when it opens, under the stream's writer lock and
 * before its first append: the lines go into one new segment (events in the order of their `ts`,
 * since the per-subject files kept no order between subjects; dead letters in journal order),
 * then the journals, and for the events stream the v1 consumer states, move to
 * `<bus>/legacy-<UTC stamp>/`. A v1 state cannot be translated (its positions are per subject),
 * so its consumer starts over from the stream's start: `oo-ml ingest` skips events already in the
 * Parquet log. The segment is written aside and renamed in, and a marker in the legacy folder
 * names it until the journals are moved, so a crash anywhere neither loses lines nor appends
 * them twice.
 */
import { mkdir, open as openFile, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { invalidInput } from '../errors.js';
import { readDirIfExists, writeFileAtomic } from '../io/atomic.js';
import { legacyJournalPath, segmentName, syncDir } from './journal.js';
import { DLQ_PREFIX } from './subjects.js';

/** The streams of the embedded bus: the events stream and the dead-letter stream. */
export type StreamName = 'events' | 'dlq';

const LEGACY_EXT = '.ndjson';
const MARKER_SUFFIX = '.migrating.json';
const TEMP_SUFFIX = '.migrating';
const NL = 0x0a;
const WRITE_CHUNK = 4 << 20;

/** The stream a subject belongs to: `dlq.…` to the dead-letter stream, any other to the events stream. */
function streamOf(subject: string): StreamName {
  return subject.startsWith(`${DLQ_PREFIX}.`) ? 'dlq' : 'events';
}

/** Which streams have something of the previous layout left in `bus`: journals, or an interrupted migration. */
export async function legacyLeftovers(bus: string): Promise<Record<StreamName, boolean>> {
  const found = { events: false, dlq: false };
  for (const subject of await legacySubjects(bus)) found[streamOf(subject)] = true;
  for (const m of await pendingMarkers(bus)) found[m.stream] = true;
  return found;
}

/** Subjects that have a journal of the previous layout in `bus`, sorted. */
async function legacySubjects(bus: string): Promise<string[]> {
  return (await readDirIfExists(bus))
    // A name with white space cannot head a stream line; such a file is not one the bus wrote.
    .filter((d) => d.isFile() && d.name.endsWith(LEGACY_EXT) && !d.name.startsWith('.') && !/\s/.test(d.name))
    .map((d) => d.name.slice(0, -LEGACY_EXT.length))
    .sort();
}

/** A migration under way, as its marker records it. */
interface Marker {
  version: 1;
  stream: StreamName;
  /** The segment the lines go to, or null when the journals held none. */
  segment: string | null;
  /** The segment's size once renamed in. */
  bytes: number;
  /** The temporary the segment is written to first, in the stream folder. */
  temp: string;
  /** Journal file names to move. */
  journals: string[];
}

/** Markers of interrupted migrations, with the legacy folder each is in. */
async function pendingMarkers(bus: string): Promise<(Marker & { legacyDir: string; path: string })[]> {
  const out: (Marker & { legacyDir: string; path: string })[] = [];
  const names = (await readDirIfExists(bus)).map((d) => d.name);
  for (const name of names.filter((n) => n.startsWith('legacy-')).sort()) {
    const legacyDir = join(bus, name);
    for (const stream of ['events', 'dlq'] as const) {
      const path = join(legacyDir, stream + MARKER_SUFFIX);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        throw e;
      }
      let marker: Marker;
      try {
        marker = JSON.parse(text) as Marker;
      } catch {
        throw invalidInput(`migration marker ${path} is not JSON`, {
          hint: `compare the files in ${legacyDir} with the bus streams, then delete the marker (the journals still in the bus folder are migrated again at the next start)`,
        });
      }
      out.push({ ...marker, legacyDir, path });
    }
  }
  return out;
}

/**
 * Migrates the previous layout's journals of `stream` into the stream (its folder under `bus`,
 * whose next seq is `nextSeq`); the caller holds the stream's writer lock. True when it added a
 * segment.
 */
export async function migrateLegacy(bus: string, stream: StreamName, nextSeq: number, now: () => Date = () => new Date()): Promise<boolean> {
  const streamDir = join(bus, stream);
  // An interrupted migration first: finish it when its segment is in, else undo its temporary.
  for (const m of await pendingMarkers(bus)) {
    if (m.stream !== stream) continue;
    const size = m.segment === null ? null : await sizeOf(join(streamDir, m.segment));
    if (size === null || size === m.bytes) {
      await moveLeftovers(bus, stream, m.legacyDir, m.journals);
    } else {
      await rm(join(streamDir, m.temp), { force: true });
    }
    await rm(m.path, { force: true });
  }

  const journals = (await legacySubjects(bus)).filter((s) => streamOf(s) === stream);
  if (journals.length === 0) return false;
  await mkdir(streamDir, { recursive: true });
  // Temporaries of a migration that crashed before its marker was written.
  for (const name of await readdir(streamDir)) if (name.startsWith('.') && name.endsWith(TEMP_SUFFIX)) await rm(join(streamDir, name), { force: true });
  const segment = segmentName(nextSeq);
  const temp = `.${segment}${TEMP_SUFFIX}`;
  const bytes = await writeMigratedSegment(bus, stream, journals, join(streamDir, temp));
  const legacyDir = legacyDirOf(bus, now);
  await mkdir(legacyDir, { recursive: true });
  const marker: Marker = { version: 1, stream, segment: bytes > 0 ? segment : null, bytes, temp, journals: journals.map((s) => s + LEGACY_EXT) };
  const markerPath = join(legacyDir, stream + MARKER_SUFFIX);
  await writeFileAtomic(markerPath, JSON.stringify(marker) + '\n');
  if (bytes > 0) {
    await rename(join(streamDir, temp), join(streamDir, segment));
    await syncDir(streamDir);
  } else {
    await rm(join(streamDir, temp), { force: true });
  }
  await moveLeftovers(bus, stream, legacyDir, marker.journals);
  await rm(markerPath, { force: true });
  return bytes > 0;
}

/** Where this process sets aside what it migrates from `bus`: one folder for both streams, named when first needed. */
const legacyDirs = new Map<string, string>();
function legacyDirOf(bus: string, now: () => Date): string {
  const key = resolve(bus);
  let dir = legacyDirs.get(key);
  if (dir === undefined) {
    dir = join(bus, `legacy-${now().toISOString().replace(/[-:]|\.\d+/g, '')}`);
    legacyDirs.set(key, dir);
  }
  return dir;
}

/** Moves the journals named, and for the events stream every v1 consumer state, into `legacyDir`. */
async function moveLeftovers(bus: string, stream: StreamName, legacyDir: string, journals: string[]): Promise<void> {
  for (const name of journals) await moveIfThere(join(bus, name), join(legacyDir, name));
  if (stream === 'events') {
    const consumers = join(bus, 'consumers');
    let names: string[] = [];
    try {
      names = await readdir(consumers);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
      if (!(await isV1State(join(consumers, name)))) continue;
      await mkdir(join(legacyDir, 'consumers'), { recursive: true });
      await moveIfThere(join(consumers, name), join(legacyDir, 'consumers', name));
    }
  }
  await syncDir(bus);
}

/** True when the file at `path` is a consumer state of the previous layout. */
async function isV1State(path: string): Promise<boolean> {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    return typeof value === 'object' && value !== null && (value as { version?: unknown }).version === 1;
  } catch {
    // Unreadable or not JSON: not ours to move; the consumer that owns it reports it.
    return false;
  }
}

/** Size of the file at `path`, or -1 when there is none. */
async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return -1;
    throw e;
  }
}

async function moveIfThere(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * Writes the lines of `journals` (subjects) as stream lines to `path` and fsyncs it; returns its
 * size. Events go in the order of their `ts` (stably; lines whose JSON or `ts` does not parse
 * after the others, in journal order); dead letters in journal order.
 */
async function writeMigratedSegment(bus: string, stream: StreamName, journals: string[], path: string): Promise<number> {
  const files: Buffer[] = [];
  const prefixes: Buffer[] = [];
  // One entry per line, in columns (a million lines are a million small objects otherwise).
  let file: number[] = [];
  let begin: number[] = [];
  let end: number[] = [];
  let ts: number[] = [];
  for (const [f, subject] of journals.entries()) {
    const buf = await readFile(legacyJournalPath(bus, subject));
    files.push(buf);
    prefixes.push(Buffer.from(`${subject} `));
    for (let s = 0; s < buf.length; ) {
      let e = buf.indexOf(NL, s);
      // A crashed writer's fragment at the end is a line too (the old writer would have ended it).
      if (e < 0) e = buf.length;
      if (e > s) {
        file.push(f);
        begin.push(s);
        end.push(e);
        ts.push(stream === 'events' ? tsOf(buf, s, e) : 0);
      }
      s = e + 1;
    }
  }
  const order = Array.from(file, (_, i) => i);
  if (stream === 'events') order.sort((a, b) => ts[a]! - ts[b]! || a - b);
  const handle = await openFile(path, 'w');
  let bytes = 0;
  try {
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      const chunk = Buffer.concat(pending, pendingBytes);
      for (let off = 0; off < chunk.length; ) off += (await handle.write(chunk, off, chunk.length - off)).bytesWritten;
      bytes += chunk.length;
      pending.length = 0;
      pendingBytes = 0;
    };
    const nl = Buffer.from([NL]);
    for (const i of order) {
      const prefix = prefixes[file[i]!]!;
      const line = files[file[i]!]!.subarray(begin[i]!, end[i]!);
      pending.push(prefix, line, nl);
      pendingBytes += prefix.length + line.length + 1;
      if (pendingBytes >= WRITE_CHUNK) await flush();
    }
    await flush();
    await handle.sync();
  } finally {
    await handle.close();
    file = begin = end = ts = [];
  }
  return bytes;
}

/** Epoch ms of the line's JSON `ts`, or +Infinity when it has none that parses (sorted last). */
function tsOf(buf: Buffer, s: number, e: number): number {
  // Cheap refusal of what cannot be an event before paying for JSON.parse.
  if (buf[s] !== 0x7b) return Infinity;
  try {
    const value: unknown = JSON.parse(buf.toString('utf8', s, e));
    const t = typeof value === 'object' && value !== null ? (value as { ts?: unknown }).ts : undefined;
    const ms = typeof t === 'string' ? Date.parse(t) : Number.NaN;
    return Number.isFinite(ms) ? ms : Infinity;
  } catch {
    return Infinity;
  }
}
