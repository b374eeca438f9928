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
 * same batch). Invalid messages never reach this module: the bus dead-letters them. A valid
 * event DuckDB still refuses is isolated from its batch (appendEvents) and dead-lettered alone
 * as `unstorable`; the rest of the batch is written and acked.
 * One writer per log at a time (an ingest, or `oo-ml data import`): two concurrent ingests could both write a message that JetStream
 * redelivered to the second while the first was still writing it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { conflict, invalidInput, invalidUsage } from '../errors.js';
import type { DeadLetterReason } from '../events/dead-letter.js';
import type { EventBus, EventDelivery, FetchedEvents } from '../events/event-bus.js';
import { IdHashSet } from '../events/id-hash.js';
import { EVENT_TYPES, type EventType, type OoEvent } from '../events/schemas.js';
import type { TransportKind } from '../events/transport.js';
import { exists, OUTPUT_MARKER, readDirIfExists, readTextIfExists, tempPathFor, writeFileAtomic } from '../io/atomic.js';
import { DEFAULT_HEARTBEAT_MS, describeOwner, lostLockError, tryDirLock } from '../io/dir-lock.js';
import { duckdbMessage, sqlString, withDb, type Db } from '../io/duckdb.js';
import { eventColumns } from './event-log.js';
import { INGEST_DEFAULTS, INGEST_RANGES, requireInteger } from './job-arguments.js';

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
  /** Messages per batch, in INGEST_RANGES.batchSize (default INGEST_DEFAULTS.batchSize; one file per type and day per batch, a few more when DuckDB refuses one of them). */
  batchSize?: number;
  /** How long a batch waits to fill before it is written (default INGEST_DEFAULTS.maxWaitMs). */
  maxWaitMs?: number;
  /**
   * Stop once no message arrived for `idleMs` (cron runs, tests), and none delivered to an
   * earlier ingest that died before acking it waits for redelivery (at most the ack wait longer);
   * otherwise (the default) run until `signal`.
   */
  untilIdle?: boolean;
  /** The quiet time that ends an `untilIdle` run (default INGEST_DEFAULTS.idleMs). */
  idleMs?: number;
  /** Called once per quiet spell in which an --until-idle run waits for messages an earlier ingest never acknowledged. */
  onWaitingForUnacked?: (count: number, ackWaitMs: number) => void;
  /** Called when the event log's lock names a holder only its heartbeat can judge, watched for up to `forMs` before it is taken over. */
  onWaitingForLock?: (lock: string, holder: string, forMs: number) => void;
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
  /** Messages sent to `dlq.<subject>`: refused by the bus, or valid but refused by DuckDB (`unstorable`). */
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
  /** Events the event log cannot store: DuckDB refused each alone. None of their copies was written. */
  refused: RefusedEvent[];
}

/** An event DuckDB refused to stage on its own. */
export interface RefusedEvent {
  type: EventType;
  event_id: string;
  /** Names the event and DuckDB's error. */
  message: string;
}

const zeroCounts = (): Record<EventType, number> =>
  Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>;

/** An ingest job with every default applied. */
type IngestRun = IngestJob & Required<Pick<IngestJob, 'batchSize' | 'maxWaitMs' | 'untilIdle' | 'idleMs'>>;

/** Consumes the bus into the event log until idle (or aborted); acks each batch once written. */
export async function ingestEvents(given: IngestJob): Promise<IngestSummary> {
  const job: IngestRun = { ...given, batchSize: given.batchSize ?? INGEST_DEFAULTS.batchSize, maxWaitMs: given.maxWaitMs ?? INGEST_DEFAULTS.maxWaitMs, untilIdle: given.untilIdle ?? INGEST_DEFAULTS.untilIdle, idleMs: given.idleMs ?? INGEST_DEFAULTS.idleMs };
  requireInteger('batchSize', job.batchSize, INGEST_RANGES.batchSize);
  requireInteger('maxWaitMs', job.maxWaitMs, INGEST_RANGES.maxWaitMs);
  requireInteger('idleMs', job.idleMs, INGEST_RANGES.idleMs);
  // A run that neither ends when idle nor can be told to stop would hold the event log's lock for good.
  if (!job.untilIdle && job.signal === undefined) throw invalidUsage('an ingest needs untilIdle: true or a signal to stop it', { hint: 'pass untilIdle: true (a cron run) or an AbortSignal (a long-running one)' });
  return withEventLogLock(job.eventsDir, 'ingest', 'run one ingest per event log; what this one had not acknowledged is delivered again', job.onWaitingForLock, (lockLost) => ingestLocked(job, lockLost));
}

