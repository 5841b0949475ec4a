/**
 * K-quants with 256-value super-blocks: Q4_K and Q6_K.
 *
 * Q4_K (144 bytes): `f16 d; f16 dmin; u8 scales[12]; u8 qs[128]`. 8 sub-blocks of 32 values, each
 *   with a 6-bit scale sc and 6-bit min m packed into `scales`; value = d*sc*q - dmin*m, q in 0..15.
 *   Chunk c (0..3) of 64 values uses qs[32c..32c+31]: low nibbles are values 0..31 (sub-block 2c),
 *   high nibbles values 32..63 (sub-block 2c+1).
 * Q6_K (210 bytes): `u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d`. 16 sub-blocks of 16 values;
 *   value = d * scales[s] * (q - 32), q a 6-bit number split into 4 low bits (ql) and 2 high bits (qh).
 *
 * Source: ggml src/ggml-common.h `block_q4_K` / `block_q6_K`, src/ggml-quants.c
 * `dequantize_row_q4_K`, `dequantize_row_q6_K`, `quantize_row_q4_K_ref`, `quantize_row_q6_K_ref`
 * (with helpers `make_qkx2_quants`, `make_qx_quants`, `nearest_int`); spec notes:
 * shared/docs/powerinfer-and-gguf.md 5.3. Arithmetic is float32 (Math.fround at every step) so the
 * quantizers follow ggml's rounding; compilers may fuse multiply-adds in C, so rare last-bit
 * differences from a given ggml build are possible.
 */
import { f16LookupTable, f16ToF32, f32ToF16, readU16, writeU16 } from './float.js';

export const QK_K = 256;
export const Q4_K_BYTES = 144;
export const Q6_K_BYTES = 210;
const GROUP_MAX_EPS = Math.fround(1e-15);
const fr = Math.fround;

/** ggml `nearest_int`: round a float32 to the nearest integer, ties to even (|x| <= 4194303). */
export function nearestInt(x: number): number {
  return fr(x + 12582912) - 12582912;
}

/** Unpack the 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes at `s`. */
export function q4kScaleMin(src: Uint8Array, s: number, j: number): [sc: number, m: number] {
  if (j < 4) return [src[s + j]! & 63, src[s + j + 4]! & 63];
  return [
    (src[s + j + 4]! & 0xf) | ((src[s + j - 4]! >>> 6) << 4),
    (src[s + j + 4]! >>> 4) | ((src[s + j]! >>> 6) << 4),
  ];
}

/** Dequantize n values (n % 256 == 0) of Q4_K. */
export function q4_KToFloat(src: Uint8Array, dst: Float32Array, n: number): void {
  const table = f16LookupTable();
  const nb = n / QK_K;
  for (let b = 0; b < nb; b++) {
    const o = b * Q4_K_BYTES;
    const d = table[readU16(src, o)]!;
    const dmin = table[readU16(src, o + 2)]!;
    let y = b * QK_K;
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = q4kScaleMin(src, o + 4, 2 * c);
      const [sc2, m2] = q4kScaleMin(src, o + 4, 2 * c + 1);
      const d1 = fr(d * sc1);
      const mm1 = fr(dmin * m1);
      const d2 = fr(d * sc2);
      const mm2 = fr(dmin * m2);
      const q = o + 16 + 32 * c;
      for (let l = 0; l < 32; l++) dst[y + l] = fr(d1 * (src[q + l]! & 0xf)) - mm1;
      for (let l = 0; l < 32; l++) dst[y + 32 + l] = fr(d2 * (src[q + l]! >>> 4)) - mm2;
      y += 64;
    }
  }
}

