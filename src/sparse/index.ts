/**
 * Activation sparsity of ReLU-family FFNs (ReGLU, dReLU): the lossless sparse FFN (no predictor) and
 * per-layer telemetry. Engines take `sparse: 'lossless'` and `stats: true` (EngineOptions) and expose
 * the numbers as `engine.ffnStats.layers()`; the WASM engine's kernels are in assembly/sparse.ts.
 */
export { LosslessFfn, DEFAULT_SPARSE_CROSSOVER, requireReluFamily, checkCrossover, type FfnTensors } from './lossless.js';
export {
  FfnStats, formatFfnStats, neuronBytes, recordDenseToken,
  type FractionSummary, type LayerFfnStats, type NeuronBytes,
} from './stats.js';
