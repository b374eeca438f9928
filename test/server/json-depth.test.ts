/** The nesting depth of a JSON text, read without parsing it, against the parsed value's own. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nestingDepthOver } from '../../src/server/json-depth.js';

/** Depth of a parsed JSON value: 1 for an array or object of scalars, 0 for a scalar. */
function depthOf(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + Math.max(0, ...children.map(depthOf));
}

describe('nestingDepthOver', () => {
  it('agrees with the parsed value at every limit, brackets and escapes inside strings included', () => {
    // Strings full of brackets, quotes and backslashes: none of them may count.
    const tricky = fc.stringMatching(/^[[\]{}"\\a]{0,6}$/);
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small', maxDepth: 8 }, tricky, fc.integer(), fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(tricky, tie('node'), { maxKeys: 3 })),
    })).node;
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 10 }), (v, max) => {
        expect(nestingDepthOver(JSON.stringify(v), max)).toBe(depthOf(v) > max);
      }),
      { seed: 20261206, numRuns: 500 },
    );
  });
});
