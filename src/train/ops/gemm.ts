/**
 * WebAssembly fp32 GEMM for the trainer: one kernel instance per thread (`TrainKernel`) over its own
 * shared WebAssembly.Memory. The ops call it when every array of a product lives in that memory
 * (`owns`), and fall back to the JS reference `matmulNT` otherwise, so models over plain arrays
 * (tests, gradchecks) keep the scalar path.
 *
 * The kernel (assembly/train.ts `gemm_f32`) computes out (M,P) (+)= A (M,K) @ Bm (K,P), with A
 * given by element strides and Bm row-major (P contiguous), so the three products of a linear layer
 * need at most a transpose of the (small) weight:
 *   forward  out (N,OC)  = inp (N,C) @ W^T (C,OC)          (W^T transposed once per call)
 *   dinp     (N,C)      += dout (N,OC) @ W (OC,C)
 *   dW       (OC,C)     += dout^T (OC,N) @ inp (N,C)        (A strides sam = 1, sak = OC)
 * It also holds the softmax kernels (causal attention softmax forward / backward, row softmax for
 * cross-entropy) with a vectorized fp32 exp; JS references in attention.ts / crossentropy.ts.
 */
import { RelufyError } from '../../errors.js';
import { HEAP_START, WasmHeap } from '../../kernels/wasm/heap.js';
import { instantiate, loadWasmModule, type WasmExports, type WasmModule } from '../../kernels/wasm/module.js';
import type { Triangle } from './linear.js';

const TRI_CODE: Record<Triangle, number> = { 'none': 0, 'p<=m': 1, 'k<=m': 2, 'k>=m': 3 };

/** The per-thread WebAssembly GEMM: a kernel instance, its memory, and scratch in that memory. */
export class TrainKernel {
  readonly heap: WasmHeap;
  readonly x: WasmExports;
  /** Buffers of views handed out (a grown shared memory gives a new buffer object; old views stay valid). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private readonly scratchBufs: Float32Array[] = [];

  /** Instantiates the kernel module over a fresh memory (call once per thread). */
  constructor(module: WasmModule = loadWasmModule()) {
    this.heap = new WasmHeap();
    this.x = instantiate(module, this.heap.memory);
    if (this.x.heap_base() > HEAP_START) throw new RelufyError(`wasm static data (${this.x.heap_base()} bytes) overlaps the heap`);
  }

  /** A zeroed Float32Array of n values in the kernel's memory (lives as long as the kernel). */
  f32(n: number): Float32Array {
    const p = this.heap.alloc(4 * Math.max(n, 1));
    const v = this.heap.f32(p, n);
    v.fill(0);
    this.buffers.add(v.buffer);
    return v;
  }

  /** True when every array is a view of this kernel's memory. */
  owns(...arrs: Float32Array[]): boolean {
    for (const a of arrs) if (!this.buffers.has(a.buffer)) return false;
    return true;
  }

  /** Scratch slot i of at least n values in the kernel's memory (grown on demand, contents undefined). */
  scratch(i: number, n: number): Float32Array {
    const cur = this.scratchBufs[i];
    if (cur && cur.length >= n) return cur.subarray(0, n);
    if (cur) this.heap.release(cur.byteOffset);
    const s = this.f32(Math.max(n, cur ? 2 * cur.length : 0));
    this.scratchBufs[i] = s;
    return s.subarray(0, n);
  }

  /**
   * out (M,P) (= or +=) A (M,K) @ Bm (K,P) with element offsets and strides into the arrays:
   * out[m,p] = out[oo + m*ldo + p], A[m,k] = a[ao + m*sam + k*sak], Bm[k,p] = b[bo + k*ldb + p].
   * All three arrays must be owned by this kernel (unchecked).
   */
  gemm(
    out: Float32Array, oo: number, ldo: number, a: Float32Array, ao: number, sam: number, sak: number,
    b: Float32Array, bo: number, ldb: number, M: number, K: number, P: number, accumulate: boolean, tri: Triangle = 'none',
  ): void {
    this.x.gemm_f32(out.byteOffset + 4 * oo, ldo, a.byteOffset + 4 * ao, sam, sak, b.byteOffset + 4 * bo, ldb, M, K, P, accumulate ? 1 : 0, TRI_CODE[tri]);
  }

