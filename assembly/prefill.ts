// Prefill (T > 1) products of Q8_0 / Q4_0 weights, over the same packed 4-row tiles as the matvec
// (src/kernels/wasm/layout.ts). The activations come quantized and rearranged by quantize_q8 into
// "token quads" (xi): for 4 consecutive tokens and a column pair (c, c+1), one i16x8 vector
// [t0c t0c' t1c t1c' t2c t2c' t3c t3c'], plus the 4 tokens' block scales as one f32x4 (xdi).
// Each row group's weights are first widened once to signed i16 rows in a per-thread scratch
// (Q4_0 nibbles minus 8), so that a weight pair (w_rc, w_rc') is one 32-bit splat load; times an
// activation vector, i32x4.dot_i16x8_s gives 4 tokens' partial sums in the 4 lanes. One weight load
// serves 16 tokens (4 quads), the inner loop is load / dot / add only, and no horizontal reduction
// is needed. Per 32-column block the integer sums are exact, and the float epilogue is the one of
// matmul.ts dotQ8 / dotQ4 (acc += float(isum) * (wscale * xscale), in block order), so the
// results are bit-identical to the matvec kernels (test/conformance checks this).
//
// Shape of the code, as measured (V8 11.3, Node 20, Zen 5; Q8_0 / Q4_0 2048x4096, 64 tokens,
// 1 thread, hot, against the matvec kernel looped over tokens: 1.7x / 2.0x): 4 quads per pass, two
// rows at a time (+19%: one activation load feeds both rows), one weight pair per loop iteration.
// Unrolling the inner loop further was slower (TurboFan schedules the loads early and spills them to
// the stack).
import { PT_Q8_0, PT_Q4_0, Q8_TILE, Q4_TILE, QK, f16ToF32, madd } from './common';
import { gluVec } from './ops';

/** Store modes of the prefill kernel. */
export const MODE_STORE: i32 = 0;
export const MODE_ACCUMULATE: i32 = 1;
/** out = glu(out, value): out holds the gate (an earlier MODE_STORE pass), value is the up projection. */
export const MODE_GLU: i32 = 2;

/**
 * Bytes of the token-quad activations of T tokens with K columns (quantize.ts quadStore): i16 pairs,
 * f32 scales, then (written by the relaxed build) int8 column quads and i32 block sums.
 */
@inline export function quadBytes(T: i32, K: i32): usize {
  const quads = <usize>((T + 3) >> 2);
  return quads * (<usize>K * 12) + quads * <usize>(K / QK) * 32;
}

/**
 * This thread's scratch of a prefill context (matmul_multi / ffn_gate_up ctx; src/kernels/wasm/layout.ts
 * writePrefillCtx): [work counter i32, scratch base u32, scratch bytes per thread i32].
 */
@inline export function ctxScratch(ctx: usize, ith: i32): usize {
  return <usize>load<u32>(ctx, 4) + <usize>ith * <usize>load<i32>(ctx, 8);
}

/** Scratch bytes per thread the prefill kernels need for K columns: 4 rows of K i16. */
@inline export function scratchBytes(K: i32): usize {
  return <usize>K << 3;
}

/** Widens the 4 rows of the row group at wg to signed i16 rows of K values at ws (row r at ws + 2Kr). */
@inline function widen(type: i32, wg: usize, K: i32, ws: usize): void {
  const nb = K / QK;
  const row = <usize>K << 1;
  let w = wg;
  let d = ws;
  for (let b = 0; b < nb; b++) {
    for (let r = 0; r < 4; r++) {
      let lo: v128, hi: v128;
      if (type == PT_Q8_0) {
        lo = v128.load(w + 8 + (<usize>r << 5));
        hi = v128.load(w + 24 + (<usize>r << 5));
      } else {
        // low nibble = column j, high = column j + 16, stored q + 8 (row layout: SIMD128 build)
        const v = v128.load(w + 8 + (<usize>r << 4));
        lo = i8x16.sub(v128.and(v, i8x16.splat(0x0f)), i8x16.splat(8));
        hi = i8x16.sub(i8x16.shr_u(v, 4), i8x16.splat(8));
      }
      const p = d + <usize>r * row;
      v128.store(p, i16x8.extend_low_i8x16_s(lo), 0);
      v128.store(p, i16x8.extend_high_i8x16_s(lo), 16);
      v128.store(p, i16x8.extend_low_i8x16_s(hi), 32);
      v128.store(p, i16x8.extend_high_i8x16_s(hi), 48);
    }
    w += type == PT_Q8_0 ? Q8_TILE : Q4_TILE;
    d += 64;
  }
}


