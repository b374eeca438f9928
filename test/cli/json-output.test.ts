import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonOutput } from '../../src/cli/json-output.js';

describe('--json output', () => {
  it('writes every 95 % interval pair as {low, high}, wherever it sits, and nothing else differently', () => {
    const result = {
      estimates: [{ estimator: 'dr', value: 0.4, ci95: [0.3, 0.5] }],
      headline: { dr: 0.4, drCi95: [0.35, 0.45], loggingValue: 0.2 },
      perPersona: { night_owl: { mean: 1, ci95: [Number.NaN, Number.NaN] } },
      // Already an object (dash, from the server's answers), and pairs under other names: kept.
      dash: { ci95: { low: 1, high: 2 }, days: [1, 2], range: [3, 4] },
    };
    expect(JSON.parse(jsonOutput(result, true))).toEqual({
      estimates: [{ estimator: 'dr', value: 0.4, ci95: { low: 0.3, high: 0.5 } }],
      headline: { dr: 0.4, drCi95: { low: 0.35, high: 0.45 }, loggingValue: 0.2 },
      perPersona: { night_owl: { mean: 1, ci95: { low: null, high: null } } },
      dash: { ci95: { low: 1, high: 2 }, days: [1, 2], range: [3, 4] },
    });
    expect(jsonOutput({ a: 1 }, true)).toBe('{\n  "a": 1\n}');
    expect(jsonOutput({ a: 1 }, false)).toBe('{"a":1}');
  });

  it('writes any value without an interval exactly as JSON.stringify does', () => {
    const noInterval = fc.jsonValue().filter((v) => !JSON.stringify(v).includes('i95"'));
    fc.assert(
      fc.property(noInterval, fc.boolean(), (v, pretty) => {
        expect(jsonOutput(v, pretty)).toBe(JSON.stringify(v, null, pretty ? 2 : undefined));
      }),
      { seed: 20261206, numRuns: 300 },
    );
  });
});
