import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatMetricLine, latestPoint, parseMetricFile, parsePythonFloat, pythonFloatRepr } from '../../src/registry/metric-line.js';

describe('metric lines', () => {
  it("formats values exactly as Python's repr(float), which MLflow writes", () => {
    // Expected strings printed by CPython 3 `repr(v)`.
    const cases: [number, string][] = [
      [0.5, '0.5'],
      [1, '1.0'],
      [1e-7, '1e-07'],
      [0.0001, '0.0001'],
      [1e-5, '1e-05'],
      [123456789012345.6, '123456789012345.6'],
      [1e16, '1e+16'],
      [12345678901234568, '1.2345678901234568e+16'],
      [1e21, '1e+21'],
      [-2.5, '-2.5'],
      [0.1 + 0.2, '0.30000000000000004'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [100, '100.0'],
      [1.2345678901234567e19, '1.2345678901234567e+19'],
      [-0, '-0.0'],
      [3e-5, '3e-05'],
      [0.00012, '0.00012'],
      [9999999999999998, '9999999999999998.0'],
      [NaN, 'nan'],
      [Infinity, 'inf'],
      [-Infinity, '-inf'],
    ];
    for (const [v, s] of cases) expect(pythonFloatRepr(v), String(v)).toBe(s);
    expect(formatMetricLine({ timestamp: 1700000000000, value: NaN, step: 3 })).toBe('1700000000000 nan 3\n');
  });

  it('round-trips every double through a line (fixed seed)', () => {
    fc.assert(
      fc.property(fc.double(), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: -1000, max: 1000 }), (value, timestamp, step) => {
        const [p] = parseMetricFile(formatMetricLine({ timestamp, value, step }), 'm');
        expect(p?.timestamp).toBe(timestamp);
        expect(p?.step).toBe(step);
        expect(Object.is(p?.value, value) || (Number.isNaN(value) && Number.isNaN(p?.value))).toBe(true);
      }),
      { seed: 20260101, numRuns: 2000 },
    );
  });

  it("parses what Python's float() parses, and 2/3/5-field lines", () => {
    for (const [text, v] of [['nan', NaN], ['NaN', NaN], ['inf', Infinity], ['Infinity', Infinity], ['-inf', -Infinity], ['-Infinity', -Infinity], ['1e-07', 1e-7], ['.5', 0.5], ['+3', 3]] as const) {
      expect(Object.is(parsePythonFloat(text), v) || (Number.isNaN(v) && Number.isNaN(parsePythonFloat(text)))).toBe(true);
    }
    expect(parsePythonFloat('0x10')).toBeUndefined();
    expect(parseMetricFile('5 0.5\n6 0.75 2\n7 1 3 data digest\n', 'f')).toEqual([
      { timestamp: 5, value: 0.5, step: 0 },
      { timestamp: 6, value: 0.75, step: 2 },
      { timestamp: 7, value: 1, step: 3 },
    ]);
    expect(() => parseMetricFile('5 0.5 1 x\n', 'metrics/ips')).toThrow(/metrics\/ips:1: expected 2, 3 or 5/);
    expect(() => parseMetricFile('5 abc 1\n', 'metrics/ips')).toThrow(/value "abc"/);
    expect(() => parseMetricFile('', 'metrics/ips')).toThrow(/empty metric file/);
  });

  it("picks the run summary point as Python's max over (step, timestamp, value)", () => {
    const p = (step: number, timestamp: number, value: number) => ({ step, timestamp, value });
    expect(latestPoint([p(0, 1, 5), p(1, 0, 1), p(1, 0, 2)])).toEqual(p(1, 0, 2));
    expect(latestPoint([p(2, 5, 1), p(2, 5, NaN)])).toEqual(p(2, 5, 1));
    expect(latestPoint([p(2, 5, NaN), p(2, 5, 1)])?.value).toBeNaN();
    expect(latestPoint([])).toBeUndefined();
  });
});
