import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DedupeWindow } from '../../src/events/dedupe-window.js';

const WINDOW = 80;
const SPAN = WINDOW / 3; // 4 generations

describe('dedupe window', () => {
  it('remembers an id for at least the window and at most one generation span longer (below the id cap)', () => {
    // Operations: publish one of a few ids, forget one, or let time pass.
    const op = fc.oneof(
      fc.record({ kind: fc.constant('seen' as const), id: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant('forget' as const), id: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 40 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const w = new DedupeWindow(WINDOW, { maxIds: 1_000, generations: 4 });
        // The model: when each remembered id was added.
        const added = new Map<number, number>();
        let now = 0;
        for (const o of ops) {
          if (o.kind === 'wait') now += o.ms;
          else if (o.kind === 'forget') {
            w.forget(String(o.id));
            added.delete(o.id);
          } else {
            const at = added.get(o.id);
            const dup = w.seen(String(o.id), now);
            // Within the window: a duplicate. Past the window and its generation's span: not.
            if (at !== undefined && now - at < WINDOW) expect(dup).toBe(true);
            if (at === undefined || now - at >= WINDOW + SPAN) expect(dup).toBe(false);
            if (!dup) added.set(o.id, now);
          }
        }
      }),
      { seed: 7, numRuns: 2_000 },
    );
  });

  it('keeps at most maxIds ids, dropping the oldest generation first', () => {
    const w = new DedupeWindow(60_000, { maxIds: 1_000, generations: 4 });
    for (let i = 0; i < 5_000; i++) expect(w.seen(`id-${i}`, 0)).toBe(false);
    expect(w.size).toBe(1_000);
    // The newest 1,000 (4 generations of 250) are remembered, the older ones are not.
    expect(w.seen('id-4000', 0)).toBe(true);
    expect(w.seen('id-4999', 0)).toBe(true);
    expect(w.seen('id-3999', 0)).toBe(false);
  });
});
