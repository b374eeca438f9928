/**
 * `oo-ml ingest`: the sink from the event bus (`signals.>`, `feedback.>`) into the Parquet event
 * log (pipelines/event-log.ts layout). Each batch becomes new files only,
 *
 *   <events>/<type>/day=YYYY-MM-DD/ingest-<UTC stamp>-<random>.parquet
 *
 * written in the temporaries folder, fsynced, and renamed in (rename is atomic on one file
 * system, and readers only pick up `*.parquet` inside `day=` folders), so a reader never sees a
 * torn or half-written file and no existing file is ever rewritten.
 *
 * Delivery is at-least-once, the log is effectively-once: messages are acked only after their
 * file is durably in place, so a crash between write and ack redelivers them, and the writer
 * drops events whose event_id is already in the log for that type and day (or earlier in the
 * same batch). Invalid messages never reach this module: the bus dead-letters them.
 * One ingest per log at a time: two concurrent ingests could both write a message that JetStream
 * redelivered to the second while the first was still writing it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidInput, invalidUsage } from '../errors.js';
import type { DeadLetterReason } from '../events/dead-letter.js';
import type { EventBus } from '../events/event-bus.js';
import { EVENT_TYPES, type EventType, type OoEvent } from '../events/schemas.js';
import type { TransportKind } from '../events/transport.js';
import { exists, OUTPUT_MARKER, readTextIfExists, writeFileAtomic } from '../io/atomic.js';
import { duckdbMessage, sqlString, withDb, type Db } from '../io/duckdb.js';
import { eventColumns } from './event-log.js';

/** The consumer name of `oo-ml ingest` unless told otherwise. */
export const INGEST_CONSUMER = 'oo-ml-ingest';

/** Options of `ingestEvents`. */
export interface IngestJob {
  bus: EventBus;
  /** The event log folder (`<home>/data/events`). */
  eventsDir: string;
  /** Temporaries; on the same file system as `eventsDir` (`<home>/.oo-ml/tmp`). */
  tmpDir: string;
  /** Durable consumer name (default INGEST_CONSUMER). */
  consumer?: string;
  /** Messages per batch (one file per type and day per batch). */
  batchSize: number;
  /** How long a batch waits to fill before it is written. */
  maxWaitMs: number;
  /** Stop once no message arrived for `idleMs` (cron runs, tests); otherwise run until `signal`. */
  untilIdle: boolean;
  idleMs: number;
  /** Redelivery delay of unacknowledged messages (bus default when absent). */
  ackWaitMs?: number;
  /** Names the files (default: the system clock). */
  now?: () => Date;
  /** Stops after the batch in hand is written and acked. */
  signal?: AbortSignal;
  /** Called after every non-empty batch. */
  onBatch?: (summary: IngestSummary) => void;
}

/** What an ingest did. */
export interface IngestSummary {
  transport: TransportKind;
  consumer: string;
  /** Messages received: valid events plus dead-lettered ones. */
  consumed: number;
  /** New rows per event type. */
  written: Record<EventType, number>;
  /** Valid events not written because their event_id was already in the log or the batch. */
  duplicates: number;
  /** Messages sent to `dlq.<subject>`. */
  deadLettered: number;
  /** Dead-lettered messages per reason. */
  deadLetterReasons: Partial<Record<DeadLetterReason, number>>;
  /** New files, relative to the event log folder. */
  files: string[];
  batches: number;
  stoppedBy: 'idle' | 'signal';
}

/** What one append wrote. */
export interface AppendResult {
  written: Record<EventType, number>;
  duplicates: number;
  /** New files, relative to the event log folder. */
  files: string[];
}

const zeroCounts = (): Record<EventType, number> =>
  Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>;

