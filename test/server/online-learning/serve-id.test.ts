import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatServeId, MAX_SERVE_SEQ, parseServeId, ServeIds, shadowOf } from '../../../src/server/online-learning/serve-id.js';

/** The rule the hand-written parser must follow, as a regex and a round trip. */
function reference(id: string): { issuer: string; seq: number } | null {
  const m = /^([0-9a-f]{12})-([0-9a-z]{1,8})$/.exec(id);
  if (m === null) return null;
  const seq = parseInt(m[2]!, 36);
  if (!(seq < MAX_SERVE_SEQ) || seq.toString(36) !== m[2]) return null;
  return { issuer: m[1]!, seq };
}

const hex = fc.constantFrom(...'0123456789abcdef'.split(''));
const issuer = fc.string({ unit: hex, minLength: 12, maxLength: 12 });
// Characters near the valid ones, so mutants land on every branch.
const near = fc.constantFrom(...'0123456789abcdefgxyzAFZ-:_ /\u00e9'.split(''));

describe('serve ids', () => {
  it('parses every id a process issues back to its issuer and sequence', () => {
    fc.assert(
      fc.property(issuer, fc.integer({ min: 0, max: MAX_SERVE_SEQ - 1 }), (iss, seq) => {
        expect(parseServeId(formatServeId(iss, seq))).toEqual({ issuer: iss, seq });
      }),
    );
    const ids = new ServeIds('0123456789ab');
    expect(parseServeId(ids.take())).toEqual({ issuer: '0123456789ab', seq: 0 });
    expect(parseServeId(ids.take())).toEqual({ issuer: '0123456789ab', seq: 1 });
  });

  it('accepts and refuses exactly what the canonical pattern does', () => {
    const shaped = fc.tuple(issuer, fc.string({ unit: near, minLength: 0, maxLength: 10 })).map(([i, tail]) => `${i}-${tail}`);
    const mutated = fc
      .tuple(issuer, fc.integer({ min: 0, max: MAX_SERVE_SEQ * 2 }), fc.nat(40), near)
      .map(([i, seq, at, c]) => {
        const id = `${i}-${seq.toString(36)}`;
        const k = at % (id.length + 1);
        return id.slice(0, k) + c + id.slice(k + 1);
      });
    fc.assert(
      fc.property(fc.oneof(shaped, mutated, fc.string({ maxLength: 24 })), (id) => {
        expect(parseServeId(id)).toEqual(reference(id));
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses non-canonical spellings, shadow ids and sequences past the limit', () => {
    expect(parseServeId('0123456789ab-0')).toEqual({ issuer: '0123456789ab', seq: 0 });
    expect(parseServeId('0123456789ab-0a')).toBeNull();
    expect(parseServeId('0123456789AB-a')).toBeNull();
    expect(parseServeId('0123456789ab-')).toBeNull();
    expect(parseServeId(`0123456789ab-${MAX_SERVE_SEQ.toString(36)}`)).toBeNull();
    expect(parseServeId(`0123456789ab-${(MAX_SERVE_SEQ - 1).toString(36)}`)).toEqual({ issuer: '0123456789ab', seq: MAX_SERVE_SEQ - 1 });
    expect(parseServeId('0123456789ab-5:shadow:1')).toBeNull();
    expect(shadowOf('0123456789ab-5:shadow:1')).toBe('0123456789ab-5');
  });

  it('gives each id its own issuer, also when ids of several issuers alternate', () => {
    const a = parseServeId('aaaaaaaaaaaa-1');
    const b = parseServeId('bbbbbbbbbbbb-2');
    const a2 = parseServeId('aaaaaaaaaaaa-3');
    expect([a?.issuer, b?.issuer, a2?.issuer]).toEqual(['aaaaaaaaaaaa', 'bbbbbbbbbbbb', 'aaaaaaaaaaaa']);
  });
});
