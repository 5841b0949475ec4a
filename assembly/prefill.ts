// Prefill (T > 1) products of Q8_0 / Q4_0 weights, over the same packed 4-row tiles as the matvec
// (src/kernels/wasm/layout.ts). The activations come quantized and rearranged by quantize_q8 into
// "token quads" (xi): for 4 consecutive tokens and a column pair (c, c+1), one i16x8 vector
// [t0c t0c' t1c t1c' t2c t2c' t3c t3c'], plus the 4 tokens' block scales as one f32x4 (xdi).
// Each row group's weights are first widened once to signed i16 rows in a per-thread scratch
// (Q4_0 nibbles minus 8), so that a weight pair (w_rc, w_rc') is one 32-bit splat load; times an
// activation vector, i32x4.dot_i16x8_s gives 4 tokens' partial sums in the 4 lanes. One weight load
// serves 16 tokens (4 quads), the inner loop is load / dot / add only, and no horizontal reduction
// is needed. The relaxed build runs Q4_0 in a second form with twice the products per instruction
// (int8 activations against nibble bytes, see below). Per 32-column block the integer sums are
// exact, and the float epilogue is the one of matmul.ts dotQ8 / dotQ4 (acc += float(isum) *
// (wscale * xscale), in block order), so the results are bit-identical to the matvec kernels
// (test/conformance checks this).
//
// Shape of the code, as measured (V8 11.3, Node 20, Zen 5; 2048x4096, 64 tokens, 1 thread, hot):
// 4 quads per pass, two rows at a time (one activation load feeds both rows), one weight pair or
// quad per loop iteration; unrolling the inner loop further was slower (TurboFan schedules the loads
// early and spills them to the stack). Q8_0 runs at ~38 GMAC/s, which is the rate of
// i32x4.dot_i16x8_s (pmaddwd) itself in a loop with nothing else (34-45 GMAC/s, about one per
// cycle); the relaxed Q4_0 form at ~54 GMAC/s against ~65-69 for a bare i16x8.relaxed_dot loop.
// SIMD128 has no 8-bit dot with 32-bit accumulation (llama.cpp's AVX-512 VNNI kernels do 64
// products per instruction), and a Winograd-style pairing that halves the multiplies measured
// slower in V8 (the extra adds cost more than the multiplies saved).
import { PT_Q8_0, PT_Q4_0, Q8_TILE, Q4_TILE, QK, f16ToF32, madd } from './common';
import { gluVec } from './ops';

/** Store modes of the prefill kernel. */
export const MODE_STORE: i32 = 0;
export const MODE_ACCUMULATE: i32 = 1;
/** out = glu(out, value): out holds the gate (an earlier MODE_STORE pass), value is the up projection. */
export const MODE_GLU: i32 = 2;

/**
 * This thread's scratch of a prefill context (matmul_multi / ffn_gate_up ctx; src/kernels/wasm/layout.ts
 * writePrefillCtx): [work counter i32, scratch base u32, scratch bytes per thread i32].
 */
@inline export function ctxScratch(ctx: usize, ith: i32): usize {
  return <usize>load<u32>(ctx, 4) + <usize>ith * <usize>load<i32>(ctx, 8);
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

// ---- the kernels: one body for both operand forms ---------------------------------------------------
// wide (nib = false): i16 weight pairs (widen) against i16 activation pairs, i32x4.dot_i16x8_s, i32 sums.
// nib (relaxed build, Q4_0): nibble-byte weight quads (widenNibbles) against int8 column quads,
// i16x8.relaxed_dot_i8x16_i7x16_s summed in i16, widened once per block and corrected by -8 x sum(x).
// nib is a constant at every call, so each form compiles to its own straight code.

/** Loop steps per 32-column block: weight pairs (wide) or weight quads (nib). */
@inline function steps(nib: bool): i32 {
  return nib ? 8 : 16;
}

/** Bytes from one token quad's activations to the next: 8K (i16 pairs) or 4K (int8 column quads). */
@inline function quadStride(nib: bool, K: i32): usize {
  return nib ? <usize>K << 2 : <usize>K << 3;
}

/** Bytes per widened weight row in the scratch: K i16 or K nibble bytes. */
@inline function rowStride(nib: bool, K: i32): usize {
  return nib ? <usize>K : <usize>K << 1;
}

/** acc + weights p (one broadcast pair or quad) x activations x, in the form's integer lanes. */
@inline function stepDot(nib: bool, acc: v128, p: v128, x: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (nib) return i16x8.add(acc, i16x8.relaxed_dot_i8x16_i7x16_s(x, p));
  }
  return i32x4.add(acc, i32x4.dot_i16x8_s(p, x));
}

/**
 * f + float(block sum s) x (weight scale sc x the 4 tokens' activation scales at xd): the epilogue of
 * matmul.ts, in block order. nib: s is widened first and corrected by -8 x the block sums at sums.
 */
