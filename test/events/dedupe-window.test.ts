import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DedupeWindow, type DedupeToken } from '../../src/events/dedupe-window.js';

const WINDOW = 80;
const SPAN = WINDOW / 3; // 4 generations

describe('dedupe window', () => {
  it('remembers an id for at least the window and at most one generation span longer, and forgets only a failed entry', () => {
    // Operations: publish one of a few ids, forget one (its publish failed), or let time pass.
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), id: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant('forget' as const), id: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 40 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const w = new DedupeWindow(WINDOW, { maxIds: 1_000, generations: 4 });
        // The model: when each remembered id was added, and the token of that entry.
        const added = new Map<number, { at: number; token: DedupeToken; seq: number }>();
        let now = 0;
        let stored = 0;
        for (const o of ops) {
          if (o.kind === 'wait') now += o.ms;
          else if (o.kind === 'forget') {
            const entry = added.get(o.id);
            if (entry !== undefined) w.forget(entry.token);
            added.delete(o.id);
          } else {
            const entry = added.get(o.id);
            const token = w.add(String(o.id), now);
            // Within the window: a duplicate, answered with the first copy's seq. Past the window and its generation's span: not.
            if (entry !== undefined && now - entry.at < WINDOW) {
              expect(token).toBeNull();
              expect(w.seqOf(String(o.id))).toBe(entry.seq);
            }
            if (entry === undefined || now - entry.at >= WINDOW + SPAN) expect(token).not.toBeNull();
            if (token !== null) {
              // Its publish is stored at the next seq.
              const seq = ++stored;
              w.settle(token, seq);
              added.set(o.id, { at: now, token, seq });
            }
          }
        }
      }),
      { seed: 7, numRuns: 2_000 },
    );
  });

  it('finds every id past forgotten slots in a crowded table, and re-admits only the forgotten', () => {
    // Up to 32 ids in one generation's 64 slots (2 generations of 32 ids at most): a half-full
    // table, where probe chains run through the slots of forgotten entries.
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 32 }), fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }), (ids, forgotten) => {
        const w = new DedupeWindow(60_000, { maxIds: 64, generations: 2 });
        const tokens = ids.map((id, i) => {
          const token = w.add(id, 0);
          expect(token).not.toBeNull();
          w.settle(token!, i + 1);
          return token!;
        });
        ids.forEach((_, i) => forgotten[i] && w.forget(tokens[i]!));
        expect(w.size).toBe(ids.filter((_, i) => !forgotten[i]).length);
        ids.forEach((id, i) => {
          if (forgotten[i]) return;
          expect(w.add(id, 1), id).toBeNull();
          expect(w.seqOf(id)).toBe(i + 1);
        });
        ids.forEach((id, i) => forgotten[i] && expect(w.add(id, 1), id).not.toBeNull());
        // Past the window every generation is dropped, and a reused table (emptied, forgotten
        // marks and all) takes every id as new.
        ids.forEach((id) => expect(w.add(id, 200_000), id).not.toBeNull());
        ids.forEach((id) => expect(w.add(id, 200_001), id).toBeNull());
      }),
      { seed: 11, numRuns: 500 },
    );
  });

  it('at its id cap keeps at least the newest three quarters of maxIds, and at most maxIds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1_000, max: 5_000 }), (n) => {
        const w = new DedupeWindow(60_000, { maxIds: 1_000, generations: 4 });
        for (let i = 0; i < n; i++) expect(w.add(`id-${i}`, 0)).not.toBeNull();
        expect(w.size).toBeLessThanOrEqual(1_000);
        // Oldest first, so that re-adding a forgotten id cannot evict a newer one being checked.
        for (let i = n - 750; i < n; i++) expect(w.add(`id-${i}`, 0), `id-${i} of ${n}`).toBeNull();
      }),
      { seed: 8, numRuns: 50 },
    );
  });

  it("does not let a failed publish forget a newer publish's entry of the same id", () => {
    const w = new DedupeWindow(60_000, { maxIds: 8, generations: 4 });
    const first = w.add('x', 0)!;
    // x's generation is evicted by count while its publish is still in flight…
    for (let i = 0; i < 8; i++) w.add(`filler-${i}`, 0);
    // …so a second publish of x is new, and then the first one fails.
    const second = w.add('x', 0);
    expect(second).not.toBeNull();
    w.forget(first);
    expect(w.add('x', 0)).toBeNull();
  });

  it("does not let a late settle write into a recycled generation's slots", () => {
    const w = new DedupeWindow(60_000, { maxIds: 8, generations: 4 });
    const first = w.add('x', 0)!;
    // x's generation is evicted by count and its table reused for newer ids…
    const fillers = Array.from({ length: 10 }, (_, i) => `filler-${i}`);
    for (const f of fillers) w.add(f, 0);
    // …then x's publish is stored: its seq must land nowhere.
    w.settle(first, 99);
    for (const f of fillers) expect(w.seqOf(f)).not.toBe(99);
    expect(w.seqOf('x')).toBe(0);
  });
  it('keeps ids whose hash is one of the two values that mark free slots, (0, 0) and (0, 1), as ids', () => {
    // Chosen hashes: "empty" and "forgotten" hash to the slot markers, the others to slot 0's
    // probe chain (h1 = 0) or elsewhere; "empty" and "forgotten" share their moved hash with "moved".
    const chosen: Record<string, [number, number]> = { empty: [0, 0], forgotten: [0, 1], moved: [0, 2], chain1: [0, 7], chain2: [0, 9], other: [5, 5] };
    const hash = (id: string, out: Int32Array): void => {
      const h = chosen[id]!;
      out[0] = h[0];
      out[1] = h[1];
    };
    const w = new DedupeWindow(1_000, { maxIds: 64, generations: 2, hash });
    const forgotten = w.add('forgotten', 0)!;
    w.settle(forgotten, 1);
    // Ids probing from the same slot fill the chain after it; none may take the slot "forgotten" holds.
    for (const [id, seq] of [['chain1', 2], ['chain2', 3], ['other', 4]] as const) w.settle(w.add(id, 1)!, seq);
    expect(w.size).toBe(4);
    expect(w.add('forgotten', 2)).toBeNull();
    expect(w.seqOf('forgotten')).toBe(1);
    // Its moved hash is the one "empty" and "moved" get too: one entry for all three (a 2^-63 chance per id).
    expect(w.add('empty', 2)).toBeNull();
    expect(w.add('moved', 2)).toBeNull();
    expect(w.seqOf('empty')).toBe(1);
    // Forgetting it frees that one entry; the chain stays found.
    w.forget(forgotten);
    expect(w.seqOf('chain2')).toBe(3);
    const again = w.add('empty', 3);
    expect(again).not.toBeNull();
    expect(w.add('forgotten', 3)).toBeNull();
    expect(w.size).toBe(4);
    for (const id of ['chain1', 'chain2', 'other']) expect(w.add(id, 4), id).toBeNull();
  });
});
