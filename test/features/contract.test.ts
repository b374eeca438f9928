import { describe, expect, it } from 'vitest';
import { contractHash, contractSignatures, diffSignatures } from '../../src/features/contract.js';
import { FEATURES, PROFILE_FEATURES, findFeature } from '../../src/features/registry.js';

/** contractHash() of the feature contract as it stands; see the test that pins it. */
const PINNED_CONTRACT_HASH = '61b198ffb661e344162a6d168486953d257e716d5e585dd97f51c0b3aa3a27fe';

describe('feature contract', () => {
  it('declares every feature with name, dtype, ttl, source, fallback and description', () => {
    expect(FEATURES.map((f) => f.name)).toEqual([
      'completion_rate',
      'dismiss_rate',
      'mean_dwell_sec',
      'preferred_hour',
      'tip_volume',
      'hour_of_day',
      'day_of_week',
      'tasks',
    ]);
    for (const f of FEATURES) {
      expect(f.description.length).toBeGreaterThan(10);
      expect(f.source.length).toBeGreaterThan(3);
      expect(f.kind === 'context' ? f.ttlSec === null : typeof f.ttlSec === 'number').toBe(true);
    }
    expect(findFeature('preferred_hour')?.ttlSec).toBe(7 * 86_400);
    expect(findFeature('nope')).toBeUndefined();
  });

  it('gives every profile feature a decomposable build over a 30-day window', () => {
    for (const f of PROFILE_FEATURES) {
      expect(f.build.windowDays).toBe(30);
      for (const key of Object.keys(f.build.sums)) expect(f.build.value).toContain(`{${key}}`);
    }
  });

  it('hashes the contract stably and names differing features', () => {
    expect(contractHash()).toMatch(/^[0-9a-f]{64}$/);
    // Pinned: a change to any feature's definition changes the hash, and so must change this line
    // (every snapshot and training set built before it is then refused as another contract).
    expect(contractHash()).toBe(PINNED_CONTRACT_HASH);
    const theirs = contractSignatures().map((s) => (s.name === 'tip_volume' ? { ...s, ttlSec: 60 } : s));
    expect(diffSignatures(theirs)).toEqual(['tip_volume']);
    const missing = contractSignatures().filter((s) => s.name !== 'dismiss_rate');
    expect(diffSignatures([...missing, { ...missing[0]!, name: 'extra' }])).toEqual(['dismiss_rate', 'extra']);
    expect(diffSignatures(contractSignatures())).toEqual([]);
  });
});