/** Dequantize n values (n % 256 == 0) of Q6_K. */
export function q6_KToFloat(src: Uint8Array, dst: Float32Array, n: number): void {
  const nb = n / QK_K;
  for (let b = 0; b < nb; b++) {
    const o = b * Q6_K_BYTES;
    const d = f16ToF32(readU16(src, o + 208));
    for (let half = 0; half < 2; half++) {
      const ql = o + 64 * half;
      const qh = o + 128 + 32 * half;
      const sc = o + 192 + 8 * half;
      const y = b * QK_K + 128 * half;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l]!;
        const q1 = ((src[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32]! & 0xf) | (((h >>> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l]! >>> 4) | (((h >>> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32]! >>> 4) | (((h >>> 6) & 3) << 4)) - 32;
        dst[y + l] = fr(d * ((src[sc + is]! << 24) >> 24)) * q1;
        dst[y + l + 32] = fr(d * ((src[sc + is + 2]! << 24) >> 24)) * q2;
        dst[y + l + 64] = fr(d * ((src[sc + is + 4]! << 24) >> 24)) * q3;
        dst[y + l + 96] = fr(d * ((src[sc + is + 6]! << 24) >> 24)) * q4;
      }
    }
  }
}

/**
 * ggml `make_qkx2_quants` (use_mad = false): fit x[off..off+n) ~ scale * L - min with L in
 * 0..nmax, trying nstep+1 candidate scales and a weighted least-squares refit. Writes L, returns
 * [scale, min] (min >= 0, subtracted).
 */
function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  off: number,
  w: Float32Array,
  L: Uint8Array,
  lOff: number,
  laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
): [scale: number, min: number] {
  let min = x[off]!;
  let max = x[off]!;
  let sumW = w[0]!;
  let sumX = fr(sumW * x[off]!);
  for (let i = 1; i < n; i++) {
    const xi = x[off + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW = fr(sumW + w[i]!);
    sumX = fr(sumX + fr(w[i]! * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lOff, lOff + n);
    return [0, -min];
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[off + i]! - min)))));
    L[lOff + i] = l;
    const diff = fr(fr(fr(scale * l) + min) - x[off + i]!);
    bestError = fr(bestError + fr(w[i]! * fr(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[off + i]!;
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(xi - min)))));
      laux[i] = l;
      const wl = fr(w[i]! * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * xi));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = fr(fr(fr(thisScale * laux[i]!) + thisMin) - x[off + i]!);
        curError = fr(curError + fr(w[i]! * fr(diff * diff)));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lOff + i] = laux[i]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/**
 * Reference Q4_K quantizer (ggml `quantize_row_q4_K_ref`): per 32-value sub-block a weighted
 * min/scale fit (weights sqrt(mean x^2) + |x|), 6-bit scales/mins relative to the block maxima,
 * then each value re-quantized against the stored (rounded) scale and min. n % 256 == 0.
 */
export function q4_KFromFloat(src: Float32Array, dst: Uint8Array, n: number): void {
  const nb = n / QK_K;
  const L = new Uint8Array(QK_K);
  const laux = new Uint8Array(32);
  const w = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  for (let b = 0; b < nb; b++) {
    const x = b * QK_K;
    const o = b * Q4_K_BYTES;
    dst.fill(0, o, o + Q4_K_BYTES);
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) {
        const v = src[x + 32 * j + l]!;
        sumX2 = fr(sumX2 + fr(v * v));
      }
      const avX = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; l++) w[l] = fr(avX + Math.abs(src[x + 32 * j + l]!));
      const [scale, min] = makeQkx2Quants(32, 15, src, x + 32 * j, w, L, 32 * j, laux, -1, fr(0.1), 20);
      scales[j] = scale;
      mins[j] = min;
      if (scales[j]! > maxScale) maxScale = scales[j]!;
      if (mins[j]! > maxMin) maxMin = mins[j]!;
    }
    const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
    const s = o + 4;
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(fr(invScale * scales[j]!)) & 0xff);
      const lm = Math.min(63, nearestInt(fr(invMin * mins[j]!)) & 0xff);
      if (j < 4) {
        dst[s + j] = ls;
        dst[s + j + 4] = lm;
      } else {
        dst[s + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        dst[s + j - 4]! |= (ls >>> 4) << 6;
        dst[s + j]! |= (lm >>> 4) << 6;
      }
    }
    writeU16(dst, o, f32ToF16(fr(maxScale / 63)));
    writeU16(dst, o + 2, f32ToF16(fr(maxMin / 63)));
    const dAll = f16ToF32(readU16(dst, o));
    const dminAll = f16ToF32(readU16(dst, o + 2));
    for (let j = 0; j < 8; j++) {
      const [sc, m] = q4kScaleMin(dst, s, j);
      const d = fr(dAll * sc);
      if (!d) continue;
      const dm = fr(dminAll * m);
      for (let ii = 0; ii < 32; ii++) {
        const l = nearestInt(fr(fr(src[x + 32 * j + ii]! + dm) / d));
        L[32 * j + ii] = Math.max(0, Math.min(15, l));
      }
    }
    for (let c = 0; c < 4; c++) {
      const q = o + 16 + 32 * c;
      for (let l = 0; l < 32; l++) dst[q + l] = L[64 * c + l]! | (L[64 * c + 32 + l]! << 4);
    }
  }
}

