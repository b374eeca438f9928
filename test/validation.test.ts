/**
 * Well-formed Unicode at the edges (src/validation.ts): strings built from arbitrary UTF-16 code
 * units are refused exactly when they hold a lone surrogate, compared with a plain reference
 * (encodeURIComponent throws a URIError on a lone surrogate and on nothing else), and every
 * refusal names the path of the string or field name.
 */
import fc from 'fast-check';
import Type, { type TSchema } from 'typebox';
import { describe, expect, it } from 'vitest';
import { Compile } from 'typebox/compile';
import { completed, createValidator, DATE_TIME_EXPECTED, EVENT_TIME_PATTERN, illFormedStrings, issueSummary, MAX_FOUND_ISSUES, namedIssues, wellFormed } from '../src/validation.js';

/** The reference: true when `s` is well-formed UTF-16. */
function wellFormedReference(s: string): boolean {
  try {
    encodeURIComponent(s);
    return true;
  } catch (e) {
    if (e instanceof URIError) return false;
    throw e;
  }
}

/**
 * Strings of arbitrary code units, with surrogates frequent enough to matter: any unit (a lone
 * surrogate now and then), a surrogate on purpose, and a proper pair (an astral character).
 */
const units: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0xffff }).map((u) => [u]),
      fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => [u]),
      fc.integer({ min: 0x10000, max: 0x10ffff }).map((cp) => [0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff)]),
      fc.constantFrom([0x7e], [0x2f], [0x41]), // `~` and `/`, which a JSON pointer escapes
    ),
    { maxLength: 12 },
  )
  .map((parts) => String.fromCharCode(...parts.flat()));

/** JSON pointer token of a field name. */
const token = (k: string) => k.replaceAll('~', '~0').replaceAll('/', '~1');

const anything = createValidator(Type.Unknown(), { wellFormedStrings: true });

describe('well-formed strings', () => {
  it('refuses a string exactly when it holds a lone surrogate, at the root path', () => {
    let refused = 0;
    fc.assert(
      fc.property(units, (s) => {
        const ok = wellFormedReference(s);
        if (!ok) refused++;
        expect(wellFormed(s)).toBe(ok);
        expect(illFormedStrings(s)).toEqual(ok ? [] : [{ path: '/', message: expect.stringContaining('lone UTF-16 surrogate') }]);
        expect(anything.check(s)).toBe(ok);
      }),
      { seed: 20260105, numRuns: 2000 },
    );
    // Both sides were exercised.
    expect(refused).toBeGreaterThan(200);
    expect(refused).toBeLessThan(1800);
  });

  it('names the path of every ill-formed string and field name inside objects and arrays', () => {
    fc.assert(
      fc.property(units, units, units, (key, inArray, inObject) => {
        const value = { [key]: 1, list: ['ok', inArray], nested: { deep: inObject } };
        const want = [
          ...(wellFormedReference(key) ? [] : [{ path: `/${token(key)}`, message: expect.stringContaining('field name') }]),
          ...(wellFormedReference(inArray) ? [] : [{ path: '/list/1', message: expect.stringContaining('lone UTF-16 surrogate') }]),
          ...(wellFormedReference(inObject) ? [] : [{ path: '/nested/deep', message: expect.stringContaining('lone UTF-16 surrogate') }]),
        ];
        fc.pre(key !== 'list' && key !== 'nested');
        expect(illFormedStrings(value)).toEqual(want);
        expect(wellFormed(value)).toBe(want.length === 0);
        expect(anything.check(value)).toBe(want.length === 0);
        // The validator names the same paths (a field name's path once, even when its value is fine).
        expect(anything.issues(value).map((i) => i.path)).toEqual(want.map((w) => w.path));
      }),
      { seed: 7, numRuns: 1000 },
    );
  });

  it('parse refuses as invalid_input naming the field', () => {
    const v = createValidator(Type.Object({ user_id: Type.String() }), { wellFormedStrings: true });
    expect(() => v.parse({ user_id: 'a\ud800' }, 'event')).toThrow(expect.objectContaining({ code: 'invalid_input', message: expect.stringContaining('/user_id: is not valid Unicode') }));
    expect(v.parse({ user_id: 'a\ud83d\ude00' }, 'event')).toEqual({ user_id: 'a😀' });
    // Without the option, the validator only checks the schema.
    expect(createValidator(Type.Object({ user_id: Type.String() })).check({ user_id: '\udfff' })).toBe(true);
  });
});

