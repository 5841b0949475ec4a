/**
 * Per-layer FFN sparsity telemetry: for every layer, over every token the engine processed,
 * the fraction of active neurons (mean, min, max) and the FFN weight bytes read against a dense FFN.
 *
 * Definitions (one token, one layer, F = intermediate_size):
 * - active: neurons with h = glu(gate, up) != 0 — the columns of ffn_down the sparse path reads.
 * - gate-active: neurons with gate > 0 — the rows of ffn_up the lossless path reads (for ReGLU the
 *   same set as `active` unless up is exactly 0; for dReLU a superset).
 * - bytes: what one T=1 decode step of that token reads from ffn_gate, ffn_up and ffn_down, in the
 *   weights' stored encoding: the whole gate matrix, plus the up rows and down columns of the neurons
 *   it computed (every row / column for a pass run densely: sparse off, or above the threshold).
 *   Prefill tokens are counted the same way, as if decoded one by one. In predictor mode the bytes
 *   also include the predictor's own fc1 and fc2 (every token reads them whole), and gate / up rows
 *   are read for the predicted neurons only.
 * - predicted: neurons whose predictor score is >= the threshold (predictor mode only).
 */

/** mean / min / max of a per-token fraction. */
export interface FractionSummary {
  mean: number;
  min: number;
  max: number;
}

export interface LayerFfnStats {
  layer: number;
  /** Tokens recorded. */
  tokens: number;
  /** Neurons with glu(gate, up) != 0, as a fraction of intermediate_size. */
  active: FractionSummary;
  /** Neurons with gate > 0, as a fraction of intermediate_size. */
  gateActive: FractionSummary;
  /** Tokens whose up pass read only the gate-active rows (the rest read every row). */
  sparseUpTokens: number;
  /** Tokens whose down pass read only the active columns (the rest read every column). */
  sparseDownTokens: number;
  /** FFN weight bytes read, summed over tokens. */
  bytesRead: number;
  /** FFN weight bytes a dense FFN reads for the same tokens. */
  bytesDense: number;
  /**
   * Neurons the activation predictor marked active (score >= threshold), as a fraction of
   * intermediate_size; all 0 unless the layer ran in predictor mode.
   */
  predicted: FractionSummary;
  /** Of `bytesRead`, the bytes of the predictor's own weights (fc1 + fc2), summed over tokens; 0 without a predictor. */
  predictorBytes: number;
}

/** Predictor-mode extras of one recorded token (FfnStats.record). */
export interface PredictorRecord {
  /** Neurons with score >= threshold. */
  predicted: number;
  /** fc1 + fc2 bytes read for this token (already included in bytesRead). */
  predictorBytes: number;
}

/** Accumulates per-layer FFN statistics; `layers()` returns a snapshot. */
export class FfnStats {
  private readonly n: Float64Array; // per layer: tokens
  private readonly sumA: Float64Array;
  private readonly minA: Float64Array;
  private readonly maxA: Float64Array;
  private readonly sumG: Float64Array;
  private readonly minG: Float64Array;
  private readonly maxG: Float64Array;
  private readonly sparseUpN: Float64Array;
  private readonly sparseDownN: Float64Array;
  private readonly read: Float64Array;
  private readonly dense: Float64Array;
  private readonly predN: Float64Array; // per layer: tokens recorded with a predictor
  private readonly sumP: Float64Array;
  private readonly minP: Float64Array;
  private readonly maxP: Float64Array;
  private readonly predBytes: Float64Array;

  /**
   * @param numLayers  num_hidden_layers
   * @param F          intermediate_size
   */
  constructor(readonly numLayers: number, readonly F: number) {
    const z = () => new Float64Array(numLayers);
    this.n = z(); this.sumA = z(); this.minA = z(); this.maxA = z();
    this.sumG = z(); this.minG = z(); this.maxG = z();
    this.sparseUpN = z(); this.sparseDownN = z(); this.read = z(); this.dense = z();
    this.predN = z(); this.sumP = z(); this.minP = z(); this.maxP = z(); this.predBytes = z();
    this.reset();
  }

  reset(): void {
    for (const a of [this.n, this.sumA, this.maxA, this.sumG, this.maxG, this.sparseUpN, this.sparseDownN, this.read, this.dense, this.predN, this.sumP, this.maxP, this.predBytes]) a.fill(0);
    this.minA.fill(Infinity);
    this.minG.fill(Infinity);
    this.minP.fill(Infinity);
  }

  /**
   * Records one token of one layer.
   * @param active      neurons with h != 0
   * @param gateActive  neurons with gate > 0
   * @param sparseUp    whether the up pass read only gate-active rows
   * @param sparseDown  whether the down pass read only active columns
   * @param predictor   predictor mode: predicted-neuron count and predictor bytes (included in bytesRead)
   */
  record(
    layer: number, active: number, gateActive: number, bytesRead: number, bytesDense: number, sparseUp: boolean, sparseDown: boolean,
    predictor?: PredictorRecord,
  ): void {
    const a = active / this.F;
    const g = gateActive / this.F;
    this.n[layer]! += 1;
    this.sumA[layer]! += a;
    if (a < this.minA[layer]!) this.minA[layer] = a;
    if (a > this.maxA[layer]!) this.maxA[layer] = a;
    this.sumG[layer]! += g;
    if (g < this.minG[layer]!) this.minG[layer] = g;
    if (g > this.maxG[layer]!) this.maxG[layer] = g;
    if (sparseUp) this.sparseUpN[layer]! += 1;
    if (sparseDown) this.sparseDownN[layer]! += 1;
    this.read[layer]! += bytesRead;
    this.dense[layer]! += bytesDense;
    if (predictor) {
      const p = predictor.predicted / this.F;
      this.predN[layer]! += 1;
      this.sumP[layer]! += p;
      if (p < this.minP[layer]!) this.minP[layer] = p;
      if (p > this.maxP[layer]!) this.maxP[layer] = p;
      this.predBytes[layer]! += predictor.predictorBytes;
    }
  }

