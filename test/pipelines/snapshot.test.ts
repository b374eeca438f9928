import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Table, Utf8, vectorFromArray } from 'apache-arrow';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HomePaths } from '../../src/config.js';
import { withDb } from '../../src/io/duckdb.js';
import { writeEventLog } from '../../src/pipelines/event-log.js';
import { buildFeatures } from '../../src/pipelines/feature-build.js';
import { decodeUtf8Column, exportSnapshot, loadSnapshot, utf8Vector } from '../../src/pipelines/snapshot-files.js';
import { completed, reacted, served } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const AS_OF = Date.parse('2026-02-05T00:00:00Z');
const DAY = 86_400_000;

async function exported(): Promise<{ h: HomePaths; id: string }> {
  const h = await tempHome();
  const events = [
    served('a', '2026-02-01T10:00:00Z', 's1'),
    reacted('a', '2026-02-01T10:00:30Z', 's1', 'completed', 2000),
    completed('a', '2026-02-02T09:00:00Z'),
    served('ü-ß', '2026-02-02T10:00:00Z', 's2'),
    reacted('ü-ß', '2026-02-02T10:00:30Z', 's2', 'dismissed', 4000),
  ];
  await withDb(':memory:', (db) => writeEventLog(db, h.events, events, null, h.tmp));
  await buildFeatures({ eventsDir: h.events, warehouse: h.warehouse, featuresDir: h.features, tmpDir: h.tmp, now: NOW, asOf: new Date(AS_OF) });
  const s = await exportSnapshot({ warehouse: h.warehouse, outDir: h.snapshots, tmpDir: h.tmp, now: NOW });
  return { h, id: s.snapshotId };
}

