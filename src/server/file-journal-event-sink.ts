/**
 * The embedded default EventSink: an append-only NDJSON journal (one event per line, each
 * written whole in one write on a file opened with O_APPEND), at
 * `<home>/data/serve-journal/events.ndjson` for `oo-ml serve`. Its `readAll` replays the file to
 * rebuild online state at start; lines that are not a valid tip.served / tip.reaction / tip.reward (a line
 * torn by a crash, a hand edit) are skipped and counted, never fatal. The event-bus adapter
 * (NATS JetStream) can replace it: anything implementing EventSink fits.
 *
 * `publish` resolves once the line is accepted by the write stream's buffer — at once while the
 * buffer is under its high-water mark, else when it drains (backpressure, so a slow disk slows
 * the scorer instead of growing memory). Waiting for each write's callback instead put a
 * thread-pool round trip (~4 ms under load) into every /score. `flush` waits until every
 * accepted line is written, and `close` fsyncs: a crash can lose the lines of the last few
 * milliseconds, a graceful shutdown none. A write error fails every later publish.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { EVENT_VALIDATORS } from '../events/schemas.js';
import type { HomePaths } from '../config.js';
import type { EventSink, ServerEvent } from './deps.js';

/** Where `oo-ml serve` keeps its journal. */
export function journalPath(paths: HomePaths): string {
  return join(paths.data, 'serve-journal', 'events.ndjson');
}

/** The file journal, with the count of unreadable lines met by the last `readAll`. */
export interface FileJournalEventSink extends EventSink {
  readonly path: string;
  readonly skippedLines: number;
  readAll(): AsyncIterable<ServerEvent>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Opens (creating if needed) the journal at `path` for appending. */
export async function createFileJournalEventSink(path: string): Promise<FileJournalEventSink> {
  await mkdir(dirname(path), { recursive: true });
  // 1 MiB of buffered lines before backpressure: a burst of serves does not wait on the disk.
  const stream: WriteStream = createWriteStream(path, { flags: 'a', highWaterMark: 1 << 20 });
  await once(stream, 'open');
  let failure: Error | null = null;
  let skipped = 0;
  let closed = false;
  stream.on('error', (e) => (failure ??= e));
  // One shared wait for 'drain' (not a listener per blocked publish).
  let draining: Promise<void> | null = null;
  const drained = (): Promise<void> =>
    (draining ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        stream.off('drain', done);
        stream.off('error', done);
        draining = null;
        if (err) reject(err);
        else resolve();
      };
      stream.on('drain', done);
      stream.on('error', done);
    }));
  // Resolves once everything written so far has reached the file (a zero-length write is
  // queued behind the others and called back in order).
  const flush = (): Promise<void> =>
    new Promise((resolve, reject) => {
      if (failure !== null) return reject(failure);
      if (stream.writableLength === 0) return resolve();
      stream.write('', (err) => (err ? reject(err) : resolve()));
    });

  return {
    path,
    get skippedLines() {
      return skipped;
    },
    publish(_subject, event) {
      if (failure !== null) return Promise.reject(failure);
      if (closed) return Promise.reject(new Error(`journal ${path} is closed`));
      return stream.write(JSON.stringify(event) + '\n') ? Promise.resolve() : drained();
    },
    async *readAll(): AsyncGenerator<ServerEvent> {
      await flush();
      skipped = 0;
      const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
      for await (const line of lines) {
        if (line.trim() === '') continue;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          skipped++;
          continue;
        }
        const type = (value as { type?: unknown } | null)?.type;
        if ((type === 'tip.served' || type === 'tip.reaction' || type === 'tip.reward') && EVENT_VALIDATORS[type].check(value)) {
          yield value as ServerEvent;
        } else {
          skipped++;
        }
      }
    },
    flush,
    async close() {
      if (closed) return;
      closed = true;
      await flush();
      // fsync through a second descriptor: the stream's own fd closes with the stream.
      const handle = await open(path, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      stream.end();
      await once(stream, 'close');
    },
  };
}
