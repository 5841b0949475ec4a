// Lossless sparse FFN for one decode token (T = 1) of a ReLU-family model (ReGLU, dReLU), over
// neuron bundles built at load only in lossless mode (src/kernels/wasm/engine.ts): per neuron i,
// 2C contiguous f32 = [ffn_up row i | ffn_down column i] (the column is PowerInfer's ffn_down_t
// row), so a skipped neuron skips all of its bytes and an active one is one sequential read.
// The gate projection runs densely before (matmul_multi) and the JS side lists the neurons to
// compute. Deterministic for any thread count: work is cut into SPARSE_PARTS fixed parts of the
// neuron list (independent of the thread count), each part accumulates into its own partial output
// in list order, and the partials are added into x in part order by one thread (add_partials).
// No unsynchronized shared accumulation (see shared/docs/powerinfer-and-gguf.md 1.5: the AXPY race).
import { splitStart, hsumf, madd } from './common';
import { gluOne } from './ops';

/** Fixed number of partial outputs (must match SPARSE_PARTS in src/kernels/wasm/engine.ts). */
const PARTS: i32 = 8;

/** dot(row (C floats), x (C floats)), f32 with 2 x f32x4 accumulators. */
@inline function dotRow(row: usize, x: usize, C: i32): f32 {
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

/** y (C) += hv * row (C). */
@inline function axpyRow(y: usize, row: usize, hv: f32, C: i32): void {
  const hs = f32x4.splat(hv);
  const C4 = C & ~3;
  for (let c = 0; c < C4; c += 4) {
    const o = <usize>c << 2;
    v128.store(y + o, madd(hs, v128.load(row + o), v128.load(y + o)));
  }
  for (let c = C4; c < C; c++) {
    const o = <usize>c << 2;
    store<f32>(y + o, load<f32>(y + o) + hv * load<f32>(row + o));
  }
}

/**
 * Fused up + glu + down over the n listed neurons idx[0..n) (i32, gate > 0):
 *   u = up_i . x;  h[i] = glu(g[i], u);  partial[p] += h[i] * down_t_i  when h[i] != 0,
 * bundles: (F, 2C) f32 as described above; x, g, h: f32; partials: SPARSE_PARTS x C f32 (fully
 * written). Entries of h not listed are left as they are (the caller zeroes h first).
 * Parts are split over the threads; this call does share ith.
 */
export function ffn_bundle_sparse(
  bundles: usize, C: i32, x: usize, g: usize, idx: usize, n: i32, kind: i32, h: usize, partials: usize, ith: i32, nth: i32,
): void {
  const p0 = splitStart(PARTS, ith, nth);
  const p1 = splitStart(PARTS, ith + 1, nth);
  const rowBytes = <usize>C << 2;
  for (let p = p0; p < p1; p++) {
    const y = partials + <usize>p * rowBytes;
    memory.fill(y, 0, rowBytes);
    const j1 = splitStart(n, p + 1, PARTS);
    for (let j = splitStart(n, p, PARTS); j < j1; j++) {
      const i = load<i32>(idx + (<usize>j << 2));
      const b = bundles + <usize>i * (rowBytes << 1);
      const o = <usize>i << 2;
      const hv = gluOne(load<f32>(g + o), dotRow(b, x, C), kind);
      store<f32>(h + o, hv);
      if (hv != 0) axpyRow(y, b + rowBytes, hv, C);
    }
  }
}

/**
 * Down pass alone (when up ran densely): partial[p] = sum over the listed neurons of part p of
 * h[i] * down_t_i (the second half of each bundle). Same parts and threading as ffn_bundle_sparse.
 */
export function ffn_down_sparse(bundles: usize, C: i32, idx: usize, n: i32, h: usize, partials: usize, ith: i32, nth: i32): void {
  const p0 = splitStart(PARTS, ith, nth);
  const p1 = splitStart(PARTS, ith + 1, nth);
  const rowBytes = <usize>C << 2;
  for (let p = p0; p < p1; p++) {
    const y = partials + <usize>p * rowBytes;
    memory.fill(y, 0, rowBytes);
    const j1 = splitStart(n, p + 1, PARTS);
    for (let j = splitStart(n, p, PARTS); j < j1; j++) {
      const i = load<i32>(idx + (<usize>j << 2));
      axpyRow(y, bundles + <usize>i * (rowBytes << 1) + rowBytes, load<f32>(h + (<usize>i << 2)), C);
    }
  }
}

/** x (C) += partial[0] + partial[1] + ... (SPARSE_PARTS partials of C f32, added in order). */
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
