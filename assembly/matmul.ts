// Matrix-vector (decode, T = 1) and matrix-matrix (prefill, T > 1) products over weights repacked
// into interleaved 4-row tiles (see src/kernels/wasm/layout.ts for the byte layout), so that one
// row group is one sequential stream. out (T, O) = x (T, K) @ W^T, W (O, K).
//
// Q8_0 / Q4_0 take activations pre-quantized to int8 blocks of 32 (quantize.ts), as ggml's
// `vec_dot_q8_0_q8_0` / `vec_dot_q4_0_q8_0` do (ggml src/ggml-cpu/arch/wasm/quants.c); the integer
// dot of one block uses i16x8.extend + i32x4.dot_i16x8_s (measured faster in V8 than extmul +
// extadd_pairwise; shared/docs/kernel-notes.md section 2), with the 4 rows of a tile reduced
// together (hsum4i) and scaled by (weight scale x activation scale) in one f32x4. The relaxed
// build uses i32x4.relaxed_dot_i8x16_i7x16_add_s for Q4_0 (nibbles fit in 7 bits, so it is exact).
import {
  PT_F32, PT_Q8_0, PT_Q4_0, Q8_TILE, Q4_TILE, QK, splitStart, f16x4, hsum4i, hsum4f, madd, storeRows,
} from './common';
import { MODE_ACCUMULATE, MODE_STORE, ctxScratch, prefill_groups, prefillType } from './prefill';

/** Bytes of one packed 4-row group of a matrix with K columns. */
export function group_bytes(type: i32, K: i32): i32 {
  if (type == PT_Q8_0) return (K / QK) * Q8_TILE;
  if (type == PT_Q4_0) return (K / QK) * Q4_TILE;
  return K << 4;
}

// ---- one row group (4 rows) against one activation row ---------------------------------------

/** i32x4 partial sums of one Q8_0 block (32 int8 at p) against x given as four i16x8 (also used by sparse.ts). */
@inline export function rowQ8(p: usize, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const w0 = v128.load(p, 0);
  const w1 = v128.load(p, 16);
  const a = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w0), x0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w0), x1));
  const b = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w1), x2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w1), x3));
  return i32x4.add(a, b);
}

/** The 4 dot products of one Q8_0 row group (nb blocks) with quantized x: f32x4. */
@inline function dotQ8(w: usize, xq: usize, xd: usize, nb: i32): v128 {
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const xlo = v128.load(xq, 0);
    const xhi = v128.load(xq, 16);
    const x0 = i16x8.extend_low_i8x16_s(xlo);
    const x1 = i16x8.extend_high_i8x16_s(xlo);
    const x2 = i16x8.extend_low_i8x16_s(xhi);
    const x3 = i16x8.extend_high_i8x16_s(xhi);
    const s = hsum4i(rowQ8(w + 8, x0, x1, x2, x3), rowQ8(w + 40, x0, x1, x2, x3), rowQ8(w + 72, x0, x1, x2, x3), rowQ8(w + 104, x0, x1, x2, x3));
    const sc = f32x4.mul(f16x4(w), v128.load32_splat(xd));
    acc = madd(f32x4.convert_i32x4_s(s), sc, acc);
    w += Q8_TILE;
    xq += QK;
    xd += 4;
  }
  return acc;
}

@inline function rowQ4(p: usize, xlo: v128, xhi: v128, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const v = v128.load(p);
  const lo = v128.and(v, i8x16.splat(0x0f));
  const hi = i8x16.shr_u(v, 4);
  if (ASC_FEATURE_RELAXED_SIMD) {
    // nibbles are 0..15, inside the 7-bit range where the relaxed dot is deterministic
    return i32x4.relaxed_dot_i8x16_i7x16_add_s(xhi, hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(xlo, lo, i32x4.splat(0)));
  }
  // nibbles are non-negative, so the unsigned extends are exact
  const a = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(lo), x0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(lo), x1));
  const b = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(hi), x2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(hi), x3));
  return i32x4.add(a, b);
}

