/**
 * The embedded bus (no services): journals under `<home>/data/bus` (format in journal.ts), so
 * whatever was published survives a restart and can be replayed.
 *
 *   <bus>/<subject>.ndjson              one journal per subject (dlq.* included)
 *   <bus>/consumers/<name>.json         a durable consumer's acknowledged position per subject:
 *                                       {"version":1,"consumer":"…","subjects":{"<subject>":{"offset":<bytes>,"line":<n>}}}
 *   <bus>/consumers/<name>.lock/pid     held while a process consumes as <name>
 *
 * Semantics, as close to JetStream as a file allows:
 * - a durable consumer resumes after the longest acknowledged prefix of each journal (acks may
 *   arrive out of order; the position only moves over a contiguous acked run), written
 *   atomically once per burst of acks — so unacknowledged messages come again after a restart;
 * - within one process a delivered message is not redelivered (there is no ack timer), and the
 *   delivery count is not kept across restarts, so the redelivery limit does not apply here;
 * - publish de-duplicates message ids for EMBEDDED_DEDUPE_WINDOW_MS within one process (JetStream's
 *   default duplicate window; shorter above ~820 publishes a second, where memory is bounded
 *   instead: dedupe-window.ts); duplicates from other processes are left to the ingest, which
 *   de-duplicates by event_id when it writes;
 * - order is per subject (journal order); a fetch walks the subjects in name order.
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Type from 'typebox';
import type { HomePaths } from '../config.js';
import { conflict, invalidInput, unavailable } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { createValidator } from '../validation.js';
import { DedupeWindow } from './dedupe-window.js';
import { createJournalWriter, journalPath, journalSubjects, readJournal, JOURNAL_START, type JournalPosition } from './journal.js';
import { isChannelSubject } from './subjects.js';
import type { RawConsumer, RawConsumerOptions, RawDelivery, Transport } from './transport.js';

/** How long a message id is remembered for de-duplication (JetStream's default duplicate window). */
export const EMBEDDED_DEDUPE_WINDOW_MS = 2 * 60 * 1000;
/** How often an idle fetch looks for new lines, by default. */
export const EMBEDDED_POLL_MS = 50;
/** A lock folder without a pid file younger than this is being created, not abandoned. */
const LOCK_GRACE_MS = 5_000;

/** The embedded bus folder of a home. */
export function embeddedBusDir(paths: HomePaths): string {
  return join(paths.data, 'bus');
}

/** Options of the embedded transport. */
export interface EmbeddedTransportOptions {
  pollMs?: number | undefined;
}

