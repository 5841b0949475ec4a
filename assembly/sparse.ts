// Sparse FFN of one decode token (T = 1) over neuron bundles (PowerInfer-style, see
// shared/docs/powerinfer-and-gguf.md 1.5): per neuron i one contiguous run of bytes
//   [ffn_gate row i | ffn_up row i | ffn_down column i]
// so that a skipped neuron skips all of its bytes and an active one is one sequential read.
// Byte layout (src/kernels/wasm/bundles.ts builds it at load and documents it): three row parts,
// each in one of the encodings
//   F32   C f32
//   Q8_0  nb f16 scales (padded to 16 bytes), then nb x 32 int8          (nb = C / 32)
//   Q4_0  nb f16 scales (padded to 16 bytes), then nb x 16 bytes of ggml nibbles
// The down part is PowerInfer's ffn_down_t row (column i of ffn_down).
// Deterministic for any thread count: the neuron list is cut into PARTS fixed parts (independent of
// the thread count), each part accumulates into its own partial output in list order, and the
// partials are added in part order by one thread (add_partials). No unsynchronized shared
// accumulation (PowerInfer's AXPY race, shared/docs/powerinfer-and-gguf.md 1.5 item 5).
import { PT_F32, PT_Q8_0, QK, splitStart, f16ToF32, hsum4f, hsum4i, madd } from './common';
import { gluOne } from './ops';
import { rowQ8 } from './matmul';

/** Fixed number of partial outputs (must match SPARSE_PARTS in src/kernels/wasm/bundles.ts). */
const PARTS: i32 = 8;

/** Bundle descriptor (i32 fields at desc): see src/kernels/wasm/bundles.ts `writeBundleDesc`. */
@inline function dI(desc: usize, k: i32): i32 {
  return load<i32>(desc + (<usize>k << 2));
}

/** Bytes of the padded f16 scale header of a quantized row of C values. */
@inline function scaleBytes(C: i32): usize {
  return <usize>((((C / QK) << 1) + 15) & ~15);
}

// ---- dots of row parts with the FFN input ----------------------------------------------------------

/** i32x4 partial sums of one Q4_0 block (16 bytes of unsigned nibbles, without the -8) against x. */
@inline function blockQ4(w: usize, xq: usize, x16: usize): v128 {
  const v = v128.load(w);
  const lo = v128.and(v, i8x16.splat(0x0f));
  const hi = i8x16.shr_u(v, 4);
  if (ASC_FEATURE_RELAXED_SIMD) {
    // nibbles are 0..15, inside the 7-bit range where the relaxed dot is deterministic; the i16 sums of
    // two pair products stay below 2 x 2 x 15 x 127. Not i32x4.relaxed_dot_i8x16_i7x16_add_s: Node 20's
    // baseline compiler (Liftoff) returns 2 x dot for it and drops the accumulator, so results would
    // change when V8 tiers up (test/conformance runs once with --liftoff-only to catch such cases).
    const s = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xq, 0), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xq, 16), hi));
    return i32x4.extadd_pairwise_i16x8_s(s);
  }
  const a = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(lo), v128.load(x16, 0)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(lo), v128.load(x16, 16)));
  const b = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(hi), v128.load(x16, 32)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(hi), v128.load(x16, 48)));
  return i32x4.add(a, b);
}

/** f32x4 of four IEEE half floats held in the low 16 bits of the i32 lanes of h (scales only: no inf/NaN). */
@inline function f16lanes(h: v128): v128 {
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const em = i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13);
  return v128.or(f32x4.mul(em, f32x4.splat(<f32>5.192296858534828e33)), sign);
}

/**
 * The dots of four quantized row parts (same type) with x, as [d0, d1, d2, d3]: the x block is
 * loaded once for the four rows, and the four rows are four concurrent memory streams (random rows
 * are latency-bound; shared/docs/kernel-notes.md section 4).
 */
