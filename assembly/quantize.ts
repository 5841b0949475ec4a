// Activation quantization: float32 -> int8 blocks of 32 with one f32 scale per block, as llama.cpp
// converts activations before a Q8_0/Q4_0 dot product (ggml `quantize_row_q8_0`, `vec_dot_type`).
// Scale d = amax / 127, q = nearest(x / d). The per-block sum of q is kept for the Q4_0 kernel,
// whose weights are stored unsigned (q + 8) so that sum(w*x) = sum((w+8)*x) - 8*sum(x).
import { QK, splitStart } from './common';

/**
 * Quantizes nb blocks of 32 floats: x (nb*32) f32 -> xq (nb*32) i8, xd (nb) f32 scales, xs (nb) i32 sums.
 * With xi != 0 the blocks (nb = T * K/32 of them, token-major) are also written as token-quad
 * activations for the prefill kernels at xi (quadStore; src/kernels/wasm/layout.ts quadBytes(T, K) bytes).
 * Threads share the blocks: this call does blocks [nb*ith/nth, nb*(ith+1)/nth).
 */
export function quantize_q8(x: usize, xq: usize, xd: usize, xs: usize, nb: i32, xi: usize, K: i32, ith: i32, nth: i32): void {
  const b0 = splitStart(nb, ith, nth);
  const b1 = splitStart(nb, ith + 1, nth);
  for (let b = b0; b < b1; b++) quantizeBlock(x + (<usize>b << 7), xq + (<usize>b << 5), xd + (<usize>b << 2), xs + (<usize>b << 2));
  if (xi != 0) {
    const nbRow = K / QK;
    const T = nb / nbRow;
    for (let b = b0; b < b1; b++) {
      const t = b / nbRow;
      quadStore(xq + (<usize>b << 5), load<f32>(xd + (<usize>b << 2)), load<i32>(xs + (<usize>b << 2)), xi, t, b - t * nbRow, K, T);
    }
  }
}

/**
 * Copies block bb (32 int8 at q, scale d, sum s) of token t into the token-quad activations xi of T
 * tokens with K columns (prefill.ts; nQ = ceil(T/4) quads, nb = K/32 blocks per token):
 * - pair j of the block at xi + quad*8K + bb*256 + j*16 + (t%4)*4 as two i16;
 * - the scale at xdi + (quad*nb + bb)*16 + (t%4)*4 with xdi = xi + nQ*8K;
 * - relaxed build only: column quad j (4 int8) at x8 + quad*4K + bb*128 + j*16 + (t%4)*4 with
 *   x8 = xdi + nQ*nb*16, and the block sum s at x8 + nQ*4K + (quad*nb + bb)*16 + (t%4)*4.
 * The last token of a partial quad also zeroes the unused token slots of its block.
 */
export function quadStore(q: usize, d: f32, s: i32, xi: usize, t: i32, bb: i32, K: i32, T: i32): void {
  const nQ = (T + 3) >> 2;
  const nb = K / QK;
  const qstride = <usize>K << 3;
  const Q = t >> 2;
  const base = xi + <usize>Q * qstride + (<usize>bb << 8);
  const dptr = xi + <usize>nQ * qstride + (<usize>(Q * nb + bb) << 4);
  const lane = <usize>(t & 3) << 2;
  const a = v128.load(q, 0);
  const b = v128.load(q, 16);
  storePairs(base + lane, i16x8.extend_low_i8x16_s(a), 0);
  storePairs(base + lane, i16x8.extend_high_i8x16_s(a), 64);
  storePairs(base + lane, i16x8.extend_low_i8x16_s(b), 128);
  storePairs(base + lane, i16x8.extend_high_i8x16_s(b), 192);
  store<f32>(dptr + lane, d);
  let b8: usize = 0, sptr: usize = 0;
  if (ASC_FEATURE_RELAXED_SIMD) {
    const x8 = xi + <usize>nQ * qstride + (<usize>(nQ * nb) << 4);
    b8 = x8 + <usize>Q * (<usize>K << 2) + (<usize>bb << 7);
    sptr = x8 + <usize>nQ * (<usize>K << 2) + (<usize>(Q * nb + bb) << 4);
    storePairs(b8 + lane, a, 0);
    storePairs(b8 + lane, b, 64);
    store<i32>(sptr + lane, s);
  }
  if (t == T - 1) {
    for (let u = (t & 3) + 1; u < 4; u++) {
      const l = <usize>u << 2;
      for (let j = 0; j < 16; j++) store<u32>(base + l + (<usize>j << 4), 0);
      store<f32>(dptr + l, 0);
      if (ASC_FEATURE_RELAXED_SIMD) {
        for (let j = 0; j < 8; j++) store<u32>(b8 + l + (<usize>j << 4), 0);
        store<i32>(sptr + l, 0);
      }
    }
  }
}