describe('closed objects with optional properties', () => {
  // Optional fields at the top, in a nested object, inside an array's items and a union's branch.
  const Inner = Type.Object({ a: Type.Integer(), b: Type.Optional(Type.String()) }, { additionalProperties: false });
  const Schema = Type.Object(
    {
      id: Type.String({ minLength: 1 }),
      n: Type.Optional(Type.Number({ minimum: 0 })),
      inner: Type.Optional(Inner),
      list: Type.Optional(Type.Array(Inner)),
      either: Type.Optional(Type.Union([Inner, Type.Null()])),
    },
    { additionalProperties: false },
  );
  const leaf = fc.oneof(fc.integer({ min: -2, max: 3 }), fc.double({ noNaN: true, min: -1, max: 2 }), fc.constantFrom('', 'x', 'yz'), fc.constant(null), fc.constant(undefined), fc.boolean());
  // Mostly valid, one field off now and then: a wrong leaf in place of a value, an unknown key, keys left out.
  const often = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 8, arbitrary: arb }, { weight: 1, arbitrary: leaf });
  const closed = <T extends object>(record: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
    often(fc.tuple(record, fc.oneof({ weight: 10, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: leaf })).map(([o, extra]) => (extra === null ? o : { ...o, extra })));
  const inner = closed(fc.record({ a: often(fc.integer({ min: -5, max: 5 })), b: often(fc.string({ maxLength: 2 })) }, { requiredKeys: [] }));
  const value = closed(
    fc.record(
      { id: often(fc.string({ maxLength: 2 })), n: often(fc.double({ noNaN: true, min: -1, max: 5 })), inner, list: often(fc.array(inner, { maxLength: 3 })), either: often(fc.oneof(inner, fc.constant(null))) },
      { requiredKeys: [] },
    ),
  );
  const exact = Compile(Schema);

  it('accepts and refuses exactly as the schema compiled as it is', () => {
    const validator = createValidator(Schema);
    fc.assert(
      fc.property(value, (v) => {
        expect(validator.check(v)).toBe(exact.Check(v));
      }),
      { seed: 21, numRuns: 5_000 },
    );
  });

  it('completed() makes every optional property required, and admits only values the schema admits', () => {
    const full = completed(Schema);
    expect(full).not.toBeNull();
    const fullCheck = Compile(full!);
    expect(fullCheck.Check({ id: 'x', n: 1, inner: { a: 1, b: 'y' }, list: [], either: null })).toBe(true);
    expect(fullCheck.Check({ id: 'x' })).toBe(false);
    let admitted = 0;
    fc.assert(
      fc.property(value, (v) => {
        if (!fullCheck.Check(v)) return;
        admitted++;
        expect(exact.Check(v)).toBe(true);
      }),
      { seed: 22, numRuns: 5_000 },
    );
    // The generated values reach the completed check's accepting side, not only its refusals.
    expect(admitted).toBeGreaterThan(20);
    // Nothing optional: no second check.
    expect(completed(Type.Object({ a: Type.Integer() }, { additionalProperties: false }))).toBeNull();
  });

  it('keeps what the schema says beyond its properties: refinements, pattern properties, prototype names', () => {
    // A refinement lives in a hidden key of its node; the completed schema must keep it.
    const Even = Type.Object({ a: Type.Refine(Type.Integer(), (v) => v % 2 === 0), b: Type.Optional(Type.String()) }, { additionalProperties: false });
    const even = createValidator(Even);
    expect(even.check({ a: 2, b: 'x' })).toBe(true);
    expect(even.check({ a: 3, b: 'x' })).toBe(false);
    expect(Compile(completed(Even)!).Check({ a: 3, b: 'x' })).toBe(false);
    // A required name allowed by a pattern, not a property: not completed.
    const Patterned = { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, patternProperties: { '^c': { type: 'integer' } }, required: ['a', 'c'], additionalProperties: false } as unknown as TSchema;
    expect(createValidator(Patterned).check({ a: 1, b: 2 })).toBe(false);
    expect(completed(Patterned)).toBeNull();
    // An optional property named like an Object.prototype member: `in` finds it on any object.
    const Proto = Type.Object({ a: Type.Integer(), toString: Type.Optional(Type.Unknown()) }, { additionalProperties: false });
    expect(completed(Proto)).toBeNull();
    expect(createValidator(Proto).check({ a: 1, extra: 2 })).toBe(false);
  });
});

