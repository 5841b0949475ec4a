/**
 * RMSNorm (Llama): out = inp / sqrt(mean(inp^2) + eps) * weight, per row.
 * Letters: N = B*T rows, C channels. `rstd` (N) saves 1/sqrt(mean(inp^2) + eps) for the backward.
 */

/** out (N,C), rstd (N) from inp (N,C), weight (C). */
export function rmsnormForward(out: Float32Array, rstd: Float32Array, inp: Float32Array, weight: Float32Array, N: number, C: number, eps: number): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += inp[o + c]! * inp[o + c]!;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let c = 0; c < C; c++) out[o + c] = inp[o + c]! * r * weight[c]!;
  }
}

/**
 * With r = rstd[n], y_c = x_c r w_c:  dx_c += r w_c dy_c - x_c r^3 / C * sum_j(dy_j w_j x_j),  dw_c += dy_c x_c r.
 * Accumulates dinp (N,C) and dweight (C).
 */
export function rmsnormBackward(
  dinp: Float32Array, dweight: Float32Array, dout: Float32Array, inp: Float32Array, weight: Float32Array, rstd: Float32Array,
  N: number, C: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const r = rstd[n]!;
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dout[o + c]! * weight[c]! * inp[o + c]!;
    const k = (dot * r * r * r) / C;
    for (let c = 0; c < C; c++) {
      const x = inp[o + c]!;
      const dy = dout[o + c]!;
      dinp[o + c] += r * weight[c]! * dy - x * k;
      dweight[c] += dy * x * r;
    }
  }
}