  /** dst (C,R) = src (R,C)^T (both owned). Returns dst. */
  transpose(dst: Float32Array, src: Float32Array, R: number, C: number): Float32Array {
    this.x.transpose_f32(dst.byteOffset, src.byteOffset, R, C);
    return dst;
  }

  /**
   * Causal attention softmax in place on one head's scores S (T,T) = s[so .. so + T*T): row t becomes
   * softmax over s in [lo, t] of S[t,s] * scale (lo = t - window + 1 clipped at 0, or 0 without a
   * window), other entries 0. Same semantics as the JS reference in attention.ts. s owned.
   */
  causalSoftmax(s: Float32Array, so: number, T: number, scale: number, window: number | null): void {
    this.x.causal_softmax_f32(s.byteOffset + 4 * so, T, scale, window ?? 0);
  }

  /** dP (T,T) = dp[dpo ..] <- P (dP - rowdot(P, dP)) * scale in the causal window, 0 outside; P (T,T) = p[po ..]. Both owned. */
  causalSoftmaxBackward(dp: Float32Array, dpo: number, p: Float32Array, po: number, T: number, scale: number, window: number | null): void {
    this.x.causal_softmax_bwd_f32(dp.byteOffset + 4 * dpo, p.byteOffset + 4 * po, T, scale, window ?? 0);
  }

  /**
   * out (N,V) = row softmax of inp (N,V) (out null: not written; out may be inp); stats (N,2), unless
   * null, receives per row [max, sum of e^(x - max)] (log-sum-exp = max + log sum). All given arrays owned.
   */
  softmaxRows(out: Float32Array | null, inp: Float32Array, N: number, V: number, stats: Float32Array | null): void {
    this.x.softmax_rows_f32(out ? out.byteOffset : 0, inp.byteOffset, N, V, stats ? stats.byteOffset : 0);
  }

  /** dst[i] = e^src[i] (fp32 vectorized exp, ~1-2 ulp; x < ln 2^-126 gives 0), both owned, n = src.length. */
  exp(dst: Float32Array, src: Float32Array): Float32Array {
    this.x.exp_f32(dst.byteOffset, src.byteOffset, src.length);
    return dst;
  }

  /** out (N,OC) = inp (N,C) @ weight (OC,C)^T. */
  linearForward(out: Float32Array, inp: Float32Array, weight: Float32Array, N: number, C: number, OC: number): void {
    const wT = this.transpose(this.scratch(0, OC * C), weight, OC, C); // (C,OC)
    this.gemm(out, 0, OC, inp, 0, C, 1, wT, 0, OC, N, C, OC, false);
  }

  /** dinp (N,C) += dout (N,OC) @ weight (OC,C) (unless null); dweight (OC,C) += dout^T @ inp (N,C). */
  linearBackward(
    dinp: Float32Array | null, dweight: Float32Array, dout: Float32Array, inp: Float32Array, weight: Float32Array,
    N: number, C: number, OC: number,
  ): void {
    if (dinp) this.gemm(dinp, 0, C, dout, 0, OC, 1, weight, 0, C, N, OC, C, true);
    this.gemm(dweight, 0, C, dout, 0, 1, OC, inp, 0, C, OC, N, C, true);
  }
}

/** The kernel to use for these arrays: k when it owns all of them, else null (JS path). */
export function kernelFor(k: TrainKernel | null | undefined, ...arrs: (Float32Array | null)[]): TrainKernel | null {
  if (!k) return null;
  for (const a of arrs) if (a && !k.owns(a)) return null;
  return k;
}
