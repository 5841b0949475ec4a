import { kernelFor, type TrainKernel } from './gemm.js';
import { matmulNT, transpose } from './linear.js';

/**
 * Causal grouped-query attention (Llama / Mistral), after RoPE has been applied to q and k.
 * Letters: B batch, T time, NH query heads, KVH key/value heads (NH % KVH == 0), D head size.
 * Query head h reads key/value head floor(h / (NH/KVH)). `window` (Mistral sliding window):
 * position t attends to s in [t - window + 1, t]; null = all s <= t. Scores are scaled by 1/sqrt(D).
 *
 * Per (b, h) the work is a few (T,T) / (T,D) matrix products, run through the tiled `matmulNT`
 * with its triangular shortcuts (only the causal half is computed); heads are packed to (T,D)
 * first so every product reads contiguous rows. With a `TrainKernel` owning every array, the
 * products run in WebAssembly instead, reading heads in place through strides (only K^T / V^T of
 * a head are packed), and so do the softmax and its backward (`TrainKernel.causalSoftmax`, same
 * semantics as `causalSoftmax` / `softmaxBackwardInPlace` below, which stay the JS reference).
 */

// Per-thread scratch, grown on demand.
const bufs: Float32Array[] = [];
function buf(i: number, n: number): Float32Array {
  if (!bufs[i] || bufs[i]!.length < n) bufs[i] = new Float32Array(n);
  return bufs[i]!.subarray(0, n);
}

/** dst (T,D) = head `h` of src (B,T,H*D) for batch row b. */
function packHead(dst: Float32Array, src: Float32Array, b: number, T: number, H: number, D: number, h: number): Float32Array {
  for (let t = 0; t < T; t++) {
    const so = (b * T + t) * H * D + h * D;
    for (let d = 0; d < D; d++) dst[t * D + d] = src[so + d]!;
  }
  return dst;
}

/** dst (B,T,H*D) head h of batch row b (+)= src (T,D). */
function unpackHead(dst: Float32Array, src: Float32Array, b: number, T: number, H: number, D: number, h: number, add: boolean): void {
  for (let t = 0; t < T; t++) {
    const o = (b * T + t) * H * D + h * D;
    for (let d = 0; d < D; d++) {
      if (add) dst[o + d] += src[t * D + d]!;
      else dst[o + d] = src[t * D + d]!;
    }
  }
}

/** S (T,T) <- causal softmax of its rows scaled by `scale` (entries outside the window become 0). */
export function causalSoftmax(S: Float32Array, T: number, scale: number, window: number | null): void {
  for (let t = 0; t < T; t++) {
    const lo = window === null ? 0 : Math.max(0, t - window + 1);
    const ro = t * T;
    let max = -Infinity;
    for (let s = lo; s <= t; s++) {
      const x = S[ro + s]! * scale;
      S[ro + s] = x;
      if (x > max) max = x;
    }
    let sum = 0;
    for (let s = lo; s <= t; s++) {
      const e = Math.exp(S[ro + s]! - max);
      S[ro + s] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let s = 0; s < lo; s++) S[ro + s] = 0;
    for (let s = lo; s <= t; s++) S[ro + s] *= inv;
    for (let s = t + 1; s < T; s++) S[ro + s] = 0;
  }
}

/** dP (T,T) <- dS = P (dP - rowsum(P dP)) * scale within the causal window, 0 outside. */
export function softmaxBackwardInPlace(dP: Float32Array, P: Float32Array, T: number, scale: number, window: number | null): void {
  for (let t = 0; t < T; t++) {
    const lo = window === null ? 0 : Math.max(0, t - window + 1);
    const ro = t * T;
    let dot = 0;
    for (let s = lo; s <= t; s++) dot += P[ro + s]! * dP[ro + s]!;
    for (let s = 0; s < lo; s++) dP[ro + s] = 0;
    for (let s = lo; s <= t; s++) dP[ro + s] = P[ro + s]! * (dP[ro + s]! - dot) * scale;
    for (let s = t + 1; s < T; s++) dP[ro + s] = 0;
  }
}

/** dst (D,T) = head h of src (B,T,H*D) for batch row b, transposed. */
function packHeadT(dst: Float32Array, src: Float32Array, b: number, T: number, H: number, D: number, h: number): Float32Array {
  for (let t = 0; t < T; t++) {
    const so = (b * T + t) * H * D + h * D;
    for (let d = 0; d < D; d++) dst[d * T + t] = src[so + d]!;
  }
  return dst;
}

/**
 * out (B,T,NH*D) = softmax(q k^T / sqrt(D), causal) v, and att (B,NH,T,T) saves the probabilities
 * (entries outside the causal window are 0) for the backward.
 * q (B,T,NH*D), k (B,T,KVH*D), v (B,T,KVH*D).
 */