function dotQuant4(type: i32, p0: usize, p1: usize, p2: usize, p3: usize, C: i32, xq: usize, x16: usize, xd: usize, xs: usize): v128 {
  const nb = C / QK;
  const sb = scaleBytes(C);
  const q0 = p0 + sb, q1 = p1 + sb, q2 = p2 + sb, q3 = p3 + sb;
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const o = <usize>b;
    const xb = x16 + (o << 6);
    let s: v128;
    if (type == PT_Q8_0) {
      const x0 = v128.load(xb, 0), x1 = v128.load(xb, 16), x2 = v128.load(xb, 32), x3 = v128.load(xb, 48);
      s = hsum4i(rowQ8(q0 + (o << 5), x0, x1, x2, x3), rowQ8(q1 + (o << 5), x0, x1, x2, x3),
        rowQ8(q2 + (o << 5), x0, x1, x2, x3), rowQ8(q3 + (o << 5), x0, x1, x2, x3));
    } else {
      s = hsum4i(blockQ4(q0 + (o << 4), xq + (o << 5), xb), blockQ4(q1 + (o << 4), xq + (o << 5), xb),
        blockQ4(q2 + (o << 4), xq + (o << 5), xb), blockQ4(q3 + (o << 4), xq + (o << 5), xb));
      s = i32x4.sub(s, i32x4.shl(v128.load32_splat(xs + (o << 2)), 3));
    }
    let h = i32x4.splat(load<u16>(p0 + (o << 1)));
    h = i32x4.replace_lane(h, 1, load<u16>(p1 + (o << 1)));
    h = i32x4.replace_lane(h, 2, load<u16>(p2 + (o << 1)));
    h = i32x4.replace_lane(h, 3, load<u16>(p3 + (o << 1)));
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.mul(f16lanes(h), v128.load32_splat(xd + (o << 2))), acc);
  }
  return acc;
}

/** Second result of dotQuant8 (per module instance, i.e. per thread). */
let upDots: v128 = f32x4.splat(0);

/**
 * Gate and up dots of four neurons in one pass (eight concurrent row streams, x loaded once per
 * block): returns the four gate dots; the four up dots are left in `upDots`. Q8_0 / Q4_0 parts of one type.
 */
function dotQuant8(type: i32, g0: usize, g1: usize, g2: usize, g3: usize, upOff: usize, C: i32, xq: usize, x16: usize, xd: usize, xs: usize): v128 {
  const nb = C / QK;
  const sb = scaleBytes(C);
  const q0 = g0 + sb, q1 = g1 + sb, q2 = g2 + sb, q3 = g3 + sb;
  let accG = f32x4.splat(0);
  let accU = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const o = <usize>b;
    const xb = x16 + (o << 6);
    let sg: v128, su: v128;
    if (type == PT_Q8_0) {
      const x0 = v128.load(xb, 0), x1 = v128.load(xb, 16), x2 = v128.load(xb, 32), x3 = v128.load(xb, 48);
      const w = o << 5;
      sg = hsum4i(rowQ8(q0 + w, x0, x1, x2, x3), rowQ8(q1 + w, x0, x1, x2, x3), rowQ8(q2 + w, x0, x1, x2, x3), rowQ8(q3 + w, x0, x1, x2, x3));
      su = hsum4i(rowQ8(q0 + upOff + w, x0, x1, x2, x3), rowQ8(q1 + upOff + w, x0, x1, x2, x3),
        rowQ8(q2 + upOff + w, x0, x1, x2, x3), rowQ8(q3 + upOff + w, x0, x1, x2, x3));
    } else {
      const w = o << 4, xo = xq + (o << 5);
      const off8 = i32x4.shl(v128.load32_splat(xs + (o << 2)), 3);
      sg = i32x4.sub(hsum4i(blockQ4(q0 + w, xo, xb), blockQ4(q1 + w, xo, xb), blockQ4(q2 + w, xo, xb), blockQ4(q3 + w, xo, xb)), off8);
      su = i32x4.sub(hsum4i(blockQ4(q0 + upOff + w, xo, xb), blockQ4(q1 + upOff + w, xo, xb), blockQ4(q2 + upOff + w, xo, xb), blockQ4(q3 + upOff + w, xo, xb)), off8);
    }
    const xs1 = v128.load32_splat(xd + (o << 2));
    const so = o << 1;
    let hg = i32x4.splat(load<u16>(g0 + so));
    hg = i32x4.replace_lane(hg, 1, load<u16>(g1 + so));
    hg = i32x4.replace_lane(hg, 2, load<u16>(g2 + so));
    hg = i32x4.replace_lane(hg, 3, load<u16>(g3 + so));
    let hu = i32x4.splat(load<u16>(g0 + upOff + so));
    hu = i32x4.replace_lane(hu, 1, load<u16>(g1 + upOff + so));
    hu = i32x4.replace_lane(hu, 2, load<u16>(g2 + upOff + so));
    hu = i32x4.replace_lane(hu, 3, load<u16>(g3 + upOff + so));
    accG = madd(f32x4.convert_i32x4_s(sg), f32x4.mul(f16lanes(hg), xs1), accG);
    accU = madd(f32x4.convert_i32x4_s(su), f32x4.mul(f16lanes(hu), xs1), accU);
  }
  upDots = accU;
  return accG;
}