/** The 4 i32 lanes of v (4 i16 pairs or 4 int8 quads) at p + off, p + off + 16, + 32, + 48. */
@inline function storePairs(p: usize, v: v128, off: usize): void {
  store<u32>(p + off, i32x4.extract_lane(v, 0));
  store<u32>(p + off + 16, i32x4.extract_lane(v, 1));
  store<u32>(p + off + 32, i32x4.extract_lane(v, 2));
  store<u32>(p + off + 48, i32x4.extract_lane(v, 3));
}

@inline function quantizeBlock(src: usize, q: usize, d: usize, s: usize): void {
  const v0 = v128.load(src, 0);
  const v1 = v128.load(src, 16);
  const v2 = v128.load(src, 32);
  const v3 = v128.load(src, 48);
  const v4 = v128.load(src, 64);
  const v5 = v128.load(src, 80);
  const v6 = v128.load(src, 96);
  const v7 = v128.load(src, 112);
  let m = f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3)));
  m = f32x4.max(m, f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
  m = f32x4.max(m, f32x4.shuffle(m, m, 2, 3, 0, 1));
  const amax = max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
  const dd: f32 = amax / 127.0;
  const id: f32 = dd != 0 ? <f32>1.0 / dd : 0;
  store<f32>(d, dd);
  const sid = f32x4.splat(id);
  const i0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, sid)));
  const i1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, sid)));
  const i2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, sid)));
  const i3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, sid)));
  const i4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v4, sid)));
  const i5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v5, sid)));
  const i6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v6, sid)));
  const i7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v7, sid)));
  const s01 = i16x8.narrow_i32x4_s(i0, i1);
  const s23 = i16x8.narrow_i32x4_s(i2, i3);
  const s45 = i16x8.narrow_i32x4_s(i4, i5);
  const s67 = i16x8.narrow_i32x4_s(i6, i7);
  v128.store(q, i8x16.narrow_i16x8_s(s01, s23), 0);
  v128.store(q, i8x16.narrow_i16x8_s(s45, s67), 16);
  const t = i32x4.add(i32x4.add(i0, i1), i32x4.add(i2, i3));
  const u = i32x4.add(i32x4.add(i4, i5), i32x4.add(i6, i7));
  const w = i32x4.add(t, u);
  store<i32>(s, i32x4.extract_lane(w, 0) + i32x4.extract_lane(w, 1) + i32x4.extract_lane(w, 2) + i32x4.extract_lane(w, 3));
}

/** Scalar block quantizer used for tails; exported for tests of the SIMD one. */
export function quantize_block_scalar(src: usize, q: usize, d: usize, s: usize): void {
  let amax: f32 = 0;
  for (let j = 0; j < QK; j++) amax = max(amax, abs(load<f32>(src + (<usize>j << 2))));
  const dd: f32 = amax / 127.0;
  const id: f32 = dd != 0 ? <f32>1.0 / dd : 0;
  store<f32>(d, dd);
  let sum = 0;
  for (let j = 0; j < QK; j++) {
    const v = <i32>nearest(load<f32>(src + (<usize>j << 2)) * id);
    store<i8>(q + j, <i8>v);
    sum += v;
  }
  store<i32>(s, sum);
}