/** Consumes the bus into the event log until idle (or aborted); acks each batch once written. */
export async function ingestEvents(job: IngestJob): Promise<IngestSummary> {
  if (!Number.isInteger(job.batchSize) || job.batchSize < 1) throw invalidUsage(`batch size must be a positive integer, got ${job.batchSize}`);
  if (!Number.isFinite(job.maxWaitMs) || job.maxWaitMs < 0) throw invalidUsage(`max wait must be ≥ 0 ms, got ${job.maxWaitMs}`);
  if (!Number.isFinite(job.idleMs) || job.idleMs < 0) throw invalidUsage(`idle time must be ≥ 0 ms, got ${job.idleMs}`);
  const now = job.now ?? (() => new Date());
  const name = job.consumer ?? INGEST_CONSUMER;
  const summary: IngestSummary = {
    transport: job.bus.kind,
    consumer: name,
    consumed: 0,
    written: zeroCounts(),
    duplicates: 0,
    deadLettered: 0,
    deadLetterReasons: {},
    files: [],
    batches: 0,
    stoppedBy: 'signal',
  };
  const consumer = await job.bus.consumer({ name, ...(job.ackWaitMs === undefined ? {} : { ackWaitMs: job.ackWaitMs }) });
  try {
    await withDb(':memory:', async (db) => {
      let idleSince = performance.now();
      while (job.signal?.aborted !== true) {
        const { events, rejected } = await consumer.fetch({ max: job.batchSize, maxWaitMs: job.maxWaitMs });
        if (events.length + rejected.length === 0) {
          if (job.untilIdle && performance.now() - idleSince >= job.idleMs) {
            summary.stoppedBy = 'idle';
            return;
          }
          continue;
        }
        idleSince = performance.now();
        summary.consumed += events.length + rejected.length;
        summary.deadLettered += rejected.length;
        for (const r of rejected) summary.deadLetterReasons[r.reason] = (summary.deadLetterReasons[r.reason] ?? 0) + 1;
        if (events.length > 0) {
          const appended = await appendEvents(db, job.eventsDir, job.tmpDir, events.map((d) => d.event), now);
          for (const t of EVENT_TYPES) summary.written[t] += appended.written[t];
          summary.duplicates += appended.duplicates;
          summary.files.push(...appended.files);
          // Every event of the batch is now durably in the log (or already was): only now ack.
          await Promise.all(events.map((d) => d.ack()));
        }
        summary.batches++;
        job.onBatch?.(summary);
      }
    });
  } finally {
    await consumer.close();
  }
  return summary;
}

/** What an event log's output marker says once `oo-ml ingest` has appended to it. */
export const INGESTED_MARKER = 'event log holding ingested events';

/**
 * Appends `events` to the log at `eventsDir` as new Parquet files (one per type and UTC day),
 * skipping events whose event_id is already stored for that type and day or repeats within
 * `events`. Each file is written under `tmpDir`, fsynced and renamed in; the folder is fsynced
 * so the rename survives a power loss before the caller acks.
 */
