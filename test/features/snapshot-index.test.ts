/** The snapshot's lookup index: what it keeps of the decoded columns. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { syntheticColumns, syntheticManifest } from '../../fixtures/synthetic-snapshot.js';
import { createSnapshotIndex } from '../../src/features/snapshot.js';

/** A full garbage collection, in a process started without --expose-gc. */
function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('the snapshot index', () => {
  it('keeps none of the decoded columns: the user id strings are collected once it is built', async () => {
    const options = { users: 10_000, asOf: new Date('2026-02-01T00:00:00Z') };
    let columns: ReturnType<typeof syntheticColumns> | null = syntheticColumns(options);
    const ids = new WeakRef(columns.userIds);
    const index = createSnapshotIndex(syntheticManifest(options), columns);
    columns = null;
    // A WeakRef's target lives at least until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    fullGc();
    expect(ids.deref()).toBeUndefined();
    // The index still answers from its own copies.
    expect(index.rowOf('u9999')).toBe(9_999);
    expect(index.lookup('u42', options.asOf.getTime()).values.tip_volume).toBe(42);
  });
});
