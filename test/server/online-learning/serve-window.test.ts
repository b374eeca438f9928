import { readdir } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tempDir as tempFolder } from '../../helpers/temp-home.js';
import { PROFILE_FEATURE_NAMES, type ProfileValues } from '../../../src/features/registry.js';
import { formatServeId, parseServeId, type ServeIdParts } from '../../../src/server/online-learning/serve-id.js';
import { RECORD_BYTES, type ServeRecord } from '../../../src/server/online-learning/serve-record.js';
import { CHUNK_RECORDS, openServeWindow, type ServeWindow } from '../../../src/server/online-learning/serve-window.js';
import { hash32 } from '../harness.js';

const tempDir = (): Promise<string> => tempFolder('oo-ml-window-');

const OWNER = { policy: 'tip-policy@champion', modelVersion: '1', promptVersion: 'v1', experiment: null, variant: null };

function record(seq: number, owner: number, user = `user-${seq % 7}`): ServeRecord {
  const profile = Object.fromEntries(PROFILE_FEATURE_NAMES.map((n, j) => [n, (seq * 31 + j) % 5 === 0 ? null : ((seq * 7919 + j * 104729) % 1000) / 997])) as ProfileValues;
  return {
    serveSeq: seq + 1,
    tsMs: 1_770_000_000_000 + seq * 1000,
    claim: 0,
    claimValue: 0,
    input: { hourOfDay: seq % 24, dayOfWeek: seq % 7, openTasks: seq % 13, overdueTasks: seq % 3, hasProfile: seq % 2 === 0, profile },
    userId: user,
    userHash: hash32(user) >>> 0,
    owner,
    arm: seq % 8,
  };
}

const get = async (w: ServeWindow, id: ServeIdParts): Promise<ServeRecord | null> => await w.get(id);

