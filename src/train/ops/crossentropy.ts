/**
 * Softmax + cross-entropy, fused (llm.c crossentropy_softmax_backward).
 * Letters: N = B*T rows, V vocabulary. A target < 0 marks a position without a loss (ignored).
 *
 * The forwards take an optional `TrainKernel`: when it owns the softmax's arrays, the exps run in
 * its WebAssembly row softmax (fp32, vectorized exp); the loops here stay the JS reference.
 */
import { kernelFor, type TrainKernel } from './gemm.js';

/** Scratch slot of `TrainKernel` for the per-row [max, sum] statistics (slots 0-2: linear / attention). */
const STATS_SLOT = 3;

/** probs (N,V) = softmax(logits (N,V)); losses (N) = -log probs[target] (0 where ignored). */
export function crossentropyForward(
  losses: Float32Array, probs: Float32Array, logits: Float32Array, targets: Int32Array, N: number, V: number, kernel?: TrainKernel | null,
): void {
  const wk = kernelFor(kernel, probs, logits);
  if (wk) {
    const stats = wk.scratch(STATS_SLOT, 2 * N); // (N,2) [max, sum]
    wk.softmaxRows(probs, logits, N, V, stats);
    for (let n = 0; n < N; n++) {
      const tgt = targets[n]!;
      losses[n] = tgt < 0 ? 0 : Math.log(stats[2 * n + 1]!) + stats[2 * n]! - logits[n * V + tgt]!;
    }
    return;
  }
  const stats = new Float64Array(2 * N);
  softmaxRowsRef(probs, logits, N, V, stats);
  for (let n = 0; n < N; n++) {
    const tgt = targets[n]!;
    // log-sum-exp form keeps the loss finite even when probs[target] underflows in float32
    losses[n] = tgt < 0 ? 0 : Math.log(stats[2 * n + 1]!) + stats[2 * n]! - logits[n * V + tgt]!;
  }
}

/** JS reference row softmax: probs (N,V) = softmax(logits (N,V)); stats (N,2) gets each row's [max, sum of exp(x - max)]. */
function softmaxRowsRef(probs: Float32Array, logits: Float32Array, N: number, V: number, stats: Float64Array | null): void {
  for (let n = 0; n < N; n++) {
    const o = n * V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (logits[o + v]! > max) max = logits[o + v]!;
    let sum = 0;
    for (let v = 0; v < V; v++) {
      const e = Math.exp(logits[o + v]! - max);
      probs[o + v] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let v = 0; v < V; v++) probs[o + v] *= inv;
    if (stats) {
      stats[2 * n] = max;
      stats[2 * n + 1] = sum;
    }
  }
}

/** dlogits (N,V) += dlosses[n] * (probs - onehot(target)). */
export function crossentropyBackward(dlogits: Float32Array, dlosses: Float32Array, probs: Float32Array, targets: Int32Array, N: number, V: number): void {
  for (let n = 0; n < N; n++) {
    const tgt = targets[n]!;
    if (tgt < 0) continue;
    const d = dlosses[n]!;
    if (d === 0) continue;
    const o = n * V;
    for (let v = 0; v < V; v++) dlogits[o + v] += d * probs[o + v]!;
    dlogits[o + tgt] -= d;
  }
}

/**
 * Distillation term (Hinton et al. 2015, temperature 1): per position the KL divergence from a
 * teacher's next-token distribution q to the student's softmax(logits):
 *   kl[n] = sum_v q[n,v] (log q[n,v] - log softmax(logits)[n,v])   (0 where targets[n] < 0)
 * logits (N,V), teacherProbs (N,V) rows summing to 1. log softmax is taken in log-sum-exp form.
 */
export function klForward(
  kl: Float32Array, logits: Float32Array, teacherProbs: Float32Array, targets: Int32Array, N: number, V: number, kernel?: TrainKernel | null,
): void {
  const wk = kernelFor(kernel, logits);
  if (wk) { // log-sum-exp per row in wasm (teacherProbs may be a plain array)
    const stats = wk.scratch(STATS_SLOT, 2 * N); // (N,2) [max, sum]
    wk.softmaxRows(null, logits, N, V, stats);
    for (let n = 0; n < N; n++) {
      if (targets[n]! < 0) {
        kl[n] = 0;
        continue;
      }
      const o = n * V, lse = Math.log(stats[2 * n + 1]!) + stats[2 * n]!;
      let s = 0;
      for (let v = 0; v < V; v++) {
        const q = teacherProbs[o + v]!;
        if (q > 0) s += q * (Math.log(q) - (logits[o + v]! - lse));
      }
      kl[n] = s;
    }
    return;
  }
  for (let n = 0; n < N; n++) {
    if (targets[n]! < 0) {
      kl[n] = 0;
      continue;
    }
    const o = n * V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (logits[o + v]! > max) max = logits[o + v]!;
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[o + v]! - max);
    const lse = Math.log(sum) + max;
    let s = 0;
    for (let v = 0; v < V; v++) {
      const q = teacherProbs[o + v]!;
      if (q > 0) s += q * (Math.log(q) - (logits[o + v]! - lse));
    }
    kl[n] = s;
  }
}

/** dlogits (N,V) += dkl[n] * (probs - teacherProbs), probs = the student's softmax (from crossentropyForward). */
export function klBackward(dlogits: Float32Array, dkl: Float32Array, probs: Float32Array, teacherProbs: Float32Array, targets: Int32Array, N: number, V: number): void {
  for (let n = 0; n < N; n++) {
    if (targets[n]! < 0) continue;
    const d = dkl[n]!;
    if (d === 0) continue;
    const o = n * V;
    for (let v = 0; v < V; v++) dlogits[o + v] += d * (probs[o + v]! - teacherProbs[o + v]!);
  }
}

/** probs (N,V) = softmax(logits (N,V)) per row (a teacher's distribution for `klForward`). */
export function softmaxForward(probs: Float32Array, logits: Float32Array, N: number, V: number, kernel?: TrainKernel | null): void {
  const wk = kernelFor(kernel, probs, logits);
  if (wk) {
    wk.softmaxRows(probs, logits, N, V, null);
    return;
  }
  softmaxRowsRef(probs, logits, N, V, null);
}