/** Writes lane i of v (token t0+i, i < n) of one output row at p (token stride ostep bytes) in the given mode. */
@inline function putLanes(p: usize, ostep: usize, v: v128, n: i32, mode: i32, kind: i32): void {
  if (mode == MODE_GLU) {
    let g = f32x4.splat(0);
    g = f32x4.replace_lane(g, 0, load<f32>(p));
    if (n > 1) g = f32x4.replace_lane(g, 1, load<f32>(p + ostep));
    if (n > 2) g = f32x4.replace_lane(g, 2, load<f32>(p + ostep * 2));
    if (n > 3) g = f32x4.replace_lane(g, 3, load<f32>(p + ostep * 3));
    v = gluVec(g, v, kind);
  } else if (mode == MODE_ACCUMULATE) {
    let a = f32x4.splat(0);
    a = f32x4.replace_lane(a, 0, load<f32>(p));
    if (n > 1) a = f32x4.replace_lane(a, 1, load<f32>(p + ostep));
    if (n > 2) a = f32x4.replace_lane(a, 2, load<f32>(p + ostep * 2));
    if (n > 3) a = f32x4.replace_lane(a, 3, load<f32>(p + ostep * 3));
    v = f32x4.add(a, v);
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p + ostep, f32x4.extract_lane(v, 1));
  if (n > 2) store<f32>(p + ostep * 2, f32x4.extract_lane(v, 2));
  if (n > 3) store<f32>(p + ostep * 3, f32x4.extract_lane(v, 3));
}

/**
 * Row group at wg (4 rows, nrows real; widened rows at ws) against the token quad Q0, which has
 * nlast (1..4) real tokens. out points at row r0 of token 0. One row at a time.
 */
@inline function quads1(
  type: i32, wg: usize, ws: usize, K: i32, xi: usize, xdi: usize, Q0: i32, nlast: i32,
  out: usize, ldo: i32, nrows: i32, mode: i32, kind: i32,
): void {
  const nb = K / QK;
  const qstride = <usize>K << 3;
  const xa = xi + <usize>Q0 * qstride;
  const da = xdi + (<usize>(Q0 * nb) << 4);
  const ostep = <usize>ldo << 2;
  const o = out + <usize>(Q0 << 2) * ostep;
  const tile: usize = type == PT_Q8_0 ? Q8_TILE : Q4_TILE;
  for (let r = 0; r < nrows; r++) {
    let f0 = f32x4.splat(0);
    const sp = wg + (<usize>r << 1);
    let wp = ws + <usize>r * (<usize>K << 1);
    let xp = xa;
    for (let b = 0; b < nb; b++) {
      let s0 = i32x4.splat(0);
      for (let j = 0; j < 16; j += 2) {
        let p = v128.load32_splat(wp, 0);
        s0 = i32x4.add(s0, i32x4.dot_i16x8_s(p, v128.load(xp, 0)));
        p = v128.load32_splat(wp, 4);
        s0 = i32x4.add(s0, i32x4.dot_i16x8_s(p, v128.load(xp, 16)));
        wp += 8;
        xp += 32;
      }
      const db = da + (<usize>b << 4);
      const sc = f32x4.splat(f16ToF32(load<u16>(sp + <usize>b * tile)));
      f0 = madd(f32x4.convert_i32x4_s(s0), f32x4.mul(sc, v128.load(db)), f0);
    }
    const orow = o + (<usize>r << 2);
    putLanes(orow, ostep, f0, nlast, mode, kind);
  }
}

