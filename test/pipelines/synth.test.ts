import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withDb } from '../../src/io/duckdb.js';
import { attachEventLog } from '../../src/pipelines/event-log.js';
import { DEFAULT_SYNTH_START, synthesize } from '../../src/pipelines/synth.js';
import { tempHome } from '../helpers/temp-home.js';

async function digestTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[relative(dir, path)] = createHash('sha256').update(await readFile(path)).digest('hex');
  }
  return out;
}

describe('data synth', () => {
  it('writes one Parquet file per event type and day, byte-identical for the same seed', async () => {
    const a = await tempHome();
    const b = await tempHome();
    const job = { users: 40, days: 5, seed: 3, start: DEFAULT_SYNTH_START };
    const sa = await synthesize({ ...job, eventsDir: a.events, tmpDir: a.tmp });
    await synthesize({ ...job, eventsDir: b.events, tmpDir: b.tmp });
    const da = await digestTree(a.events);
    expect(Object.keys(da)).toContain('tip.served/day=2026-01-05/events.parquet');
    expect(Object.keys(da)).toContain('users.parquet');
    expect(await digestTree(b.events)).toEqual(da);
    expect(sa.counts['tip.served']).toBe(sa.counts['tip.reaction']);
    // Every file but users.parquet and the output marker is an event file.
    expect(Object.keys(da)).toContain('.oo-ml-output');
    expect(sa.files).toBe(Object.keys(da).length - 2);

    const c = await tempHome();
    await synthesize({ ...job, seed: 4, eventsDir: c.events, tmpDir: c.tmp });
    expect(await digestTree(c.events)).not.toEqual(da);
  });

  it('reads back through the schema-checked views with the counts it reported', async () => {
    const h = await tempHome();
    const s = await synthesize({ users: 20, days: 3, seed: 9, start: DEFAULT_SYNTH_START, eventsDir: h.events, tmpDir: h.tmp });
    const attached = await withDb(':memory:', (db) => attachEventLog(db, h.events));
    expect(attached.counts).toEqual(s.counts);
    expect(attached.hasUsers).toBe(true);
  });

  it('replaces an earlier log whole and leaves no temporaries', async () => {
    const h = await tempHome();
    await synthesize({ users: 10, days: 4, seed: 1, start: DEFAULT_SYNTH_START, eventsDir: h.events, tmpDir: h.tmp });
    await synthesize({ users: 10, days: 2, seed: 1, start: DEFAULT_SYNTH_START, eventsDir: h.events, tmpDir: h.tmp });
    const days = await readdir(join(h.events, 'tip.served'));
    expect(days).toEqual(['day=2026-01-05', 'day=2026-01-06']);
    expect(await readdir(h.tmp)).toEqual([]);
  });
});

describe('event log writer', () => {
  it('stores times with a UTC offset on their UTC instant and day', async () => {
    const { writeEventLog: write } = await import('../../src/pipelines/event-log.js');
    const h = await tempHome();
    const events = [
      { type: 'task.completed' as const, event_id: 'e1', ts: '2026-01-05T23:30:00-02:00', user_id: 'u', task_id: 't' },
    ];
    await withDb(':memory:', (db) => write(db, h.events, events, null, h.tmp));
    expect(await readdir(join(h.events, 'task.completed'))).toEqual(['day=2026-01-06']);
    const rows = await withDb(':memory:', async (db) => {
      await attachEventLog(db, h.events);
      return db.rows<{ ts: Date }>('SELECT ts FROM task_completed');
    });
    expect(rows[0]!.ts.toISOString()).toBe('2026-01-06T01:30:00.000Z');
  });
});