/** The dots of four F32 row parts with x, as [d0, d1, d2, d3]. */
function dotF32x4(p0: usize, p1: usize, p2: usize, p3: usize, C: i32, x: usize): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const C4 = C & ~3;
  for (let c = 0; c < C4; c += 4) {
    const o = <usize>c << 2;
    const xv = v128.load(x + o);
    a0 = madd(v128.load(p0 + o), xv, a0);
    a1 = madd(v128.load(p1 + o), xv, a1);
    a2 = madd(v128.load(p2 + o), xv, a2);
    a3 = madd(v128.load(p3 + o), xv, a3);
  }
  let r = hsum4f(a0, a1, a2, a3);
  for (let c = C4; c < C; c++) {
    const o = <usize>c << 2;
    const xv = v128.load32_splat(x + o);
    let w = f32x4.splat(load<f32>(p0 + o));
    w = f32x4.replace_lane(w, 1, load<f32>(p1 + o));
    w = f32x4.replace_lane(w, 2, load<f32>(p2 + o));
    w = f32x4.replace_lane(w, 3, load<f32>(p3 + o));
    r = madd(w, xv, r);
  }
  return r;
}

@inline function dotParts4(type: i32, p0: usize, p1: usize, p2: usize, p3: usize, C: i32, x: usize, xq: usize, x16: usize, xd: usize, xs: usize): v128 {
  if (type == PT_F32) return dotF32x4(p0, p1, p2, p3, C, x);
  return dotQuant4(type, p0, p1, p2, p3, C, xq, x16, xd, xs);
}

/** Lane k (0..3, not constant) of an f32x4. */
@inline function laneF(v: v128, k: i32): f32 {
  if (k == 0) return f32x4.extract_lane(v, 0);
  if (k == 1) return f32x4.extract_lane(v, 1);
  if (k == 2) return f32x4.extract_lane(v, 2);
  return f32x4.extract_lane(v, 3);
}

/** The two i8x16 halves (elements 0..15, 16..31) of block b of a Q8_0 / Q4_0 row part, as signed int8. */
@inline function blockHalves(type: i32, qs: usize, b: i32, hi: bool): v128 {
  if (type == PT_Q8_0) return v128.load(qs + (<usize>b << 5) + (hi ? 16 : 0));
  const v = v128.load(qs + (<usize>b << 4));
  const n = hi ? i8x16.shr_u(v, 4) : v128.and(v, i8x16.splat(0x0f));
  return i8x16.sub(n, i8x16.splat(8));
}

/** f32x4 of lanes 0..3 / 4..7 of an i16x8. */
@inline function lo4(w: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w));
}
@inline function hi4(w: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w));
}

