/**
 * `oo-ml data synth`: a synthetic event log from the personas. Generation is pure
 * (sim/event-generator.ts); this job only orders the events and writes them (event-log.ts).
 */
import { invalidUsage } from '../errors.js';
import type { OoEvent } from '../events/schemas.js';
import { withDb } from '../io/duckdb.js';
import { generateUser } from '../sim/event-generator.js';
import { writeEventLog, type EventLogSummary } from './event-log.js';
import { SEED_RANGE, SYNTH_RANGES, requireDate, requireInteger } from './job-arguments.js';

/** Options of `synthesize`. */
export interface SynthJob {
  users: number;
  days: number;
  seed: number;
  /** First day (midnight UTC). Fixed by default so a seed alone fixes the output. */
  start: Date;
  eventsDir: string;
  tmpDir: string;
  onProgress?: (done: number, total: number) => void;
}

/** The latest end of a synthetic log (exclusive). */
const LATEST_SYNTH_END_MS = Date.UTC(9990, 0, 1);

/** The default first day of synthetic logs. */
export const DEFAULT_SYNTH_START = new Date('2026-01-05T00:00:00Z');

/** Generates and writes a synthetic event log; the same options give byte-identical files. */
export async function synthesize(job: SynthJob): Promise<EventLogSummary & { users: number; personas: Record<string, number> }> {
  requireInteger('users', job.users, SYNTH_RANGES.users);
  requireInteger('days', job.days, SYNTH_RANGES.days);
  requireInteger('seed', job.seed, SEED_RANGE);
  requireDate('start', job.start);
  if (job.start.getUTCHours() !== 0 || job.start.getUTCMinutes() !== 0 || job.start.getUTCSeconds() !== 0 || job.start.getUTCMilliseconds() !== 0) {
    throw invalidUsage(`--start must be a midnight UTC, got ${job.start.toISOString()}`);
  }
  // Synthetic tasks fall due up to months after the last day; the event log takes years to 9999.
  if (job.start.getTime() + job.days * 86_400_000 > LATEST_SYNTH_END_MS) {
    throw invalidUsage(`--start ${job.start.toISOString().slice(0, 10)} with --days ${job.days} ends after 9989: synthetic tasks fall due up to months later, and the event log takes years up to 9999`);
  }
  const events: OoEvent[] = [];
  const users: { user_id: string; persona: string; segment: string }[] = [];
  const personas: Record<string, number> = {};
  for (let i = 0; i < job.users; i++) {
    const u = generateUser({ users: job.users, days: job.days, seed: job.seed, startMs: job.start.getTime() }, i);
    for (const e of u.events) events.push(e);
    users.push({ user_id: u.userId, persona: u.persona, segment: u.persona });
    personas[u.persona] = (personas[u.persona] ?? 0) + 1;
    job.onProgress?.(i + 1, job.users);
  }
  const summary = await withDb(':memory:', (db) => writeEventLog(db, job.eventsDir, events, users, job.tmpDir));
  return { ...summary, users: job.users, personas };
}