/**
 * Runs `write` holding the event log's writer lock (a folder beside the log). One writer per log:
 * an ingest remembers the ids it wrote, not another's, so two at once (an ingest and another
 * ingest, or an import) could both write an event. `lockLost` says, at each batch, whether the
 * lock is still this process's; `what` names the writer in messages, `lostHint` what losing it means.
 */
export async function withEventLogLock<T>(
  eventsDir: string,
  what: 'ingest' | 'import',
  lostHint: string,
  onWaitingForLock: ((lock: string, holder: string, forMs: number) => void) | undefined,
  write: (lockLost: () => Error | null) => Promise<T>,
): Promise<T> {
  const lockPath = `${resolve(eventsDir)}.ingest-lock`;
  await mkdir(dirname(lockPath), { recursive: true });
  let lost: Error | null = null;
  const lock = await tryDirLock(lockPath, {
    heartbeatMs: DEFAULT_HEARTBEAT_MS,
    onWatch: (owner, forMs) => onWaitingForLock?.(lockPath, describeOwner(owner), forMs),
    onLost: () => {
      lost = lostLockError(lockPath, what, lostHint);
    },
  });
  if (!lock.held) {
    const { pid } = lock.owner;
    throw conflict(`the event log ${eventsDir} is being written by another oo-ml ingest or import${pid === null ? '' : ` (${describeOwner(lock.owner)})`}`, {
      hint: 'one writer per event log (an ingest with one consumer name, or an import): stop the other one first',
      details: { lock: lockPath, ...(pid === null ? {} : { pid }) },
    });
  }
  try {
    return await write(() => lost);
  } finally {
    await lock.release();
  }
}

/** `ingestEvents` once it holds the event log's lock; `lockLost` says whether it still does. */
async function ingestLocked(job: IngestRun, lockLost: () => Error | null): Promise<IngestSummary> {
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
    // One DuckDB thread: a batch is too small for DuckDB's parallelism to pay, and the other
    // core decodes the next batch meanwhile (bench:replicas).
    await withDb(':memory:', async (db) => {
      let idleSince = performance.now();
      let waitingNoted = false;
      const fetch = (): Promise<FetchedEvents> => consumer.fetch({ max: job.batchSize, maxWaitMs: job.maxWaitMs });
      // The next batch is fetched (decoded and validated on this thread) while DuckDB writes the
      // one in hand on its own threads: fetching is a large share of an ingest (bench:replicas).
      // At most one fetch is ahead, and a stop still writes and acks what it returned.
      let ahead: Promise<FetchedEvents> | null = null;
      for (;;) {
        const stopping = job.signal?.aborted === true;
        if (stopping && ahead === null) return;
        const { events, rejected } = await (ahead ?? fetch());
        ahead = null;
        if (events.length + rejected.length === 0) {
          if (stopping) return;
          const quietMs = performance.now() - idleSince;
          if (job.untilIdle && quietMs >= job.idleMs) {
            // Everything this run fetched is acked by now: messages still unacked were delivered
            // to an earlier ingest that died, and come back once their ack wait is over.
            const unacked = quietMs < job.idleMs + consumer.ackWaitMs ? await consumer.unacked() : 0;
            if (unacked === 0) {
              summary.stoppedBy = 'idle';
              return;
            }
            if (!waitingNoted) job.onWaitingForUnacked?.(unacked, consumer.ackWaitMs);
            waitingNoted = true;
          }
          continue;
        }
        waitingNoted = false;
        if (!stopping) {
          ahead = fetch();
          // Awaited at the next turn; a failure meanwhile must not surface as unhandled.
          ahead.catch(() => undefined);
        }
        idleSince = performance.now();
        summary.consumed += events.length + rejected.length;
        summary.deadLettered += rejected.length;
        for (const r of rejected) summary.deadLetterReasons[r.reason] = (summary.deadLetterReasons[r.reason] ?? 0) + 1;
        if (events.length > 0) {
          // Another ingest may hold the log now: write nothing more (the batch comes again).
          const lost = lockLost();
          if (lost !== null) throw lost;
          const appended = await appendEvents(db, job.eventsDir, job.tmpDir, events, now);
          for (const t of EVENT_TYPES) summary.written[t] += appended.written[t];
          summary.duplicates += appended.duplicates;
          summary.files.push(...appended.files);
          const refused = new Map(appended.refused.map((r) => [refusedKey(r.type, r.event_id), r]));
          const refusalOf = (d: EventDelivery): { message: string } | undefined => (refused.size === 0 ? undefined : refused.get(refusedKey(d.event.type, d.event.event_id)));
          // Every other event of the batch is now durably in the log (or already was): only now
          // ack. Both transports answer the acks of one tick with one promise: await each once.
          const acks = new Set<Promise<void>>();
          for (const d of events) if (refusalOf(d) === undefined) acks.add(d.ack());
          await Promise.all(acks);
          // An event the log cannot store is parked on dlq.<subject>, never retried forever.
          for (const d of events) {
            const r = refusalOf(d);
            if (r === undefined) continue;
            await d.deadLetter('unstorable', r.message);
            summary.deadLettered++;
            summary.deadLetterReasons.unstorable = (summary.deadLetterReasons.unstorable ?? 0) + 1;
          }
        }
        summary.batches++;
        job.onBatch?.(summary);
      }
    }, { threads: '1' });
  } finally {
    await consumer.close();
  }
  return summary;
}

