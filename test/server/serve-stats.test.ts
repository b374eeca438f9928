import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ServeStats } from '../../src/server/serve-stats.js';

const parts = { policy: 'p', modelVersion: '1', experiment: null, variant: null, shadow: false };

describe('/stats accumulator', () => {
  it('reports nearest-rank latency quantiles over the most recent requests only', () => {
    const stats = new ServeStats(100, new Date(0));
    const key = stats.key(parts);
    // 150 requests taking 1…150 ms: the ring keeps the last 100 (51…150).
    for (let ms = 1; ms <= 150; ms++) stats.latency(key, ms);
    expect(stats.report().policies[0]!.latency_ms).toEqual({ count: 150, p50: 100, p90: 140, p99: 149, max: 150 });
  });

  it('agrees with the nearest-rank definition on any sample that fits the ring', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 64 }), (samples) => {
        const stats = new ServeStats(64, new Date(0));
        const key = stats.key(parts);
        for (const s of samples) stats.latency(key, s);
        const sorted = [...samples].sort((a, b) => a - b);
        const rank = (p: number) => sorted[Math.ceil(p * sorted.length) - 1];
        expect(stats.report().policies[0]!.latency_ms).toEqual({ count: samples.length, p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: sorted.at(-1) });
      }),
      { seed: 11, numRuns: 500 },
    );
  });

  it('keeps one row per policy, version, variant and shadow flag, and reactions per prompt version', () => {
    const stats = new ServeStats(8, new Date(0));
    const a = stats.key({ ...parts, experiment: 'e', variant: 'control' });
    const b = stats.key({ ...parts, experiment: 'e', variant: 'treatment' });
    expect(stats.key({ ...parts, experiment: 'e', variant: 'control' })).toBe(a);
    stats.serve(a);
    stats.serve(a);
    stats.serve(b);
    stats.reward(a, 1, 'completed', 'v1', 0);
    stats.reward(b, 0, 'dismissed', 'v2', 1);
    stats.reward(null, 1, 'liked', null, 2);
    const report = stats.report();
    expect(report.policies.map((r) => [r.variant, r.serves, r.rewards, r.reward_rate])).toEqual([
      ['control', 2, 1, 0.5],
      ['treatment', 1, 1, 0],
    ]);
    expect(report.prompt_versions.map((v) => [v.prompt_version, v.total])).toEqual([
      ['v1', 1],
      ['v2', 1],
      ['(none)', 1],
    ]);
  });
});