@inline function epilogue(nib: bool, s: v128, sums: usize, sc: v128, xd: usize, f: v128): v128 {
  if (nib) s = i32x4.sub(i32x4.extadd_pairwise_i16x8_s(s), i32x4.shl(v128.load(sums), 3));
  return madd(f32x4.convert_i32x4_s(s), f32x4.mul(sc, v128.load(xd)), f);
}

/**
 * Rows [rlo, rhi) of the row group at wg (tile bytes per block; widened weights at ws), one at a time,
 * against nq (1 or 4) token quads from Q0; the last has nlast (1..4) real tokens. xa: the activations
 * in the form (i16 pairs, or int8 column quads), xdi: their scales, s8: block sums (nib only). out
 * points at row r0 of token 0.
 */
@inline function rowsOne(
  nib: bool, nq: i32, tile: usize, wg: usize, ws: usize, K: i32, xa: usize, xdi: usize, s8: usize, Q0: i32, nlast: i32,
  out: usize, ldo: i32, rlo: i32, rhi: i32, mode: i32, kind: i32,
): void {
  const nb = K / QK;
  const qs = quadStride(nib, K);
  const dstride = <usize>nb << 4;
  const x0 = xa + <usize>Q0 * qs;
  const da = xdi + <usize>Q0 * dstride;
  const sa = s8 + <usize>Q0 * dstride;
  const ostep = <usize>ldo << 2;
  const o = out + <usize>(Q0 << 2) * ostep;
  const n = steps(nib);
  for (let r = rlo; r < rhi; r++) {
    let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
    const sp = wg + (<usize>r << 1);
    let wp = ws + <usize>r * rowStride(nib, K);
    let xp = x0;
    for (let b = 0; b < nb; b++) {
      let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
      for (let j = 0; j < n; j++) {
        const p = v128.load32_splat(wp);
        s0 = stepDot(nib, s0, p, v128.load(xp));
        if (nq == 4) {
          s1 = stepDot(nib, s1, p, v128.load(xp + qs));
          s2 = stepDot(nib, s2, p, v128.load(xp + qs * 2));
          s3 = stepDot(nib, s3, p, v128.load(xp + qs * 3));
        }
        wp += 4;
        xp += 16;
      }
      const bo = <usize>b << 4;
      const sc = f32x4.splat(f16ToF32(load<u16>(sp + <usize>b * tile)));
      f0 = epilogue(nib, s0, sa + bo, sc, da + bo, f0);
      if (nq == 4) {
        f1 = epilogue(nib, s1, sa + dstride + bo, sc, da + dstride + bo, f1);
        f2 = epilogue(nib, s2, sa + dstride * 2 + bo, sc, da + dstride * 2 + bo, f2);
        f3 = epilogue(nib, s3, sa + dstride * 3 + bo, sc, da + dstride * 3 + bo, f3);
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

/** Rows r and r+1 of the row group at wg against the 4 token quads Q0..Q0+3 (see rowsOne). */
@inline function rowsTwo(
  nib: bool, tile: usize, wg: usize, ws: usize, K: i32, xa: usize, xdi: usize, s8: usize, Q0: i32, nlast: i32,
  out: usize, ldo: i32, r: i32, mode: i32, kind: i32,
): void {
  const nb = K / QK;
  const qs = quadStride(nib, K);
  const dstride = <usize>nb << 4;
  const da = xdi + <usize>Q0 * dstride;
  const sa = s8 + <usize>Q0 * dstride;
  const ostep = <usize>ldo << 2;
  const o = out + <usize>(Q0 << 2) * ostep;
  const n = steps(nib);
  const row = rowStride(nib, K);
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  let g0 = f32x4.splat(0), g1 = f32x4.splat(0), g2 = f32x4.splat(0), g3 = f32x4.splat(0);
  const sp = wg + (<usize>r << 1);
  let wp = ws + <usize>r * row;
  let xp = xa + <usize>Q0 * qs;
  for (let b = 0; b < nb; b++) {
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    let t0 = i32x4.splat(0), t1 = i32x4.splat(0), t2 = i32x4.splat(0), t3 = i32x4.splat(0);
    for (let j = 0; j < n; j++) {
      const p = v128.load32_splat(wp);
      const q = v128.load32_splat(wp + row);
      let x = v128.load(xp);
      s0 = stepDot(nib, s0, p, x);
      t0 = stepDot(nib, t0, q, x);
      x = v128.load(xp + qs);
      s1 = stepDot(nib, s1, p, x);
      t1 = stepDot(nib, t1, q, x);
      x = v128.load(xp + qs * 2);
      s2 = stepDot(nib, s2, p, x);
      t2 = stepDot(nib, t2, q, x);
      x = v128.load(xp + qs * 3);
      s3 = stepDot(nib, s3, p, x);
      t3 = stepDot(nib, t3, q, x);
      wp += 4;
      xp += 16;
    }
    const bo = <usize>b << 4;
    const sc = f32x4.splat(f16ToF32(load<u16>(sp + <usize>b * tile)));
    const sd = f32x4.splat(f16ToF32(load<u16>(sp + 2 + <usize>b * tile)));
    f0 = epilogue(nib, s0, sa + bo, sc, da + bo, f0);
    f1 = epilogue(nib, s1, sa + dstride + bo, sc, da + dstride + bo, f1);
    f2 = epilogue(nib, s2, sa + dstride * 2 + bo, sc, da + dstride * 2 + bo, f2);
    f3 = epilogue(nib, s3, sa + dstride * 3 + bo, sc, da + dstride * 3 + bo, f3);
    g0 = epilogue(nib, t0, sa + bo, sd, da + bo, g0);
    g1 = epilogue(nib, t1, sa + dstride + bo, sd, da + dstride + bo, g1);
    g2 = epilogue(nib, t2, sa + dstride * 2 + bo, sd, da + dstride * 2 + bo, g2);
    g3 = epilogue(nib, t3, sa + dstride * 3 + bo, sd, da + dstride * 3 + bo, g3);
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
 * Row groups [g0, g1) in one operand form: each group widened once (into ws), then every token quad
 * over it, four at a time two rows at a time (rowsTwo: one activation load feeds both rows; +19% on
 * Q8_0, +13% on the relaxed Q4_0 form, 2048x4096, 64 tokens, 1 thread), the rest one row and one
 * quad at a time.
 */
@inline function groups(
  nib: bool, type: i32, w: usize, O: i32, K: i32, out: usize, ldo: i32, mode: i32, kind: i32,
  g0: i32, g1: i32, xa: usize, xdi: usize, s8: usize, T: i32, ws: usize,
): void {
  const tile = <usize>(type == PT_Q8_0 ? Q8_TILE : Q4_TILE);
  const gb = <usize>(K / QK) * tile;
  const nQ = (T + 3) >> 2;
  const nlast = T - ((nQ - 1) << 2);
  const full = nlast == 4 ? nQ : nQ - 1; // quads with 4 real tokens
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    const r0 = g << 2;
    const nrows = min(4, O - r0);
    const o = out + (<usize>r0 << 2);
    if (nib) widenNibbles(wg, K, ws);
    else if (type == PT_Q8_0) widen(PT_Q8_0, wg, K, ws);
    else widen(PT_Q4_0, wg, K, ws);
    let Q = 0;
    for (; Q + 4 <= full; Q += 4) {
      let r = 0;
      for (; r + 2 <= nrows; r += 2) rowsTwo(nib, tile, wg, ws, K, xa, xdi, s8, Q, 4, o, ldo, r, mode, kind);
      if (r < nrows) rowsOne(nib, 4, tile, wg, ws, K, xa, xdi, s8, Q, 4, o, ldo, r, nrows, mode, kind);
    }
    for (; Q < nQ; Q++) rowsOne(nib, 1, tile, wg, ws, K, xa, xdi, s8, Q, Q == nQ - 1 ? nlast : 4, o, ldo, 0, nrows, mode, kind);
  }
}

/**
 * Row groups [g0, g1) of a Q8_0 / Q4_0 matrix (packed at w, O rows, K columns) for all T tokens:
 * out[t*ldo + row] (mode) (x_t . W_row). xi: the token-quad activations (quantize_q8 with K;
 * layout in quantize.ts quadStore, size src/kernels/wasm/layout.ts quadBytes). ws: this thread's scratch,
 * at least 8K bytes (layout.ts prefillScratchStride). Row group
 * outer, token quads inner, so the group's widened weights stay in L1 while every token passes over them.
 */
export function prefill_groups(
  type: i32, w: usize, O: i32, K: i32, out: usize, ldo: i32, mode: i32, kind: i32,
  g0: i32, g1: i32, xi: usize, T: i32, ws: usize,
): void {
  const nQ = (T + 3) >> 2;
  const xdi = xi + <usize>nQ * (<usize>K << 3);
  if (ASC_FEATURE_RELAXED_SIMD && type == PT_Q4_0) {
    const x8 = xdi + (<usize>(nQ * (K / QK)) << 4);
    groups(true, type, w, O, K, out, ldo, mode, kind, g0, g1, x8, xdi, x8 + <usize>nQ * (<usize>K << 2), T, ws);
  } else {
    groups(false, type, w, O, K, out, ldo, mode, kind, g0, g1, xi, xdi, 0, T, ws);
  }
}

/** True when prefill_groups handles this weight type. */
@inline export function prefillType(type: i32): bool {
  return type == PT_Q8_0 || type == PT_Q4_0;
}