/** What an event log's output marker says once `oo-ml ingest` has appended to it. */
export const INGESTED_MARKER = 'event log holding ingested events';

/** An event to append, with its payload as the bus stored it when there is one (it is then staged as is). */
export interface LogEvent {
  event: OoEvent;
  data?: Uint8Array;
}

/**
 * Appends `events` to the log at `eventsDir` as new Parquet files (one per type and UTC day),
 * skipping events whose event_id is already stored for that type and day or repeats within
 * `events`. Each file is written under `tmpDir`, fsynced and renamed in; the folder is fsynced
 * so the rename survives a power loss before the caller acks.
 *
 * An event DuckDB cannot stage (read into the typed columns, or write to Parquet) does not sink
 * the others: a refused batch is halved, and each half tried again, down to the single events
 * DuckDB refuses alone, which come back in `refused` (with every copy of their event_id left
 * out); k of them among n events cost O(k log n) tries, plus one to write the rest together.
 * Only errors about the data count (DuckDB's Conversion, Invalid Input and Out of Range errors):
 * an I/O error, or an unreadable stored file, fails the whole call, and the caller acks nothing.
 */
export async function appendEvents(db: Db, eventsDir: string, tmpDir: string, events: readonly LogEvent[], now: () => Date): Promise<AppendResult> {
  const result: AppendResult = { written: zeroCounts(), duplicates: 0, files: [], refused: [] };
  // Marked (once per call) before the first file of this call goes in.
  let marked = false;
  // type → UTC day → event_id → its first copy (copies with another ts are still copies: the
  // first one's day decides); how many more copies an id has, aside, as copies are rare.
  const byType = new Map<EventType, Map<string, Map<string, LogEvent>>>();
  const firstDay = new Map<EventType, Map<string, string>>();
  const extraCopies = new Map<LogEvent, number>();
  for (const item of events) {
    const { type, event_id: id } = item.event;
    let days = byType.get(type);
    let dayOf = firstDay.get(type);
    if (days === undefined || dayOf === undefined) {
      byType.set(type, (days = new Map()));
      firstDay.set(type, (dayOf = new Map()));
    }
    const seenDay = dayOf.get(id);
    if (seenDay === undefined) {
      // Only a first copy opens its day: a later copy stamped on another day must not make that
      // day's stored files be read (or fail the batch when one of them cannot be).
      const day = utcDayOf(item.event.ts);
      let inDay = days.get(day);
      if (inDay === undefined) days.set(day, (inDay = new Map()));
      dayOf.set(id, day);
      inDay.set(id, item);
    } else {
      const first = days.get(seenDay)!.get(id)!;
      extraCopies.set(first, (extraCopies.get(first) ?? 0) + 1);
    }
  }
  await mkdir(tmpDir, { recursive: true });
  for (const type of EVENT_TYPES) {
    const days = byType.get(type);
    if (days === undefined) continue;
    for (const day of [...days.keys()].sort()) {
      const batch = days.get(day)!;
      const dayDir = join(eventsDir, type, `day=${day}`);
      const stored = await storedIn(db, dayDir, type, day, [...batch.keys()]);
      const fresh: LogEvent[] = [];
      for (const [id, item] of batch) {
        if (stored.has(id)) result.duplicates += 1 + (extraCopies.get(item) ?? 0);
        else fresh.push(item);
      }
      if (fresh.length === 0) continue;
      const stage = (subset: readonly LogEvent[], asStored = true): Promise<Staging> => stageFile(db, tmpDir, type, day, subset, now, asStored);
      const staged = await stageIsolating(fresh, stage);
      const refused = new Set(staged.refused.map((r) => r.item));
      for (const item of fresh) if (!refused.has(item)) result.duplicates += extraCopies.get(item) ?? 0;
      for (const { item, error } of staged.refused) {
        const id = item.event.event_id;
        result.refused.push({ type, event_id: id, message: `the event log cannot store ${type} ${id}: DuckDB refused it: ${error}` });
      }
      try {
        while (staged.files.length > 0) {
          const file = staged.files[0]!;
          await fsyncPath(file.tmp);
          // The log now holds events from elsewhere (the bus, an imported file): it is no longer a pure synth output
          // that `data synth` may replace (io/atomic.ts assertReplaceable), and says so.
          if (!marked) {
            const marker = join(eventsDir, OUTPUT_MARKER);
            if ((await readTextIfExists(marker)) !== `${INGESTED_MARKER}\n`) await writeFileAtomic(marker, `${INGESTED_MARKER}\n`);
            marked = true;
          }
          const createdDay = !(await exists(dayDir));
          await mkdir(dayDir, { recursive: true });
          await rename(file.tmp, join(dayDir, file.name));
          staged.files.shift();
          noteStored(db, type, day, file.events);
          await fsyncPath(dayDir);
          if (createdDay) {
            await fsyncPath(join(eventsDir, type));
            await fsyncPath(eventsDir);
          }
          result.written[type] += file.events.length;
          result.files.push(`${type}/day=${day}/${file.name}`);
        }
      } finally {
        await removeFiles(staged.files);
      }
    }
  }
  return result;
}

