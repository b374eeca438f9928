/**
 * The ring of published events (events/published-events.ts): a reader takes an event once, only
 * with the subject and bytes it was published with; a slot is reused a capacity later. Checked
 * against a Map model of those rules over random runs, and by examples.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PublishedEvents } from '../../src/events/published-events.js';
import type { OoEvent } from '../../src/events/schemas.js';

const eventOf = (seq: number): OoEvent => ({ type: 'tip.dismissed', event_id: `e-${seq}` }) as unknown as OoEvent;
const bytesOf = (seq: number): Buffer => Buffer.from(`{"seq":${seq}}`);

describe('published events', () => {
  it('hands an event to the first reader that meets its sequence with the same subject and bytes, once', () => {
    const ring = new PublishedEvents(8);
    const e = eventOf(5);
    ring.put(5, 'signals.tip.dismissed', bytesOf(5), e);
    expect(ring.take(4, 'signals.tip.dismissed', bytesOf(4))).toBeNull();
    expect(ring.take(5, 'signals.tip.dismissed', bytesOf(5))).toBe(e);
    expect(ring.take(5, 'signals.tip.dismissed', bytesOf(5))).toBeNull();
  });

  it('refuses (and forgets) an event whose sequence now holds other bytes or another subject: a recreated stream', () => {
    const ring = new PublishedEvents(8);
    ring.put(3, 'signals.tip.dismissed', bytesOf(3), eventOf(3));
    expect(ring.take(3, 'signals.tip.dismissed', bytesOf(30))).toBeNull();
    ring.put(3, 'signals.tip.dismissed', bytesOf(3), eventOf(3));
    expect(ring.take(3, 'feedback.tip.dismissed', bytesOf(3))).toBeNull();
    expect(ring.take(3, 'signals.tip.dismissed', bytesOf(3))).toBeNull();
  });

  it('drops an event once a sequence a capacity later takes its slot, and everything on clear', () => {
    const ring = new PublishedEvents(4);
    for (const seq of [1, 2, 5]) ring.put(seq, 's', bytesOf(seq), eventOf(seq));
    expect(ring.take(1, 's', bytesOf(1))).toBeNull();
    expect(ring.take(2, 's', bytesOf(2))).not.toBeNull();
    ring.clear();
    expect(ring.take(5, 's', bytesOf(5))).toBeNull();
    expect(() => new PublishedEvents(6)).toThrow(/power of two/);
  });

  it('agrees with a Map model over random runs of publishes (rising sequences with gaps) and reads', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), gap: fc.integer({ min: 1, max: 12 }) }),
      fc.record({ kind: fc.constant('take' as const), back: fc.integer({ min: 0, max: 40 }), tamper: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 8, 16), fc.array(op, { maxLength: 200 }), (capacity, ops) => {
        const ring = new PublishedEvents(capacity);
        const model = new Map<number, OoEvent>();
        let seq = 0;
        for (const o of ops) {
          if (o.kind === 'put') {
            seq += o.gap;
            // The model's rule: a slot holds the latest sequence congruent to it modulo the capacity.
            for (const k of [...model.keys()]) if (k % capacity === seq % capacity) model.delete(k);
            const e = eventOf(seq);
            model.set(seq, e);
            ring.put(seq, 's', bytesOf(seq), e);
          } else {
            const at = seq - o.back;
            if (at < 1) continue;
            const expected = o.tamper ? null : (model.get(at) ?? null);
            model.delete(at);
            // Never published, taken already, overwritten or other bytes: null.
            expect(ring.take(at, 's', o.tamper ? bytesOf(at + 1) : bytesOf(at))).toBe(expected);
          }
        }
      }),
      { seed: 20261205, numRuns: 300 },
    );
  });
});