const Position = Type.Object(
  { offset: Type.Integer({ minimum: 0 }), line: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);
const ConsumerState = Type.Object(
  { version: Type.Literal(1), consumer: Type.String(), subjects: Type.Record(Type.String(), Position) },
  { additionalProperties: false },
);
const CONSUMER_STATE = createValidator(ConsumerState);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The embedded transport over the journals in `dir`. */
export function createEmbeddedTransport(dir: string, options: EmbeddedTransportOptions = {}): Transport {
  const writer = createJournalWriter(dir);
  const pollMs = options.pollMs ?? EMBEDDED_POLL_MS;
  const seen = new DedupeWindow(EMBEDDED_DEDUPE_WINDOW_MS);
  let dirReady = false;
  const stored = { duplicate: false };

  return {
    kind: 'embedded',
    publish(subject, data, msgId) {
      const entry = seen.add(msgId, performance.now());
      if (entry === null) return Promise.resolve({ duplicate: true });
      const forget = (e: unknown): never => {
        seen.forget(msgId, entry);
        throw e;
      };
      try {
        const appended = dirReady
          ? writer.append(subject, data)
          : mkdir(dir, { recursive: true }).then(() => {
              dirReady = true;
              return writer.append(subject, data);
            });
        return appended.then(() => stored, forget);
      } catch (e) {
        return Promise.reject(e).then(undefined, forget);
      }
    },
    consumer: (o) => openConsumer(dir, o, pollMs),
    close: () => writer.close(),
  };
}

interface InFlight {
  end: JournalPosition;
  acked: boolean;
}

interface SubjectState {
  /** Where the next fetch reads. */
  cursor: JournalPosition;
  /** After the last contiguous acked line. */
  committed: JournalPosition;
  /** Delivered, in journal order, not yet folded into `committed`. */
  inflight: InFlight[];
}

async function openConsumer(dir: string, options: RawConsumerOptions, pollMs: number): Promise<RawConsumer> {
  const { name, mode } = options;
  const stateDir = join(dir, 'consumers');
  const statePath = join(stateDir, `${name}.json`);
  const subjects = new Map<string, SubjectState>();
  let release: (() => Promise<void>) | null = null;
  if (mode === 'durable') {
    await mkdir(stateDir, { recursive: true });
    release = await acquireLock(join(stateDir, `${name}.lock`), name);
    try {
      for (const [subject, pos] of Object.entries(await readState(statePath, name))) {
        subjects.set(subject, { cursor: pos, committed: pos, inflight: [] });
      }
    } catch (e) {
      await release();
      throw e;
    }
  }
  let closed = false;

  // Acks within one tick share one atomic write of the state file; writes run one at a time so
  // an older state can never land after a newer one.
  let writes: Promise<void> = Promise.resolve();
  let scheduled: Promise<void> | null = null;
  const persist = (): Promise<void> => {
    if (scheduled !== null) return scheduled;
    const next = writes
      .catch(() => undefined)
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(async () => {
        scheduled = null;
        const state = {
          version: 1 as const,
          consumer: name,
          subjects: Object.fromEntries([...subjects].map(([s, st]) => [s, st.committed])),
        };
        await writeFileAtomic(statePath, JSON.stringify(state) + '\n');
      });
    scheduled = next;
    writes = next;
    return next;
  };

  const ack = (subject: string, entry: InFlight): Promise<void> => {
    if (closed) return Promise.reject(unavailable(`consumer ${name} is closed; the ack of a ${subject} message was not recorded`));
    if (mode === 'replay' || entry.acked) return Promise.resolve();
    entry.acked = true;
    const st = subjects.get(subject)!;
    while (st.inflight[0]?.acked === true) st.committed = st.inflight.shift()!.end;
    return persist();
  };

  const readOnce = async (max: number): Promise<RawDelivery[]> => {
    const out: RawDelivery[] = [];
    for (const subject of await journalSubjects(dir)) {
      if (out.length >= max) break;
      if (!isChannelSubject(subject)) continue;
      let st = subjects.get(subject);
      if (st === undefined) {
        st = { cursor: JOURNAL_START, committed: JOURNAL_START, inflight: [] };
        subjects.set(subject, st);
      }
      const { lines, next } = await readJournal(journalPath(dir, subject), st.cursor, max - out.length);
      st.cursor = next;
      for (const l of lines) {
        const entry: InFlight = { end: l.end, acked: false };
        st.inflight.push(entry);
        out.push({ subject, data: l.data, seq: l.line, deliveryCount: 1, ack: () => ack(subject, entry) });
      }
    }
    return out;
  };

  return {
    async fetch(max, maxWaitMs) {
      if (closed) throw unavailable(`consumer ${name} is closed`);
      const deadline = performance.now() + maxWaitMs;
      const out: RawDelivery[] = [];
      for (;;) {
        out.push(...(await readOnce(max - out.length)));
        const left = deadline - performance.now();
        if (out.length >= max || left <= 0) return out;
        await sleep(Math.min(pollMs, left));
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await writes;
      } finally {
        await release?.();
      }
    },
  };
}

/** The acknowledged positions stored for consumer `name` (none when it never acked). */
async function readState(path: string, name: string): Promise<Record<string, JournalPosition>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidInput(`consumer state ${path} is not JSON`, { hint: 'delete it to consume from the start of every journal' });
  }
  const state = CONSUMER_STATE.parse(value, `consumer state ${path}`);
  if (state.consumer !== name) throw invalidInput(`consumer state ${path} belongs to consumer "${state.consumer}", not "${name}"`);
  return state.subjects;
}

/**
 * Takes the lock folder `path` (mkdir is atomic and exclusive) and writes our pid into it. A
 * lock whose pid is no longer running was left by a crash and is taken over.
 */
async function acquireLock(path: string, name: string): Promise<() => Promise<void>> {
  const pidFile = join(path, 'pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await mkdir(path);
      await writeFile(pidFile, `${process.pid}\n`);
      return () => rm(path, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
    const busy = Number.isInteger(pid) ? isRunning(pid) : await youngerThan(path, LOCK_GRACE_MS);
    if (busy) {
      throw conflict(`embedded bus consumer "${name}" is in use${Number.isInteger(pid) ? ` by process ${pid}` : ''}`, {
        hint: 'stop the other `oo-ml ingest` (or pick another consumer name); a lock of a dead process is taken over',
        details: { lock: path },
      });
    }
    await rm(path, { recursive: true, force: true });
  }
  throw conflict(`could not take the lock ${path} of consumer "${name}"`, { details: { lock: path } });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function youngerThan(path: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs < ms;
  } catch {
    return false;
  }
}