/**
 * y (C) += h0 * row0 + h1 * row1 + h2 * row2 + h3 * row3 for four quantized row parts (Q8_0 / Q4_0,
 * ffn_down_t rows) in one pass over y: per 32-value block, each row's scale times its h, the int8
 * values converted to f32 and accumulated in the order row0, row1, row2, row3. Missing rows pass h = 0.
 */
function axpyQuantRows4(type: i32, y: usize, p0: usize, p1: usize, p2: usize, p3: usize, h0: f32, h1: f32, h2: f32, h3: f32, C: i32): void {
  const nb = C / QK;
  const sb = scaleBytes(C);
  for (let b = 0; b < nb; b++) {
    const o = <usize>b << 1;
    const s0 = f32x4.splat(h0 * f16ToF32(load<u16>(p0 + o)));
    const s1 = f32x4.splat(h1 * f16ToF32(load<u16>(p1 + o)));
    const s2 = f32x4.splat(h2 * f16ToF32(load<u16>(p2 + o)));
    const s3 = f32x4.splat(h3 * f16ToF32(load<u16>(p3 + o)));
    for (let half = 0; half < 2; half++) {
      const hi = half == 1;
      const v0 = blockHalves(type, p0 + sb, b, hi);
      const v1 = blockHalves(type, p1 + sb, b, hi);
      const v2 = blockHalves(type, p2 + sb, b, hi);
      const v3 = blockHalves(type, p3 + sb, b, hi);
      const yb = y + (<usize>b << 7) + (hi ? 64 : 0);
      // values 0..7 of the 16, then 8..15: each i16 widening done once
      for (let q = 0; q < 2; q++) {
        const w0 = q == 0 ? i16x8.extend_low_i8x16_s(v0) : i16x8.extend_high_i8x16_s(v0);
        const w1 = q == 0 ? i16x8.extend_low_i8x16_s(v1) : i16x8.extend_high_i8x16_s(v1);
        const w2 = q == 0 ? i16x8.extend_low_i8x16_s(v2) : i16x8.extend_high_i8x16_s(v2);
        const w3 = q == 0 ? i16x8.extend_low_i8x16_s(v3) : i16x8.extend_high_i8x16_s(v3);
        const ya = yb + (<usize>q << 5);
        let a = v128.load(ya);
        a = madd(s0, lo4(w0), a);
        a = madd(s1, lo4(w1), a);
        a = madd(s2, lo4(w2), a);
        a = madd(s3, lo4(w3), a);
        v128.store(ya, a);
        let c = v128.load(ya, 16);
        c = madd(s0, hi4(w0), c);
        c = madd(s1, hi4(w1), c);
        c = madd(s2, hi4(w2), c);
        c = madd(s3, hi4(w3), c);
        v128.store(ya, c, 16);
      }
    }
  }
}

/** y (C) += sum of h_k * row_k over four F32 row parts (missing rows pass h = 0). */
function axpyF32Rows4(y: usize, p0: usize, p1: usize, p2: usize, p3: usize, h0: f32, h1: f32, h2: f32, h3: f32, C: i32): void {
  const a0 = f32x4.splat(h0), a1 = f32x4.splat(h1), a2 = f32x4.splat(h2), a3 = f32x4.splat(h3);
  const C4 = C & ~3;
  for (let c = 0; c < C4; c += 4) {
    const o = <usize>c << 2;
    let acc = v128.load(y + o);
    acc = madd(a0, v128.load(p0 + o), acc);
    acc = madd(a1, v128.load(p1 + o), acc);
    acc = madd(a2, v128.load(p2 + o), acc);
    acc = madd(a3, v128.load(p3 + o), acc);
    v128.store(y + o, acc);
  }
  for (let c = C4; c < C; c++) {
    const o = <usize>c << 2;
    store<f32>(y + o, load<f32>(y + o) + h0 * load<f32>(p0 + o) + h1 * load<f32>(p1 + o) + h2 * load<f32>(p2 + o) + h3 * load<f32>(p3 + o));
  }
}

// ---- the fused kernel ---------------------------------------------------------------------------

