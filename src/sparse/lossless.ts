import { UsageError } from '../errors.js';
import type { Tensor } from '../formats/quant/types.js';
import { dequantizeRows } from '../kernels/ref/dequant.js';
import type { ModelConfig } from '../model/config.js';
import { FfnStats, neuronBytes, type NeuronBytes } from './stats.js';

/**
 * Default sparse/dense switch: a layer runs a token sparsely only while its gate-active fraction is at
 * most this. 0.4 is the measured break-even of the fused neuron-bundle kernel on Q8_0 weights
 * (`shared/docs/kernel-notes.md` section 4: sparse stops paying above about 40% active; F32 breaks
 * even nearer 60%).
 */
export const DEFAULT_SPARSE_CROSSOVER = 0.4;

/**
 * Refuses lossless sparsity for a model whose FFN is not ReLU-family: with SwiGLU no neuron is
 * exactly zero, so skipping any would change the output.
 * @throws UsageError naming the activation.
 */
export function requireReluFamily(config: ModelConfig): void {
  if (config.ffn_activation !== 'reglu' && config.ffn_activation !== 'drelu')
    throw new UsageError('--sparse', `lossless sparsity needs a ReLU-family FFN (reglu or drelu); this model is ${config.ffn_activation}`);
}

export function checkCrossover(t: number): number {
  if (!(t >= 0 && t <= 1)) throw new UsageError('--sparse-crossover', `must be a fraction in 0..1 (got ${t})`);
  return t;
}

/** The FFN matrices of one layer, as stored (gate, up (F, C); down (C, F)). */
export interface FfnTensors {
  ffn_gate: Tensor;
  ffn_up: Tensor;
  ffn_down: Tensor;
  /** PowerInfer's stored transposed down (F, C), when the file had it instead of ffn_down (byte counts use it). */
  ffn_down_t?: Tensor;
}

/**
 * One layer's FFN weights neuron-major, as float32 (exact dequantization): neuron i's gate row, up
 * row and down column (PowerInfer's `ffn_down_t` row) form one contiguous bundle of 3C values at
 * i * 3C, so skipping a neuron skips all of its bytes. (F * 3C)
 */
export function neuronBundle(L: FfnTensors, C: number, F: number): Float32Array {
  const g = dequantizeRows(L.ffn_gate, 0, F);
  const u = dequantizeRows(L.ffn_up, 0, F);
  const d = dequantizeRows(L.ffn_down, 0, C); // (C, F)
  const b = new Float32Array(F * 3 * C);
  for (let i = 0; i < F; i++) {
    const o = i * 3 * C;
    b.set(g.subarray(i * C, (i + 1) * C), o);
    b.set(u.subarray(i * C, (i + 1) * C), o + C);
    for (let c = 0; c < C; c++) b[o + 2 * C + c] = d[c * F + i]!;
  }
  return b;
}

/**
 * Lossless sparse FFN on the reference path (no predictor), for ReGLU and dReLU:
 *   gate = W_gate n                     densely, all F neurons
 *   up_i = W_up[i] . n                  only for neurons with gate_i > 0
 *   h_i  = relu(gate_i) * up_i          (ReGLU)  or  relu(gate_i) * relu(up_i)  (dReLU)
 *   y    = sum_{i : h_i != 0} h_i * down_t[i]
 * Weights are held neuron-major: neuron i's gate row, up row and down column (PowerInfer's
 * `ffn_down_t` row) are one contiguous bundle of 3C float32, so skipping a neuron skips all of its
 * bytes. Values are dequantized exactly, sums are float64 in increasing neuron order and only exact
 * zeros are skipped, so the output equals the dense reference FFN (it is bit-identical to it).
 * Per layer and token, each pass chooses sparse or dense by its own active fraction: the up pass
 * reads every row when the gate-active fraction exceeds `threshold`, the down pass every column when
 * the h-active fraction does. The choice changes the bytes read, not the result.
 */
export class LosslessFfn {
  private readonly bundles: Float32Array[];
  private readonly nb: NeuronBytes[];
  private readonly C: number;
  private readonly F: number;
  private readonly drelu: boolean;
  private readonly gate: Float32Array;
  private readonly hv: Float32Array;
  private readonly acc: Float64Array;

  constructor(
    config: ModelConfig,
    layers: FfnTensors[],
    readonly threshold: number = DEFAULT_SPARSE_CROSSOVER,
    readonly stats?: FfnStats,
  ) {
    requireReluFamily(config);
    checkCrossover(threshold);
    const C = (this.C = config.hidden_size);
    const F = (this.F = config.intermediate_size);
    this.drelu = config.ffn_activation === 'drelu';
    this.bundles = [];
    this.nb = [];
    for (const L of layers) {
      this.bundles.push(neuronBundle(L, C, F));
      this.nb.push(neuronBytes(L.ffn_gate.data.byteLength, L.ffn_up.data.byteLength, (L.ffn_down_t ?? L.ffn_down).data.byteLength, F));
    }
    this.gate = new Float32Array(F);
    this.hv = new Float32Array(F);
    this.acc = new Float64Array(C);
  }

  /**
   * out (T, C) = ffn_down(glu(ffn_gate(n), ffn_up(n))) for layer `l`; also fills h (T, F) (zeros for
   * skipped neurons) and gate (T, F) when given, for observers.
   */
  run(l: number, out: Float32Array, n: Float32Array, T: number, h?: Float32Array, gateOut?: Float32Array): void {
    const { C, F, drelu, gate, hv, acc } = this;
    const b = this.bundles[l]!;
    const nb = this.nb[l]!;
    const S = 3 * C;
    for (let t = 0; t < T; t++) {
      const xo = t * C;
      let gateActive = 0;
      for (let i = 0; i < F; i++) {
        const o = i * S;
        let s = 0;
        for (let c = 0; c < C; c++) s += b[o + c]! * n[xo + c]!;
        gate[i] = s;
        if (gate[i]! > 0) gateActive++;
      }
      // Up pass: rows of ffn_up only for gate > 0 (or all rows when too many are active).
      const sparseUp = gateActive <= this.threshold * F;
      let active = 0;
      for (let i = 0; i < F; i++) {
        const g = gate[i]!;
        let hi = 0;
        if (g > 0 || !sparseUp) {
          const o = i * S + C;
          let s = 0;
          for (let c = 0; c < C; c++) s += b[o + c]! * n[xo + c]!;
          const u = Math.fround(s);
          if (g > 0 && (!drelu || u > 0)) hi = Math.fround(g * u);
        }
        hv[i] = hi;
        if (hi !== 0) active++;
      }
      if (h) h.set(hv, t * F);
      // Down pass: y += h_i * down_t[i] over neurons with h_i != 0 (or over all of them).
      const sparseDown = active <= this.threshold * F;
      acc.fill(0);
      for (let i = 0; i < F; i++) {
        const hi = hv[i]!;
        if (hi === 0 && sparseDown) continue;
        const od = i * S + 2 * C;
        for (let c = 0; c < C; c++) acc[c] = acc[c]! + hi * b[od + c]!;
      }
      for (let c = 0; c < C; c++) out[xo + c] = acc[c]!;
      if (gateOut) gateOut.set(gate, t * F);
      if (this.stats) {
        const dense = F * (nb.gate + nb.up + nb.down);
        const read = F * nb.gate + (sparseUp ? gateActive : F) * nb.up + (sparseDown ? active : F) * nb.down;
        this.stats.record(l, active, gateActive, read, dense, sparseUp, sparseDown);
      }
    }
  }
}
