// Matrix-vector (decode, T = 1) and matrix-matrix (prefill, T > 1) products over weights repacked
// into interleaved 4-row tiles (see src/kernels/wasm/layout.ts for the byte layout), so that one
// row group is one sequential stream. out (T, O) = x (T, K) @ W^T, W (O, K).
//
// Q8_0 / Q4_0 take activations pre-quantized to int8 blocks of 32 (quantize.ts), as ggml's
// `vec_dot_q8_0_q8_0` / `vec_dot_q4_0_q8_0` do (ggml src/ggml-cpu/arch/wasm/quants.c); the integer
// dot of one block uses i16x8.extend + i32x4.dot_i16x8_s (measured faster in V8 than extmul +
// extadd_pairwise; shared/docs/kernel-notes.md section 2), with the 4 rows of a tile reduced
// together (hsum4i) and scaled by (weight scale x activation scale) in one f32x4. The relaxed
// build packs Q4_0 tiles by column quads and uses i16x8.relaxed_dot_i8x16_i7x16_s (see blockQ4).
import {
  PT_F32, PT_Q8_0, PT_Q4_0, Q8_TILE, Q4_TILE, QK, splitStart, f16x4, hsum4i, hsum4f, madd, storeRows,
} from './common';
import { gluVec } from './ops';
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

/** SIMD128 build: i32x4 partial sums of one Q4_0 row (16 nibble bytes at p) against x as four i16x8. */
@inline function rowQ4(p: usize, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const v = v128.load(p);
  const lo = v128.and(v, i8x16.splat(0x0f));
  const hi = i8x16.shr_u(v, 4);
  // nibbles are non-negative, so the unsigned extends are exact
  const a = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(lo), x0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(lo), x1));
  const b = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(hi), x2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(hi), x3));
  return i32x4.add(a, b);
}

/**
 * Relaxed build: the 4 rows' sums of nibble x activation over one Q4_0 block (tile at w, column-quad
 * layout of pack.ts pack_q4) as i32x4, without the -8 offset. Column quad k holds 4 bytes of each
 * row: their low nibbles are columns 4k..4k+3, high nibbles 16+4k..16+4k+3, so i16x8.relaxed_dot
 * (pmaddubsw on x64) against those 4 activations broadcast gives 2 partial sums per row. Nibbles are
 * 0..15, inside the 7-bit range where the relaxed dot is deterministic; 8 products per lane stay
 * below 8 x 2 x 15 x 127 = 30480, so the i16 sums cannot overflow. Measured (1 thread, 4096x4096,
 * hot, against the row-layout kernel with i32x4.relaxed_dot_i8x16_i7x16_add_s): 1.55x.
 */
@inline function blockQ4(w: usize, xq: usize): v128 {
  const m = i8x16.splat(0x0f);
  let s = i16x8.splat(0);
  for (let k = 0; k < 4; k++) {
    s = i16x8.add(s, quadQ4(v128.load(w + 8 + (<usize>k << 4)), v128.load32_splat(xq + (<usize>k << 2)), v128.load32_splat(xq + 16 + (<usize>k << 2)), m));
  }
  return i32x4.extadd_pairwise_i16x8_s(s);
}

/** i16x8 pair sums of column quad v (4 rows x 4 nibble bytes) against activations xa (low nibbles) and xb (high), broadcast. */
@inline function quadQ4(v: v128, xa: v128, xb: v128, m: v128): v128 {
  return i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(xa, v128.and(v, m)), i16x8.relaxed_dot_i8x16_i7x16_s(xb, v128.and(i16x8.shr_u(v, 4), m)));
}

/** acc + float(s - 8 xs) * (tile scales x xd): the float epilogue of one Q4_0 block. */
@inline function epilogueQ4(s: v128, w: usize, xd: usize, xs: usize, acc: v128): v128 {
  s = i32x4.sub(s, i32x4.shl(v128.load32_splat(xs), 3));
  return madd(f32x4.convert_i32x4_s(s), f32x4.mul(f16x4(w), v128.load32_splat(xd)), acc);
}

