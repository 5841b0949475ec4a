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
// 1 thread, hot, against the matvec kernel looped over tokens: 1.7x / 2.0x): 4 quads per pass, one
// row at a time, 2 weight pairs per loop iteration. Longer straight-line bodies or more quads per
// pass were slower (TurboFan schedules the loads early and spills them to the stack).
import { PT_Q8_0, PT_Q4_0, Q8_TILE, Q4_TILE, QK, f16ToF32, madd } from './common';
import { gluVec } from './ops';

/** Store modes of the prefill kernel. */
export const MODE_STORE: i32 = 0;
export const MODE_ACCUMULATE: i32 = 1;
/** out = glu(out, value): out holds the gate (an earlier MODE_STORE pass), value is the up projection. */
export const MODE_GLU: i32 = 2;

/** Bytes of the token-quad activations of T tokens with K columns: i16 pairs, then f32 scales (quantize.ts quadStore). */
@inline export function quadBytes(T: i32, K: i32): usize {
  const quads = <usize>((T + 3) >> 2);
  return quads * (<usize>K << 3) + quads * <usize>(K / QK) * 16;
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
        // low nibble = column j, high = column j + 16, stored q + 8
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
 * Row group at wg (4 rows, nrows real; widened rows at ws) against the 4 token quads Q0..Q0+3; the last
 * has nlast (1..4) real tokens. out points at row r0 of token 0. One row at a time.
 */
@inline function quads4(
  type: i32, wg: usize, ws: usize, K: i32, xi: usize, xdi: usize, Q0: i32, nlast: i32,
  out: usize, ldo: i32, nrows: i32, mode: i32, kind: i32,
): void {
  const nb = K / QK;
  const qstride = <usize>K << 3;
  const xa = xi + <usize>Q0 * qstride;
  const da = xdi + (<usize>(Q0 * nb) << 4);
  const dstride = <usize>nb << 4;
  const ostep = <usize>ldo << 2;
  const o = out + <usize>(Q0 << 2) * ostep;
  const tile: usize = type == PT_Q8_0 ? Q8_TILE : Q4_TILE;
  for (let r = 0; r < nrows; r++) {
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
