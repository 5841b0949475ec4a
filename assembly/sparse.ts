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
import { PT_F32, PT_Q8_0, QK, splitStart, f16x4, f16ToF32, hsum4i, hsumf, madd } from './common';
import { gluOne } from './ops';

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

// ---- dots of one row part with the FFN input ---------------------------------------------------

@inline function dotF32(row: usize, x: usize, C: i32): f32 {
  const C8 = C >> 3;
  let a = f32x4.splat(0);
  let b = f32x4.splat(0);
  let p = row;
  let xp = x;
  for (let c = 0; c < C8; c++) {
    a = madd(v128.load(p, 0), v128.load(xp, 0), a);
    b = madd(v128.load(p, 16), v128.load(xp, 16), b);
    p += 32;
    xp += 32;
  }
  if (C & 4) {
    a = madd(v128.load(p), v128.load(xp), a);
    p += 16;
    xp += 16;
  }
  let s = hsumf(f32x4.add(a, b));
  const tail = C & 3;
  for (let k = 0; k < tail; k++) {
    s += load<f32>(p) * load<f32>(xp);
    p += 4;
    xp += 4;
  }
  return s;
}

/** i32x4 partial sums of one 32-value int8 block against x pre-extended to int16 (64 bytes). */
@inline function blockQ8(w: usize, x16: usize): v128 {
  const w0 = v128.load(w, 0);
  const w1 = v128.load(w, 16);
  const a = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w0), v128.load(x16, 0)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w0), v128.load(x16, 16)));
  const b = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w1), v128.load(x16, 32)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w1), v128.load(x16, 48)));
  return i32x4.add(a, b);
}

/** i32x4 partial sums of one Q4_0 block (16 bytes of unsigned nibbles, without the -8) against x. */
@inline function blockQ4(w: usize, xq: usize, x16: usize): v128 {
  const v = v128.load(w);
  const lo = v128.and(v, i8x16.splat(0x0f));
  const hi = i8x16.shr_u(v, 4);
  if (ASC_FEATURE_RELAXED_SIMD) {
    // nibbles are 0..15, inside the 7-bit range where the relaxed dot is deterministic
    return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xq, 16), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(xq, 0), lo, i32x4.splat(0)));
  }
  const a = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(lo), v128.load(x16, 0)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(lo), v128.load(x16, 16)));
  const b = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(hi), v128.load(x16, 32)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(hi), v128.load(x16, 48)));
  return i32x4.add(a, b);
}

@inline function sum4(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/**
 * dot(quantized row part at p, x): x as int8 blocks xq (C), their int16 extension x16 (C), scales
 * xd (nb f32) and sums xs (nb i32). Blocks are taken four at a time (one f16x4 of scales).
 */
function dotQuant(type: i32, p: usize, C: i32, xq: usize, x16: usize, xd: usize, xs: usize): f32 {
  const nb = C / QK;
  const qs = p + scaleBytes(C);
  const q8 = type == PT_Q8_0;
  const bb: usize = q8 ? 32 : 16;
  let acc = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    const o = <usize>b;
    let s: v128;
    if (q8) {
      s = hsum4i(blockQ8(qs + o * 32, x16 + o * 64), blockQ8(qs + o * 32 + 32, x16 + o * 64 + 64),
        blockQ8(qs + o * 32 + 64, x16 + o * 64 + 128), blockQ8(qs + o * 32 + 96, x16 + o * 64 + 192));
    } else {
      s = hsum4i(blockQ4(qs + o * 16, xq + o * 32, x16 + o * 64), blockQ4(qs + o * 16 + 16, xq + o * 32 + 32, x16 + o * 64 + 64),
        blockQ4(qs + o * 16 + 32, xq + o * 32 + 64, x16 + o * 64 + 128), blockQ4(qs + o * 16 + 48, xq + o * 32 + 96, x16 + o * 64 + 192));
      s = i32x4.sub(s, i32x4.shl(v128.load(xs + (o << 2)), 3));
    }
    const sc = f32x4.mul(f16x4(p + (o << 1)), v128.load(xd + (o << 2)));
    acc = madd(f32x4.convert_i32x4_s(s), sc, acc);
  }
  let r = hsumf(acc);
  for (; b < nb; b++) {
    const o = <usize>b;
    let s: i32;
    if (q8) s = sum4(blockQ8(qs + o * bb, x16 + o * 64));
    else s = sum4(blockQ4(qs + o * bb, xq + o * 32, x16 + o * 64)) - (load<i32>(xs + (o << 2)) << 3);
    r += <f32>s * f16ToF32(load<u16>(p + (o << 1))) * load<f32>(xd + (o << 2));
  }
  return r;
}

