/**
 * `oo-ml data import FILE`: a history of events kept elsewhere (one JSON event per line, as the
 * bus carries them) into the Parquet event log, checked as `oo-ml ingest` checks what it reads
 * off the bus, and written as ingest writes (ingest.ts `appendEvents`: new files only, events
 * whose event_id is already stored for their type and day skipped).
 *
 * The whole file is checked before anything is written: one bad line refuses the import, naming
 * the lines and fields, and the log is left as it was. Then it is appended in batches; a crash
 * part way leaves the batches written so far, and running the import again writes only the rest
 * (every event it already wrote is a duplicate by its event_id). An event that passes the schema
 * but that DuckDB still refuses to store (ingest dead-letters those) is reported, not written.
 * Holds the event log's writer lock: no ingest or other import writes the log meanwhile.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { invalidInput, notFound } from '../errors.js';
import { checkEventAs } from '../events/event-decoder.js';
import { EVENT_TYPES, type EventType, type OoEvent } from '../events/schemas.js';
import { withDb } from '../io/duckdb.js';
import { issueSummary, namedIssues } from '../validation.js';
import { appendEvents, withEventLogLock, type LogEvent, type RefusedEvent } from './ingest.js';
import { IMPORT_RANGES, requireInteger } from './job-arguments.js';

/** Options of `importEvents`. */
export interface ImportJob {
  /** The NDJSON file: one event per line (blank lines skipped). */
  file: string;
  /** The event log folder (`<home>/data/events`). */
  eventsDir: string;
  /** Temporaries; on the same file system as `eventsDir`. */
  tmpDir: string;
  now: () => Date;
  /** Events per append (one file per type and day each; default 50,000). */
  batchSize?: number;
  /** Called after each append with the lines done and the file's line count. */
  onProgress?: (done: number, total: number) => void;
  /** Called when the event log's lock names a holder only its heartbeat can judge. */
  onWaitingForLock?: (lock: string, holder: string, forMs: number) => void;
}

/** What an import did. */
export interface ImportSummary {
  file: string;
  eventsDir: string;
  /** Events in the file. */
  events: number;
  written: Record<EventType, number>;
  /** Events already in the log (or repeated in the file), by event_id, type and day: skipped. */
  duplicates: number;
  /** New Parquet files, relative to the event log folder. */
  files: string[];
  /** Events DuckDB refused to store: not written. */
  refused: RefusedEvent[];
}

/** A line that is not an event: where, and what is wrong with it. */
export interface BadLine {
  line: number;
  path: string;
  message: string;
}

/** Issues a refusal's details carry (three per line at most; its message names the first five lines, and the count says how many there were in all). */
const KEPT_ISSUES = 20;

/** The event on a line, or what is wrong with it. */
function eventOf(text: string): { event: OoEvent } | { issues: { path: string; message: string }[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { issues: [{ path: '/', message: `not JSON: ${(e as Error).message}` }] };
  }
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(type)) {
    return { issues: [{ path: '/type', message: `must be one of ${EVENT_TYPES.join(', ')}` }] };
  }
  const checked = checkEventAs(type as EventType, value, text);
  return checked.ok ? { event: checked.event } : { issues: namedIssues(checked.issues) };
}

/** Each non-blank line of `file` with its number. */
async function* linesOf(file: string): AsyncGenerator<{ n: number; text: string }> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    // Windows tools begin a UTF-8 file with a byte order mark, which is no part of its first event.
    const text = n === 1 && line.startsWith('\uFEFF') ? line.slice(1) : line;
    if (text.trim() !== '') yield { n, text };
  }
}

/** Checks every line of `file`; throws `invalid_input` naming the bad ones. Returns the event count. */
async function checkFile(file: string): Promise<number> {
  let events = 0;
  let badCount = 0;
  const bad: BadLine[] = [];
  for await (const { n, text } of linesOf(file)) {
    const got = eventOf(text);
    if ('event' in got) {
      events++;
      continue;
    }
    badCount++;
    if (bad.length < KEPT_ISSUES) for (const i of got.issues.slice(0, 3)) bad.push({ line: n, ...i });
  }
  if (badCount > 0) {
    const shown = [...new Set(bad.map((b) => b.line))].slice(0, 5);
    throw invalidInput(
      `${badCount} line(s) of ${file} are not valid events (nothing was imported): ${shown.map((line) => `line ${line}: ${issueSummary(bad.filter((b) => b.line === line))}`).join('; ')}${badCount > shown.length ? '; …' : ''}`,
      {
        hint: 'one event per line, each as the bus carries it (the event schemas: README, "Your own events"); fix the lines and import again',
        details: { file, badLines: badCount, issues: bad },
      },
    );
  }
  if (events === 0) throw invalidInput(`${file} holds no events`, { hint: 'one JSON event per line', details: { file } });
  return events;
}

/** Imports the events of `job.file` into the event log (see the module doc). */
export async function importEvents(job: ImportJob): Promise<ImportSummary> {
  const batchSize = requireInteger('batchSize', job.batchSize ?? 50_000, IMPORT_RANGES.batchSize);
  const info = await stat(job.file).catch(() => null);
  if (info === null) throw notFound(`no file ${job.file}`, { hint: 'pass an NDJSON file of events: one JSON event per line' });
  if (!info.isFile()) throw invalidInput(`${job.file} is not a regular file: the import reads it twice (to check it whole, then to write it)`, { hint: 'save it to a file first, e.g. zcat events.ndjson.gz > events.ndjson' });
  const total = await checkFile(job.file);
  return withEventLogLock(job.eventsDir, 'import', 'run the import again: what it wrote is skipped as duplicates', job.onWaitingForLock, (lockLost) =>
    withDb(':memory:', async (db) => {
      const summary: ImportSummary = {
        file: job.file,
        eventsDir: job.eventsDir,
        events: 0,
        written: Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>,
        duplicates: 0,
        files: [],
        refused: [],
      };
      let batch: LogEvent[] = [];
      const flush = async (): Promise<void> => {
        const lost = lockLost();
        if (lost !== null) throw lost;
        const r = await appendEvents(db, job.eventsDir, job.tmpDir, batch, job.now);
        for (const t of EVENT_TYPES) summary.written[t] += r.written[t];
        summary.duplicates += r.duplicates;
        summary.files.push(...r.files);
        summary.refused.push(...r.refused);
        summary.events += batch.length;
        batch = [];
        job.onProgress?.(summary.events, total);
      };
      for await (const { n, text } of linesOf(job.file)) {
        const got = eventOf(text);
        // Checked whole a moment ago: a line that fails now was changed since.
        if (!('event' in got)) throw invalidInput(`line ${n} of ${job.file} changed during the import: ${issueSummary(got.issues)}`, { details: { file: job.file, line: n } });
        batch.push({ event: got.event });
        if (batch.length >= batchSize) await flush();
      }
      if (batch.length > 0) await flush();
      return summary;
    }),
  );
}
