/** Residual connection. Letters: N = B*T*C elements. */

/** out (N) = inp1 (N) + inp2 (N). out may alias inp1. */
export function residualForward(out: Float32Array, inp1: Float32Array, inp2: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) out[i] = inp1[i]! + inp2[i]!;
}

/** dinp1 += dout, dinp2 += dout. */
export function residualBackward(dinp1: Float32Array, dinp2: Float32Array, dout: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) {
    dinp1[i] += dout[i]!;
    dinp2[i] += dout[i]!;
  }
}
