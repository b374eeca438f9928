/**
 * The stream files of the embedded bus (journal.ts). The writer's group commit: concurrent
 * appends share writes and syncs but never a write above 1 MiB, stay in call order, resolve with
 * their seq only after their sync, and a failed write or sync rejects exactly the appends of its
 * batch while the writer goes on (counting what the failed batch left). Rotation, retention by
 * age and size, and the reader: complete lines only, across segments, from any seq, past a
 * deleted segment, lines larger than a read chunk. With `syncMs` above 0, appends resolve once
 * written and a timer syncs them. A reader of this process's writer takes batches from memory
 * and reads exactly what a file reader reads.
 */
import { mkdir, open, readdir, readFile, utimes, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  listSegments,
  openStreamReader,
  openStreamWriter,
  segmentName,
  streamExtent,
  type AppendedBatch,
  type StreamLine,
  type StreamReaderOptions,
  type StreamWriterOptions,
  type WrittenTo,
} from '../../src/events/journal.js';
import { readStreamLines } from '../helpers/stream-lines.js';
import { tempHome } from '../helpers/temp-home.js';

const MiB = 1 << 20;
const DAY = 24 * 60 * 60 * 1000;
/**
 * The bound of every vi.waitFor here. Its default, 1 s of wall clock, is missed by a worker the
 * machine stalls for longer (a loaded full run), however sure the condition: the flake of a
 * waited-for disk write, reproduced by freezing the worker for 1.2 s.
 */
const WAIT = { timeout: 10_000 };
const LIMITS: StreamWriterOptions = { segmentBytes: 64 * MiB, maxAgeMs: 7 * DAY, maxBytes: 8 * 1024 * MiB };

/** FileHandle's prototype (the class is not exported): spying on it sees the writer's calls. */
async function fileHandlePrototype(dir: string): Promise<{ write: (...a: unknown[]) => unknown; datasync: () => Promise<void>; sync: () => Promise<void> }> {
  const h = await open(join(dir, '..', 'probe'), 'w');
  await h.close();
  return Object.getPrototypeOf(h) as { write: (...a: unknown[]) => unknown; datasync: () => Promise<void>; sync: () => Promise<void> };
}

/** A fresh stream folder under a temp home. */
async function streamDir(): Promise<string> {
  const dir = join((await tempHome('oo-ml-journal-')).data, 'bus', 'events');
  await mkdir(dir, { recursive: true });
  return dir;
}

/** A compact JSON payload numbered `i`, padded with `size` characters. */
const payload = (i: number, size: number): Uint8Array => Buffer.from(`{"i":${i},"pad":"${'x'.repeat(size)}"}`);
/** The stream line of `data` on subject `s`. */
const lineOf = (s: string, data: Uint8Array): string => `${s} ${Buffer.from(data).toString()}\n`;

const readAll = readStreamLines;