export function attentionForward(
  out: Float32Array, att: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
  B: number, T: number, NH: number, KVH: number, D: number, window: number | null = null, kernel?: TrainKernel | null,
): void {
  const group = NH / KVH;
  const scale = 1 / Math.sqrt(D);
  const wk = kernelFor(kernel, out, att, q, k, v);
  if (wk) {
    const khT = wk.scratch(1, D * T);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < NH; h++) {
        const kvh = Math.floor(h / group);
        if (h % group === 0) packHeadT(khT, k, b, T, KVH, D, kvh);
        const qo = b * T * NH * D + h * D, vo = b * T * KVH * D + kvh * D, so = (b * NH + h) * T * T;
        wk.gemm(att, so, T, q, qo, NH * D, 1, khT, 0, T, T, D, T, false, 'p<=m'); // S (T,T) = Q (T,D) @ K^T (D,T)
        wk.causalSoftmax(att, so, T, scale, window);
        wk.gemm(out, qo, NH * D, att, so, T, 1, v, vo, KVH * D, T, T, D, false, 'k<=m'); // O (T,D) = P (T,T) @ V (T,D)
      }
    }
    return;
  }
  const qh = buf(0, T * D), kh = buf(1, T * D), vh = buf(2, T * D), vhT = buf(3, D * T), oh = buf(4, T * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const kvh = Math.floor(h / group);
      if (h % group === 0) {
        packHead(kh, k, b, T, KVH, D, kvh);
        transpose(vhT, packHead(vh, v, b, T, KVH, D, kvh), T, D);
      }
      packHead(qh, q, b, T, NH, D, h);
      const S = att.subarray((b * NH + h) * T * T, (b * NH + h + 1) * T * T); // (T,T)
      matmulNT(S, qh, kh, T, D, T, false, 'p<=m');
      causalSoftmax(S, T, scale, window);
      matmulNT(oh, S, vhT, T, T, D, false, 'k<=m'); // (T,D) = P (T,T) @ V (T,D)
      unpackHead(out, oh, b, T, NH, D, h, false);
    }
  }
}

/**
 * Accumulates dq (B,T,NH*D), dk (B,T,KVH*D), dv (B,T,KVH*D) from dout (B,T,NH*D), using the saved
 * probabilities att (B,NH,T,T). Per (b, h), with P = att:
 *   dP = dO V^T;  dV += P^T dO
 *   dS[t,s] = P[t,s] (dP[t,s] - sum_s' P[t,s'] dP[t,s']) / sqrt(D)
 *   dQ += dS K;  dK += dS^T Q
 */
export function attentionBackward(
  dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array, att: Float32Array,
  q: Float32Array, k: Float32Array, v: Float32Array,
  B: number, T: number, NH: number, KVH: number, D: number, window: number | null = null, kernel?: TrainKernel | null,
): void {
  const group = NH / KVH;
  const scale = 1 / Math.sqrt(D);
  const wk = kernelFor(kernel, dq, dk, dv, dout, att, q, k, v);
  if (wk) {
    const vhT = wk.scratch(1, D * T), dP = wk.scratch(2, T * T);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < NH; h++) {
        const kvh = Math.floor(h / group);
        if (h % group === 0) packHeadT(vhT, v, b, T, KVH, D, kvh);
        const qo = b * T * NH * D + h * D, ko = b * T * KVH * D + kvh * D, so = (b * NH + h) * T * T;
        wk.gemm(dP, 0, T, dout, qo, NH * D, 1, vhT, 0, T, T, D, T, false, 'p<=m'); // dP (T,T) = dO (T,D) @ V^T (D,T)
        wk.gemm(dv, ko, KVH * D, att, so, 1, T, dout, qo, NH * D, T, T, D, true, 'k>=m'); // dV (T,D) += P^T (T,T) @ dO (T,D)
        wk.causalSoftmaxBackward(dP, 0, att, so, T, scale, window); // dS in place of dP
        wk.gemm(dq, qo, NH * D, dP, 0, T, 1, k, ko, KVH * D, T, T, D, true, 'k<=m'); // dQ (T,D) += dS (T,T) @ K (T,D)
        wk.gemm(dk, ko, KVH * D, dP, 0, 1, T, q, qo, NH * D, T, T, D, true, 'k>=m'); // dK (T,D) += dS^T (T,T) @ Q (T,D)
      }
    }
    return;
  }
  const qh = buf(0, T * D), kh = buf(1, T * D), vh = buf(2, T * D), doh = buf(3, T * D), tmp = buf(4, T * D);
  const dP = buf(5, T * T), PT = buf(6, T * T), dST = buf(7, T * T);
  const dohT = buf(8, D * T), khT = buf(9, D * T), qhT = buf(10, D * T);
  const dkh = buf(11, T * D), dvh = buf(12, T * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const kvh = Math.floor(h / group);
      if (h % group === 0) {
        packHead(kh, k, b, T, KVH, D, kvh);
        transpose(khT, kh, T, D);
        packHead(vh, v, b, T, KVH, D, kvh);
        dkh.fill(0);
        dvh.fill(0);
      }
      packHead(qh, q, b, T, NH, D, h);
      packHead(doh, dout, b, T, NH, D, h);
      transpose(dohT, doh, T, D);
      const P = att.subarray((b * NH + h) * T * T, (b * NH + h + 1) * T * T);
      matmulNT(dP, doh, vh, T, D, T, false, 'p<=m'); // dP (T,T) = dO (T,D) @ V^T
      transpose(PT, P, T, T);
      matmulNT(dvh, PT, dohT, T, T, D, true, 'k>=m'); // dV (T,D) += P^T (T,T) @ dO (T,D)
      // dS, computed in place of dP (entries outside the causal window become 0)
      softmaxBackwardInPlace(dP, P, T, scale, window);
      matmulNT(tmp, dP, khT, T, T, D, false, 'k<=m'); // dQ (T,D) = dS (T,T) @ K (T,D)
      unpackHead(dq, tmp, b, T, NH, D, h, true);
      transpose(dST, dP, T, T);
      transpose(qhT, qh, T, D);
      matmulNT(dkh, dST, qhT, T, T, D, true, 'k>=m'); // dK (T,D) += dS^T (T,T) @ Q (T,D)
      if (h % group === group - 1) {
        unpackHead(dk, dkh, b, T, KVH, D, kvh, true);
        unpackHead(dv, dvh, b, T, KVH, D, kvh, true);
      }
    }
  }
}
