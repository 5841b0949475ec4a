/** Token embedding lookup. Letters: B batch, T time, C channels, V vocabulary. */

/** out (B,T,C) = wte (V,C)[inp (B,T)]. */
export function encoderForward(out: Float32Array, inp: Int32Array, wte: Float32Array, B: number, T: number, C: number): void {
  for (let bt = 0; bt < B * T; bt++) {
    const ix = inp[bt]!;
    out.set(wte.subarray(ix * C, ix * C + C), bt * C);
  }
}

/** dwte (V,C)[inp[b,t]] += dout (B,T,C)[b,t]. */
export function encoderBackward(dwte: Float32Array, dout: Float32Array, inp: Int32Array, B: number, T: number, C: number): void {
  for (let bt = 0; bt < B * T; bt++) {
    const wo = inp[bt]! * C;
    const go = bt * C;
    for (let c = 0; c < C; c++) dwte[wo + c] += dout[go + c]!;
  }
}