/**
 * Rows [rlo, rhi) of the row group at wg (widened rows at ws), one at a time, against the 4 token
 * quads Q0..Q0+3; the last has nlast (1..4) real tokens. out points at row r0 of token 0.
 */
@inline function quads4one(
  type: i32, wg: usize, ws: usize, K: i32, xi: usize, xdi: usize, Q0: i32, nlast: i32,
  out: usize, ldo: i32, rlo: i32, rhi: i32, mode: i32, kind: i32,
): void {
  const nb = K / QK;
  const qstride = <usize>K << 3;
  const xa = xi + <usize>Q0 * qstride;
  const da = xdi + (<usize>(Q0 * nb) << 4);
  const dstride = <usize>nb << 4;
  const ostep = <usize>ldo << 2;
  const o = out + <usize>(Q0 << 2) * ostep;
  const tile: usize = type == PT_Q8_0 ? Q8_TILE : Q4_TILE;
  for (let r = rlo; r < rhi; r++) {
    let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
    const sp = wg + (<usize>r << 1);
    let wp = ws + <usize>r * (<usize>K << 1);
    let xp = xa;
    for (let b = 0; b < nb; b++) {
      let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
      for (let j = 0; j < 16; j += 2) {
        let p = v128.load32_splat(wp, 0);
        s0 = i32x4.add(s0, i32x4.dot_i16x8_s(p, v128.load(xp, 0)));
        s1 = i32x4.add(s1, i32x4.dot_i16x8_s(p, v128.load(xp + qstride * 1, 0)));
        s2 = i32x4.add(s2, i32x4.dot_i16x8_s(p, v128.load(xp + qstride * 2, 0)));
        s3 = i32x4.add(s3, i32x4.dot_i16x8_s(p, v128.load(xp + qstride * 3, 0)));
        p = v128.load32_splat(wp, 4);
        s0 = i32x4.add(s0, i32x4.dot_i16x8_s(p, v128.load(xp, 16)));
        s1 = i32x4.add(s1, i32x4.dot_i16x8_s(p, v128.load(xp + qstride * 1, 16)));
        s2 = i32x4.add(s2, i32x4.dot_i16x8_s(p, v128.load(xp + qstride * 2, 16)));
        s3 = i32x4.add(s3, i32x4.dot_i16x8_s(p, v128.load(xp + qstride * 3, 16)));
        wp += 8;
        xp += 32;
      }
      const db = da + (<usize>b << 4);
      const sc = f32x4.splat(f16ToF32(load<u16>(sp + <usize>b * tile)));
      f0 = madd(f32x4.convert_i32x4_s(s0), f32x4.mul(sc, v128.load(db)), f0);
      f1 = madd(f32x4.convert_i32x4_s(s1), f32x4.mul(sc, v128.load(db + dstride * 1)), f1);
      f2 = madd(f32x4.convert_i32x4_s(s2), f32x4.mul(sc, v128.load(db + dstride * 2)), f2);
      f3 = madd(f32x4.convert_i32x4_s(s3), f32x4.mul(sc, v128.load(db + dstride * 3)), f3);
    }
    const orow = o + (<usize>r << 2);
    putLanes(orow, ostep, f0, 4, mode, kind);
    putLanes(orow + ostep * 4, ostep, f1, 4, mode, kind);
    putLanes(orow + ostep * 8, ostep, f2, 4, mode, kind);
    putLanes(orow + ostep * 12, ostep, f3, nlast, mode, kind);
  }
}