export async function appendEvents(
  db: Db,
  eventsDir: string,
  tmpDir: string,
  events: readonly OoEvent[],
  now: () => Date,
): Promise<AppendResult> {
  const result: AppendResult = { written: zeroCounts(), duplicates: 0, files: [] };
  // Marked (once per call) before the first file of this call goes in.
  let marked = false;
  const byType = new Map<EventType, Map<string, OoEvent>>();
  for (const e of events) {
    let ids = byType.get(e.type);
    if (ids === undefined) byType.set(e.type, (ids = new Map()));
    if (ids.has(e.event_id)) result.duplicates++;
    else ids.set(e.event_id, e);
  }
  await mkdir(tmpDir, { recursive: true });
  for (const type of EVENT_TYPES) {
    const batch = byType.get(type);
    if (batch === undefined) continue;
    const columns = eventColumns(type);
    const ndjson = join(tmpDir, `.ingest-${type}-${randomBytes(6).toString('hex')}.ndjson`);
    const times = columns.filter((c) => c.sqlType === 'TIMESTAMP').map((c) => c.name);
    const rows = [...batch.values()].map(({ type: _type, ...row }) => JSON.stringify(utcTimes(row, times)));
    await writeFile(ndjson, rows.join('\n') + '\n');
    try {
      // Same JSON → column mapping as writeEventLog, so ingested and synthesized files agree.
      const columnsArg = `{${columns.map((c) => `${sqlString(c.name)}: ${sqlString(c.sqlType)}`).join(', ')}}`;
      await db.run(
        `CREATE OR REPLACE TEMP TABLE ingest_stage AS SELECT *, strftime(ts, '%Y-%m-%d') AS ingest_day ` +
          `FROM read_json(${sqlString(ndjson)}, format = 'newline_delimited', columns = ${columnsArg})`,
      );
      const days = await db.rows<{ day: string }>('SELECT DISTINCT ingest_day AS day FROM ingest_stage ORDER BY day');
      for (const { day } of days) {
        const dayDir = join(eventsDir, type, `day=${day}`);
        const inDay = `ingest_day = ${sqlString(day)}`;
        const staged = await countRows(db, `SELECT count(*) AS n FROM ingest_stage WHERE ${inDay}`);
        const stored = await parquetFiles(dayDir);
        if (stored.length > 0) {
          try {
            await db.run(
              `DELETE FROM ingest_stage WHERE ${inDay} AND event_id IN ` +
                `(SELECT event_id FROM read_parquet([${stored.map(sqlString).join(', ')}]))`,
            );
          } catch (e) {
            throw invalidInput(`event files in ${dayDir} cannot be read: ${duckdbMessage(e)}`, {
              hint: 'remove or regenerate the unreadable file; the ingest never rewrites existing files',
              details: { dir: dayDir },
            });
          }
        }
        const n = await countRows(db, `SELECT count(*) AS n FROM ingest_stage WHERE ${inDay}`);
        result.duplicates += staged - n;
        if (n === 0) continue;
        const name = `ingest-${now().toISOString().replace(/[-:.]/g, '')}-${randomBytes(6).toString('hex')}.parquet`;
        const tmp = join(tmpDir, `.${name}`);
        await db.run(
          `COPY (SELECT * EXCLUDE (ingest_day) FROM ingest_stage WHERE ${inDay} ORDER BY ts, event_id) ` +
            `TO ${sqlString(tmp)} (FORMAT parquet)`,
        );
        try {
          await fsyncPath(tmp);
          // The log now holds events that only the bus had: it is no longer a pure synth output
          // that `data synth` may replace (io/atomic.ts assertReplaceable), and says so.
          if (!marked) {
            const marker = join(eventsDir, OUTPUT_MARKER);
            if ((await readTextIfExists(marker)) !== `${INGESTED_MARKER}\n`) await writeFileAtomic(marker, `${INGESTED_MARKER}\n`);
            marked = true;
          }
          const createdDay = !(await exists(dayDir));
          await mkdir(dayDir, { recursive: true });
          await rename(tmp, join(dayDir, name));
          await fsyncPath(dayDir);
          if (createdDay) {
            await fsyncPath(join(eventsDir, type));
            await fsyncPath(eventsDir);
          }
        } finally {
          await rm(tmp, { force: true });
        }
        result.written[type] += n;
        result.files.push(`${type}/day=${day}/${name}`);
      }
      await db.run('DROP TABLE ingest_stage');
    } finally {
      await rm(ndjson, { force: true });
    }
  }
  return result;
}

/**
 * `row` with its date-time fields in UTC. DuckDB's read_json drops a numeric offset when it
 * parses a TIMESTAMP column ("…T23:30:00-02:00" becomes 23:30, not 01:30 the next day), so an
 * offset time is converted here; `Z` times pass through untouched (keeping sub-ms digits).
 */
function utcTimes(row: Record<string, unknown>, columns: readonly string[]): Record<string, unknown> {
  const out = { ...row };
  for (const c of columns) {
    const v = out[c];
    if (typeof v === 'string' && !/z$/i.test(v)) out[c] = new Date(v).toISOString();
  }
  return out;
}

async function countRows(db: Db, sql: string): Promise<number> {
  const [row] = await db.rows<{ n: bigint }>(sql);
  return Number(row?.n ?? 0n);
}

/** The `*.parquet` files of a day folder (none when it does not exist). */
async function parquetFiles(dayDir: string): Promise<string[]> {
  try {
    return (await readdir(dayDir)).filter((f) => f.endsWith('.parquet')).sort().map((f) => join(dayDir, f));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** fsync of a file or folder. Folders cannot be opened for fsync everywhere; there it is skipped. */
async function fsyncPath(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'EPERM' || code === 'EACCES') return;
    throw e;
  }
  try {
    await handle.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    await handle.close();
  }
}
