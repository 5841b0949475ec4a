import type { Tensor } from '../../formats/quant/types.js';
import type { KernelSet } from '../types.js';
import { WasmHeap } from './heap.js';
import { GLU_CODE, PackedType, prefillScratchStride, quadBytes, writePrefillCtx } from './layout.js';
import { instantiate, loadWasmModule, type VariantChoice, type WasmExports, type WasmModule } from './module.js';
import { minStagingBytes, packMatrix, tensorRows, type PackedMatrix } from './pack.js';
import { ThreadPool } from './pool.js';

/** Writes one matmul descriptor (assembly/matmul.ts `matmul_multi`: 8 i32) at ptr. */
export function writeDesc(heap: WasmHeap, ptr: number, m: PackedMatrix, out: number, ldo: number, accumulate: boolean): void {
  const d = heap.i32(ptr, 8);
  d[0] = m.type;
  d[1] = m.ptr | 0;
  d[2] = m.O;
  d[3] = m.K;
  d[4] = out | 0;
  d[5] = ldo;
  d[6] = accumulate ? 1 : 0;
  d[7] = 0;
}

/**
 * The KernelSet on the WebAssembly kernels, one op at a time: inputs are copied into wasm memory,
 * the kernel runs (on `threads` threads for the parallel ones) and results are copied back.
 * This is the form the conformance suite compares with `refKernels`; the engine (engine.ts)
 * instead keeps a whole step inside wasm memory. Weights are packed once per Tensor object.
 *
 * Differences from the reference by design: Q8_0 / Q4_0 matmuls quantize x to int8 blocks
 * (as ggml does), float sums are float32.
 */
export class WasmKernels implements KernelSet {
  readonly name: string;
  private readonly packed = new WeakMap<Tensor, PackedMatrix>();

  private constructor(
    readonly heap: WasmHeap,
    readonly ex: WasmExports,
    readonly pool: ThreadPool,
    readonly mod: WasmModule,
  ) {
    this.name = `wasm-${mod.variant}${pool.nth > 1 ? `x${pool.nth}` : ''}`;
  }

  /** @param options.threads total threads incl. the caller (default 1); options.variant see VariantChoice. */
  static async create(options: { threads?: number; variant?: VariantChoice } = {}): Promise<WasmKernels> {
    const mod = loadWasmModule(options.variant ?? 'auto');
    const heap = new WasmHeap(1 << 30, 1 << 20);
    const ex = instantiate(mod, heap.memory);
    const pool = await ThreadPool.create(mod, [heap.memory], [ex], options.threads ?? 1);
    return new WasmKernels(heap, ex, pool, mod);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private pack(w: Tensor): PackedMatrix {
    let p = this.packed.get(w);
    if (!p) {
      const K = w.shape[w.shape.length - 1]!;
      const bytes = Math.max(1 << 20, minStagingBytes(K));
      const st = this.heap.alloc(bytes);
      p = packMatrix(this.heap, this.ex, { ptr: st, bytes }, w, tensorRows(w));
      this.heap.release(st);
      this.packed.set(w, p);
    }
    return p;
  }

  private put(a: Float32Array): number {
    const p = this.heap.alloc(a.byteLength);
    this.heap.f32(p, a.length).set(a);
    return p;
  }

  matmul(out: Float32Array, x: Float32Array, w: Tensor, T: number): void {
    const m = this.pack(w);
    const { heap } = this;
    const xf = this.put(x.subarray(0, T * m.K));
    let xq = 0, xd = 0, xs = 0, x16 = 0;
    if (m.type !== PackedType.F32) {
      const nb = (T * m.K) / 32;
      xq = heap.alloc(T * m.K);
      xd = heap.alloc(nb * 4);
      xs = heap.alloc(nb * 4);
      if (T > 1) x16 = heap.alloc(quadBytes(T, m.K)); // token quads for the prefill kernels (assembly/prefill.ts)
      this.pool.run(0, 'quantize_q8', [xf, xq, xd, xs, nb, x16, m.K]);
    }
    const o = heap.alloc(T * m.O * 4);
    const desc = heap.alloc(32);
    writeDesc(heap, desc, m, o, m.O, false);
    // T > 1: prefill kernels with per-thread weight scratch, rows claimed dynamically (as in the engine)
    let ctx = 0, scratch = 0;
    if (x16) {
      ctx = heap.alloc(64);
      scratch = heap.alloc(prefillScratchStride(m.K) * this.pool.nth);
      writePrefillCtx(heap.i32(ctx, 3), scratch, m.K);
    }
    this.pool.run(0, 'matmul_multi', [desc, 1, xf, xq, xd, xs, T, x16, ctx]);
    out.set(heap.f32(o, T * m.O));
    for (const p of [xf, xq, xd, xs, x16, o, desc, ctx, scratch]) if (p) heap.release(p);
  }

  rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, T: number, C: number, eps: number): void {
    const xp = this.put(x.subarray(0, T * C));
    const wp = this.put(weight.subarray(0, C));
    const op = this.heap.alloc(T * C * 4);
    this.ex.rmsnorm(op, xp, wp, T, C, eps);
    out.set(this.heap.f32(op, T * C));
    for (const p of [xp, wp, op]) this.heap.release(p);
  }

  rope(x: Float32Array, T: number, nHeads: number, D: number, pos0: number, theta: number): void {
    const n = T * nHeads * D;
    const xp = this.put(x.subarray(0, n));
    this.ex.rope(xp, nHeads * D, T, nHeads, D, pos0, theta);
    x.set(this.heap.f32(xp, n));
    this.heap.release(xp);
  }

  attention(
    out: Float32Array, q: Float32Array, kCache: Float32Array, vCache: Float32Array,
    T: number, pos0: number, H: number, KVH: number, D: number, window: number | null,
  ): void {
    const S = pos0 + T;
    const qp = this.put(q.subarray(0, T * H * D));
    const kp = this.put(kCache.subarray(0, S * KVH * D));
    const vp = this.put(vCache.subarray(0, S * KVH * D));
    const op = this.heap.alloc(T * H * D * 4);
    const stride = Math.ceil((S * 4) / 64) * 64;
    const sc = this.heap.alloc(stride * this.pool.nth);
    this.pool.run(0, 'attention', [op, qp, H * D, kp, vp, T, pos0, H, KVH, D, window ?? 0, sc, stride]);
    out.set(this.heap.f32(op, T * H * D));
    for (const p of [qp, kp, vp, op, sc]) this.heap.release(p);
  }

  glu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number, kind: 'swiglu' | 'reglu' | 'drelu'): void {
    const gp = this.put(gate.subarray(0, n));
    const upp = this.put(up.subarray(0, n));
    const op = this.heap.alloc(n * 4);
    this.ex.glu(op, gp, upp, n, GLU_CODE[kind]);
    out.set(this.heap.f32(op, n));
    for (const p of [gp, upp, op]) this.heap.release(p);
  }

  add(x: Float32Array, y: Float32Array, n: number): void {
    const xp = this.put(x.subarray(0, n));
    const yp = this.put(y.subarray(0, n));
    this.ex.add(xp, yp, n);
    x.set(this.heap.f32(xp, n));
    this.heap.release(xp);
    this.heap.release(yp);
  }
}
