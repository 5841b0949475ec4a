// Non-matmul operators of a decode / prefill step, on float32 activations in linear memory.
// Semantics follow src/kernels/ref/index.ts (the reference); letters as in src/kernels/types.ts.
import { splitStart, hsumf, madd } from './common';

/** out (T, C) = x / sqrt(mean(x^2) + eps) * weight (C). Source: Zhang & Sennrich 2019; llama2.c `rmsnorm`. */
export function rmsnorm(out: usize, x: usize, weight: usize, T: i32, C: i32, eps: f32): void {
  const C4 = C >> 2;
  for (let t = 0; t < T; t++) {
    const xr = x + ((<usize>t * <usize>C) << 2);
    const or = out + ((<usize>t * <usize>C) << 2);
    let acc = f32x4.splat(0);
    for (let i = 0; i < C4; i++) {
      const v = v128.load(xr + (<usize>i << 4));
      acc = madd(v, v, acc);
    }
    let ss = <f64>hsumf(acc);
    for (let i = C4 << 2; i < C; i++) {
      const v = <f64>load<f32>(xr + (<usize>i << 2));
      ss += v * v;
    }
    const scale = <f32>(1.0 / Math.sqrt(ss / <f64>C + <f64>eps));
    const sv = f32x4.splat(scale);
    for (let i = 0; i < C4; i++) {
      const o = <usize>i << 4;
      v128.store(or + o, f32x4.mul(f32x4.mul(v128.load(xr + o), sv), v128.load(weight + o)));
    }
    for (let i = C4 << 2; i < C; i++) {
      const o = <usize>i << 2;
      store<f32>(or + o, load<f32>(xr + o) * scale * load<f32>(weight + o));
    }
  }
}

/**
 * In-place RoPE on nHeads heads of D values per token, token t at x + t*ld floats, position pos0+t;
 * rotates adjacent pairs (2i, 2i+1) by pos * theta^(-2i/D) (GGUF / Meta convention, llama.cpp mode 0).
 */
export function rope(x: usize, ld: i32, T: i32, nHeads: i32, D: i32, pos0: i32, theta: f64): void {
  for (let t = 0; t < T; t++) {
    const pos = <f64>(pos0 + t);
    const xr = x + ((<usize>t * <usize>ld) << 2);
    for (let i = 0; i < D; i += 2) {
      const freq = 1.0 / Math.pow(theta, <f64>i / <f64>D);
      const a = pos * freq;
      const c = Math.cos(a);
      const s = Math.sin(a);
      for (let h = 0; h < nHeads; h++) {
        const p = xr + (<usize>(h * D + i) << 2);
        const v0 = <f64>load<f32>(p);
        const v1 = <f64>load<f32>(p, 4);
        store<f32>(p, <f32>(v0 * c - v1 * s));
        store<f32>(p, <f32>(v0 * s + v1 * c), 4);
      }
    }
  }
}

/** Copies T rows of n floats from src (row stride lds floats) to dst (contiguous rows of n). */
export function copy_rows(dst: usize, src: usize, lds: i32, T: i32, n: i32): void {
  for (let t = 0; t < T; t++) {
    memory.copy(dst + ((<usize>t * <usize>n) << 2), src + ((<usize>t * <usize>lds) << 2), <usize>n << 2);
  }
}

