/**
 * The standard normal distribution for Thompson sampling's win probabilities.
 *
 * `erfc` is fdlibm's s_erf.c (Sun Microsystems, 1993) transcribed to TypeScript: the same
 * piecewise rational approximations and coefficients (each fitted part within 2^-57 of its
 * target). Measured against 20-digit references (test/policies/normal-distribution.test.ts):
 * relative error ≤ 2e-15 on −5 ≤ x ≤ 26, i.e. down to erfc ≈ 1e-296. It is used instead of the
 * usual short approximations (Abramowitz–Stegun 7.1.26: 1.5e-7 absolute) because the win
 * probabilities multiply many CDF values and far tails matter: erfc keeps *relative* accuracy.
 * Φ(z) = erfc(−z/√2)/2 adds the rounding of z/√2, amplified by z² in the far lower tail
 * (relative error ≈ z²·1e-16: 1e-13 at z = −37, where Φ ≈ 6e-300).
 *
 * Original notice, preserved as its licence asks:
 *   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
 *   Developed at SunPro, a Sun Microsystems, Inc. business.
 *   Permission to use, copy, modify, and distribute this software is freely granted,
 *   provided that this notice is preserved.
 */

// erf(1) rounded to single precision: the interval [0.84375, 1.25) fits erf(1+s) − ERX.
const ERX = 8.45062911510467529297e-1;
// |x| < 2^-56: erfc(x) = 1 − x to double precision.
const TINY_X = 1.3877787807814457e-17;
const INV_SQRT_2 = 0.7071067811865476;
const INV_SQRT_2PI = 0.3989422804014327;

// [0, 0.84375): erf(x) = x + x·pp(x²)/qq(x²).
const PP0 = 1.28379167095512558561e-1;
const PP1 = -3.25042107247001499370e-1;
const PP2 = -2.84817495755985104766e-2;
const PP3 = -5.77027029648944159157e-3;
const PP4 = -2.37630166566501626084e-5;
const QQ1 = 3.97917223959155352819e-1;
const QQ2 = 6.50222499887672944485e-2;
const QQ3 = 5.08130628187576562776e-3;
const QQ4 = 1.32494738004321644526e-4;
const QQ5 = -3.96022827877536812320e-6;
// [0.84375, 1.25): erf(1+s) − ERX = pa(s)/qa(s).
const PA0 = -2.36211856075265944077e-3;
const PA1 = 4.14856118683748331666e-1;
const PA2 = -3.72207876035701323847e-1;
const PA3 = 3.18346619901161753674e-1;
const PA4 = -1.10894694282396677476e-1;
const PA5 = 3.54783043256182359371e-2;
const PA6 = -2.16637559486879084300e-3;
const QA1 = 1.06420880400844228286e-1;
const QA2 = 5.40397917702171048937e-1;
const QA3 = 7.18286544141962662868e-2;
const QA4 = 1.26171219808761642112e-1;
const QA5 = 1.36370839120290507362e-2;
const QA6 = 1.19844998467991074170e-2;
// [1.25, 1/0.35): erfc(x) = exp(−x² − 0.5625 + ra(1/x²)/sa(1/x²)) / x.
const RA0 = -9.86494403484714822705e-3;
const RA1 = -6.93858572707181764372e-1;
const RA2 = -1.05586262253232909814e1;
const RA3 = -6.23753324503260060396e1;
const RA4 = -1.62396669462573470355e2;
const RA5 = -1.84605092906711035994e2;
const RA6 = -8.12874355063065934246e1;
const RA7 = -9.81432934416914548592;
const SA1 = 1.96512716674392571292e1;
const SA2 = 1.37657754143519042600e2;
const SA3 = 4.34565877475229228821e2;
const SA4 = 6.45387271733267880336e2;
const SA5 = 4.29008140027567833386e2;
const SA6 = 1.08635005541779435134e2;
const SA7 = 6.57024977031928170135;
const SA8 = -6.04244152148580987438e-2;
// [1/0.35, 28): the same form with rb/sb.
const RB0 = -9.86494292470009928597e-3;
const RB1 = -7.99283237680523006574e-1;
const RB2 = -1.77579549177547519889e1;
const RB3 = -1.60636384855821916062e2;
const RB4 = -6.37566443368389627722e2;
const RB5 = -1.02509513161107724954e3;
const RB6 = -4.83519191608651397019e2;
const SB1 = 3.03380607434824582924e1;
const SB2 = 3.25792512996573918826e2;
const SB3 = 1.53672958608443695994e3;
const SB4 = 3.19985821950859553908e3;
const SB5 = 2.55305040643316442583e3;
const SB6 = 4.74528541206955367215e2;
const SB7 = -2.24409524465858183362e1;

