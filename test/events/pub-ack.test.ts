/**
 * JetStream's answers to a publish (events/pub-ack.ts): the byte reader of the two common PubAck
 * shapes reads exactly what JSON.parse reads, for those shapes, for every other shape and for
 * damaged bytes; the common shapes are read without JSON.parse.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readPubAck, type PubAckReading } from '../../src/events/pub-ack.js';

const encoder = new TextEncoder();
const bytes = (s: string): Uint8Array => encoder.encode(s);

/** What an answer means, read with JSON.parse alone: the reference. */
function reference(data: Uint8Array): PubAckReading {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { ok: false, refusal: `JetStream answered with something that is not a PubAck (${data.length} bytes)` };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, refusal: `JetStream answered with something that is not a PubAck (${data.length} bytes)` };
  }
  const b = body as Record<string, unknown>;
  if (b['error'] !== undefined) {
    const e = b['error'] as { description?: unknown } | null;
    return { ok: false, refusal: `JetStream refused the message: ${String(e?.description ?? 'no description')}` };
  }
  return typeof b['seq'] === 'number' ? { ok: true, seq: b['seq'], duplicate: b['duplicate'] === true } : { ok: false, refusal: 'JetStream answered with a PubAck that has no sequence' };
}

/** PubAcks as nats-server writes them, and answers around them. */
const answer = fc.record(
  {
    stream: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/), fc.string({ maxLength: 12 })),
    seq: fc.oneof(fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.double(), fc.constant(2 ** 60), fc.string({ maxLength: 3 })),
    domain: fc.string({ maxLength: 6 }),
    duplicate: fc.oneof(fc.boolean(), fc.constant(1)),
    error: fc.record({ code: fc.nat(600), err_code: fc.nat(20_000), description: fc.string({ maxLength: 20 }) }),
  },
  { requiredKeys: ['stream'] },
);

describe('readPubAck', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reads the two shapes nats-server writes, with its spaces or without, without JSON.parse', () => {
    const parse = vi.spyOn(JSON, 'parse');
    // As nats-server 2.9 wrote them (captured; test/events/jetstream-publisher.test.ts reads a live server's).
    expect(readPubAck(bytes('{"stream":"OO_ML_EVENTS", "seq":1234}'))).toEqual({ ok: true, seq: 1234, duplicate: false });
    expect(readPubAck(bytes('{"stream":"OO_ML_EVENTS", "seq":7,"duplicate": true}'))).toEqual({ ok: true, seq: 7, duplicate: true });
    expect(readPubAck(bytes('{"stream":"OO_ML_EVENTS","seq":7,"duplicate":true}'))).toEqual({ ok: true, seq: 7, duplicate: true });
    expect(readPubAck(bytes('{"stream":"S","seq":0}'))).toEqual({ ok: true, seq: 0, duplicate: false });
    expect(readPubAck(bytes(`{"stream":"S", "seq":${Number.MAX_SAFE_INTEGER}}`))).toEqual({ ok: true, seq: Number.MAX_SAFE_INTEGER, duplicate: false });
    expect(parse).not.toHaveBeenCalled();
  });

  it('reads every other shape through JSON.parse', () => {
    const parse = vi.spyOn(JSON, 'parse');
    expect(readPubAck(bytes('{"stream":"S","seq":5,"domain":"hub"}'))).toEqual({ ok: true, seq: 5, duplicate: false });
    expect(readPubAck(bytes('{"stream":"S","seq":5,"domain":"hub","duplicate":true}'))).toEqual({ ok: true, seq: 5, duplicate: true });
    expect(readPubAck(bytes('{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"ONE","seq":0}'))).toEqual({
      ok: false,
      refusal: 'JetStream refused the message: maximum messages exceeded',
    });
    expect(readPubAck(bytes('{"stream":"S"}'))).toEqual({ ok: false, refusal: 'JetStream answered with a PubAck that has no sequence' });
    expect(readPubAck(bytes('not json'))).toEqual({ ok: false, refusal: 'JetStream answered with something that is not a PubAck (8 bytes)' });
    expect(readPubAck(bytes('null')).ok).toBe(false);
    expect(readPubAck(bytes('{"error":null,"stream":"S", "seq":5}'))).toEqual({ ok: false, refusal: 'JetStream refused the message: no description' });
    expect(parse).toHaveBeenCalledTimes(7);
  });

  it('agrees with JSON.parse on generated answers and on damaged ones', () => {
    fc.assert(
      fc.property(answer, fc.nat(), fc.nat(255), fc.nat(), (a, at, byte, cut) => {
        const whole = bytes(JSON.stringify(a));
        expect(readPubAck(whole)).toEqual(reference(whole));
        const changed = whole.slice();
        changed[at % changed.length] = byte;
        expect(readPubAck(changed)).toEqual(reference(changed));
        const short = whole.subarray(0, cut % (whole.length + 1));
        expect(readPubAck(short)).toEqual(reference(short));
      }),
      { seed: 21, numRuns: 5_000 },
    );
  });

  it('agrees with JSON.parse on the common shapes with any stream name and sequence', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 16 }), fc.oneof(fc.nat(), fc.integer({ min: 0, max: 2 ** 60 })), fc.boolean(), fc.boolean(), (stream, seq, duplicate, spaced) => {
        const sp = spaced ? ' ' : '';
        const text = `{"stream":${JSON.stringify(stream)},${sp}"seq":${seq}${duplicate ? `,"duplicate":${sp}true` : ''}}`;
        const data = bytes(text);
        expect(readPubAck(data)).toEqual(reference(data));
      }),
      { seed: 22, numRuns: 5_000 },
    );
  });

  it('agrees with JSON.parse on near-common shapes: raw names with control characters or escapes, numbers with leading zeros, signs or fractions', () => {
    const rawName = fc
      .string({ maxLength: 8, unit: fc.oneof(fc.constantFrom('\\', '\u0001', '\u001f', '\u007f', '\n', '\t', 'é', ' '), fc.string({ minLength: 1, maxLength: 1 })) })
      .map((n) => n.replaceAll('"', ''));
    const number = fc.oneof(fc.stringMatching(/^-?[0-9]{1,18}$/), fc.stringMatching(/^[0-9]{1,3}[.eE][0-9]{1,2}$/), fc.constant(''));
    const seqKey = fc.constantFrom('","seq":', '", "seq":', '",  "seq":', '","seq": ', '";"seq":');
    const end = fc.constantFrom('}', ',"duplicate":true}', ',"duplicate": true}', ',"duplicate":false}', ',"duplicate":true} ', ',"duplicate": true}x', '} ', '}}', '');
    fc.assert(
      fc.property(rawName, seqKey, number, end, (name, key, n, e) => {
        const data = bytes(`{"stream":"${name}${key}${n}${e}`);
        expect(readPubAck(data)).toEqual(reference(data));
      }),
      { seed: 23, numRuns: 5_000 },
    );
    for (const text of ['{"stream":"S","seq":0123}', '{"stream":"S\u0001","seq":1}', '{"stream":"a\\"b","seq":1}', '{"stream":"S","seq":12345678901234567}']) {
      expect(readPubAck(bytes(text)), text).toEqual(reference(bytes(text)));
    }
  });
});