@inline function dotf(a: usize, b: usize, n: i32): f32 {
  const n4 = n >> 2;
  let acc = f32x4.splat(0);
  for (let i = 0; i < n4; i++) acc = madd(v128.load(a + (<usize>i << 4)), v128.load(b + (<usize>i << 4)), acc);
  let s = hsumf(acc);
  for (let i = n4 << 2; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

/**
 * Causal grouped-query attention for T new tokens at positions pos0..pos0+T-1 (see KernelSet.attention).
 * q: token t, head h at q + (t*ldq + h*D) floats; kc, vc (capacity, KVH*D) holding positions 0..pos0+T-1;
 * out (T, H*D). window > 0: a query at position p sees keys p-window+1..p. scratch: per-thread
 * float buffer of at least pos0+T entries at scratch + ith*scratchStride bytes.
 * The T*H (token, head) items are split over the threads.
 */
export function attention(
  out: usize, q: usize, ldq: i32, kc: usize, vc: usize, T: i32, pos0: i32, H: i32, KVH: i32, D: i32,
  window: i32, scratch: usize, scratchStride: i32, ith: i32, nth: i32,
): void {
  const items = T * H;
  const i0 = splitStart(items, ith, nth);
  const i1 = splitStart(items, ith + 1, nth);
  const group = H / KVH;
  const kvStride = <usize>(KVH * D) << 2;
  const scale = <f32>(1.0 / Math.sqrt(<f64>D));
  const sc = scratch + <usize>ith * <usize>scratchStride;
  const D4 = D >> 2;
  for (let it = i0; it < i1; it++) {
    const t = it / H;
    const h = it - t * H;
    const p = pos0 + t;
    const lo = window > 0 ? max(0, p - window + 1) : 0;
    const kvh = h / group;
    const qp = q + (<usize>(t * ldq + h * D) << 2);
    const koff = <usize>(kvh * D) << 2;
    let mx: f32 = -Infinity;
    for (let s = lo; s <= p; s++) {
      const d = dotf(qp, kc + <usize>s * kvStride + koff, D) * scale;
      store<f32>(sc + (<usize>(s - lo) << 2), d);
      mx = max(mx, d);
    }
    let sum: f64 = 0;
    for (let s = lo; s <= p; s++) {
      const sp = sc + (<usize>(s - lo) << 2);
      const e = Mathf.exp(load<f32>(sp) - mx);
      store<f32>(sp, e);
      sum += <f64>e;
    }
    const op = out + (<usize>(t * H * D + h * D) << 2);
    memory.fill(op, 0, <usize>D << 2);
    for (let s = lo; s <= p; s++) {
      const e = load<f32>(sc + (<usize>(s - lo) << 2));
      const vp = vc + <usize>s * kvStride + koff;
      const ev = f32x4.splat(e);
      for (let i = 0; i < D4; i++) {
        const o = <usize>i << 4;
        v128.store(op + o, madd(v128.load(vp + o), ev, v128.load(op + o)));
      }
      for (let i = D4 << 2; i < D; i++) {
        const o = <usize>i << 2;
        store<f32>(op + o, load<f32>(op + o) + e * load<f32>(vp + o));
      }
    }
    const inv = <f32>(1.0 / sum);
    const iv = f32x4.splat(inv);
    for (let i = 0; i < D4; i++) {
      const o = <usize>i << 4;
      v128.store(op + o, f32x4.mul(v128.load(op + o), iv));
    }
    for (let i = D4 << 2; i < D; i++) {
      const o = <usize>i << 2;
      store<f32>(op + o, load<f32>(op + o) * inv);
    }
  }
}

/** GLU kinds (must match src/kernels/wasm/layout.ts). */
export const GLU_SWIGLU: i32 = 0;
export const GLU_REGLU: i32 = 1;
export const GLU_DRELU: i32 = 2;

/** act(g) * g2(u) for one value: swiglu silu(g)*u, reglu relu(g)*u, drelu relu(g)*relu(u). */
@inline export function gluOne(g: f32, u: f32, kind: i32): f32 {
  if (kind == GLU_SWIGLU) return (g / (<f32>1.0 + Mathf.exp(-g))) * u;
  if (kind == GLU_REGLU) return g > 0 ? g * u : 0;
  return g > 0 && u > 0 ? g * u : 0;
}

/** gluOne on the 4 lanes of gate vg and up vu. */
@inline export function gluVec(vg: v128, vu: v128, kind: i32): v128 {
  if (kind == GLU_DRELU) {
    const z = f32x4.splat(0);
    return f32x4.mul(f32x4.max(vg, z), f32x4.max(vu, z));
  }
  if (kind == GLU_REGLU) return f32x4.mul(f32x4.max(vg, f32x4.splat(0)), vu);
  let r = f32x4.splat(0);
  r = f32x4.replace_lane(r, 0, gluOne(f32x4.extract_lane(vg, 0), f32x4.extract_lane(vu, 0), kind));
  r = f32x4.replace_lane(r, 1, gluOne(f32x4.extract_lane(vg, 1), f32x4.extract_lane(vu, 1), kind));
  r = f32x4.replace_lane(r, 2, gluOne(f32x4.extract_lane(vg, 2), f32x4.extract_lane(vu, 2), kind));
  r = f32x4.replace_lane(r, 3, gluOne(f32x4.extract_lane(vg, 3), f32x4.extract_lane(vu, 3), kind));
  return r;
}

/** out (n) = glu(gate (n), up (n)). Sources: Shazeer 2020; TurboSparse (arXiv 2406.05955) section 3. */
export function glu(out: usize, gate: usize, up: usize, n: i32, kind: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, gluOne(load<f32>(gate + o), load<f32>(up + o), kind));
  }
}

/** x (n) += y (n). */
export function add(x: usize, y: usize, n: i32): void {
  const n4 = n >> 2;
  for (let i = 0; i < n4; i++) {
    const o = <usize>i << 4;
    v128.store(x + o, f32x4.add(v128.load(x + o), v128.load(y + o)));
  }
  for (let i = n4 << 2; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) + load<f32>(y + o));
  }
}

/** Index of the largest of n floats (first on ties); -1 for n = 0. */
export function argmax(x: usize, n: i32): i32 {
  let best = -1;
  let bv: f32 = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (best < 0 || v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/**
 * Streams this thread's share of n64 64-byte lines starting at p (a memory-bandwidth probe for
 * `relufy bench`); writes an xor of everything read to out + 16*ith so the loads are not removed.
 */
export function stream_read(p: usize, n64: i32, out: usize, ith: i32, nth: i32): void {
  const l0 = splitStart(n64, ith, nth);
  const l1 = splitStart(n64, ith + 1, nth);
  let a = i32x4.splat(0), b = i32x4.splat(0), c = i32x4.splat(0), d = i32x4.splat(0);
  let q = p + (<usize>l0 << 6);
  const end = p + (<usize>l1 << 6);
  while (q < end) {
    a = v128.xor(a, v128.load(q, 0));
    b = v128.xor(b, v128.load(q, 16));
    c = v128.xor(c, v128.load(q, 32));
    d = v128.xor(d, v128.load(q, 48));
    q += 64;
  }
  v128.store(out + (<usize>ith << 4), v128.xor(v128.xor(a, b), v128.xor(c, d)));
}