@inline function dotPart(type: i32, p: usize, C: i32, x: usize, xq: usize, x16: usize, xd: usize, xs: usize): f32 {
  if (type == PT_F32) return dotF32(p, x, C);
  return dotQuant(type, p, C, xq, x16, xd, xs);
}

// ---- down accumulation ---------------------------------------------------------------------------

/** f32x4 of the 4 int8 lanes k..k+3 (k = 0, 4, 8, 12) of v. */
@inline function lanesF32(v: v128, k: i32): v128 {
  const w = k < 8 ? i16x8.extend_low_i8x16_s(v) : i16x8.extend_high_i8x16_s(v);
  return f32x4.convert_i32x4_s((k & 4) == 0 ? i32x4.extend_low_i16x8_s(w) : i32x4.extend_high_i16x8_s(w));
}

/** The two i8x16 halves (elements 0..15, 16..31) of block b of a Q8_0 / Q4_0 row part, as signed int8. */
@inline function blockHalves(type: i32, qs: usize, b: i32, hi: bool): v128 {
  if (type == PT_Q8_0) return v128.load(qs + (<usize>b << 5) + (hi ? 16 : 0));
  const v = v128.load(qs + (<usize>b << 4));
  const n = hi ? i8x16.shr_u(v, 4) : v128.and(v, i8x16.splat(0x0f));
  return i8x16.sub(n, i8x16.splat(8));
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
      for (let k = 0; k < 16; k += 4) {
        const yo = yb + (<usize>k << 2);
        let acc = v128.load(yo);
        acc = madd(s0, lanesF32(v0, k), acc);
        acc = madd(s1, lanesF32(v1, k), acc);
        acc = madd(s2, lanesF32(v2, k), acc);
        acc = madd(s3, lanesF32(v3, k), acc);
        v128.store(yo, acc);
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
  const p0 = splitStart(PARTS, ith, nth);
  const p1 = splitStart(PARTS, ith + 1, nth);
  for (let p = p0; p < p1; p++) {
    const y = partials + <usize>p * rowBytes;
    memory.fill(y, 0, rowBytes);
    // down rows are accumulated four at a time (one pass over y), in list order
    let q0: usize = 0, q1: usize = 0, q2: usize = 0;
    let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0;
    let pending = 0;
    const j1 = splitStart(n, p + 1, PARTS);
    for (let j = splitStart(n, p, PARTS); j < j1; j++) {
      const slot = load<i32>(idx + (<usize>j << 2));
      const i = order != 0 ? load<i32>(order + (<usize>slot << 2)) : slot;
      const b = bundles + <usize>slot * stride;
      const o = <usize>i << 2;
      let hv: f32;
      if (mode == MODE_DOWN) {
        hv = load<f32>(h + o);
      } else {
        let gv: f32;
        if (mode == MODE_GATE) {
          gv = dotPart(gateType, b + gateOff, C, x, xq, x16, xd, xs);
          store<f32>(g + o, gv);
        } else gv = load<f32>(g + o);
        if (relu && gv <= 0) {
          store<f32>(h + o, 0);
          continue;
        }
        hv = gluOne(gv, dotPart(upType, b + upOff, C, x, xq, x16, xd, xs), kind);
        store<f32>(h + o, hv);
      }
      if (hv == 0 && force == 0) continue;
      const d = b + downOff;
      if (pending == 0) { q0 = d; a0 = hv; }
      else if (pending == 1) { q1 = d; a1 = hv; }
      else if (pending == 2) { q2 = d; a2 = hv; }
      else {
        if (downType == PT_F32) axpyF32Rows4(y, q0, q1, q2, d, a0, a1, a2, hv, C);
        else axpyQuantRows4(downType, y, q0, q1, q2, d, a0, a1, a2, hv, C);
        pending = -1;
      }
      pending++;
    }
    if (pending > 0) {
      if (pending < 2) { q1 = q0; a1 = 0; }
      if (pending < 3) { q2 = q0; a2 = 0; }
      if (downType == PT_F32) axpyF32Rows4(y, q0, q1, q2, q0, a0, a1, a2, 0, C);
      else axpyQuantRows4(downType, y, q0, q1, q2, q0, a0, a1, a2, 0, C);
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
