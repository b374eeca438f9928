/**
 * The journal writer's group commit: concurrent appends share writes and syncs but never a
 * write above 1 MiB, stay in call order, resolve only after their sync, and a failed write or
 * sync rejects exactly the appends of its batch while the writer goes on with the next ones.
 */
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createJournalWriter, journalPath } from '../../src/events/journal.js';
import { tempHome } from '../helpers/temp-home.js';

const MiB = 1 << 20;

/** FileHandle's prototype (the class is not exported): spying on it sees the writer's calls. */
async function fileHandlePrototype(dir: string): Promise<{ write: (...a: unknown[]) => unknown; datasync: () => Promise<void> }> {
  const h = await open(join(dir, 'probe'), 'w');
  await h.close();
  return Object.getPrototypeOf(h) as { write: (...a: unknown[]) => unknown; datasync: () => Promise<void> };
}

/** A fresh bus folder under a temp home. */
async function busDir(): Promise<string> {
  const dir = join((await tempHome('oo-ml-journal-')).data, 'bus');
  await mkdir(dir, { recursive: true });
  return dir;
}

/** A compact JSON payload numbered `i`, padded with `size` characters. */
const line = (i: number, size: number): Uint8Array => Buffer.from(`{"i":${i},"pad":"${'x'.repeat(size)}"}`);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('journal writer (group commit)', () => {
  it('writes 3 MiB of concurrent appends in call order, in writes of at most 1 MiB, with far fewer syncs than lines', async () => {
    const dir = await busDir();
    const proto = await fileHandlePrototype(dir);
    const writes: number[] = [];
    const realWrite = proto.write;
    vi.spyOn(proto, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
      // (buffer, offset, length): the writer always passes the length.
      if (typeof args[2] === 'number') writes.push(args[2]);
      return realWrite.apply(this, args);
    });
    const syncs = vi.spyOn(proto, 'datasync');
    const writer = createJournalWriter(dir);
    const lines = Array.from({ length: 3000 }, (_, i) => line(i, 1100 + (i % 50)));
    await Promise.all(lines.map((l) => writer.append('signals.tip.served', l)));
    await writer.close();

    const text = await readFile(journalPath(dir, 'signals.tip.served'), 'utf8');
    expect(text).toBe(lines.map((l) => `${Buffer.from(l).toString()}\n`).join(''));
    const total = lines.reduce((n, l) => n + l.length + 1, 0);
    expect(total).toBeGreaterThan(3 * MiB);
    expect(writes.reduce((a, b) => a + b, 0)).toBe(total);
    expect(Math.max(...writes)).toBeLessThanOrEqual(MiB);
    // Split into at least ⌈3 MiB / 1 MiB⌉ batches, each synced once.
    expect(syncs.mock.calls.length).toBeGreaterThanOrEqual(4);
    expect(syncs.mock.calls.length).toBeLessThan(lines.length / 10);
  });

  it('finishes a short write(2) before the sync: the batch lands whole', async () => {
    const dir = await busDir();
    const proto = await fileHandlePrototype(dir);
    const realWrite = proto.write;
    const asked: number[] = [];
    vi.spyOn(proto, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
      if (typeof args[2] !== 'number') return realWrite.apply(this, args);
      asked.push(args[2]);
      // Every write takes at most 100 bytes, as a nearly full disk or a signal may cause.
      return realWrite.apply(this, [args[0], args[1], Math.min(args[2], 100)]);
    });
    const writer = createJournalWriter(dir);
    const lines = Array.from({ length: 20 }, (_, i) => line(i, 40));
    await Promise.all(lines.map((l) => writer.append('s', l)));
    await writer.close();
    expect(await readFile(journalPath(dir, 's'), 'utf8')).toBe(lines.map((l) => `${Buffer.from(l).toString()}\n`).join(''));
    // Each call asked for the rest of its batch: ⌈bytes / 100⌉ writes at least.
    const total = lines.reduce((n, l) => n + l.length + 1, 0);
    expect(asked.length).toBeGreaterThanOrEqual(Math.ceil(total / 100));
  });

  it('writes a line longer than 1 MiB whole, in its own batch', async () => {
    const dir = await busDir();
    const writer = createJournalWriter(dir);
    const small = line(0, 10);
    const big = line(1, 2 * MiB);
    await Promise.all([writer.append('s', small), writer.append('s', big), writer.append('s', small)]);
    await writer.close();
    const got = (await readFile(journalPath(dir, 's'), 'utf8')).split('\n');
    expect(got.map((l) => l.length)).toEqual([small.length, big.length, small.length, 0]);
  });

  it('rejects exactly the appends of a batch whose sync failed, and goes on with the next batch', async () => {
    const dir = await busDir();
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
    const writer = createJournalWriter(dir);
    await writer.append('s', line(0, 5)); // opens the writer
    failNext = true;
    // An idle writer starts a batch at once with the first append; the next two, made while it
    // runs, form the following batch.
    const first = await Promise.allSettled([1, 2, 3].map((i) => writer.append('s', line(i, 5))));
    expect(first.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect((first[0] as PromiseRejectedResult).reason).toMatchObject({ message: /EIO/ });
    await expect(writer.append('s', line(4, 5))).resolves.toBeUndefined();
    await writer.close();
    // The failed batch's bytes were written (only the sync failed): a publisher that retries
    // stores them twice, which ingest's de-duplication by event_id absorbs.
    const ids = (await readFile(journalPath(dir, 's'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { i: number }).i);
    expect(ids).toEqual([0, 1, 2, 3, 4]);
  });

  it('ends a crashed writer’s fragment before its first line, and refuses a payload with a newline', async () => {
    const dir = await busDir();
    await writeFile(journalPath(dir, 's'), '{"i":0}\n{"i":1,"torn');
    const writer = createJournalWriter(dir);
    await writer.append('s', line(2, 3));
    await expect(writer.append('s', Buffer.from('{"a":\n1}'))).rejects.toMatchObject({ code: 'internal', message: /contains a newline/ });
    await writer.close();
    expect((await readFile(journalPath(dir, 's'), 'utf8')).split('\n')).toEqual(['{"i":0}', '{"i":1,"torn', Buffer.from(line(2, 3)).toString(), '']);
  });
});