/**
 * The UTC day (YYYY-MM-DD) of a validated date-time (events/schemas.ts: RFC 3339, no leap
 * second): its date part when it is in UTC, else the date of the instant. DuckDB truncates
 * sub-millisecond digits as Date.parse does, so the folder is the day of the stored `ts`.
 */
function utcDayOf(ts: string): string {
  const last = ts.charCodeAt(ts.length - 1);
  if (last === 90 /* Z */ || last === 122 /* z */) return ts.slice(0, 10);
  return new Date(ts).toISOString().slice(0, 10);
}

/** A Parquet file staged under the temporaries folder, not yet renamed into its day folder. */
interface StagedFile {
  /** Its path under the temporaries folder. */
  tmp: string;
  /** Its name in the day folder. */
  name: string;
  /** Its rows. */
  events: readonly LogEvent[];
}

/** What staging some events did: their file, or DuckDB's refusal of them (and nothing left behind). */
type Staging = { ok: true; file: StagedFile } | { ok: false; error: string };

/** Staged files of many tries, and the events DuckDB refused alone. */
interface IsolatedStaging {
  files: StagedFile[];
  refused: { item: LogEvent; error: string }[];
}

/**
 * Stages `events` with `stage`; when DuckDB refuses them, stages each half, halving a refused
 * half again, down to the events it refuses alone. Every event ends up in staged files or in
 * `refused`. The accepted events are then staged once more together, so a day gets one file
 * again; should DuckDB refuse them together (an error no single event causes), the files of the
 * halves stay. On an error that is not a refusal, the files staged so far are removed.
 */
async function stageIsolating(events: readonly LogEvent[], stage: (subset: readonly LogEvent[], asStored?: boolean) => Promise<Staging>): Promise<IsolatedStaging> {
  const out: IsolatedStaging = { files: [], refused: [] };
  const visit = async (subset: readonly LogEvent[]): Promise<void> => {
    const staged = await stage(subset);
    if (staged.ok) {
      out.files.push(staged.file);
    } else if (subset.length === 1) {
      // Refused as stored: its payload may differ from the event every other consumer read (a
      // key twice: JSON.parse keeps the last, DuckDB refuses the line). The event itself, written
      // out again, is what the log should hold; only if DuckDB refuses that too is it unstorable.
      const again = await stage(subset, false);
      if (again.ok) out.files.push(again.file);
      else out.refused.push({ item: subset[0]!, error: again.error });
    } else {
      const mid = Math.ceil(subset.length / 2);
      await visit(subset.slice(0, mid));
      await visit(subset.slice(mid));
    }
  };
  try {
    await visit(events);
    if (out.refused.length === 0 || out.files.length <= 1) return out;
    const refused = new Set(out.refused.map((r) => r.item));
    const together = await stage(events.filter((e) => !refused.has(e)));
    if (!together.ok) return out;
    const halves = out.files;
    out.files = [together.file];
    await removeFiles(halves);
    return out;
  } catch (e) {
    await removeFiles(out.files);
    throw e;
  }
}

