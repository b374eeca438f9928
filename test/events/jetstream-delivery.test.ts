/**
 * Delivery numbers read off JetStream ack subjects (events/jetstream-delivery.ts), held to the
 * token layout of both subject versions, and null for anything else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deliveryNumbersOf } from '../../src/events/jetstream-delivery.js';

const name = fc.stringMatching(/^[A-Za-z0-9_-]{1,16}$/);
const count = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

describe('deliveryNumbersOf', () => {
  it('reads the delivery count and stream sequence of 9-token and 11-or-more-token ack subjects', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.tuple(name, name, name, name),
        fc.tuple(count, count, count, count, count),
        fc.array(name, { maxLength: 2 }),
        (v2, [domain, hash, stream, consumer], [delivered, seq, dseq, ts, pending], extra) => {
          const head = v2 ? ['$JS', 'ACK', domain, hash, stream, consumer] : ['$JS', 'ACK', stream, consumer];
          const tail = v2 ? extra : [];
          const reply = [...head, delivered, seq, dseq, ts, pending, ...tail].join('.');
          expect(deliveryNumbersOf(reply)).toEqual({ seq, deliveryCount: delivered });
        },
      ),
      { seed: 15, numRuns: 500 },
    );
    expect(deliveryNumbersOf('$JS.ACK.OO_ML_EVENTS.ingest.2.1234.17.1733400000000000000.5')).toEqual({ seq: 1234, deliveryCount: 2 });
    expect(deliveryNumbersOf('$JS.ACK._.ABC.OO_ML_EVENTS.ingest.1.99.3.1733400000000000000.0.x7')).toEqual({ seq: 99, deliveryCount: 1 });
  });

  it('gives null for subjects of another shape, so the caller asks nats.js', () => {
    for (const reply of [
      '',
      '_INBOX.abc.1',
      '$JS.ACK.S.C.1.2.3.4', // 8 tokens
      '$JS.ACK.D.H.S.C.1.2.3.4', // 10 tokens
      '$JS.ACK.S.C.x.2.3.4.5', // a delivery count that is not a number
      '$JS.ACK.S.C.1..3.4.5', // an empty sequence
      '$JS.ACK.S.C.1.99999999999999999.3.4.5', // past the safe integers
      '$JS.API.S.C.1.2.3.4.5',
    ]) {
      expect(deliveryNumbersOf(reply), reply).toBeNull();
    }
  });
});
