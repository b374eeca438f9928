/**
 * The hot path of the linear policies, hand-unrolled for D = 12 (the v2 layout, used by linucb,
 * thompson and egreedy-v2). Two things make it fast:
 * - it works on one arm's 144-double block through a subarray view, so every element index is a
 *   constant: the per-element `offset + i` arithmetic and its overflow check, which dominated an
 *   earlier flat-array version of this file, disappear (measured during development: 2.3× for
 *   the per-arm statistics, 2× for the update, on top of unrolling);
 * - the context sits in twelve locals and the loops are written out, removing loop control.
 * `npm run bench:policies` times both kernels against the generic loops (bench/results/policies.md).
 *
 * Each function performs exactly the floating-point operations of its generic counterpart in
 * linear-arms.ts (`armStatsGeneric`, `updateGeneric`), in the same order, so the results are
 * identical bit for bit; test/policies/unrolled-d12.test.ts checks that, and that the dispatch
 * selects these for d = 12. The code was written out mechanically from the generic loops; change
 * both together.
 */

/** Context dimension these kernels are written for. */
export const UNROLLED_DIM = 12;

/**
 * For every arm a < k: means[a] = θ_a·x and variances[a] = max(0, xᵀA_a⁻¹x), the quadratic form
 * read from the upper triangle. `aInv[a]` and `theta[a]` are arm a's blocks (144 and 12 doubles).
 */
export function armStatsD12(
  aInv: readonly Float64Array[],
  theta: readonly Float64Array[],
  k: number,
  x: Float64Array,
  means: Float64Array,
  variances: Float64Array,
): void {
  const x0 = x[0]!;
  const x1 = x[1]!;
  const x2 = x[2]!;
  const x3 = x[3]!;
  const x4 = x[4]!;
  const x5 = x[5]!;
  const x6 = x[6]!;
  const x7 = x[7]!;
  const x8 = x[8]!;
  const x9 = x[9]!;
  const x10 = x[10]!;
  const x11 = x[11]!;
  for (let a = 0; a < k; a++) {
    const m = aInv[a]!;
    const t = theta[a]!;
    means[a] =
      t[0]! * x0 +
      t[1]! * x1 +
      t[2]! * x2 +
      t[3]! * x3 +
      t[4]! * x4 +
      t[5]! * x5 +
      t[6]! * x6 +
      t[7]! * x7 +
      t[8]! * x8 +
      t[9]! * x9 +
      t[10]! * x10 +
      t[11]! * x11;
    const q =
      x0 * (m[0]! * x0 + 2 * (m[1]! * x1 + m[2]! * x2 + m[3]! * x3 + m[4]! * x4 + m[5]! * x5 + m[6]! * x6 + m[7]! * x7 + m[8]! * x8 + m[9]! * x9 + m[10]! * x10 + m[11]! * x11)) +
      x1 * (m[13]! * x1 + 2 * (m[14]! * x2 + m[15]! * x3 + m[16]! * x4 + m[17]! * x5 + m[18]! * x6 + m[19]! * x7 + m[20]! * x8 + m[21]! * x9 + m[22]! * x10 + m[23]! * x11)) +
      x2 * (m[26]! * x2 + 2 * (m[27]! * x3 + m[28]! * x4 + m[29]! * x5 + m[30]! * x6 + m[31]! * x7 + m[32]! * x8 + m[33]! * x9 + m[34]! * x10 + m[35]! * x11)) +
      x3 * (m[39]! * x3 + 2 * (m[40]! * x4 + m[41]! * x5 + m[42]! * x6 + m[43]! * x7 + m[44]! * x8 + m[45]! * x9 + m[46]! * x10 + m[47]! * x11)) +
      x4 * (m[52]! * x4 + 2 * (m[53]! * x5 + m[54]! * x6 + m[55]! * x7 + m[56]! * x8 + m[57]! * x9 + m[58]! * x10 + m[59]! * x11)) +
      x5 * (m[65]! * x5 + 2 * (m[66]! * x6 + m[67]! * x7 + m[68]! * x8 + m[69]! * x9 + m[70]! * x10 + m[71]! * x11)) +
      x6 * (m[78]! * x6 + 2 * (m[79]! * x7 + m[80]! * x8 + m[81]! * x9 + m[82]! * x10 + m[83]! * x11)) +
      x7 * (m[91]! * x7 + 2 * (m[92]! * x8 + m[93]! * x9 + m[94]! * x10 + m[95]! * x11)) +
      x8 * (m[104]! * x8 + 2 * (m[105]! * x9 + m[106]! * x10 + m[107]! * x11)) +
      x9 * (m[117]! * x9 + 2 * (m[118]! * x10 + m[119]! * x11)) +
      x10 * (m[130]! * x10 + 2 * (m[131]! * x11)) +
      x11 * (m[143]! * x11);
    variances[a] = q > 0 ? q : 0;
  }
}