/**
 * Row group at wg (4 rows, nrows real) against the 4 token quads Q0..Q0+3, two rows at a time
 * (quads4rows2: each activation load serves both rows; +19% measured on Q8_0 2048x4096, 64 tokens,
 * 1 thread), an odd last row alone.
 */
@inline function quads4(
  type: i32, wg: usize, ws: usize, K: i32, xi: usize, xdi: usize, Q0: i32, nlast: i32,
  out: usize, ldo: i32, nrows: i32, mode: i32, kind: i32,
): void {
  let r = 0;
  for (; r + 2 <= nrows; r += 2) quads4rows2(type, wg, ws, K, xi, xdi, Q0, nlast, out, ldo, r, mode, kind);
  if (r < nrows) quads4one(type, wg, ws, K, xi, xdi, Q0, nlast, out, ldo, r, nrows, mode, kind);
}

/** Rows r and r+1 of the row group at wg against the 4 token quads Q0..Q0+3 (see quads4one). */
@inline function quads4rows2(
  type: i32, wg: usize, ws: usize, K: i32, xi: usize, xdi: usize, Q0: i32, nlast: i32,
  out: usize, ldo: i32, r: i32, mode: i32, kind: i32,
): void {
  const nb = K / QK;
  const qstride = <usize>K << 3;
  const xa = xi + <usize>Q0 * qstride;
  const da = xdi + (<usize>(Q0 * nb) << 4);
  const dstride = <usize>nb << 4;
  const ostep = <usize>ldo << 2;
  const o = out + <usize>(Q0 << 2) * ostep;
  const tile: usize = type == PT_Q8_0 ? Q8_TILE : Q4_TILE;
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  let g0 = f32x4.splat(0), g1 = f32x4.splat(0), g2 = f32x4.splat(0), g3 = f32x4.splat(0);
  const sp = wg + (<usize>r << 1);
  const row = <usize>K << 1;
  let wp = ws + <usize>r * row;
  let xp = xa;
  for (let b = 0; b < nb; b++) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    let t0 = i32x4.splat(0), t1 = i32x4.splat(0), t2 = i32x4.splat(0), t3 = i32x4.splat(0);
    for (let j = 0; j < 16; j++) {
      const p = v128.load32_splat(wp, 0);
      const q = v128.load32_splat(wp + row, 0);
      let x = v128.load(xp, 0);
      s0 = i32x4.add(s0, i32x4.dot_i16x8_s(p, x));
      t0 = i32x4.add(t0, i32x4.dot_i16x8_s(q, x));
      x = v128.load(xp + qstride, 0);
      s1 = i32x4.add(s1, i32x4.dot_i16x8_s(p, x));
      t1 = i32x4.add(t1, i32x4.dot_i16x8_s(q, x));
      x = v128.load(xp + qstride * 2, 0);
      s2 = i32x4.add(s2, i32x4.dot_i16x8_s(p, x));
      t2 = i32x4.add(t2, i32x4.dot_i16x8_s(q, x));
      x = v128.load(xp + qstride * 3, 0);
      s3 = i32x4.add(s3, i32x4.dot_i16x8_s(p, x));
      t3 = i32x4.add(t3, i32x4.dot_i16x8_s(q, x));
      wp += 4;
      xp += 16;
    }
    const db = da + (<usize>b << 4);
    const sc = f32x4.splat(f16ToF32(load<u16>(sp + <usize>b * tile)));
    const sd = f32x4.splat(f16ToF32(load<u16>(sp + 2 + <usize>b * tile)));
    const x0 = v128.load(db), x1 = v128.load(db + dstride), x2 = v128.load(db + dstride * 2), x3 = v128.load(db + dstride * 3);
    f0 = madd(f32x4.convert_i32x4_s(s0), f32x4.mul(sc, x0), f0);
    f1 = madd(f32x4.convert_i32x4_s(s1), f32x4.mul(sc, x1), f1);
    f2 = madd(f32x4.convert_i32x4_s(s2), f32x4.mul(sc, x2), f2);
    f3 = madd(f32x4.convert_i32x4_s(s3), f32x4.mul(sc, x3), f3);
    g0 = madd(f32x4.convert_i32x4_s(t0), f32x4.mul(sd, x0), g0);
    g1 = madd(f32x4.convert_i32x4_s(t1), f32x4.mul(sd, x1), g1);
    g2 = madd(f32x4.convert_i32x4_s(t2), f32x4.mul(sd, x2), g2);
    g3 = madd(f32x4.convert_i32x4_s(t3), f32x4.mul(sd, x3), g3);
  }
  const orow = o + (<usize>r << 2);
  putLanes(orow, ostep, f0, 4, mode, kind);
  putLanes(orow + ostep * 4, ostep, f1, 4, mode, kind);
  putLanes(orow + ostep * 8, ostep, f2, 4, mode, kind);
  putLanes(orow + ostep * 12, ostep, f3, nlast, mode, kind);
  putLanes(orow + 4, ostep, g0, 4, mode, kind);
  putLanes(orow + 4 + ostep * 4, ostep, g1, 4, mode, kind);
  putLanes(orow + 4 + ostep * 8, ostep, g2, 4, mode, kind);
  putLanes(orow + 4 + ostep * 12, ostep, g3, nlast, mode, kind);
}