/** The 4 dot products of one Q4_0 row group with quantized x (nibbles unsigned; -8 applied via xs). */
@inline function dotQ4(w: usize, xq: usize, xd: usize, xs: usize, nb: i32): v128 {
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const xlo = v128.load(xq, 0);
    const xhi = v128.load(xq, 16);
    let x0 = xlo, x1 = xlo, x2 = xhi, x3 = xhi;
    if (!ASC_FEATURE_RELAXED_SIMD) {
      x0 = i16x8.extend_low_i8x16_s(xlo);
      x1 = i16x8.extend_high_i8x16_s(xlo);
      x2 = i16x8.extend_low_i8x16_s(xhi);
      x3 = i16x8.extend_high_i8x16_s(xhi);
    }
    let s = hsum4i(rowQ4(w + 8, xlo, xhi, x0, x1, x2, x3), rowQ4(w + 24, xlo, xhi, x0, x1, x2, x3),
      rowQ4(w + 40, xlo, xhi, x0, x1, x2, x3), rowQ4(w + 56, xlo, xhi, x0, x1, x2, x3));
    s = i32x4.sub(s, i32x4.shl(v128.load32_splat(xs), 3));
    const sc = f32x4.mul(f16x4(w), v128.load32_splat(xd));
    acc = madd(f32x4.convert_i32x4_s(s), sc, acc);
    w += Q4_TILE;
    xq += QK;
    xd += 4;
    xs += 4;
  }
  return acc;
}

/** The 4 dot products of one F32 row group (K columns) with float x. */
@inline function dotF32(w: usize, x: usize, K: i32): v128 {
  const K8 = K >> 3;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let p = w;
  let xp = x;
  for (let c = 0; c < K8; c++) {
    const xv = v128.load(xp, 0);
    const xw = v128.load(xp, 16);
    a0 = madd(v128.load(p, 0), xv, a0);
    a1 = madd(v128.load(p, 16), xv, a1);
    a2 = madd(v128.load(p, 32), xv, a2);
    a3 = madd(v128.load(p, 48), xv, a3);
    b0 = madd(v128.load(p, 64), xw, b0);
    b1 = madd(v128.load(p, 80), xw, b1);
    b2 = madd(v128.load(p, 96), xw, b2);
    b3 = madd(v128.load(p, 112), xw, b3);
    p += 128;
    xp += 32;
  }
  if (K & 4) {
    const xv = v128.load(xp, 0);
    a0 = madd(v128.load(p, 0), xv, a0);
    a1 = madd(v128.load(p, 16), xv, a1);
    a2 = madd(v128.load(p, 32), xv, a2);
    a3 = madd(v128.load(p, 48), xv, a3);
    p += 64;
    xp += 16;
  }
  let r = hsum4f(f32x4.add(a0, b0), f32x4.add(a1, b1), f32x4.add(a2, b2), f32x4.add(a3, b3));
  const tail = K & 3;
  for (let k = 0; k < tail; k++) {
    r = madd(v128.load(p), v128.load32_splat(xp), r);
    p += 16;
    xp += 4;
  }
  return r;
}

/**
 * Dot products of packed row group g of a type-`type` matrix with activation row t.
 * xf: float x (T, K); xq/xd/xs: the same rows quantized (only read for quantized types).
 */
@inline export function dotGroup(type: i32, wg: usize, K: i32, xf: usize, xq: usize, xd: usize, xs: usize, t: i32): v128 {
  const nb = K / QK;
  if (type == PT_Q8_0) return dotQ8(wg, xq + <usize>t * <usize>K, xd + (<usize>(t * nb) << 2), nb);
  if (type == PT_Q4_0) return dotQ4(wg, xq + <usize>t * <usize>K, xd + (<usize>(t * nb) << 2), xs + (<usize>(t * nb) << 2), nb);
  return dotF32(wg, xf + ((<usize>t * <usize>K) << 2), K);
}