/**
 * Writes `events` (one type and UTC day, distinct event_ids, none already stored) as one Parquet
 * file under `tmpDir`, rows in (ts, event_id) order: one DuckDB statement from the NDJSON to the
 * file. Nothing is renamed in. When DuckDB refuses the data, the refusal is returned and no file
 * is left behind. `asStored`: stage the bus's bytes where there are any (else each event written out again).
 */
async function stageFile(db: Db, tmpDir: string, type: EventType, day: string, events: readonly LogEvent[], now: () => Date, asStored: boolean): Promise<Staging> {
  const columns = eventColumns(type);
  // Temporaries named as tempPathFor names them (with this process's pid), so what a killed
  // ingest leaves is swept by the next command (io/atomic.ts sweepOrphanTemps).
  const ndjson = tempPathFor(join(tmpDir, `ingest-${type}-${day}.ndjson`), { tmpDir });
  const times = columns.filter((c) => c.sqlType === 'TIMESTAMP').map((c) => c.name);
  const name = `ingest-${now().toISOString().replace(/[-:.]/g, '')}-${randomBytes(6).toString('hex')}.parquet`;
  const file: StagedFile = { tmp: tempPathFor(join(tmpDir, name), { tmpDir }), name, events };
  let staged = false;
  try {
    await writeLines(ndjson, ndjsonOf(events, times, asStored));
    // Same JSON → column mapping as writeEventLog, so ingested and synthesized files agree.
    const columnsArg = `{${columns.map((c) => `${sqlString(c.name)}: ${sqlString(c.sqlType)}`).join(', ')}}`;
    const written = await refusal(
      db,
      `COPY (SELECT * FROM read_json(${sqlString(ndjson)}, format = 'newline_delimited', columns = ${columnsArg}) ORDER BY ts, event_id) ` +
        `TO ${sqlString(file.tmp)} (FORMAT parquet)`,
    );
    if (written !== null) return { ok: false, error: written };
    staged = true;
    return { ok: true, file };
  } finally {
    if (!staged) await removeFiles([file]);
    await rm(ndjson, { force: true });
  }
}

const NL = Buffer.from('\n');

/**
 * The NDJSON a batch is staged from, as the pieces of one gathered write: each event's payload
 * exactly as the bus stored it (compact JSON; read_json takes the declared columns and ignores
 * `type`), or re-serialised when it has an offset time to convert to UTC (see utcTimes), came
 * without its bytes, or `asStored` is false.
 */
function ndjsonOf(events: readonly LogEvent[], times: readonly string[], asStored: boolean): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (const { event, data } of events) {
    const row = event as unknown as Record<string, unknown>;
    if (asStored && data !== undefined && times.every((t) => typeof row[t] !== 'string' || (row[t] as string).endsWith('Z'))) {
      parts.push(data, NL);
    } else {
      const { type: _type, ...rest } = event;
      parts.push(Buffer.from(JSON.stringify(utcTimes(rest, times))), NL);
    }
  }
  return parts;
}

/**
 * Writes `parts` to a new file at `path` in one gathered write: a batch's payloads are not
 * copied into one buffer first, and libuv writes them all (IOV_MAX at a time, resuming short
 * writes) on its own thread, so the call is one turn of this thread, not one per chunk
 * (bench:replicas, ingest).
 */
async function writeLines(path: string, parts: Uint8Array[]): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    const size = parts.reduce((n, p) => n + p.length, 0);
    const { bytesWritten } = await handle.writev(parts);
    if (bytesWritten !== size) throw new Error(`wrote ${bytesWritten} of ${size} bytes to ${path}`);
  } finally {
    await handle.close();
  }
}

