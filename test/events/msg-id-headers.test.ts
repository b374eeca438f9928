/** The one-header block of a JetStream publish: the bytes nats.js would send, and MsgHdrs' reads. */
import { headers, Match } from '@nats-io/transport-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MsgIdHeaders } from '../../src/events/msg-id-headers.js';

describe('MsgIdHeaders', () => {
  it("encodes exactly nats.js's header block for the same id (property)", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }).filter((s) => !/[\r\n]/.test(s) && s.trim() !== ''), (id) => {
        const theirs = headers();
        theirs.set('Nats-Msg-Id', id);
        const ours = new MsgIdHeaders(id);
        expect(Buffer.from(ours.encode()).equals(Buffer.from((theirs as unknown as { encode(): Uint8Array }).encode()))).toBe(true);
        expect(ours.toString()).toBe(theirs.toString());
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('answers the reads of MsgHdrs for its one key, exactly or ignoring case', () => {
    const h = new MsgIdHeaders(' ev-1 ');
    expect(h.get('Nats-Msg-Id')).toBe('ev-1');
    expect(h.get('nats-msg-id')).toBe('');
    expect(h.get('nats-msg-id', Match.IgnoreCase)).toBe('ev-1');
    expect(h.get('NATS-MSG-ID', Match.CanonicalMIME)).toBe('ev-1');
    expect(h.has('Other')).toBe(false);
    expect(h.keys()).toEqual(['Nats-Msg-Id']);
    expect(h.values('Nats-Msg-Id')).toEqual(['ev-1']);
    expect(h.values('Other')).toEqual([]);
    expect(h.last('Nats-Msg-Id')).toBe('ev-1');
    expect([...h]).toEqual([['Nats-Msg-Id', ['ev-1']]]);
    expect({ hasError: h.hasError, code: h.code, status: h.status, description: h.description }).toEqual({ hasError: false, code: 0, status: '', description: '' });
  });

  it('refuses an id with a line break (it would end the header block) and any change', () => {
    expect(() => new MsgIdHeaders('a\r\nInjected: 1')).toThrow(/cannot hold a CR or LF/);
    const h = new MsgIdHeaders('x');
    expect(() => h.set()).toThrow(TypeError);
    expect(() => h.append()).toThrow(TypeError);
    expect(() => h.delete()).toThrow(TypeError);
  });
});
