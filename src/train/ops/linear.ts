/**
 * Linear layer without bias (every projection of the Llama block): out = inp @ weight^T.
 * Letters: N = B*T rows, C = input channels, OC = output channels. Weights are PyTorch order (OC, C).
 *
 * All three products run through one kernel, `matmulNT` (a @ b^T, both row-major with the shared
 * dimension contiguous), tiled 4 rows x 2 columns so each loaded value feeds two or four
 * multiply-adds held in registers (llm.c matmul_forward's loop unrolling). The backward transposes
 * its operands once (O(N*C + OC*C + N*OC) copies against O(N*C*OC) work) to reach that layout.
 *
 * `linearForward` / `linearBackward` take an optional per-thread `TrainKernel` (./gemm.ts): when all
 * their arrays live in its WebAssembly memory they run the SIMD kernel instead; `matmulNT` stays
 * the scalar reference.
 */
import { kernelFor, type TrainKernel } from './gemm.js';

/**
 * Triangular shortcuts of `matmulNT` for causal attention (M = P = T or M = K = T), by row block
 * m..m+3: 'none' full product; 'p<=m' only columns p < m+4 (entries above the diagonal block are
 * left unspecified); 'k<=m' only k < m+4 (a's entries with k > row are zero); 'k>=m' only k >= m
 * (a's entries with k < row are zero).
 */
export type Triangle = 'none' | 'p<=m' | 'k<=m' | 'k>=m';

/** out (M,P) (= or +=) a (M,K) @ b (P,K)^T. */
export function matmulNT(out: Float32Array, a: Float32Array, b: Float32Array, M: number, K: number, P: number, accumulate: boolean, tri: Triangle = 'none'): void {
  let m = 0;
  for (; m + 4 <= M; m += 4) {
    const a0 = m * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
    const o0 = m * P, o1 = o0 + P, o2 = o1 + P, o3 = o2 + P;
    const pEnd = tri === 'p<=m' ? Math.min(P, m + 4) : P;
    const kStart = tri === 'k>=m' ? m : 0;
    const kEnd = tri === 'k<=m' ? Math.min(K, m + 4) : K;
    let p = 0;
    for (; p + 2 <= pEnd; p += 2) {
      const b0 = p * K, b1 = b0 + K;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
      for (let k = kStart; k < kEnd; k++) {
        const w0 = b[b0 + k]!, w1 = b[b1 + k]!;
        const x0 = a[a0 + k]!, x1 = a[a1 + k]!, x2 = a[a2 + k]!, x3 = a[a3 + k]!;
        s00 += x0 * w0; s01 += x0 * w1;
        s10 += x1 * w0; s11 += x1 * w1;
        s20 += x2 * w0; s21 += x2 * w1;
        s30 += x3 * w0; s31 += x3 * w1;
      }
      if (accumulate) {
        out[o0 + p] += s00; out[o0 + p + 1] += s01;
        out[o1 + p] += s10; out[o1 + p + 1] += s11;
        out[o2 + p] += s20; out[o2 + p + 1] += s21;
        out[o3 + p] += s30; out[o3 + p + 1] += s31;
      } else {
        out[o0 + p] = s00; out[o0 + p + 1] = s01;
        out[o1 + p] = s10; out[o1 + p + 1] = s11;
        out[o2 + p] = s20; out[o2 + p + 1] = s21;
        out[o3 + p] = s30; out[o3 + p + 1] = s31;
      }
    }
    for (; p < pEnd; p++) {
      const b0 = p * K;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = kStart; k < kEnd; k++) {
        const w = b[b0 + k]!;
        s0 += a[a0 + k]! * w; s1 += a[a1 + k]! * w; s2 += a[a2 + k]! * w; s3 += a[a3 + k]! * w;
      }
      if (accumulate) { out[o0 + p] += s0; out[o1 + p] += s1; out[o2 + p] += s2; out[o3 + p] += s3; }
      else { out[o0 + p] = s0; out[o1 + p] = s1; out[o2 + p] = s2; out[o3 + p] = s3; }
    }
  }
  for (; m < M; m++) {
    const a0 = m * K;
    for (let p = 0; p < P; p++) {
      const b0 = p * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += a[a0 + k]! * b[b0 + k]!;
      if (accumulate) out[m * P + p] += s;
      else out[m * P + p] = s;
    }
  }
}

/** out (Cc,R) = transpose of inp (R,Cc): out[c*R + r] = inp[r*Cc + c]. Returns out. */
export function transpose(out: Float32Array, inp: Float32Array, R: number, Cc: number): Float32Array {
  for (let r = 0; r < R; r++) {
    const ro = r * Cc;
    for (let c = 0; c < Cc; c++) out[c * R + r] = inp[ro + c]!;
  }
  return out;
}

// Scratch for transposes, grown on demand (one set per thread: module state is per worker).
let scratchA = new Float32Array(0);
let scratchB = new Float32Array(0);
function scratch(which: 0 | 1, n: number): Float32Array {
  if (which === 0) {
    if (scratchA.length < n) scratchA = new Float32Array(n);
    return scratchA.subarray(0, n);
  }
  if (scratchB.length < n) scratchB = new Float32Array(n);
  return scratchB.subarray(0, n);
}

/** out (N,OC) = inp (N,C) @ weight (OC,C)^T. kernel: wasm path when it owns all three arrays. */
export function linearForward(out: Float32Array, inp: Float32Array, weight: Float32Array, N: number, C: number, OC: number, kernel?: TrainKernel | null): void {
  const k = kernelFor(kernel, out, inp, weight);
  if (k) return k.linearForward(out, inp, weight, N, C, OC);
  matmulNT(out, inp, weight, N, C, OC, false);
}

/**
 * Accumulates dinp (N,C) += dout (N,OC) @ weight (OC,C) and dweight (OC,C) += dout^T (OC,N) @ inp (N,C).
 * dinp may be null when the input needs no gradient. kernel: wasm path when it owns all the arrays.
 */
export function linearBackward(
  dinp: Float32Array | null, dweight: Float32Array, dout: Float32Array, inp: Float32Array, weight: Float32Array,
  N: number, C: number, OC: number, kernel?: TrainKernel | null,
): void {
  const k = kernelFor(kernel, dinp, dweight, dout, inp, weight);
  if (k) return k.linearBackward(dinp, dweight, dout, inp, weight, N, C, OC);
  if (dinp) {
    const wT = transpose(scratch(0, OC * C), weight, OC, C); // (C,OC)
    matmulNT(dinp, dout, wT, N, OC, C, true);
  }
  const doutT = transpose(scratch(0, N * OC), dout, N, OC); // (OC,N)
  const inpT = transpose(scratch(1, N * C), inp, N, C); // (C,N)
  matmulNT(dweight, doutT, inpT, OC, N, C, true);
}