  layers(): LayerFfnStats[] {
    const out: LayerFfnStats[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const n = this.n[l]!;
      const sum = (s: Float64Array, lo: Float64Array, hi: Float64Array): FractionSummary =>
        n === 0 ? { mean: 0, min: 0, max: 0 } : { mean: s[l]! / n, min: lo[l]!, max: hi[l]! };
      out.push({
        layer: l,
        tokens: n,
        active: sum(this.sumA, this.minA, this.maxA),
        gateActive: sum(this.sumG, this.minG, this.maxG),
        sparseUpTokens: this.sparseUpN[l]!,
        sparseDownTokens: this.sparseDownN[l]!,
        bytesRead: this.read[l]!,
        bytesDense: this.dense[l]!,
        predicted: this.predN[l]! === 0 ? { mean: 0, min: 0, max: 0 } : { mean: this.sumP[l]! / this.predN[l]!, min: this.minP[l]!, max: this.maxP[l]! },
        predictorBytes: this.predBytes[l]!,
      });
    }
    return out;
  }
}

/** FFN weight bytes per neuron of one layer: a row of gate, a row of up, a column of down. */
export interface NeuronBytes {
  gate: number;
  up: number;
  down: number;
}

/** Bytes per neuron from the stored tensors' byte lengths (each matrix holds F neurons). */
export function neuronBytes(gateBytes: number, upBytes: number, downBytes: number, F: number): NeuronBytes {
  return { gate: gateBytes / F, up: upBytes / F, down: downBytes / F };
}

/**
 * Counts one token's active neurons from its gate and h rows and records it as a dense FFN pass
 * (every byte read). Used by the dense paths so `--stats` works with sparse execution off, and by
 * predictor mode's dense passes (h masked to the predicted set; `predictor` bytes added to the read).
 */
export function recordDenseToken(
  stats: FfnStats, layer: number, gate: Float32Array, h: Float32Array, off: number, F: number, nb: NeuronBytes, predictor?: PredictorRecord,
): void {
  let a = 0;
  let g = 0;
  for (let i = 0; i < F; i++) {
    if (h[off + i] !== 0) a++;
    if (gate[off + i]! > 0) g++;
  }
  const dense = F * (nb.gate + nb.up + nb.down);
  stats.record(layer, a, g, dense + (predictor?.predictorBytes ?? 0), dense, false, false, predictor);
}

const pct = (x: number): string => (100 * x).toFixed(1).padStart(5);

/**
 * Formats a per-layer table (the `relufy generate --stats` output). When a predictor ran, each row
 * also gets the predicted-active fractions and the predictor's share of the bytes read.
 */
export function formatFfnStats(layers: LayerFfnStats[]): string {
  const pred = layers.some((s) => s.predictorBytes > 0);
  const lines = [
    `FFN sparsity per layer (fractions of intermediate_size over tokens; bytes = ffn_gate+ffn_up+ffn_down${pred ? '+fc1+fc2' : ''} weight bytes read)`,
    'layer  tokens  active% mean   min   max | gate>0% mean   min   max | sparse up/down tok | bytes read / dense' +
      (pred ? ' | predicted% mean   min   max | predictor bytes' : ''),
  ];
  let read = 0;
  let dense = 0;
  for (const s of layers) {
    read += s.bytesRead;
    dense += s.bytesDense;
    lines.push(
      `${String(s.layer).padStart(5)}  ${String(s.tokens).padStart(6)}  ` +
        `       ${pct(s.active.mean)} ${pct(s.active.min)} ${pct(s.active.max)} | ` +
        `       ${pct(s.gateActive.mean)} ${pct(s.gateActive.min)} ${pct(s.gateActive.max)} | ` +
        `${String(s.sparseUpTokens).padStart(9)}/${String(s.sparseDownTokens).padEnd(8)} | ${fmtBytes(s.bytesRead)} / ${fmtBytes(s.bytesDense)} (${ratio(s.bytesRead, s.bytesDense)})` +
        (pred ? ` | ${' '.repeat(10)}${pct(s.predicted.mean)} ${pct(s.predicted.min)} ${pct(s.predicted.max)} | ${fmtBytes(s.predictorBytes)}` : ''),
    );
  }
  lines.push(`total: ${fmtBytes(read)} read of ${fmtBytes(dense)} dense (${ratio(read, dense)})`);
  return lines.join('\n') + '\n';
}

function ratio(a: number, b: number): string {
  return b === 0 ? '-' : `${(100 * a / b).toFixed(1)}%`;
}

function fmtBytes(b: number): string {
  if (b >= 1 << 30) return `${(b / (1 << 30)).toFixed(2)} GiB`;
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(2)} MiB`;
  if (b >= 1 << 10) return `${(b / (1 << 10)).toFixed(1)} KiB`;
  return `${Math.round(b)} B`;
}