const texts = (lines: StreamLine[]): string[] => lines.map((l) => `${l.seq} ${l.subject} ${Buffer.from(l.data).toString()}`);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('stream writer (group commit)', () => {
  it('writes 3 MiB of concurrent appends in call order with their seqs, in writes of at most 1 MiB, with far fewer syncs than lines', async () => {
    const dir = await streamDir();
    const proto = await fileHandlePrototype(dir);
    const writes: number[] = [];
    const realWrite = proto.write;
    vi.spyOn(proto, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
      // (buffer, offset, length): the writer passes the length for batches.
      if (typeof args[2] === 'number') writes.push(args[2]);
      return realWrite.apply(this, args);
    });
    const syncs = vi.spyOn(proto, 'datasync');
    const writer = await openStreamWriter(dir, LIMITS);
    const subjects = ['signals.tip.served', 'feedback.tip.reaction'];
    const lines = Array.from({ length: 3000 }, (_, i) => payload(i, 1100 + (i % 50)));
    const seqs = await Promise.all(lines.map((l, i) => writer.append(subjects[i % 2]!, l)));
    await writer.close();

    expect(seqs).toEqual(lines.map((_, i) => i + 1));
    const text = await readFile(join(dir, segmentName(1)), 'utf8');
    expect(text).toBe(lines.map((l, i) => lineOf(subjects[i % 2]!, l)).join(''));
    const total = Buffer.byteLength(text);
    expect(total).toBeGreaterThan(3 * MiB);
    expect(writes.reduce((a, b) => a + b, 0)).toBe(total);
    expect(Math.max(...writes)).toBeLessThanOrEqual(MiB);
    // Split into at least ⌈3 MiB / 1 MiB⌉ batches, each synced once.
    expect(syncs.mock.calls.length).toBeGreaterThanOrEqual(4);
    expect(syncs.mock.calls.length).toBeLessThan(lines.length / 10);
  });

  it('finishes a short write(2) before the sync: the batch lands whole', async () => {
    const dir = await streamDir();
    const proto = await fileHandlePrototype(dir);
    const realWrite = proto.write;
    const asked: number[] = [];
    vi.spyOn(proto, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
      if (typeof args[2] !== 'number') return realWrite.apply(this, args);
      asked.push(args[2]);
      // Every write takes at most 100 bytes, as a nearly full disk or a signal may cause.
      return realWrite.apply(this, [args[0], args[1], Math.min(args[2], 100)]);
    });
    const writer = await openStreamWriter(dir, LIMITS);
    const lines = Array.from({ length: 20 }, (_, i) => payload(i, 40));
    await Promise.all(lines.map((l) => writer.append('signals.s', l)));
    await writer.close();
    const text = lines.map((l) => lineOf('signals.s', l)).join('');
    expect(await readFile(join(dir, segmentName(1)), 'utf8')).toBe(text);
    // Each call asked for the rest of its batch: ⌈bytes / 100⌉ writes at least.
    expect(asked.length).toBeGreaterThanOrEqual(Math.ceil(Buffer.byteLength(text) / 100));
  });

  it('writes a line longer than 1 MiB whole, in its own batch, and a reader reads it whole (longer than its read chunk too)', async () => {
    const dir = await streamDir();
    const writer = await openStreamWriter(dir, LIMITS);
    const small = payload(0, 10);
    const big = payload(1, 9 * MiB);
    expect(await Promise.all([writer.append('s.a', small), writer.append('s.a', big), writer.append('s.a', small)])).toEqual([1, 2, 3]);
    await writer.close();
    const got = (await readFile(join(dir, segmentName(1)), 'utf8')).split('\n');
    expect(got.map((l) => l.length)).toEqual([small.length + 4, big.length + 4, small.length + 4, 0]);
    const read = await readAll(dir);
    expect(read.map((l) => [l.seq, l.data.length])).toEqual([
      [1, small.length],
      [2, big.length],
      [3, small.length],
    ]);
    expect(Buffer.from(read[1]!.data).equals(Buffer.from(big))).toBe(true);
  });

  it('rejects exactly the appends of a batch whose sync failed, goes on with the next batch, and counts the failed batch’s line', async () => {
    const dir = await streamDir();
    const proto = await fileHandlePrototype(dir);
    const realSync = proto.datasync;
    let failNext = false;
    vi.spyOn(proto, 'datasync').mockImplementation(function (this: unknown) {
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('EIO: disk went away'));
      }
      return realSync.apply(this);
    });
    const writer = await openStreamWriter(dir, LIMITS);
    expect(await writer.append('s.a', payload(0, 5))).toBe(1);
    failNext = true;
    // Appends made in one tick form one batch: both fail with its sync.
    const failed = await Promise.allSettled([1, 2].map((i) => writer.append('s.a', payload(i, 5))));
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((failed[0] as PromiseRejectedResult).reason).toMatchObject({ message: /EIO/ });
    // The failed batch's bytes were written (only the sync failed): its lines hold seqs 2 and 3,
    // so the next ones get 4 and 5 — every seq names the line a reader finds there.
    expect(await Promise.all([3, 4].map((i) => writer.append('s.a', payload(i, 5))))).toEqual([4, 5]);
    expect(await writer.append('s.a', payload(5, 5))).toBe(6);
    await writer.close();
    // A publisher that retries stores the failed lines twice, which ingest's de-duplication by
    // event_id absorbs.
    const read = await readAll(dir);
    expect(read.map((l) => [l.seq, (JSON.parse(Buffer.from(l.data).toString()) as { i: number }).i])).toEqual([
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 3],
      [5, 4],
      [6, 5],
    ]);
  });

  it('with syncMs above 0 resolves appends once written, syncs them within syncMs, syncs the rest at close, and fails the next batch after a failed sync', async () => {
    const dir = await streamDir();
    const proto = await fileHandlePrototype(dir);
    const realSync = proto.datasync;
    let fail = false;
    const syncs = vi.spyOn(proto, 'datasync').mockImplementation(function (this: unknown) {
      if (fail) {
        fail = false;
        return Promise.reject(new Error('EIO: disk went away'));
      }
      return realSync.apply(this);
    });
    const writer = await openStreamWriter(dir, { ...LIMITS, syncMs: 20 });
    const before = syncs.mock.calls.length;
    expect(await Promise.all([0, 1, 2].map((i) => writer.append('s.a', payload(i, 5))))).toEqual([1, 2, 3]);
    expect(syncs.mock.calls.length).toBe(before);
    await vi.waitFor(() => expect(syncs.mock.calls.length).toBe(before + 1), WAIT);
    // The failed interval sync surfaces on the next batch, which is rejected; the one after goes on.
    fail = true;
    expect(await writer.append('s.a', payload(3, 5))).toBe(4);
    await vi.waitFor(() => expect(fail).toBe(false), WAIT);
    await expect(writer.append('s.a', payload(4, 5))).rejects.toMatchObject({ code: 'unavailable', message: /fdatasync .* failed: EIO/ });
    expect(await writer.append('s.a', payload(5, 5))).toBe(5);
    await writer.close();
    expect((await readAll(dir)).map((l) => (JSON.parse(Buffer.from(l.data).toString()) as { i: number }).i)).toEqual([0, 1, 2, 3, 5]);

    // A long interval: close syncs what is pending.
    const slow = await openStreamWriter(dir, { ...LIMITS, syncMs: 60_000 });
    const atOpen = syncs.mock.calls.length;
    await slow.append('s.a', payload(6, 5));
    expect(syncs.mock.calls.length).toBe(atOpen);
    await slow.close();
    expect(syncs.mock.calls.length).toBe(atOpen + 1);
  });

  it('with syncMs above 0 does not hold appends behind an interval sync in flight, syncs their lines after it, and closes only once it finished', async () => {
    const dir = await streamDir();
    const proto = await fileHandlePrototype(dir);
    const realSync = proto.datasync;
    // The first interval sync hangs until released; later ones are real.
    let release: (() => void) | null = null;
    let hung = 0;
    const syncs = vi.spyOn(proto, 'datasync').mockImplementation(function (this: unknown) {
      if (hung++ === 0) return new Promise<void>((resolve) => (release = () => resolve(realSync.apply(this)))).then(() => undefined);
      return realSync.apply(this);
    });
    const writer = await openStreamWriter(dir, { ...LIMITS, syncMs: 10 });
    const before = syncs.mock.calls.length;
    expect(await writer.append('s.a', payload(0, 5))).toBe(1);
    await vi.waitFor(() => expect(release).not.toBeNull(), WAIT);
    // The sync of line 1 is running: appends meanwhile are written and resolve.
    expect(await Promise.all([1, 2].map((i) => writer.append('s.a', payload(i, 5))))).toEqual([2, 3]);
    expect(syncs.mock.calls.length).toBe(before + 1);
    let closed = false;
    const closing = writer.close().then(() => (closed = true));
    // close waits for the sync in flight (which never ends unreleased) before its own sync of
    // lines 2–3 and the handle's close: several turns of the event loop later it is still open.
    for (let turn = 0; turn < 5; turn++) await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false);
    release!();
    await closing;
    expect(syncs.mock.calls.length).toBe(before + 2);
    expect((await readAll(dir)).map((l) => (JSON.parse(Buffer.from(l.data).toString()) as { i: number }).i)).toEqual([0, 1, 2]);
    // A writer that held appends behind the sync would hang above: fail in seconds, not at the suite's limit.
  }, 15_000);

  it('with syncMs above 0 does not hold the batch that seals a segment behind its sync; close waits for it, and a failed one fails the next batch naming the segment', async () => {
    const dir = await streamDir();
    const proto = await fileHandlePrototype(dir);
    const realSync = proto.datasync;
    // Every sync hangs until released (or fails, when `fail` is set).
    const pending: (() => void)[] = [];
    let fail = false;
    const syncs = vi.spyOn(proto, 'datasync').mockImplementation(function (this: unknown) {
      if (fail) {
        fail = false;
        return Promise.reject(new Error('EIO: disk went away'));
      }
      return new Promise<void>((resolve) => pending.push(() => resolve(realSync.apply(this)))).then(() => undefined);
    });
    // 26-byte lines (`s.a {"i":N,"pad":"xxxxx"}` and its newline): the third batch finds 52 bytes and seals segment 1.
    const small = { ...LIMITS, segmentBytes: 52, syncMs: 60_000 };
    const writer = await openStreamWriter(dir, small);
    const before = syncs.mock.calls.length;
    expect(await writer.append('s.a', payload(0, 5))).toBe(1);
    expect(await writer.append('s.a', payload(1, 5))).toBe(2);
    // Segment 1's last sync is called and hangs: the line that started segment 3 resolves all the same.
    expect(await writer.append('s.a', payload(2, 5))).toBe(3);
    await vi.waitFor(() => expect(syncs.mock.calls.length).toBe(before + 1), WAIT);
    expect(pending).toHaveLength(1);
    expect(await readdir(dir)).toEqual([1, 3].map(segmentName));
    expect(await writer.append('s.a', payload(3, 5))).toBe(4);
    let closed = false;
    const closing = writer.close().then(() => (closed = true));
    for (let turn = 0; turn < 5; turn++) await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false);
    // close waits for the seal: segment 3's own sync has not started yet.
    expect(pending).toHaveLength(1);
    // Released, the seal finishes; then close syncs segment 3 (lines 3–4) and ends.
    pending.shift()!();
    // Real disk work (fdatasync, close, the folder's fsync, retention) comes first.
    await vi.waitFor(() => expect(pending).toHaveLength(1), WAIT);
    pending.shift()!();
    await closing;
    expect((await readAll(dir)).map((l) => (JSON.parse(Buffer.from(l.data).toString()) as { i: number }).i)).toEqual([0, 1, 2, 3]);

    // A seal whose sync fails: the next batch is refused naming the sealed segment; the one after goes on.
    const dir2 = await streamDir();
    const again = await openStreamWriter(dir2, small);
    expect(await Promise.all([0, 1].map((i) => again.append('s.a', payload(i, 5))))).toEqual([1, 2]);
    fail = true;
    expect(await again.append('s.a', payload(2, 5))).toBe(3);
    await vi.waitFor(() => expect(fail).toBe(false), WAIT);
    await expect(again.append('s.a', payload(3, 5))).rejects.toMatchObject({ code: 'unavailable', message: new RegExp(`fdatasync of the bus segment .*${segmentName(1)} failed: EIO`) });
    expect(await again.append('s.a', payload(4, 5))).toBe(4);
    const closingAgain = again.close();
    await vi.waitFor(() => expect(pending).toHaveLength(1), WAIT);
    pending.shift()!();
    await closingAgain;
    expect((await readAll(dir2)).map((l) => (JSON.parse(Buffer.from(l.data).toString()) as { i: number }).i)).toEqual([0, 1, 2, 4]);
  }, 15_000);

  it('a rotation whose folder sync fails fails the rotating batch when syncMs is 0, the next batch otherwise, and close when no batch follows', async () => {
    const dir = await streamDir();
    const proto = await fileHandlePrototype(dir);
    const realSync = proto.sync;
    let fail = 0;
    vi.spyOn(proto, 'sync').mockImplementation(function (this: unknown) {
      if (fail > 0) {
        fail--;
        return Promise.reject(new Error('EIO: disk went away'));
      }
      return realSync.apply(this);
    });
    const folder = new RegExp(`fsync of the bus folder .* failed: EIO`);
    // syncMs 0: the batch that rotated is refused; the next one goes on.
    const strict = await openStreamWriter(dir, { ...LIMITS, segmentBytes: 52, syncMs: 0 });
    expect(await Promise.all([0, 1].map((i) => strict.append('s.a', payload(i, 5))))).toEqual([1, 2]);
    fail = 1;
    await expect(strict.append('s.a', payload(2, 5))).rejects.toMatchObject({ code: 'unavailable', message: folder });
    // The refused line was not written: the next takes its seq.
    expect(await strict.append('s.a', payload(3, 5))).toBe(3);
    await strict.close();
    // syncMs above 0: the rotating batch resolves, the next is refused, the one after goes on.
    const dir2 = await streamDir();
    const relaxed = await openStreamWriter(dir2, { ...LIMITS, segmentBytes: 52, syncMs: 60_000 });
    expect(await Promise.all([0, 1].map((i) => relaxed.append('s.a', payload(i, 5))))).toEqual([1, 2]);
    fail = 1;
    expect(await relaxed.append('s.a', payload(2, 5))).toBe(3);
    await vi.waitFor(() => expect(fail).toBe(0), WAIT);
    await expect(relaxed.append('s.a', payload(3, 5))).rejects.toMatchObject({ code: 'unavailable', message: folder });
    expect(await relaxed.append('s.a', payload(4, 5))).toBe(4);
    // A failure after the last batch: close reports it.
    expect(await Promise.all([5, 6].map((i) => relaxed.append('s.a', payload(i, 5))))).toEqual([5, 6]);
    fail = 1;
    expect(await relaxed.append('s.a', payload(7, 5))).toBe(7);
    await expect(relaxed.close()).rejects.toMatchObject({ code: 'unavailable', message: folder });
    expect(fail).toBe(0);
  });

  it('ends a crashed writer’s fragment before its first line, counts it as a line, and refuses a payload with a newline or a subject with a space', async () => {
    const dir = await streamDir();
    await writeFile(join(dir, segmentName(1)), 's.a {"i":0}\ns.a {"i":1,"torn');
    const writer = await openStreamWriter(dir, LIMITS);
    expect(await writer.append('s.a', payload(2, 3))).toBe(3);
    await expect(writer.append('s.a', Buffer.from('{"a":\n1}'))).rejects.toMatchObject({ code: 'internal', message: /contains a newline/ });
    await expect(writer.append('s a', Buffer.from('{}'))).rejects.toMatchObject({ code: 'invalid_input' });
    await writer.close();
    expect((await readFile(join(dir, segmentName(1)), 'utf8')).split('\n')).toEqual(['s.a {"i":0}', 's.a {"i":1,"torn', lineOf('s.a', payload(2, 3)).trimEnd(), '']);
    expect(await streamExtent(dir)).toEqual({ firstSeq: 1, lastSeq: 3 });
  });
});

