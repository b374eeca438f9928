import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { erf, erfc, normalCdf, normalPdf } from '../../src/policies/normal-distribution.js';

// erfc and Φ at 20 significant digits (mpmath, 40-digit arithmetic), kept as written and parsed
// to the nearest double.
const ERFC: [number, string][] = [
  [-5, '1.9999999999984625402'],
  [-1.5, '1.9661051464753107271'],
  [-0.3, '1.3286267594591274276'],
  [0, '1'],
  [1e-20, '0.99999999999999999999'],
  [0.1, '0.8875370839817151078'],
  [0.5, '0.47950012218695346232'],
  [0.84375, '0.23277433876765836654'],
  [1, '0.15729920705028513066'],
  [1.24, '0.079494815700970330136'],
  [2, '0.0046777349810472658379'],
  [2.857, '0.000053358260086846437428'],
  [3, '0.000022090496998585441373'],
  [5, '1.5374597944280348502e-12'],
  [6.5, '3.8421483271206474699e-20'],
  [10, '2.088487583762544757e-45'],
  [15, '7.2129941724512066666e-100'],
  [20, '5.3958656116079009289e-176'],
  [26, '5.6631924088561428465e-296'],
];
const PHI: [number, string][] = [
  [-37, '5.7255712225245768227e-300'],
  [-20, '2.7536241186062336951e-89'],
  [-8, '6.2209605742717841235e-16'],
  [-3, '0.0013498980316300945267'],
  [-1, '0.15865525393145705141'],
  [0, '0.5'],
  [0.5, '0.69146246127401310364'],
  [2, '0.9772498680518207928'],
  [8, '0.9999999999999993779'],
];

const relErr = (got: number, want: number): number => Math.abs(got - want) / Math.abs(want);

describe('erfc (fdlibm method)', () => {
  it('matches 20-digit reference values to relative 2e-15, tails included', () => {
    for (const [x, want] of ERFC) expect(relErr(erfc(x), Number(want)), `erfc(${x})`).toBeLessThan(2e-15);
  });

  it('gives Φ with relative accuracy down to 1e-300 (error grows as z²·ε in the lower tail)', () => {
    for (const [z, want] of PHI) expect(relErr(normalCdf(z), Number(want)), `Φ(${z})`).toBeLessThan(Math.max(2e-15, z * z * 2.2e-16));
  });

  it('handles the ends and NaN', () => {
    expect(erfc(Infinity)).toBe(0);
    expect(erfc(-Infinity)).toBe(2);
    expect(erfc(40)).toBe(0);
    expect(Number.isNaN(erfc(NaN))).toBe(true);
    expect(normalCdf(-Infinity)).toBe(0);
    expect(normalCdf(Infinity)).toBe(1);
  });

  it('satisfies erfc(−x) = 2 − erfc(x), erf = 1 − erfc and Φ(z) + Φ(−z) = 1', () => {
    fc.assert(
      fc.property(fc.double({ min: -6, max: 6, noNaN: true }), (x) => {
        expect(Math.abs(erfc(-x) - (2 - erfc(x)))).toBeLessThan(1e-15);
        expect(erf(x)).toBe(1 - erfc(x));
        expect(Math.abs(normalCdf(x) + normalCdf(-x) - 1)).toBeLessThan(1e-15);
      }),
      { seed: 11, numRuns: 500 },
    );
  });

  it('is monotone and its numerical derivative is the density', () => {
    let previous = 0;
    for (let z = -10; z <= 10; z += 0.01) {
      const c = normalCdf(z);
      expect(c).toBeGreaterThanOrEqual(previous);
      previous = c;
    }
    for (const z of [-3, -1, 0, 0.7, 2.5]) {
      const h = 1e-5;
      expect((normalCdf(z + h) - normalCdf(z - h)) / (2 * h)).toBeCloseTo(normalPdf(z), 9);
    }
  });
});
