import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OoEvent } from '../../src/events/schemas.js';
import { withDb } from '../../src/io/duckdb.js';
import { importEvents } from '../../src/pipelines/event-import.js';
import { attachEventLog } from '../../src/pipelines/event-log.js';
import { withEventLogLock } from '../../src/pipelines/ingest.js';
import { runCli } from '../helpers/cli.js';
import { created, reacted, rewarded, served } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';

const NOW = () => new Date('2026-06-01T00:00:00Z');
const EVENTS: OoEvent[] = [
  served('u1', '2026-03-10T10:00:00Z', 's1'),
  reacted('u1', '2026-03-10T10:05:00+01:00', 's1', 'completed'),
  rewarded('u1', '2026-03-11T09:00:00.123Z', 's1', 0.5),
  created('u2', '2026-03-11T08:00:00Z', '2026-03-12T08:00:00Z'),
];
const ndjson = (events: readonly unknown[]): string => events.map((e) => JSON.stringify(e)).join('\n') + '\n';

async function counts(eventsDir: string): Promise<Record<string, number>> {
  return withDb(':memory:', async (db) => (await attachEventLog(db, eventsDir)).counts);
}

describe('data import', () => {
  it('writes the events of an NDJSON file into the event log, each type by day, and skips them when imported again', async () => {
    const h = await tempHome();
    const file = join(h.home, 'history.ndjson');
    // Blank lines and a byte order mark (Windows tools write one) are skipped; the reaction's offset time is stored as its instant.
    await writeFile(file, '\uFEFF' + ndjson(EVENTS).replace('\n', '\n\n'));
    const first = await importEvents({ file, eventsDir: h.events, tmpDir: h.tmp, now: NOW, batchSize: 2 });
    expect(first).toMatchObject({ events: 4, duplicates: 0, refused: [], written: { 'tip.served': 1, 'tip.reaction': 1, 'tip.reward': 1, 'task.created': 1 } });
    expect(await readdir(join(h.events, 'tip.reward'))).toEqual(['day=2026-03-11']);
    expect(await counts(h.events)).toMatchObject({ 'tip.served': 1, 'tip.reaction': 1, 'tip.reward': 1, 'task.created': 1 });

    // Again, and with one new event: only that one is written.
    const more = reacted('u1', '2026-03-10T11:00:00Z', 's1', 'liked');
    await writeFile(file, ndjson([...EVENTS, more]));
    const progress: number[] = [];
    const again = await importEvents({ file, eventsDir: h.events, tmpDir: h.tmp, now: NOW, onProgress: (d) => progress.push(d) });
    expect(again).toMatchObject({ events: 5, duplicates: 4, written: { 'tip.reaction': 1, 'tip.served': 0 } });
    expect(progress).toEqual([5]);
    expect(await counts(h.events)).toMatchObject({ 'tip.reaction': 2 });
  });

  it('refuses a file with a bad line whole, naming each bad line and field, and writes nothing', async () => {
    const h = await tempHome();
    const file = join(h.home, 'history.ndjson');
    const zoneless = { ...reacted('u1', '2026-03-10T10:05:00Z', 's1', 'completed'), ts: '2026-03-10T10:05:00' };
    const badArm = { ...served('u1', '2026-03-10T10:00:00Z', 's2'), arm: 'best_hour' };
    await writeFile(file, [JSON.stringify(EVENTS[0]), JSON.stringify(zoneless), '{"type":"tip.click"}', 'not json', JSON.stringify(badArm)].join('\n'));
    const refusal = importEvents({ file, eventsDir: h.events, tmpDir: h.tmp, now: NOW });
    await expect(refusal).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/^4 line\(s\) of .* are not valid events \(nothing was imported\): line 2: \/ts: .*; line 3: \/type: must be one of tip\.served, .*; line 4: \/: not JSON: .*; line 5: \/arm: /),
      details: expect.objectContaining({ badLines: 4, issues: expect.arrayContaining([{ line: 2, path: '/ts', message: expect.any(String) }]) }),
    });
    await expect(readdir(h.events)).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFile(file, '\n\n');
    await expect(importEvents({ file, eventsDir: h.events, tmpDir: h.tmp, now: NOW })).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('holds no events') });
    await expect(importEvents({ file: join(h.home, 'missing.ndjson'), eventsDir: h.events, tmpDir: h.tmp, now: NOW })).rejects.toMatchObject({ code: 'not_found' });
    await expect(importEvents({ file: h.home, eventsDir: h.events, tmpDir: h.tmp, now: NOW })).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('is not a regular file') });
  });

  it('does not write while another writer (an ingest) holds the event log', async () => {
    const h = await tempHome();
    const file = join(h.home, 'history.ndjson');
    await writeFile(file, ndjson(EVENTS));
    await withEventLogLock(h.events, 'ingest', 'test', undefined, async () => {
      await expect(importEvents({ file, eventsDir: h.events, tmpDir: h.tmp, now: NOW })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('being written by another oo-ml ingest or import') });
    });
    await expect(readdir(h.events)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('runs as `oo-ml data import`: exit 0 with the counts (JSON with --json), 1 naming bad lines', async () => {
    const h = await tempHome();
    const file = join(h.home, 'history.ndjson');
    await writeFile(file, ndjson(EVENTS));
    const ok = await runCli(['data', 'import', file, '--home', h.home, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ events: 4, duplicates: 0, written: { 'tip.served': 1 } });
    await writeFile(file, 'not json\n');
    const bad = await runCli(['data', 'import', file, '--home', h.home]);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringContaining('line 1: /: not JSON')]);
  });
});
