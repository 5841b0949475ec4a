/**
 * Rotary position embedding, GGUF / Meta order: adjacent pairs (2i, 2i+1) of each head are rotated
 * by pos * theta^(-2i/D) (as src/kernels/ref `rope`). Letters: B batch, T time, NH heads, D head size.
 * Position of token t is pos0 + t in every sequence of the batch.
 */

/** Cos/sin table (T, D/2) for positions pos0 .. pos0+T-1. */
export function ropeTable(T: number, D: number, theta: number, pos0 = 0): { cos: Float32Array; sin: Float32Array } {
  const half = D / 2;
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const a = (pos0 + t) * (1 / Math.pow(theta, (2 * i) / D));
      cos[t * half + i] = Math.cos(a);
      sin[t * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/** out (B,T,NH*D) = rotate(inp (B,T,NH*D)). out may not alias inp. */
export function ropeForward(out: Float32Array, inp: Float32Array, cos: Float32Array, sin: Float32Array, B: number, T: number, NH: number, D: number): void {
  const half = D / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * NH * D;
      for (let h = 0; h < NH; h++) {
        const o = row + h * D;
        for (let i = 0; i < half; i++) {
          const c = cos[t * half + i]!, s = sin[t * half + i]!;
          const v0 = inp[o + 2 * i]!, v1 = inp[o + 2 * i + 1]!;
          out[o + 2 * i] = v0 * c - v1 * s;
          out[o + 2 * i + 1] = v0 * s + v1 * c;
        }
      }
    }
  }
}

/** dinp (B,T,NH*D) += R^T dout: the inverse rotation of the gradient. */
export function ropeBackward(dinp: Float32Array, dout: Float32Array, cos: Float32Array, sin: Float32Array, B: number, T: number, NH: number, D: number): void {
  const half = D / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * NH * D;
      for (let h = 0; h < NH; h++) {
        const o = row + h * D;
        for (let i = 0; i < half; i++) {
          const c = cos[t * half + i]!, s = sin[t * half + i]!;
          const g0 = dout[o + 2 * i]!, g1 = dout[o + 2 * i + 1]!;
          dinp[o + 2 * i] += g0 * c + g1 * s;
          dinp[o + 2 * i + 1] += -g0 * s + g1 * c;
        }
      }
    }
  }
}