/** ffn_bundles `mode`: gate computed from the bundle (predictor mode). */
const MODE_GATE: i32 = 0;
/** gate given in g (lossless mode: the gate ran densely). */
const MODE_UP: i32 = 1;
/** h given (the up pass ran densely): down only. */
const MODE_DOWN: i32 = 2;

/**
 * Sparse FFN over the n listed bundle slots idx[0..n) (i32, ascending) of one token; slot k holds
 * neuron order[k] (hot-neuron ordering; identity when the descriptor's order pointer is 0), and g, h
 * are indexed by neuron:
 *   g = gate_i . x (MODE_GATE, stored in g[i]) or g[i];  u = up_i . x;  h[i] = glu(g, u, kind)   (MODE_DOWN: h[i] given)
 *   partial[p] += h[i] * down_i  when h[i] != 0 (or always with `force`)
 * For ReLU-family kinds (1 reglu, 2 drelu) a neuron with g <= 0 is skipped before its up row is read
 * (h = 0 exactly); `force` = 1 computes every listed neuron in full (synthetic benchmarks).
 * desc: bundle descriptor; x (C) f32; xq (C) i8, x16 (C) i16, xd / xs (C/32) the same x quantized
 * (read only for quantized parts); g, h (F) f32 (h entries of listed neurons written, others left);
 * partials: PARTS x C f32 (fully written).
 * Parts are split over the threads; this call does share ith.
 */