// ---- relaxed build, Q4_0: int8 activations against nibbles with i16x8.relaxed_dot ------------------
// The weights are widened only to bytes (nibble values 0..15, 7-bit, so the relaxed dot is exact), and
// the activations come as int8 column quads: one 16-byte vector holds 4 columns of 4 tokens, so a
// broadcast 4-byte weight quad times it gives the 4 tokens' pair sums (pmaddubsw on x64). 8 such
// products (one 32-column block) are summed in i16 (|sum| <= 8 x 2 x 15 x 127 = 30480), widened once,
// and corrected by -8 x (block sum of x). Twice the multiply-adds per instruction of the i16 path; the
// integer block sums equal matmul.ts blockQ4's, and the float epilogue is the same, so results stay
// bit-identical to the matvec.

/** The 4 rows' nibbles of the Q4_0 row group at wg (column-quad tiles) as bytes at ws: row r at ws + rK. */
@inline function widenNibbles(wg: usize, K: i32, ws: usize): void {
  const nb = K / QK;
  const m = i8x16.splat(0x0f);
  const row = <usize>K;
  for (let b = 0; b < nb; b++) {
    const w = wg + <usize>b * Q4_TILE;
    const d = ws + (<usize>b << 5);
    for (let k = 0; k < 4; k++) {
      const v = v128.load(w + 8 + (<usize>k << 4));
      const lo = v128.and(v, m);
      const hi = v128.and(i16x8.shr_u(v, 4), m);
      const o = d + (<usize>k << 2);
      store<u32>(o, i32x4.extract_lane(lo, 0));
      store<u32>(o + row, i32x4.extract_lane(lo, 1));
      store<u32>(o + row * 2, i32x4.extract_lane(lo, 2));
      store<u32>(o + row * 3, i32x4.extract_lane(lo, 3));
      store<u32>(o + 16, i32x4.extract_lane(hi, 0));
      store<u32>(o + 16 + row, i32x4.extract_lane(hi, 1));
      store<u32>(o + 16 + row * 2, i32x4.extract_lane(hi, 2));
      store<u32>(o + 16 + row * 3, i32x4.extract_lane(hi, 3));
    }
  }
}

/** float(extadd(s) - 8 x sums) * (scale x xd) + f: the epilogue of one block and token quad. */
@inline function nibbleEpilogue(s: v128, sums: usize, sc: v128, xd: usize, f: v128): v128 {
  const t = i32x4.sub(i32x4.extadd_pairwise_i16x8_s(s), i32x4.shl(v128.load(sums), 3));
  return madd(f32x4.convert_i32x4_s(t), f32x4.mul(sc, v128.load(xd)), f);
}