describe('stream rotation and retention', () => {
  /** A 100-byte line: subject, space, a 76-byte payload, newline. */
  const hundred = (i: number): Uint8Array => Buffer.from(`{"i":${String(i).padStart(4, '0')},"pad":"${'x'.repeat(57)}"}`);

  it('seals a segment once it reached segmentBytes and names the next by its first seq; readers follow', async () => {
    const dir = await streamDir();
    expect(hundred(1).length + 'signals.task.completed'.length + 2).toBe(100);
    const writer = await openStreamWriter(dir, { ...LIMITS, segmentBytes: 200 });
    for (let i = 1; i <= 7; i++) expect(await writer.append('signals.task.completed', hundred(i))).toBe(i);
    await writer.close();
    expect(await readdir(dir)).toEqual([1, 3, 5, 7].map(segmentName));
    expect(texts(await readAll(dir)).map((t) => t.split(' ')[0])).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    // From any seq, including one in the middle of a segment and one past the end.
    for (let k = 1; k <= 8; k++) expect((await readAll(dir, k)).map((l) => l.seq)).toEqual(Array.from({ length: 8 - k }, (_, i) => k + i));
    // A reopened writer counts on from the last segment.
    const again = await openStreamWriter(dir, { ...LIMITS, segmentBytes: 200 });
    expect(await again.append('signals.task.completed', hundred(8))).toBe(8);
    expect(await again.append('signals.task.completed', hundred(9))).toBe(9);
    await again.close();
    expect(await readdir(dir)).toEqual([1, 3, 5, 7, 9].map(segmentName));
    expect(await streamExtent(dir)).toEqual({ firstSeq: 1, lastSeq: 9 });
  });

  it('deletes sealed segments past maxAgeMs at a rotation, never the one being written, and a reader in a deleted segment goes on at the oldest remaining', async () => {
    const dir = await streamDir();
    const writer = await openStreamWriter(dir, { ...LIMITS, segmentBytes: 200, maxAgeMs: 60_000 });
    for (let i = 1; i <= 6; i++) await writer.append('signals.task.completed', hundred(i));
    const reader = openStreamReader(dir, 1, { pollMs: 10 });
    // A read stops at a segment's end with what it has; the next one goes on in the following.
    expect((await reader.read(3)).map((l) => l.seq)).toEqual([1, 2]);
    expect((await reader.read(1)).map((l) => l.seq)).toEqual([3]);
    // Segments 1 and 3 (the reader is in 3) and the one being written (5) grow old.
    const old = new Date(Date.now() - 3_600_000);
    for (const s of [1, 3, 5]) await utimes(join(dir, segmentName(s)), old, old);
    expect(await writer.append('signals.task.completed', hundred(7))).toBe(7);
    expect(await readdir(dir)).toEqual([7].map(segmentName));
    // Segment 5 was sealed by that rotation and was old, so it went too: the reader goes on at 7.
    expect((await reader.read(10)).map((l) => l.seq)).toEqual([7]);
    await reader.close();
    await writer.close();
    expect(await streamExtent(dir)).toEqual({ firstSeq: 7, lastSeq: 7 });
    // A reader asking for a deleted seq starts at the oldest held.
    expect((await readAll(dir, 2)).map((l) => l.seq)).toEqual([7]);
  });

  it('deletes the oldest sealed segments while the stream holds more than maxBytes (at writer open too)', async () => {
    const dir = await streamDir();
    const writer = await openStreamWriter(dir, { ...LIMITS, segmentBytes: 200 });
    for (let i = 1; i <= 9; i++) await writer.append('signals.task.completed', hundred(i));
    await writer.close();
    expect(await readdir(dir)).toEqual([1, 3, 5, 7, 9].map(segmentName));
    // 900 bytes in 5 segments; 450 allowed: the three oldest go, then 300 bytes are left.
    const reopened = await openStreamWriter(dir, { ...LIMITS, segmentBytes: 200, maxBytes: 450 });
    expect(await readdir(dir)).toEqual([7, 9].map(segmentName));
    // The segment being written stays even when it alone is over the limit.
    for (let i = 10; i <= 13; i++) await reopened.append('signals.task.completed', hundred(i));
    await reopened.close();
    expect((await listSegments(dir)).map((s) => s.firstSeq)).toEqual([9, 11, 13]);
    const tiny = await openStreamWriter(dir, { ...LIMITS, segmentBytes: 200, maxBytes: 1 });
    await tiny.close();
    expect((await listSegments(dir)).map((s) => s.firstSeq)).toEqual([13]);
    expect(await streamExtent(dir)).toEqual({ firstSeq: 13, lastSeq: 13 });
  });
});