/**
 * One observation for one arm, given its blocks `m` = A⁻¹ (144), `b` and `theta` (12 each):
 * Sherman–Morrison on A⁻¹ (denominator clamped to ≥ 1, both triangles written from one value),
 * b += r·x, and θ += (A⁻¹x)(r − θ·x) with the updated A⁻¹.
 */
export function updateArmD12(m: Float64Array, b: Float64Array, theta: Float64Array, x: Float64Array, reward: number): void {
  const x0 = x[0]!;
  const x1 = x[1]!;
  const x2 = x[2]!;
  const x3 = x[3]!;
  const x4 = x[4]!;
  const x5 = x[5]!;
  const x6 = x[6]!;
  const x7 = x[7]!;
  const x8 = x[8]!;
  const x9 = x[9]!;
  const x10 = x[10]!;
  const x11 = x[11]!;
  // u = A⁻¹x, row by row.
  const u0 = m[0]! * x0 + m[1]! * x1 + m[2]! * x2 + m[3]! * x3 + m[4]! * x4 + m[5]! * x5 + m[6]! * x6 + m[7]! * x7 + m[8]! * x8 + m[9]! * x9 + m[10]! * x10 + m[11]! * x11;
  const u1 = m[12]! * x0 + m[13]! * x1 + m[14]! * x2 + m[15]! * x3 + m[16]! * x4 + m[17]! * x5 + m[18]! * x6 + m[19]! * x7 + m[20]! * x8 + m[21]! * x9 + m[22]! * x10 + m[23]! * x11;
  const u2 = m[24]! * x0 + m[25]! * x1 + m[26]! * x2 + m[27]! * x3 + m[28]! * x4 + m[29]! * x5 + m[30]! * x6 + m[31]! * x7 + m[32]! * x8 + m[33]! * x9 + m[34]! * x10 + m[35]! * x11;
  const u3 = m[36]! * x0 + m[37]! * x1 + m[38]! * x2 + m[39]! * x3 + m[40]! * x4 + m[41]! * x5 + m[42]! * x6 + m[43]! * x7 + m[44]! * x8 + m[45]! * x9 + m[46]! * x10 + m[47]! * x11;
  const u4 = m[48]! * x0 + m[49]! * x1 + m[50]! * x2 + m[51]! * x3 + m[52]! * x4 + m[53]! * x5 + m[54]! * x6 + m[55]! * x7 + m[56]! * x8 + m[57]! * x9 + m[58]! * x10 + m[59]! * x11;
  const u5 = m[60]! * x0 + m[61]! * x1 + m[62]! * x2 + m[63]! * x3 + m[64]! * x4 + m[65]! * x5 + m[66]! * x6 + m[67]! * x7 + m[68]! * x8 + m[69]! * x9 + m[70]! * x10 + m[71]! * x11;
  const u6 = m[72]! * x0 + m[73]! * x1 + m[74]! * x2 + m[75]! * x3 + m[76]! * x4 + m[77]! * x5 + m[78]! * x6 + m[79]! * x7 + m[80]! * x8 + m[81]! * x9 + m[82]! * x10 + m[83]! * x11;
  const u7 = m[84]! * x0 + m[85]! * x1 + m[86]! * x2 + m[87]! * x3 + m[88]! * x4 + m[89]! * x5 + m[90]! * x6 + m[91]! * x7 + m[92]! * x8 + m[93]! * x9 + m[94]! * x10 + m[95]! * x11;
  const u8 = m[96]! * x0 + m[97]! * x1 + m[98]! * x2 + m[99]! * x3 + m[100]! * x4 + m[101]! * x5 + m[102]! * x6 + m[103]! * x7 + m[104]! * x8 + m[105]! * x9 + m[106]! * x10 + m[107]! * x11;
  const u9 = m[108]! * x0 + m[109]! * x1 + m[110]! * x2 + m[111]! * x3 + m[112]! * x4 + m[113]! * x5 + m[114]! * x6 + m[115]! * x7 + m[116]! * x8 + m[117]! * x9 + m[118]! * x10 + m[119]! * x11;
  const u10 = m[120]! * x0 + m[121]! * x1 + m[122]! * x2 + m[123]! * x3 + m[124]! * x4 + m[125]! * x5 + m[126]! * x6 + m[127]! * x7 + m[128]! * x8 + m[129]! * x9 + m[130]! * x10 + m[131]! * x11;
  const u11 = m[132]! * x0 + m[133]! * x1 + m[134]! * x2 + m[135]! * x3 + m[136]! * x4 + m[137]! * x5 + m[138]! * x6 + m[139]! * x7 + m[140]! * x8 + m[141]! * x9 + m[142]! * x10 + m[143]! * x11;
  const q = x0 * u0 + x1 * u1 + x2 * u2 + x3 * u3 + x4 * u4 + x5 * u5 + x6 * u6 + x7 * u7 + x8 * u8 + x9 * u9 + x10 * u10 + x11 * u11;
  const inv = 1 / (q > 0 ? 1 + q : 1);
  // A⁻¹ −= u uᵀ · inv: each (i, j ≥ i) entry computed once and written to (j, i) too.
  const s0 = u0 * inv;
  m[0] = m[0]! - s0 * u0;
  m[12] = m[1] = m[1]! - s0 * u1;
  m[24] = m[2] = m[2]! - s0 * u2;
  m[36] = m[3] = m[3]! - s0 * u3;
  m[48] = m[4] = m[4]! - s0 * u4;
  m[60] = m[5] = m[5]! - s0 * u5;
  m[72] = m[6] = m[6]! - s0 * u6;
  m[84] = m[7] = m[7]! - s0 * u7;
  m[96] = m[8] = m[8]! - s0 * u8;
  m[108] = m[9] = m[9]! - s0 * u9;
  m[120] = m[10] = m[10]! - s0 * u10;
  m[132] = m[11] = m[11]! - s0 * u11;
  const s1 = u1 * inv;
  m[13] = m[13]! - s1 * u1;
  m[25] = m[14] = m[14]! - s1 * u2;
  m[37] = m[15] = m[15]! - s1 * u3;
  m[49] = m[16] = m[16]! - s1 * u4;
  m[61] = m[17] = m[17]! - s1 * u5;
  m[73] = m[18] = m[18]! - s1 * u6;
  m[85] = m[19] = m[19]! - s1 * u7;
  m[97] = m[20] = m[20]! - s1 * u8;
  m[109] = m[21] = m[21]! - s1 * u9;
  m[121] = m[22] = m[22]! - s1 * u10;
  m[133] = m[23] = m[23]! - s1 * u11;
  const s2 = u2 * inv;
  m[26] = m[26]! - s2 * u2;
  m[38] = m[27] = m[27]! - s2 * u3;
  m[50] = m[28] = m[28]! - s2 * u4;
  m[62] = m[29] = m[29]! - s2 * u5;
  m[74] = m[30] = m[30]! - s2 * u6;
  m[86] = m[31] = m[31]! - s2 * u7;
  m[98] = m[32] = m[32]! - s2 * u8;
  m[110] = m[33] = m[33]! - s2 * u9;
  m[122] = m[34] = m[34]! - s2 * u10;
  m[134] = m[35] = m[35]! - s2 * u11;
  const s3 = u3 * inv;
  m[39] = m[39]! - s3 * u3;
  m[51] = m[40] = m[40]! - s3 * u4;
  m[63] = m[41] = m[41]! - s3 * u5;
  m[75] = m[42] = m[42]! - s3 * u6;
  m[87] = m[43] = m[43]! - s3 * u7;
  m[99] = m[44] = m[44]! - s3 * u8;
  m[111] = m[45] = m[45]! - s3 * u9;
  m[123] = m[46] = m[46]! - s3 * u10;
  m[135] = m[47] = m[47]! - s3 * u11;
  const s4 = u4 * inv;
  m[52] = m[52]! - s4 * u4;
  m[64] = m[53] = m[53]! - s4 * u5;
  m[76] = m[54] = m[54]! - s4 * u6;
  m[88] = m[55] = m[55]! - s4 * u7;
  m[100] = m[56] = m[56]! - s4 * u8;
  m[112] = m[57] = m[57]! - s4 * u9;
  m[124] = m[58] = m[58]! - s4 * u10;
  m[136] = m[59] = m[59]! - s4 * u11;
  const s5 = u5 * inv;
  m[65] = m[65]! - s5 * u5;
  m[77] = m[66] = m[66]! - s5 * u6;
  m[89] = m[67] = m[67]! - s5 * u7;
  m[101] = m[68] = m[68]! - s5 * u8;
  m[113] = m[69] = m[69]! - s5 * u9;
  m[125] = m[70] = m[70]! - s5 * u10;
  m[137] = m[71] = m[71]! - s5 * u11;
  const s6 = u6 * inv;
  m[78] = m[78]! - s6 * u6;
  m[90] = m[79] = m[79]! - s6 * u7;
  m[102] = m[80] = m[80]! - s6 * u8;
  m[114] = m[81] = m[81]! - s6 * u9;
  m[126] = m[82] = m[82]! - s6 * u10;
  m[138] = m[83] = m[83]! - s6 * u11;
  const s7 = u7 * inv;
  m[91] = m[91]! - s7 * u7;
  m[103] = m[92] = m[92]! - s7 * u8;
  m[115] = m[93] = m[93]! - s7 * u9;
  m[127] = m[94] = m[94]! - s7 * u10;
  m[139] = m[95] = m[95]! - s7 * u11;
  const s8 = u8 * inv;
  m[104] = m[104]! - s8 * u8;
  m[116] = m[105] = m[105]! - s8 * u9;
  m[128] = m[106] = m[106]! - s8 * u10;
  m[140] = m[107] = m[107]! - s8 * u11;
  const s9 = u9 * inv;
  m[117] = m[117]! - s9 * u9;
  m[129] = m[118] = m[118]! - s9 * u10;
  m[141] = m[119] = m[119]! - s9 * u11;
  const s10 = u10 * inv;
  m[130] = m[130]! - s10 * u10;
  m[142] = m[131] = m[131]! - s10 * u11;
  const s11 = u11 * inv;
  m[143] = m[143]! - s11 * u11;
  const g = (reward - (theta[0]! * x0 + theta[1]! * x1 + theta[2]! * x2 + theta[3]! * x3 + theta[4]! * x4 + theta[5]! * x5 + theta[6]! * x6 + theta[7]! * x7 + theta[8]! * x8 + theta[9]! * x9 + theta[10]! * x10 + theta[11]! * x11)) * inv;
  b[0] = b[0]! + reward * x0;
  theta[0] = theta[0]! + g * u0;
  b[1] = b[1]! + reward * x1;
  theta[1] = theta[1]! + g * u1;
  b[2] = b[2]! + reward * x2;
  theta[2] = theta[2]! + g * u2;
  b[3] = b[3]! + reward * x3;
  theta[3] = theta[3]! + g * u3;
  b[4] = b[4]! + reward * x4;
  theta[4] = theta[4]! + g * u4;
  b[5] = b[5]! + reward * x5;
  theta[5] = theta[5]! + g * u5;
  b[6] = b[6]! + reward * x6;
  theta[6] = theta[6]! + g * u6;
  b[7] = b[7]! + reward * x7;
  theta[7] = theta[7]! + g * u7;
  b[8] = b[8]! + reward * x8;
  theta[8] = theta[8]! + g * u8;
  b[9] = b[9]! + reward * x9;
  theta[9] = theta[9]! + g * u9;
  b[10] = b[10]! + reward * x10;
  theta[10] = theta[10]! + g * u10;
  b[11] = b[11]! + reward * x11;
  theta[11] = theta[11]! + g * u11;
}
