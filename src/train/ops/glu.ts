import type { FfnActivation } from '../../model/config.js';

/**
 * Gated FFN activations. Letters: N = B*T*F elements (F = intermediate size).
 *   swiglu: out = silu(gate) * up            (Llama / Mistral)
 *   reglu:  out = relu(gate) * up            (ReluLLaMA, ProSparse)
 *   drelu:  out = relu(gate) * relu(up)      (TurboSparse / Bamboo dReLU)
 * ReLU's derivative at exactly 0 is taken as 0 (PyTorch convention).
 */

/** out (N) from gate (N), up (N). */
export function gluForward(out: Float32Array, gate: Float32Array, up: Float32Array, N: number, kind: FfnActivation): void {
  if (kind === 'swiglu') {
    for (let i = 0; i < N; i++) {
      const g = gate[i]!;
      out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
    }
  } else if (kind === 'reglu') {
    for (let i = 0; i < N; i++) {
      const g = gate[i]!;
      out[i] = g > 0 ? g * up[i]! : 0;
    }
  } else {
    for (let i = 0; i < N; i++) {
      const g = gate[i]!, u = up[i]!;
      out[i] = g > 0 && u > 0 ? g * u : 0;
    }
  }
}

/** Accumulates dgate (N) and dup (N) from dout (N). */
export function gluBackward(dgate: Float32Array, dup: Float32Array, dout: Float32Array, gate: Float32Array, up: Float32Array, N: number, kind: FfnActivation): void {
  if (kind === 'swiglu') {
    for (let i = 0; i < N; i++) {
      const g = gate[i]!, d = dout[i]!;
      const sg = 1 / (1 + Math.exp(-g));
      const silu = g * sg;
      dgate[i] += d * up[i]! * sg * (1 + g * (1 - sg));
      dup[i] += d * silu;
    }
  } else if (kind === 'reglu') {
    for (let i = 0; i < N; i++) {
      const g = gate[i]!;
      if (g > 0) {
        const d = dout[i]!;
        dgate[i] += d * up[i]!;
        dup[i] += d * g;
      }
    }
  } else {
    for (let i = 0; i < N; i++) {
      const g = gate[i]!, u = up[i]!;
      if (g > 0 && u > 0) {
        const d = dout[i]!;
        dgate[i] += d * u;
        dup[i] += d * g;
      }
    }
  }
}