/**
 * Relaxed build, Q4_0: rows [rlo, rhi) of the row group at wg (nibble bytes at ws), one at a time,
 * against nq (1 or 4) token quads from Q0; the last has nlast real tokens. x8 / s8: int8 column quads
 * and block sums (quantize.ts quadStore).
 */
@inline function nibbleQuads1(
  nq: i32, wg: usize, ws: usize, K: i32, x8: usize, s8: usize, xdi: usize, Q0: i32, nlast: i32,
  out: usize, ldo: i32, rlo: i32, rhi: i32, mode: i32, kind: i32,
): void {
  const nb = K / QK;
  const qs = <usize>K << 2;
  const dstride = <usize>nb << 4;
  const xa = x8 + <usize>Q0 * qs;
  const da = xdi + <usize>Q0 * dstride;
  const sa = s8 + <usize>Q0 * dstride;
  const ostep = <usize>ldo << 2;
  const o = out + <usize>(Q0 << 2) * ostep;
  for (let r = rlo; r < rhi; r++) {
    let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
    const sp = wg + (<usize>r << 1);
    let wp = ws + <usize>r * <usize>K;
    let xp = xa;
    for (let b = 0; b < nb; b++) {
      let s0 = i16x8.splat(0), s1 = i16x8.splat(0), s2 = i16x8.splat(0), s3 = i16x8.splat(0);
      for (let j = 0; j < 8; j++) {
        const p = v128.load32_splat(wp, 0);
        s0 = i16x8.add(s0, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xp, 0), p));
        if (nq == 4) {
          s1 = i16x8.add(s1, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xp + qs, 0), p));
          s2 = i16x8.add(s2, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xp + qs * 2, 0), p));
          s3 = i16x8.add(s3, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xp + qs * 3, 0), p));
        }
        wp += 4;
        xp += 16;
      }
      const bo = <usize>b << 4;
      const sc = f32x4.splat(f16ToF32(load<u16>(sp + <usize>b * Q4_TILE)));
      f0 = nibbleEpilogue(s0, sa + bo, sc, da + bo, f0);
      if (nq == 4) {
        f1 = nibbleEpilogue(s1, sa + dstride + bo, sc, da + dstride + bo, f1);
        f2 = nibbleEpilogue(s2, sa + dstride * 2 + bo, sc, da + dstride * 2 + bo, f2);
        f3 = nibbleEpilogue(s3, sa + dstride * 3 + bo, sc, da + dstride * 3 + bo, f3);
      }
    }
    const orow = o + (<usize>r << 2);
    if (nq == 4) {
      putLanes(orow, ostep, f0, 4, mode, kind);
      putLanes(orow + ostep * 4, ostep, f1, 4, mode, kind);
      putLanes(orow + ostep * 8, ostep, f2, 4, mode, kind);
      putLanes(orow + ostep * 12, ostep, f3, nlast, mode, kind);
    } else {
      putLanes(orow, ostep, f0, nlast, mode, kind);
    }
  }
}

/**
 * Relaxed build, Q4_0: the row group at wg (nrows real rows) against nq (1 or 4) token quads from Q0.
 * Four quads go two rows at a time (nibbleRows2: each activation load serves both rows; +13% measured
 * on 2048x4096, 64 tokens, 1 thread).
 */
@inline function nibbleQuads(
  nq: i32, wg: usize, ws: usize, K: i32, x8: usize, s8: usize, xdi: usize, Q0: i32, nlast: i32,
  out: usize, ldo: i32, nrows: i32, mode: i32, kind: i32,
): void {
  if (nq == 4) {
    let r = 0;
    for (; r + 2 <= nrows; r += 2) nibbleRows2(wg, ws, K, x8, s8, xdi, Q0, nlast, out, ldo, r, mode, kind);
    if (r < nrows) nibbleQuads1(4, wg, ws, K, x8, s8, xdi, Q0, nlast, out, ldo, r, r + 1, mode, kind);
  } else nibbleQuads1(1, wg, ws, K, x8, s8, xdi, Q0, nlast, out, ldo, 0, nrows, mode, kind);
}