/** Complementary error function erfc(x) = 1 − erf(x), to about one ulp (fdlibm's method). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 0.84375) {
    if (ax < TINY_X) return 1 - x;
    const z = x * x;
    const r = PP0 + z * (PP1 + z * (PP2 + z * (PP3 + z * PP4)));
    const s = 1 + z * (QQ1 + z * (QQ2 + z * (QQ3 + z * (QQ4 + z * QQ5))));
    const y = r / s;
    // Below 1/4 the subtraction from 1 loses nothing; above it, fdlibm regroups around 1/2.
    if (x < 0.25) return 1 - (x + x * y);
    return 0.5 - (x * y + (x - 0.5));
  }
  if (ax < 1.25) {
    const s = ax - 1;
    const p = PA0 + s * (PA1 + s * (PA2 + s * (PA3 + s * (PA4 + s * (PA5 + s * PA6)))));
    const q = 1 + s * (QA1 + s * (QA2 + s * (QA3 + s * (QA4 + s * (QA5 + s * QA6)))));
    return x < 0 ? 1 + ERX + p / q : 1 - ERX - p / q;
  }
  if (ax < 28) {
    // erfc(x) < 2^-1000 relative to 2 for x < -6: the answer is 2 to double precision.
    if (x < -6) return 2;
    const s = 1 / (ax * ax);
    let r: number;
    let q: number;
    if (ax < 1 / 0.35) {
      r = RA0 + s * (RA1 + s * (RA2 + s * (RA3 + s * (RA4 + s * (RA5 + s * (RA6 + s * RA7))))));
      q = 1 + s * (SA1 + s * (SA2 + s * (SA3 + s * (SA4 + s * (SA5 + s * (SA6 + s * (SA7 + s * SA8)))))));
    } else {
      r = RB0 + s * (RB1 + s * (RB2 + s * (RB3 + s * (RB4 + s * (RB5 + s * RB6)))));
      q = 1 + s * (SB1 + s * (SB2 + s * (SB3 + s * (SB4 + s * (SB5 + s * (SB6 + s * SB7))))));
    }
    // fdlibm splits x² exactly: z keeps few enough mantissa bits (here float32's 24) that z·z
    // is exact, and (z − ax)(z + ax) carries the rest, so exp(−x²) keeps full relative accuracy.
    const z = Math.fround(ax);
    const e = Math.exp(-z * z - 0.5625) * Math.exp((z - ax) * (z + ax) + r / q);
    return x < 0 ? 2 - e / ax : e / ax;
  }
  // Beyond 28, erfc underflows (< 1e-342) or is 2 to double precision.
  return x < 0 ? 2 : 0;
}

/** Error function erf(x) = 1 − erfc(x) (loses relative accuracy only where erf itself is tiny). */
export function erf(x: number): number {
  return 1 - erfc(x);
}

/** Standard normal CDF Φ(z) = erfc(−z/√2)/2, with relative accuracy kept in the lower tail. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z * INV_SQRT_2);
}

/** Standard normal density φ(z) = exp(−z²/2)/√(2π). */
export function normalPdf(z: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * z * z);
}
