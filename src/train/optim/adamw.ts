/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter; PyTorch torch.optim.AdamW):
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr * ( m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps) + wd * p )
 * Weight decay applies where `decayMask` is 1 (the 2-D weight matrices; norms and, by llama
 * practice, nothing else is decayed). t is the 1-based step number.
 */
export interface AdamWState {
  m: Float32Array;
  v: Float32Array;
}

export interface AdamWHyper {
  lr: number;
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export function adamwInit(n: number): AdamWState {
  return { m: new Float32Array(n), v: new Float32Array(n) };
}

export function adamwUpdate(params: Float32Array, grads: Float32Array, state: AdamWState, decayMask: Uint8Array, t: number, h: AdamWHyper): void {
  const b1 = h.beta1 ?? 0.9, b2 = h.beta2 ?? 0.95, eps = h.eps ?? 1e-8;
  const c1 = 1 - Math.pow(b1, t), c2 = 1 - Math.pow(b2, t);
  const { m, v } = state;
  for (let i = 0; i < params.length; i++) {
    const g = grads[i]!;
    const mi = b1 * m[i]! + (1 - b1) * g;
    const vi = b2 * v[i]! + (1 - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const wd = decayMask[i] === 1 ? h.weightDecay * params[i]! : 0;
    params[i] = params[i]! - h.lr * ((mi / c1) / (Math.sqrt(vi / c2) + eps) + wd);
  }
}

/** Scales grads so their global L2 norm is at most maxNorm (maxNorm <= 0: no clipping). Returns the norm before clipping. */
export function clipGradNorm(grads: Float32Array, maxNorm: number): number {
  let ss = 0;
  for (let i = 0; i < grads.length; i++) ss += grads[i]! * grads[i]!;
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (let i = 0; i < grads.length; i++) grads[i] = grads[i]! * s;
  }
  return norm;
}
