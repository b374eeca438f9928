/** The t-interval over replications, and its cut at bounds the quantity cannot leave. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { meanInterval } from '../../src/evaluation/t-interval.js';

describe('meanInterval', () => {
  it('cut at bounds, is the unbounded interval intersected with them: same mean and spread, never outside (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 12 }), (xs) => {
        const free = meanInterval(xs);
        const cut = meanInterval(xs, [0, 1]);
        expect([cut.mean, cut.sd, cut.stdErr]).toEqual([free.mean, free.sd, free.stdErr]);
        expect(cut.ci95).toEqual([Math.max(0, free.ci95[0]), Math.min(1, free.ci95[1])]);
        expect(cut.ci95[0]).toBeLessThanOrEqual(cut.mean);
        expect(cut.ci95[1]).toBeGreaterThanOrEqual(cut.mean);
      }),
      { seed: 25, numRuns: 300 },
    );
  });

  it('keeps a rate of two replications inside [0, 1], where the t quantile of 1 degree of freedom reaches far past it', () => {
    // 12.7 × the standard error of 0.25: [−2.83, 3.53] unbounded.
    const free = meanInterval([0.1, 0.6]);
    expect(free.ci95[0]).toBeLessThan(-2.8);
    expect(meanInterval([0.1, 0.6], [0, 1]).ci95).toEqual([0, 1]);
  });
});