describe('snapshot export and load', () => {
  it('round-trips the profile features with a manifest and a LATEST pointer', async () => {
    const { h, id } = await exported();
    expect((await readFile(join(h.snapshots, 'LATEST'), 'utf8')).trim()).toBe(id);
    const { index, dir } = await loadSnapshot(h.snapshots);
    expect(dir).toBe(join(h.snapshots, id));
    expect(index.size).toBe(2);
    expect(index.manifest.as_of).toBe(new Date(AS_OF).toISOString());
    const a = index.lookup('a', AS_OF + 3600_000);
    expect(a).toEqual({
      found: true,
      values: { completion_rate: 1, dismiss_rate: 0, mean_dwell_sec: 2, preferred_hour: 9, tip_volume: 1 },
      fallbacks: [],
    });
    expect(index.lookup('ü-ß', AS_OF).values.dismiss_rate).toBe(1);
    expect(await readdir(h.tmp)).toEqual([]);
  });

  it('exports again beside earlier snapshots, and refuses a folder holding anything else, before any work', async () => {
    const { h, id } = await exported();
    const again = await exportSnapshot({ warehouse: h.warehouse, outDir: h.snapshots, tmpDir: h.tmp, now: new Date(NOW.getTime() + 1000) });
    expect((await readdir(h.snapshots)).sort()).toEqual(['LATEST', again.snapshotId, id].sort());
    // The event log's folder, or a user's: refused, and nothing is written there.
    await writeFile(join(h.events, 'notes.txt'), 'mine');
    const before = (await readdir(h.events)).sort();
    await expect(exportSnapshot({ warehouse: h.warehouse, outDir: h.events, tmpDir: h.tmp, now: NOW })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(new RegExp(`^snapshots folder ${h.events.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} holds other files \\(.*notes\\.txt`)),
    });
    expect((await readdir(h.events)).sort()).toEqual(before);
    // A file where the folder would be: refused naming it, not a raw ENOTDIR.
    await expect(exportSnapshot({ warehouse: h.warehouse, outDir: join(h.events, 'notes.txt'), tmpDir: h.tmp, now: NOW })).rejects.toMatchObject({
      code: 'conflict',
      message: `snapshots folder ${join(h.events, 'notes.txt')} is a file`,
    });
  });

  it('serves values past their TTL, and unknown users, as fallbacks and says which', async () => {
    const { h } = await exported();
    const { index } = await loadSnapshot(h.snapshots);
    const stale = index.lookup('a', AS_OF + 2 * DAY);
    expect(stale.fallbacks).toEqual(['completion_rate', 'dismiss_rate', 'mean_dwell_sec', 'tip_volume']);
    expect(stale.values.preferred_hour).toBe(9); // 7-day TTL still holds
    expect(stale.values.completion_rate).toBe(index.manifest.fallbacks['completion_rate']);
    expect(stale.values.tip_volume).toBe(0);
    // The manifest gives each fallback's value by its rule, as the lookup applies it.
    expect(index.manifest.fallbacks).toMatchObject({ tip_volume: 0, preferred_hour: null, completion_rate: expect.any(Number) });
    const nobody = index.lookup('zzz', AS_OF);
    expect(nobody.found).toBe(false);
    expect(nobody.fallbacks).toHaveLength(5);
    expect(nobody.values.preferred_hour).toBeNull();
    expect(nobody.values.completion_rate).toBeCloseTo(0.5, 12); // mean of 1 and 0
  });

  it('refuses a corrupt data file, a foreign contract and a bad manifest, naming the problem', async () => {
    const { h, id } = await exported();
    const dir = join(h.snapshots, id);
    const data = await readFile(join(dir, 'profiles.arrow'));
    const flipped = Buffer.from(data);
    flipped[flipped.length - 20] = flipped[flipped.length - 20]! ^ 0xff;
    await writeFile(join(dir, 'profiles.arrow'), flipped);
    await expect(loadSnapshot(dir)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('is corrupt: sha256') });
    await writeFile(join(dir, 'profiles.arrow'), data);

    const manifestPath = join(dir, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { contract_hash: string; features: { name: string; ttlSec: number }[] };
    const foreign = {
      ...manifest,
      contract_hash: 'f'.repeat(64),
      features: manifest.features.map((f) => (f.name === 'dismiss_rate' ? { ...f, ttlSec: 3600 } : f)),
    };
    await writeFile(manifestPath, JSON.stringify(foreign));
    await expect(loadSnapshot(dir)).rejects.toMatchObject({ message: expect.stringContaining('differing features: dismiss_rate') });

    await writeFile(manifestPath, JSON.stringify({ ...manifest, row_count: -1, extra: 1 }));
    await expect(loadSnapshot(dir)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/\/row_count.*unknown field\(s\): extra|unknown field\(s\): extra.*\/row_count/) });

    await writeFile(manifestPath, '{not json');
    await expect(loadSnapshot(dir)).rejects.toMatchObject({ message: expect.stringContaining(`${manifestPath} is not valid JSON`) });

    await writeFile(join(h.snapshots, 'LATEST'), 'snap-missing\n');
    await expect(loadSnapshot(h.snapshots)).rejects.toMatchObject({ code: 'not_found' });

    // LATEST names a folder beside it, never a path: `..`, a path, a second line are refused.
    for (const bad of ['..', '../snapshots', `${id}/../..`, '/etc', `${id}\nsnap-other`, '', 'snap-']) {
      await writeFile(join(h.snapshots, 'LATEST'), `${bad}\n`);
      await expect(loadSnapshot(h.snapshots)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('does not hold a snapshot id') });
    }
  });

  it('encodes and decodes user ids exactly like the Arrow builder and reader (fast paths vs reference)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { maxLength: 60 }), fc.boolean(), (ids, ascii) => {
        const values = ascii ? ids.map((s) => [...s].map((c) => (c.charCodeAt(0) < 0x80 ? c : 'x')).join('')) : ids;
        const v = vectorFromArray(values, new Utf8());
        const reference = Array.from({ length: v.length }, (_, i) => v.get(i));
        expect(decodeUtf8Column(v)).toEqual(reference);
        // The direct encoder (export's fast path) writes what the generic builder writes.
        const fast = utf8Vector(values);
        expect(Array.from({ length: fast.length }, (_, i) => fast.get(i))).toEqual(reference);
        // Multi-chunk vectors take the per-chunk path too.
        const t = new Table({ id: v }).concat(new Table({ id: v }));
        expect(decodeUtf8Column(t.getChild('id')!)).toEqual([...reference, ...reference]);
      }),
      { seed: 7, numRuns: 200 },
    );
  });
});