/** Relaxed build, Q4_0: rows r and r+1 of the row group at wg against the 4 token quads Q0..Q0+3 (see nibbleQuads1). */
@inline function nibbleRows2(
  wg: usize, ws: usize, K: i32, x8: usize, s8: usize, xdi: usize, Q0: i32, nlast: i32,
  out: usize, ldo: i32, r: i32, mode: i32, kind: i32,
): void {
  const nb = K / QK;
  const qs = <usize>K << 2;
  const dstride = <usize>nb << 4;
  const xa = x8 + <usize>Q0 * qs;
  const da = xdi + <usize>Q0 * dstride;
  const sa = s8 + <usize>Q0 * dstride;
  const ostep = <usize>ldo << 2;
  const o = out + <usize>(Q0 << 2) * ostep;
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  let g0 = f32x4.splat(0), g1 = f32x4.splat(0), g2 = f32x4.splat(0), g3 = f32x4.splat(0);
  const sp = wg + (<usize>r << 1);
  let wp = ws + <usize>r * <usize>K;
  const K1 = <usize>K;
  let xp = xa;
  for (let b = 0; b < nb; b++) {
    let s0 = i16x8.splat(0), s1 = i16x8.splat(0), s2 = i16x8.splat(0), s3 = i16x8.splat(0);
    let t0 = i16x8.splat(0), t1 = i16x8.splat(0), t2 = i16x8.splat(0), t3 = i16x8.splat(0);
    for (let j = 0; j < 8; j++) {
      const p = v128.load32_splat(wp, 0);
      const q = v128.load32_splat(wp + K1, 0);
      let x = v128.load(xp, 0);
      s0 = i16x8.add(s0, i16x8.relaxed_dot_i8x16_i7x16_s(x, p));
      t0 = i16x8.add(t0, i16x8.relaxed_dot_i8x16_i7x16_s(x, q));
      x = v128.load(xp + qs, 0);
      s1 = i16x8.add(s1, i16x8.relaxed_dot_i8x16_i7x16_s(x, p));
      t1 = i16x8.add(t1, i16x8.relaxed_dot_i8x16_i7x16_s(x, q));
      x = v128.load(xp + qs * 2, 0);
      s2 = i16x8.add(s2, i16x8.relaxed_dot_i8x16_i7x16_s(x, p));
      t2 = i16x8.add(t2, i16x8.relaxed_dot_i8x16_i7x16_s(x, q));
      x = v128.load(xp + qs * 3, 0);
      s3 = i16x8.add(s3, i16x8.relaxed_dot_i8x16_i7x16_s(x, p));
      t3 = i16x8.add(t3, i16x8.relaxed_dot_i8x16_i7x16_s(x, q));
      wp += 4;
      xp += 16;
    }
    const bo = <usize>b << 4;
    const sc = f32x4.splat(f16ToF32(load<u16>(sp + <usize>b * Q4_TILE)));
    const sd = f32x4.splat(f16ToF32(load<u16>(sp + 2 + <usize>b * Q4_TILE)));
    f0 = nibbleEpilogue(s0, sa + bo, sc, da + bo, f0);
    f1 = nibbleEpilogue(s1, sa + dstride + bo, sc, da + dstride + bo, f1);
    f2 = nibbleEpilogue(s2, sa + dstride * 2 + bo, sc, da + dstride * 2 + bo, f2);
    f3 = nibbleEpilogue(s3, sa + dstride * 3 + bo, sc, da + dstride * 3 + bo, f3);
    g0 = nibbleEpilogue(t0, sa + bo, sd, da + bo, g0);
    g1 = nibbleEpilogue(t1, sa + dstride + bo, sd, da + dstride + bo, g1);
    g2 = nibbleEpilogue(t2, sa + dstride * 2 + bo, sd, da + dstride * 2 + bo, g2);
    g3 = nibbleEpilogue(t3, sa + dstride * 3 + bo, sd, da + dstride * 3 + bo, g3);
  }
  const orow = o + (<usize>r << 2);
  putLanes(orow, ostep, f0, 4, mode, kind);
  putLanes(orow + ostep * 4, ostep, f1, 4, mode, kind);
  putLanes(orow + ostep * 8, ostep, f2, 4, mode, kind);
  putLanes(orow + ostep * 12, ostep, f3, nlast, mode, kind);
  putLanes(orow + 4, ostep, g0, 4, mode, kind);
  putLanes(orow + 4 + ostep * 4, ostep, g1, 4, mode, kind);
  putLanes(orow + 4 + ostep * 8, ostep, g2, 4, mode, kind);
  putLanes(orow + 4 + ostep * 12, ostep, g3, nlast, mode, kind);
}