/**
 * Which of `ids` the log already holds for one type and day. The ids of a day are hashed into an
 * IdHashSet the first time this session writes to it (read from the day's Parquet files), then
 * kept up to date with every file it renames in (noteStored): checking a batch costs O(batch),
 * not a join with the whole day (bench:replicas).
 * A hash hit is confirmed against the day's files, so a new event is never taken for a stored
 * one; hits come from redeliveries, or a hash collision (2^-64 a pair). Memory: 16–32 bytes per
 * id of the days held; at most DAY_SETS days per type are held, the least recently written
 * dropped (and read again from the files should they be written to later).
 */
async function storedIn(db: Db, dayDir: string, type: EventType, day: string, ids: readonly string[]): Promise<Set<string>> {
  const seen = await seenIds(db, dayDir, type, day);
  const suspects = ids.filter((id) => seen.has(id));
  if (suspects.length === 0) return new Set();
  const files = await parquetFiles(dayDir);
  const rows = await readStored(
    dayDir,
    () => db.rows<{ event_id: string }>(`SELECT DISTINCT event_id FROM read_parquet([${files.map(sqlString).join(', ')}]) WHERE event_id IN (${suspects.map(sqlString).join(', ')})`),
  );
  return new Set(rows.map((r) => r.event_id));
}

/** The id hashes of a day's stored events, loaded on first use (storedIn). */
async function seenIds(db: Db, dayDir: string, type: EventType, day: string): Promise<IdHashSet> {
  let sets = SEEN.get(db);
  if (sets === undefined) SEEN.set(db, (sets = new Map()));
  const key = `${type}/${day}`;
  const known = sets.get(key);
  if (known !== undefined) {
    sets.delete(key);
    sets.set(key, known); // most recently used last
    return known;
  }
  const set = new IdHashSet();
  const files = await parquetFiles(dayDir);
  if (files.length > 0) {
    // Chunk by chunk: a day's ids are never all strings on the heap at once.
    await readStored(dayDir, async () => {
      const result = await db.connection.stream(`SELECT event_id FROM read_parquet([${files.map(sqlString).join(', ')}])`);
      for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
        for (const id of chunk.getColumnValues(0)) if (typeof id === 'string') set.add(id);
      }
    });
  }
  sets.set(key, set);
  const ofType = [...sets.keys()].filter((k) => k.startsWith(`${type}/`));
  if (ofType.length > DAY_SETS) sets.delete(ofType[0]!);
  return set;
}

/** Adds the events of a file just renamed into a day folder to that day's set (when held; else it is read with the day). */
function noteStored(db: Db, type: EventType, day: string, events: readonly LogEvent[]): void {
  const set = SEEN.get(db)?.get(`${type}/${day}`);
  if (set !== undefined) for (const { event } of events) set.add(event.event_id);
}

/** Runs a read of a day's stored files; a file DuckDB cannot read fails the append by name. */
async function readStored<T>(dayDir: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    throw invalidInput(`event files in ${dayDir} cannot be read: ${duckdbMessage(e)}`, {
      hint: 'remove or regenerate the unreadable file; the ingest never rewrites existing files',
      details: { dir: dayDir },
    });
  }
}

/** Day sets held per event type (seenIds). */
const DAY_SETS = 4;
const SEEN = new WeakMap<Db, Map<string, IdHashSet>>();

// DuckDB's errors about the data it was given; anything else (I/O, memory, a bug) is not the
// events' fault, and halving the batch would only dead-letter good events.
const DATA_ERROR = /^(Conversion|Invalid Input|Out of Range) Error: /;

/** Runs `sql`: null when it succeeds, DuckDB's message when it refuses the data; other errors are thrown. */
async function refusal(db: Db, sql: string): Promise<string | null> {
  try {
    await db.run(sql);
    return null;
  } catch (e) {
    if (e instanceof Error && DATA_ERROR.test(e.message)) return duckdbMessage(e);
    throw e;
  }
}

async function removeFiles(files: readonly StagedFile[]): Promise<void> {
  await Promise.all(files.map((f) => rm(f.tmp, { force: true })));
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

const refusedKey = (type: EventType, eventId: string): string => `${type}\u0000${eventId}`;

/** The `*.parquet` files of a day folder (none when it does not exist). */
async function parquetFiles(dayDir: string): Promise<string[]> {
  return (await readDirIfExists(dayDir))
    .map((d) => d.name)
    .filter((f) => f.endsWith('.parquet'))
    .sort()
    .map((f) => join(dayDir, f));
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