describe('serve window', () => {
  it('keeps recent serves in memory and older ones on disk, reading back the same bytes from either tier, and across a reopen', async () => {
    const dir = await tempDir();
    const w = await openServeWindow({ dir, hotRecords: 2 * CHUNK_RECORDS, keepMs: 86_400_000, hash32 });
    const owner = w.owner(OWNER)!;
    const issuer = '00112233aabb';
    const n = 5 * CHUNK_RECORDS + 17;
    for (let seq = 0; seq < n; seq++) expect(await w.add({ issuer, seq }, record(seq, owner))).toBe(true);
    // Only the budget is in memory; the rest went to disk.
    expect(w.stats()).toMatchObject({ hotRecords: CHUNK_RECORDS + 17, forgotten: 0 });
    expect(w.stats().coldBytes).toBeGreaterThanOrEqual(3 * CHUNK_RECORDS * RECORD_BYTES);
    for (const seq of [0, 1, CHUNK_RECORDS + 5, 3 * CHUNK_RECORDS, n - 1]) expect(await get(w, { issuer, seq })).toEqual(record(seq, owner));
    // A claim on a cold record is written in place; adding the same serve again keeps it.
    await w.setClaim({ issuer, seq: 3 }, 42, 0.75);
    expect(await w.add({ issuer, seq: 3 }, record(3, owner))).toBe(false);
    expect(await get(w, { issuer, seq: 3 })).toMatchObject({ claim: 42, claimValue: 0.75 });
    expect(await get(w, { issuer, seq: n })).toBeNull();
    expect(await get(w, { issuer: 'ffffffffffff', seq: 0 })).toBeNull();
    await w.close();

    const again = await openServeWindow({ dir, hotRecords: 2 * CHUNK_RECORDS, keepMs: 86_400_000, hash32 });
    expect(again.ownerAt(owner)).toEqual(OWNER);
    for (const seq of [0, 3, CHUNK_RECORDS + 5, n - 1]) expect(await get(again, { issuer, seq })).toEqual({ ...record(seq, owner), claim: seq === 3 ? 42 : 0, claimValue: seq === 3 ? 0.75 : 0 });
    await again.close();
  });

  it('keeps a long user id by its hash only, and an evicted chunk that gets a late serve keeps its other records', async () => {
    const dir = await tempDir();
    const w = await openServeWindow({ dir, hotRecords: 2 * CHUNK_RECORDS, keepMs: 86_400_000, hash32 });
    const owner = w.owner(OWNER)!;
    const issuer = 'abcdefabcdef';
    const long = 'u'.repeat(41);
    await w.add({ issuer, seq: 0 }, { ...record(0, owner), userId: long, userHash: hash32(long) >>> 0 });
    const got = await get(w, { issuer, seq: 0 });
    expect(got).toMatchObject({ userId: null, userHash: hash32(long) >>> 0 });
    // seq 1 of chunk 0 is left out, then arrives after chunk 0 was evicted (a spilled serve).
    for (let seq = 2; seq < 4 * CHUNK_RECORDS; seq++) await w.add({ issuer, seq }, record(seq, owner));
    expect(await w.add({ issuer, seq: 1 }, record(1, owner))).toBe(true);
    expect(await get(w, { issuer, seq: 2 })).toEqual(record(2, owner));
    expect(await get(w, { issuer, seq: 1 })).toEqual(record(1, owner));
    await w.close();
  });

  it('shares one file handle between concurrent cold reads', async () => {
    const dir = await tempDir();
    const w = await openServeWindow({ dir, hotRecords: 2 * CHUNK_RECORDS, keepMs: 86_400_000, hash32 });
    const owner = w.owner(OWNER)!;
    for (let seq = 0; seq < 4 * CHUNK_RECORDS; seq++) await w.add({ issuer: '123123123123', seq }, record(seq, owner));
    await w.close();
    const again = await openServeWindow({ dir, hotRecords: 2 * CHUNK_RECORDS, keepMs: 86_400_000, hash32 });
    const fds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;
    const before = await fds();
    const got = await Promise.all(Array.from({ length: 16 }, (_, i) => again.get({ issuer: '123123123123', seq: i * 7 })));
    expect(got.map((r) => r?.serveSeq)).toEqual(Array.from({ length: 16 }, (_, i) => i * 7 + 1));
    expect((await fds()) - before).toBe(1);
    await again.close();
  });

  it('without a folder forgets evicted serves and counts them', async () => {
    const w = await openServeWindow({ dir: null, hotRecords: 2 * CHUNK_RECORDS, keepMs: 86_400_000, hash32 });
    const owner = w.owner(OWNER)!;
    for (let seq = 0; seq < 3 * CHUNK_RECORDS; seq++) await w.add({ issuer: '000000000000', seq }, record(seq, owner));
    expect(w.stats()).toMatchObject({ forgotten: CHUNK_RECORDS, coldFiles: 0 });
    expect(await get(w, { issuer: '000000000000', seq: 0 })).toBeNull();
  });

  it('drops cold files once every serve in them is older than the keep, by the event clock', async () => {
    const dir = await tempDir();
    const w = await openServeWindow({ dir, hotRecords: 2 * CHUNK_RECORDS, keepMs: 3_600_000, hash32 });
    const owner = w.owner(OWNER)!;
    const old = '111111111111';
    const recent = '222222222222';
    for (let seq = 0; seq < 2 * CHUNK_RECORDS; seq++) await w.add({ issuer: old, seq }, record(seq, owner));
    for (let seq = 0; seq < 2 * CHUNK_RECORDS; seq++) await w.add({ issuer: recent, seq }, { ...record(seq, owner), tsMs: 1_780_000_000_000 });
    await w.flush();
    expect(await readdir(dir)).toEqual(expect.arrayContaining([old, recent]));
    // A checkpoint's manifest at that event time leaves out what the prune after it deletes:
    // the window stays what the checkpoint says it rests on.
    const manifest = w.manifest(1_780_000_000_000);
    expect(Object.keys(manifest.files).some((f) => f.startsWith(old))).toBe(false);
    expect(Object.keys(manifest.files).some((f) => f.startsWith(recent))).toBe(true);
    await w.prune(1_780_000_000_000);
    expect(await w.shortOf(manifest)).toBeNull();
    expect(await readdir(dir)).not.toContain(old);
    expect(await get(w, { issuer: old, seq: 5 })).toBeNull();
    expect(await get(w, { issuer: recent, seq: 5 })).not.toBeNull();
    await w.close();
  });

  it('answers like a plain map of ids, whatever the memory budget (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('add' as const), issuer: fc.constantFrom('aaaaaaaaaaaa', 'bbbbbbbbbbbb'), seq: fc.integer({ min: 0, max: 6 * CHUNK_RECORDS }) }),
            fc.record({ op: fc.constant('claim' as const), issuer: fc.constantFrom('aaaaaaaaaaaa', 'bbbbbbbbbbbb'), seq: fc.integer({ min: 0, max: 6 * CHUNK_RECORDS }), claim: fc.integer({ min: 1, max: 1e6 }) }),
          ),
          { minLength: 1, maxLength: 60 },
        ),
        fc.boolean(),
        async (ops, withDir) => {
          const dir = withDir ? await tempDir() : null;
          // Two chunks of memory: nearly every operation crosses the tiers.
          const w = await openServeWindow({ dir, hotRecords: 2 * CHUNK_RECORDS, keepMs: 86_400_000, hash32 });
          const owner = w.owner(OWNER)!;
          const model = new Map<string, ServeRecord>();
          for (const o of ops) {
            const id = formatServeId(o.issuer, o.seq);
            if (o.op === 'add') {
              const added = await w.add(parseServeId(id)!, record(o.seq, owner));
              expect(added).toBe(!model.has(id));
              if (!model.has(id)) model.set(id, record(o.seq, owner));
            } else if (model.has(id) && (await get(w, parseServeId(id)!)) !== null) {
              await w.setClaim(parseServeId(id)!, o.claim, o.claim / 1e6);
              model.get(id)!.claim = o.claim;
              model.get(id)!.claimValue = o.claim / 1e6;
            }
          }
          const forgotten = w.stats().forgotten;
          for (const [id, r] of model) {
            const got = await get(w, parseServeId(id)!);
            if (dir !== null || forgotten === 0) expect(got).toEqual(r);
            else expect(got === null || JSON.stringify(got) === JSON.stringify(r)).toBe(true);
          }
          await w.close();
        },
      ),
      { seed: 1205, numRuns: 40 },
    );
  });
});