/**
 * Row groups [g0, g1) of a Q8_0 / Q4_0 matrix (packed at w, O rows, K columns) for all T tokens:
 * out[t*ldo + row] (mode) (x_t . W_row). xi: the token-quad activations (quantize_q8 with K), whose
 * scales follow at xi + ceil(T/4) * 8K. ws: scratchBytes(K) bytes of this thread's scratch. Row
 * group outer, 4 token quads inner, so the group's widened weights stay in L1 while every token
 * passes over them.
 */
export function prefill_groups(
  type: i32, w: usize, O: i32, K: i32, out: usize, ldo: i32, mode: i32, kind: i32,
  g0: i32, g1: i32, xi: usize, T: i32, ws: usize,
): void {
  const gb = <usize>((K / QK) * (type == PT_Q8_0 ? Q8_TILE : Q4_TILE));
  const nQ = (T + 3) >> 2;
  const nlast = T - ((nQ - 1) << 2);
  const xdi = xi + <usize>nQ * (<usize>K << 3);
  const full = nlast == 4 ? nQ : nQ - 1; // quads with 4 real tokens
  if (ASC_FEATURE_RELAXED_SIMD && type == PT_Q4_0) {
    const nb = K / QK;
    const x8 = xdi + (<usize>(nQ * nb) << 4);
    const s8 = x8 + <usize>nQ * (<usize>K << 2);
    for (let g = g0; g < g1; g++) {
      const wg = w + <usize>g * gb;
      const r0 = g << 2;
      const nrows = min(4, O - r0);
      const o = out + (<usize>r0 << 2);
      widenNibbles(wg, K, ws);
      let Q = 0;
      for (; Q + 4 <= full; Q += 4) nibbleQuads(4, wg, ws, K, x8, s8, xdi, Q, 4, o, ldo, nrows, mode, kind);
      for (; Q < nQ; Q++) nibbleQuads(1, wg, ws, K, x8, s8, xdi, Q, Q == nQ - 1 ? nlast : 4, o, ldo, nrows, mode, kind);
    }
    return;
  }
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    const r0 = g << 2;
    const nrows = min(4, O - r0);
    const o = out + (<usize>r0 << 2);
    if (type == PT_Q8_0) widen(PT_Q8_0, wg, K, ws);
    else widen(PT_Q4_0, wg, K, ws);
    let Q = 0;
    for (; Q + 4 <= full; Q += 4) quads4(type, wg, ws, K, xi, xdi, Q, 4, o, ldo, nrows, mode, kind);
    for (; Q < nQ; Q++) quads1(type, wg, ws, K, xi, xdi, Q, Q == nQ - 1 ? nlast : 4, o, ldo, nrows, mode, kind);
  }
}

/** True when prefill_groups handles this weight type. */
@inline export function prefillType(type: i32): bool {
  return type == PT_Q8_0 || type == PT_Q4_0;
}