export function ffn_bundles(
  desc: usize, x: usize, xq: usize, x16: usize, xd: usize, xs: usize, idx: usize, n: i32, kind: i32, mode: i32, force: i32,
  g: usize, h: usize, partials: usize, ith: i32, nth: i32,
): void {
  const bundles = <usize>dI(desc, 0);
  const stride = <usize>dI(desc, 1);
  const gateType = dI(desc, 2), gateOff = <usize>dI(desc, 3);
  const upType = dI(desc, 4), upOff = <usize>dI(desc, 5);
  const downType = dI(desc, 6), downOff = <usize>dI(desc, 7);
  const C = dI(desc, 8);
  const order = <usize>dI(desc, 10);
  const rowBytes = <usize>C << 2;
  const relu = kind != 0 && force == 0;
  // predictor mode on quantized weights: gate and up rows of four neurons in one pass (the up row of
  // a neuron whose gate is <= 0 is read too: one stream of 8 rows is faster than skipping it)
  const fused = mode == MODE_GATE && gateType == upType && gateType != PT_F32 && upOff > gateOff;
  const p0 = splitStart(PARTS, ith, nth);
  const p1 = splitStart(PARTS, ith + 1, nth);
  for (let p = p0; p < p1; p++) {
    const y = partials + <usize>p * rowBytes;
    memory.fill(y, 0, rowBytes);
    // down rows are accumulated four at a time (one pass over y), in list order
    let d0: usize = 0, d1: usize = 0, d2: usize = 0;
    let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0;
    let pending = 0;
    const j1 = splitStart(n, p + 1, PARTS);
    // listed neurons in groups of four: their gate rows, then the up rows still needed, are read
    // together (four concurrent streams, one load of x per block)
    for (let j = splitStart(n, p, PARTS); j < j1; j += 4) {
      const cnt = min(4, j1 - j);
      let b0: usize = 0, b1: usize = 0, b2: usize = 0, b3: usize = 0;
      let i0: usize = 0, i1: usize = 0, i2: usize = 0, i3: usize = 0;
      for (let k = 0; k < 4; k++) {
        const slot = load<i32>(idx + (<usize>(j + min(k, cnt - 1)) << 2));
        const i = <usize>(order != 0 ? load<i32>(order + (<usize>slot << 2)) : slot);
        const b = bundles + <usize>slot * stride;
        if (k == 0) { b0 = b; i0 = i; } else if (k == 1) { b1 = b; i1 = i; } else if (k == 2) { b2 = b; i2 = i; } else { b3 = b; i3 = i; }
      }
      let hv = f32x4.splat(0);
      if (mode == MODE_DOWN) {
        hv = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(h + (i0 << 2))), 1, load<f32>(h + (i1 << 2))),
          2, load<f32>(h + (i2 << 2))), 3, load<f32>(h + (i3 << 2)));
      } else {
        let gv: v128;
        let fusedUp = false;
        if (mode == MODE_GATE && fused) {
          gv = dotQuant8(gateType, b0 + gateOff, b1 + gateOff, b2 + gateOff, b3 + gateOff, upOff - gateOff, C, xq, x16, xd, xs);
          fusedUp = true;
          store<f32>(g + (i0 << 2), f32x4.extract_lane(gv, 0));
          if (cnt > 1) store<f32>(g + (i1 << 2), f32x4.extract_lane(gv, 1));
          if (cnt > 2) store<f32>(g + (i2 << 2), f32x4.extract_lane(gv, 2));
          if (cnt > 3) store<f32>(g + (i3 << 2), f32x4.extract_lane(gv, 3));
        } else if (mode == MODE_GATE) {
          gv = dotParts4(gateType, b0 + gateOff, b1 + gateOff, b2 + gateOff, b3 + gateOff, C, x, xq, x16, xd, xs);
          store<f32>(g + (i0 << 2), f32x4.extract_lane(gv, 0));
          if (cnt > 1) store<f32>(g + (i1 << 2), f32x4.extract_lane(gv, 1));
          if (cnt > 2) store<f32>(g + (i2 << 2), f32x4.extract_lane(gv, 2));
          if (cnt > 3) store<f32>(g + (i3 << 2), f32x4.extract_lane(gv, 3));
        } else {
          gv = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(g + (i0 << 2))), 1, load<f32>(g + (i1 << 2))),
            2, load<f32>(g + (i2 << 2))), 3, load<f32>(g + (i3 << 2)));
        }
        // up rows of the neurons that can be non-zero (ReLU family: gate > 0), compacted to the front
        let u0: usize = 0, u1: usize = 0, u2: usize = 0, u3: usize = 0;
        let which = 0; // lane k of the up result belongs to group member (which >> 2k) & 3
        let m = 0;
        if (fusedUp) {
          const uv = upDots;
          for (let k = 0; k < cnt; k++) {
            const gk = laneF(gv, k);
            const v = relu && gk <= 0 ? <f32>0 : gluOne(gk, laneF(uv, k), kind);
            if (k == 0) hv = f32x4.replace_lane(hv, 0, v);
            else if (k == 1) hv = f32x4.replace_lane(hv, 1, v);
            else if (k == 2) hv = f32x4.replace_lane(hv, 2, v);
            else hv = f32x4.replace_lane(hv, 3, v);
          }
        }
        for (let k = 0; k < cnt && !fusedUp; k++) {
          if (relu && laneF(gv, k) <= 0) continue;
          const bu = (k == 0 ? b0 : k == 1 ? b1 : k == 2 ? b2 : b3) + upOff;
          if (m == 0) { u0 = bu; u1 = bu; u2 = bu; u3 = bu; } else if (m == 1) u1 = bu; else if (m == 2) u2 = bu; else u3 = bu;
          which |= k << (m << 1);
          m++;
        }
        if (m > 0) {
          const uv = dotParts4(upType, u0, u1, u2, u3, C, x, xq, x16, xd, xs);
          for (let t = 0; t < m; t++) {
            const k = (which >> (t << 1)) & 3;
            const v = gluOne(laneF(gv, k), laneF(uv, t), kind);
            if (k == 0) hv = f32x4.replace_lane(hv, 0, v);
            else if (k == 1) hv = f32x4.replace_lane(hv, 1, v);
            else if (k == 2) hv = f32x4.replace_lane(hv, 2, v);
            else hv = f32x4.replace_lane(hv, 3, v);
          }
        }
        store<f32>(h + (i0 << 2), f32x4.extract_lane(hv, 0));
        if (cnt > 1) store<f32>(h + (i1 << 2), f32x4.extract_lane(hv, 1));
        if (cnt > 2) store<f32>(h + (i2 << 2), f32x4.extract_lane(hv, 2));
        if (cnt > 3) store<f32>(h + (i3 << 2), f32x4.extract_lane(hv, 3));
      }
      for (let k = 0; k < cnt; k++) {
        const a = laneF(hv, k);
        if (a == 0 && force == 0) continue;
        const d = (k == 0 ? b0 : k == 1 ? b1 : k == 2 ? b2 : b3) + downOff;
        if (pending == 0) { d0 = d; a0 = a; }
        else if (pending == 1) { d1 = d; a1 = a; }
        else if (pending == 2) { d2 = d; a2 = a; }
        else {
          if (downType == PT_F32) axpyF32Rows4(y, d0, d1, d2, d, a0, a1, a2, a, C);
          else axpyQuantRows4(downType, y, d0, d1, d2, d, a0, a1, a2, a, C);
          pending = -1;
        }
        pending++;
      }
    }
    if (pending > 0) {
      if (pending < 2) { d1 = d0; a1 = 0; }
      if (pending < 3) { d2 = d0; a2 = 0; }
      if (downType == PT_F32) axpyF32Rows4(y, d0, d1, d2, d0, a0, a1, a2, 0, C);
      else axpyQuantRows4(downType, y, d0, d1, d2, d0, a0, a1, a2, 0, C);
    }
  }
}