describe('stream reader', () => {
  it('reads a segment of several read chunks exactly as a plain split of the file does, lines cut at chunk ends included', async () => {
    const dir = await streamDir();
    // A fixed pseudo-random mix of subjects and line lengths, about 10 MiB.
    let x = 20261204;
    const rand = (n: number): number => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n);
    const subjects = ['signals.tip.served', 'feedback.tip.reaction', 'signals.task.completed', 'nospace'];
    const parts: string[] = [];
    for (let i = 0; i < 40_000; i++) {
      const s = subjects[rand(4)]!;
      parts.push(s === 'nospace' ? 'nospace\n' : rand(50) === 0 ? '\n' : `${s} {"i":${i},"pad":"${'y'.repeat(rand(500))}"}\n`);
    }
    const content = parts.join('');
    expect(content.length).toBeGreaterThan(9 * MiB);
    await writeFile(join(dir, segmentName(1)), content);
    // The plain version: split the whole file, number the lines, drop the blank ones.
    const plain = content
      .split('\n')
      .slice(0, -1)
      .map((l, i) => ({ l, seq: i + 1 }))
      .filter(({ l }) => l !== '')
      .map(({ l, seq }) => {
        const sp = l.indexOf(' ');
        return sp < 0 ? `${seq} ${l} ` : `${seq} ${l.slice(0, sp)} ${l.slice(sp + 1)}`;
      });
    const reader = openStreamReader(dir, 1, { pollMs: 10 });
    const fast: string[] = [];
    for (let max = 1; ; max = 1 + rand(3000)) {
      const got = await reader.read(max);
      if (got.length === 0) break;
      fast.push(...texts(got));
    }
    await reader.close();
    expect(fast.length).toBe(plain.length);
    expect(fast).toEqual(plain);
  });

  it('returns complete lines only, skips blank lines (which keep their seq), and reads a torn line once it is ended', async () => {
    const dir = await streamDir();
    const path = join(dir, segmentName(1));
    await writeFile(path, 's.a {"i":1}\n\ns.b {"i":3}\ns.a {"i":4');
    const reader = openStreamReader(dir, 1, { pollMs: 10 });
    expect(texts(await reader.read(10))).toEqual(['1 s.a {"i":1}', '3 s.b {"i":3}']);
    expect(await reader.read(10)).toEqual([]);
    await appendFile(path, '}\nnospace\n');
    // A line without a space is a subject without payload (an invalid message, dead-lettered).
    expect(texts(await reader.read(10))).toEqual(['4 s.a {"i":4}', '5 nospace ']);
    await reader.close();
  });

  it('wakes a waiting reader on an append of this process, and returns [] after maxWaitMs when nothing comes', async () => {
    const dir = await streamDir();
    let wake: ((b: AppendedBatch) => void) | undefined;
    const reader = openStreamReader(dir, 1, { pollMs: 60_000, subscribe: (w) => ((wake = w), () => (wake = undefined)) });
    expect(await reader.next(10, 0)).toEqual([]);
    const writer = await openStreamWriter(dir, { ...LIMITS, onAppend: (b) => wake?.(b) });
    // The poll interval is a minute: only the notification can deliver this within the test.
    const pending = reader.next(10, 120_000);
    expect(await writer.append('s.a', Buffer.from('{"i":1}'))).toBe(1);
    expect(texts(await pending)).toEqual(['1 s.a {"i":1}']);
    await reader.close();
    expect(wake).toBeUndefined();
    await writer.close();
  });

  /** A writer's onAppend wired to readers as the embedded transport wires them (one process). */
  function inProcess(): { onAppend: (b: AppendedBatch) => void } & Pick<StreamReaderOptions, 'subscribe' | 'writtenTo'> {
    const subs = new Set<(b: AppendedBatch) => void>();
    let to: WrittenTo | null = null;
    return {
      onAppend: (b) => {
        to = { segment: b.segment, end: b.offset + b.chunk.length };
        for (const f of subs) f(b);
      },
      subscribe: (f) => {
        subs.add(f);
        return () => subs.delete(f);
      },
      writtenTo: () => to,
    };
  }

  it('a reader of this process’s writer reads exactly what a file reader reads, across rotations, batch and read sizes, reads racing appends and a late start', async () => {
    const step = fc.oneof(
      // Appends left in flight: reads race them (a file read may take part of a batch that is then pushed).
      fc.record({ append: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 12 }) }),
      fc.record({ read: fc.integer({ min: 1, max: 20 }) }),
      fc.constant({ settle: true as const }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), fc.integer({ min: 200, max: 3000 }), fc.integer({ min: 1, max: 3 }), fc.nat(10), fc.boolean(), fc.constantFrom(0, 50), async (steps, segmentBytes, startSeq, openAt, shortWrites, syncMs) => {
        const dir = await streamDir();
        vi.restoreAllMocks();
        if (shortWrites) {
          // Batches written 100 bytes at a time: a racing file read takes part of a batch whose push follows.
          const proto = await fileHandlePrototype(dir);
          const realWrite = proto.write;
          vi.spyOn(proto, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
            return typeof args[2] === 'number' ? realWrite.apply(this, [args[0], args[1], Math.min(args[2], 100)]) : realWrite.apply(this, args);
          });
        }
        const wiring = inProcess();
        // syncMs 0 writes through the thread pool (where short writes are mocked), above 0 with write(2) in place.
        const writer = await openStreamWriter(dir, { ...LIMITS, segmentBytes, syncMs, onAppend: wiring.onAppend });
        let reader: ReturnType<typeof openStreamReader> | null = null;
        const got: StreamLine[] = [];
        const inFlight: Promise<number>[] = [];
        let i = 0;
        for (const [k, s] of steps.entries()) {
          // The reader subscribes late: batches before it are only in the file.
          if (k === openAt) reader = openStreamReader(dir, startSeq, { pollMs: 10, subscribe: wiring.subscribe, writtenTo: wiring.writtenTo });
          if ('append' in s) for (const size of s.append) inFlight.push(writer.append(`s.${i % 3}`, payload(i++, size)));
          else if ('read' in s) {
            if (reader === null) continue;
            const lines = await reader.read(s.read);
            expect(lines.length).toBeLessThanOrEqual(s.read);
            got.push(...lines);
          } else await Promise.all(inFlight.splice(0));
        }
        await Promise.all(inFlight);
        reader ??= openStreamReader(dir, startSeq, { pollMs: 10, subscribe: wiring.subscribe, writtenTo: wiring.writtenTo });
        for (let more = await reader.read(50); more.length > 0; more = await reader.read(50)) got.push(...more);
        await reader.close();
        await writer.close();
        expect(texts(got)).toEqual(texts(await readAll(dir, startSeq)));
        expect(got.length).toBe(Math.max(0, i - startSeq + 1));
      }),
      { seed: 1204, numRuns: 60 },
    );
  });

  it('a reader behind by thousands of pushed batches takes them in one copy, not one copy of its unread bytes per batch', async () => {
    const dir = await streamDir();
    const wiring = inProcess();
    const writer = await openStreamWriter(dir, { ...LIMITS, syncMs: 1000, onAppend: wiring.onAppend });
    const reader = openStreamReader(dir, 1, { pollMs: 10, subscribe: wiring.subscribe, writtenTo: wiring.writtenTo });
    await writer.append('s.a', payload(0, 10));
    expect(await reader.read(10)).toHaveLength(1);
    // 2,000 batches of one line each, none read meanwhile (the fold paused by a checkpoint).
    let pushedBytes = 0;
    for (let i = 1; i <= 2000; i++) {
      const data = payload(i, 100);
      await writer.append('s.a', data);
      pushedBytes += 's.a '.length + data.length + 1;
    }
    const concat = vi.spyOn(Buffer, 'concat');
    const got: StreamLine[] = [];
    for (let more = await reader.read(500); more.length > 0; more = await reader.read(500)) got.push(...more);
    const copied = concat.mock.results.reduce((n, r) => n + (r.value as Buffer).length, 0);
    concat.mockRestore();
    expect(got.map((l) => l.seq)).toEqual(Array.from({ length: 2000 }, (_, i) => i + 2));
    // A copy of the unread rest per batch would be ~2,000²/2 batches' bytes: far over this bound.
    expect(copied).toBeLessThanOrEqual(2 * pushedBytes);
    await reader.close();
    await writer.close();
  });

  it('a caught-up reader of this process’s writer takes appended batches from memory, with no read(2) or fstat', async () => {
    const dir = await streamDir();
    const wiring = inProcess();
    const writer = await openStreamWriter(dir, { ...LIMITS, syncMs: 1000, onAppend: wiring.onAppend });
    const reader = openStreamReader(dir, 1, { pollMs: 10, subscribe: wiring.subscribe, writtenTo: wiring.writtenTo });
    await writer.append('s.a', payload(0, 10));
    expect(texts(await reader.read(10))).toEqual([`1 s.a ${Buffer.from(payload(0, 10)).toString()}`]);
    const proto = await fileHandlePrototype(dir);
    const reads = vi.spyOn(proto as unknown as { read: () => unknown }, 'read');
    const stats = vi.spyOn(proto as unknown as { stat: () => unknown }, 'stat');
    for (let i = 1; i <= 50; i++) {
      await Promise.all([writer.append('s.a', payload(i, 10)), writer.append('s.b', payload(i, 20))]);
      expect((await reader.next(10, 1000)).length).toBeGreaterThan(0);
    }
    for (let more = await reader.read(100); more.length > 0; more = await reader.read(100));
    expect(await reader.read(10)).toEqual([]);
    expect(reads).not.toHaveBeenCalled();
    expect(stats).not.toHaveBeenCalled();
    await reader.close();
    await writer.close();
    expect((await readAll(dir)).length).toBe(101);
  });
});