/** The 4 dot products of one Q4_0 row group with quantized x (nibbles unsigned; -8 applied via xs). */
@inline function dotQ4(w: usize, xq: usize, xd: usize, xs: usize, nb: i32): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    // two blocks per iteration (+4% measured); one accumulator in block order, as the prefill kernels
    let acc = f32x4.splat(0);
    let b = 0;
    for (; b + 2 <= nb; b += 2) {
      acc = epilogueQ4(blockQ4(w, xq), w, xd, xs, acc);
      acc = epilogueQ4(blockQ4(w + Q4_TILE, xq + QK), w + Q4_TILE, xd + 4, xs + 4, acc);
      w += Q4_TILE * 2;
      xq += QK * 2;
      xd += 8;
      xs += 8;
    }
    if (b < nb) acc = epilogueQ4(blockQ4(w, xq), w, xd, xs, acc);
    return acc;
  }
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const xlo = v128.load(xq, 0);
    const xhi = v128.load(xq, 16);
    const x0 = i16x8.extend_low_i8x16_s(xlo);
    const x1 = i16x8.extend_high_i8x16_s(xlo);
    const x2 = i16x8.extend_low_i8x16_s(xhi);
    const x3 = i16x8.extend_high_i8x16_s(xhi);
    const s = hsum4i(rowQ4(w + 8, x0, x1, x2, x3), rowQ4(w + 24, x0, x1, x2, x3), rowQ4(w + 40, x0, x1, x2, x3), rowQ4(w + 56, x0, x1, x2, x3));
    acc = epilogueQ4(s, w, xd, xs, acc);
    w += Q4_TILE;
    xq += QK;
    xd += 4;
    xs += 4;
  }
  return acc;
}

/** Output modes of dotQ4pair. */
export const PAIR_STORE: i32 = 0;
export const PAIR_ACCUMULATE: i32 = 1;
/** glu(first group, second group) into the first group's rows: gate and up of the same rows. */
export const PAIR_GLU: i32 = 2;

/**
 * Relaxed build: two Q4_0 row groups (tiles at w1 and w2) against one quantized activation row, each
 * activation broadcast serving both (+20% over dotQ4 twice, 1 thread, 4096x4096). Each group's sums
 * are formed exactly as in dotQ4 (same integer block sums, one accumulator in block order), so the
 * results are identical. PAIR_STORE / PAIR_ACCUMULATE: group 1 to o1 (n1 rows), group 2 to o2 (n2
 * rows); PAIR_GLU: glu(group 1, group 2) with activation `kind` to o1 (n1 rows).
 */
@inline export function dotQ4pair(
  w1: usize, w2: usize, xq: usize, xd: usize, xs: usize, nb: i32,
  o1: usize, n1: i32, o2: usize, n2: i32, mode: i32, kind: i32,
): void {
  const m = i8x16.splat(0x0f);
  let acc1 = f32x4.splat(0), acc2 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    let s1 = i16x8.splat(0), s2 = i16x8.splat(0);
    for (let k = 0; k < 4; k++) {
      const xa = v128.load32_splat(xq + (<usize>k << 2));
      const xb = v128.load32_splat(xq + 16 + (<usize>k << 2));
      s1 = i16x8.add(s1, quadQ4(v128.load(w1 + 8 + (<usize>k << 4)), xa, xb, m));
      s2 = i16x8.add(s2, quadQ4(v128.load(w2 + 8 + (<usize>k << 4)), xa, xb, m));
    }
    acc1 = epilogueQ4(i32x4.extadd_pairwise_i16x8_s(s1), w1, xd, xs, acc1);
    acc2 = epilogueQ4(i32x4.extadd_pairwise_i16x8_s(s2), w2, xd, xs, acc2);
    w1 += Q4_TILE;
    w2 += Q4_TILE;
    xq += QK;
    xd += 4;
    xs += 4;
  }
  if (mode == PAIR_GLU) {
    storeRows(o1, gluVec(acc1, acc2, kind), n1, false);
  } else {
    storeRows(o1, acc1, n1, mode == PAIR_ACCUMULATE);
    storeRows(o2, acc2, n2, mode == PAIR_ACCUMULATE);
  }
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
  let g = g0;
  if (ASC_FEATURE_RELAXED_SIMD && type == PT_Q4_0) {
    // row groups in pairs (dotQ4pair) from the two halves of the range, so that each half stays one
    // sequential stream (pairing adjacent groups measured 2x slower from DRAM); an odd last one below
    const nb = K / QK;
    const half = (g1 - g0) >> 1;
    for (let i = 0; i < half; i++) {
      const ga = g0 + i, gz = g0 + half + i;
      const ra = ga << 2, rz = gz << 2;
      const nz = min(4, O - rz);
      for (let t = 0; t < T; t++) {
        const o = out + (<usize>t * <usize>ldo << 2);
        const xqt = xq + <usize>t * <usize>K, xdt = xd + (<usize>(t * nb) << 2), xst = xs + (<usize>(t * nb) << 2);
        const wa = w + <usize>ga * gb, wz = w + <usize>gz * gb, oa = o + (<usize>ra << 2), oz = o + (<usize>rz << 2);
        if (accumulate != 0) dotQ4pair(wa, wz, xqt, xdt, xst, nb, oa, 4, oz, nz, PAIR_ACCUMULATE, 0);
        else dotQ4pair(wa, wz, xqt, xdt, xst, nb, oa, 4, oz, nz, PAIR_STORE, 0);
      }
    }
    g = g0 + 2 * half;
  }
  for (; g < g1; g++) {
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