/**
 * ggml `make_qx_quants` with rmse_type 1 and no importance weights: symmetric fit
 * x ~ scale * (L - nmax), L in 0..2*nmax-1, weights x^2, trying 19 candidate scales.
 */
function makeQxQuants(n: number, nmax: number, x: Float32Array, off: number, L: Uint8Array, lOff: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[off + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[off + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lOff, lOff + n);
    return 0;
  }
  const sums = (iscale: number, store: boolean): [sumlx: number, suml2: number] => {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[off + i]!;
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
      if (store) L[lOff + i] = l + nmax;
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let [sumlx, suml2] = sums(fr(-nmax / max), true);
  let scale = suml2 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    [sumlx, suml2] = sums(iscale, false);
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      sums(iscale, true);
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/**
 * Reference Q6_K quantizer (ggml `quantize_row_q6_K_ref`): per 16-value sub-block a symmetric
 * fit, 8-bit signed sub-block scales relative to the largest, then each value re-quantized to
 * 6 bits against the stored scale. n % 256 == 0.
 */
export function q6_KFromFloat(src: Float32Array, dst: Uint8Array, n: number): void {
  const nb = n / QK_K;
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  for (let b = 0; b < nb; b++) {
    const x = b * QK_K;
    const o = b * Q6_K_BYTES;
    dst.fill(0, o, o + Q6_K_BYTES);
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, src, x + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // all-zero block, d = +0
    const iscale = fr(-128 / maxScale);
    writeU16(dst, o + 208, f32ToF16(fr(1 / iscale)));
    for (let ib = 0; ib < 16; ib++) dst[o + 192 + ib] = Math.min(127, nearestInt(fr(iscale * scales[ib]!))) & 0xff;
    const dAll = f16ToF32(readU16(dst, o + 208));
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * ((dst[o + 192 + j]! << 24) >> 24));
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = Math.max(-32, Math.min(31, nearestInt(fr(src[x + 16 * j + ii]! / d))));
        L[16 * j + ii] = l + 32;
      }
    }
    for (let half = 0; half < 2; half++) {
      const ql = o + 64 * half;
      const qh = o + 128 + 32 * half;
      const j = 128 * half;
      for (let l = 0; l < 32; l++) {
        const a = L[j + l]!;
        const b2 = L[j + l + 32]!;
        const c = L[j + l + 64]!;
        const e = L[j + l + 96]!;
        dst[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        dst[ql + l + 32] = (b2 & 0xf) | ((e & 0xf) << 4);
        dst[qh + l] = (a >>> 4) | ((b2 >>> 4) << 2) | ((c >>> 4) << 4) | ((e >>> 4) << 6);
      }
    }
  }
}