describe('refusals in words', () => {
  it('says what a date-time must look like, and which values an enum takes', () => {
    const v = createValidator(Type.Object({ at: Type.String({ format: 'date-time' }), kind: Type.Enum(['a', 'b']) }, { additionalProperties: false }));
    expect(v.issues({ at: '2026-03-10T10:05:00', kind: 'c' })).toEqual([
      { path: '/at', message: `must be ${DATE_TIME_EXPECTED}` },
      { path: '/kind', message: 'must be one of "a", "b"' },
    ]);
    // An event's time: RFC 3339 the log cannot store (a leap second, lower-case t) is named as such, not as zone-less.
    const e = createValidator(Type.Object({ ts: Type.String({ format: 'date-time', pattern: EVENT_TIME_PATTERN }) }));
    expect(e.issues({ ts: '2026-03-10T10:05:00' })).toEqual([{ path: '/ts', message: `must be ${DATE_TIME_EXPECTED}` }]);
    for (const ts of ['2026-12-31T23:59:60Z', '2026-03-10t10:00:00z']) expect(e.issues({ ts })).toEqual([{ path: '/ts', message: expect.stringMatching(/^must be written YYYY-MM-DDThh:mm:ss, .*upper-case T and Z, second 00–59/) }]);
    // Another pattern keeps its own message.
    expect(createValidator(Type.String({ pattern: '^T\\d{2}:$' })).issues('x')).toEqual([{ path: '/', message: expect.stringMatching(/^must match pattern/) }]);
  });
});

describe('bad fields by the thousand', () => {
  it('walks values nested deeper than the call stack, in document order, stopping at the limit', () => {
    const depth = 50_000;
    let value: unknown = 'end\ud800';
    for (let i = 0; i < depth; i++) value = i % 2 === 0 ? ['ok', value] : { ['k\udc00']: value };
    expect(wellFormed(value)).toBe(false);
    const all = illFormedStrings(value);
    expect(all).toHaveLength(depth / 2 + 1);
    // Outermost first: the field name at the top, the string at the bottom last.
    expect(all[0]!.path).toBe('/k\udc00');
    expect(all.at(-1)!.path.endsWith('/1')).toBe(true);
    expect(illFormedStrings(value, 3)).toEqual(all.slice(0, 3));
    let fine: unknown = 'end';
    for (let i = 0; i < depth; i++) fine = [fine, 'ok'];
    expect(wellFormed(fine)).toBe(true);
    expect(illFormedStrings(fine)).toEqual([]);
  });

  it('names the first 20 issues, cuts long paths to their end, and counts the rest', () => {
    const issues = (n: number) => Array.from({ length: n }, (_, i) => ({ path: `/a/${i}`, message: 'bad' }));
    expect(issueSummary(issues(2))).toBe('/a/0: bad; /a/1: bad');
    expect(issueSummary(issues(25))).toMatch(/\/a\/19: bad; and 5 more$/);
    expect(issueSummary(issues(MAX_FOUND_ISSUES))).toMatch(/; and 80\+ more$/);
    expect(namedIssues(issues(25))).toEqual(issues(20));
    const long = { path: `/x${'/1'.repeat(400)}`, message: 'bad' };
    expect(namedIssues([long])[0]!.path).toBe(`…${long.path.slice(-300)}`);
  });

  it('a validator names at most MAX_FOUND_ISSUES fields, in a message of bounded length', () => {
    const v = createValidator(Type.Object({ a: Type.Array(Type.String()) }), { wellFormedStrings: true });
    const bad = { a: Array.from({ length: 5_000 }, () => 'x\ud800') };
    expect(v.issues(bad)).toHaveLength(MAX_FOUND_ISSUES);
    expect(() => v.parse(bad, 'thing')).toThrow(/^thing is invalid: \/a\/0: is not valid Unicode .*\/a\/19: is not valid Unicode [^;]*; and 80\+ more$/);
    // The schema's own errors are bounded too.
    const ints = createValidator(Type.Object({ a: Type.Array(Type.Integer()) }));
    expect(ints.issues({ a: Array.from({ length: 5_000 }, () => 'x') }).length).toBeLessThanOrEqual(MAX_FOUND_ISSUES);
  });
});