/** x (C) += partial[0] + partial[1] + ... (PARTS partials of C f32, added in order). */
export function add_partials(x: usize, partials: usize, C: i32): void {
  const rowBytes = <usize>C << 2;
  const C4 = C & ~3;
  for (let c = 0; c < C4; c += 4) {
    const o = <usize>c << 2;
    let s = v128.load(partials + o);
    for (let p = 1; p < PARTS; p++) s = f32x4.add(s, v128.load(partials + <usize>p * rowBytes + o));
    v128.store(x + o, f32x4.add(v128.load(x + o), s));
  }
  for (let c = C4; c < C; c++) {
    const o = <usize>c << 2;
    let s = load<f32>(partials + o);
    for (let p = 1; p < PARTS; p++) s += load<f32>(partials + <usize>p * rowBytes + o);
    store<f32>(x + o, load<f32>(x + o) + s);
  }
}

/** x16 (n i16) = xq (n i8), sign-extended (the int16 form of the quantized FFN input). n % 16 == 0. */
export function extend_i8(xq: usize, x16: usize, n: i32): void {
  for (let c = 0; c < n; c += 16) {
    const v = v128.load(xq + <usize>c);
    v128.store(x16 + (<usize>c << 1), i16x8.extend_low_i8x16_s(v));
    v128.store(x16 + (<usize>c << 1) + 16, i16x8.extend_high_i8x16_s(v));
  }
}

/** x (n) = max(x, 0) in place (the predictor's hidden layer). */
export function relu_inplace(x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = x + (<usize>i << 2);
    const v = load<f32>(o);
    store<f32>(o, v > 0 ? v : 0);
  }
}

// ---- load-time bundle building ------------------------------------------------------------------

/**
 * Copies n ggml rows (Q8_0: 34-byte blocks, Q4_0: 18-byte blocks; C values each) at src into the
 * row parts at dst, dst + stride, ...: f16 scales (padded to 16 bytes), then the quant bytes.
 */
export function bundle_rows(type: i32, src: usize, n: i32, C: i32, dst: usize, stride: usize): void {
  const nb = C / QK;
  const blk: usize = type == PT_Q8_0 ? 34 : 18;
  const qb: usize = blk - 2;
  const sb = scaleBytes(C);
  for (let r = 0; r < n; r++) {
    const s = src + <usize>r * <usize>nb * blk;
    const d = dst + <usize>r * stride;
    memory.fill(d, 0, sb);
    for (let b = 0; b < nb; b++) {
      store<u16>(d + (<usize>b << 1), load<u16>(s + <usize>b * blk));
      memory.copy(d + sb + <usize>b * qb, s + <usize>b * blk + 2, qb);
    }
  }
}