/** Row groups [g0, g1) of one matrix for all T tokens: out[t*ldo + row] (=|+=) (x_t . W_row). */
export function matmul_groups(
  type: i32, w: usize, O: i32, K: i32, out: usize, ldo: i32, accumulate: i32,
  g0: i32, g1: i32, xf: usize, xq: usize, xd: usize, xs: usize, T: i32,
): void {
  const gb = <usize>group_bytes(type, K);
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    const r0 = g << 2;
    const nrows = min(4, O - r0);
    for (let t = 0; t < T; t++) {
      const v = dotGroup(type, wg, K, xf, xq, xd, xs, t);
      storeRows(out + ((<usize>t * <usize>ldo + <usize>r0) << 2), v, nrows, accumulate != 0);
    }
  }
}

/**
 * Several matrices sharing one input (e.g. attn_q, attn_k, attn_v) in one dispatch. `descs` points
 * at ndesc records of 8 i32: [type, w, O, K, out, ldo, accumulate, unused]. The row groups of all
 * matrices are split evenly over the nth threads (this call does share ith), or, with a prefill
 * context ctx != 0 (prefill.ts ctxScratch; its counter zeroed by the caller before the dispatch),
 * claimed in chunks of 16 rows by whichever thread is free: the same rows are computed by the same
 * code either way, so results do not depend on the split. x16: x as token-quad activations
 * (quantize_q8 with xi), or 0; with it and ctx, Q8_0 / Q4_0 matrices with T > 1 use prefill.ts.
 */
export function matmul_multi(
  descs: usize, ndesc: i32, xf: usize, xq: usize, xd: usize, xs: usize, T: i32, x16: usize, ctx: usize, ith: i32, nth: i32,
): void {
  let total = 0;
  for (let i = 0; i < ndesc; i++) total += (load<i32>(descs + (<usize>i << 5), 8) + 3) >> 2;
  if (ctx == 0) {
    multiRange(descs, ndesc, xf, xq, xd, xs, T, 0, 0, splitStart(total, ith, nth), splitStart(total, ith + 1, nth));
    return;
  }
  // dynamic: claim chunks of DYN_GROUPS row groups until none are left
  const nChunks = (total + DYN_GROUPS - 1) / DYN_GROUPS;
  const ws = ctxScratch(ctx, ith);
  for (;;) {
    const c = atomic.add<i32>(ctx, 1);
    if (c >= nChunks) break;
    multiRange(descs, ndesc, xf, xq, xd, xs, T, x16, ws, c * DYN_GROUPS, min((c + 1) * DYN_GROUPS, total));
  }
}

/** Row groups per dynamically claimed chunk of matmul_multi (16 rows). */
const DYN_GROUPS: i32 = 4;

/** Row groups [g0, g1) of the concatenated matrices of a matmul_multi call. */
function multiRange(descs: usize, ndesc: i32, xf: usize, xq: usize, xd: usize, xs: usize, T: i32, x16: usize, ws: usize, g0: i32, g1: i32): void {
  let base = 0;
  for (let i = 0; i < ndesc; i++) {
    const d = descs + (<usize>i << 5);
    const O = load<i32>(d, 8);
    const ng = (O + 3) >> 2;
    const lo = max(g0 - base, 0);
    const hi = min(g1 - base, ng);
    const type = load<i32>(d, 0);
    if (lo < hi && T > 1 && x16 != 0 && ws != 0 && prefillType(type)) {
      prefill_groups(type, <usize>load<u32>(d, 4), O, load<i32>(d, 12), <usize>load<u32>(d, 16), load<i32>(d, 20),
        load<i32>(d, 24) != 0 ? MODE_ACCUMULATE : MODE_STORE, 0, lo, hi, x16, T, ws);
    } else if (lo < hi) {
      matmul_groups(load<i32>(d, 0), <usize>load<u32>(d, 4), O, load<i32>(d, 12), <usize>load<u32>(d, 16),
        load<i32>(d, 20), load<i32>(d, 24), lo, hi, xf, xq, xd, xs, T);
    }
    base += ng;
  }
}
