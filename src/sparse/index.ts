/**
 * Activation sparsity of ReLU-family FFNs (ReGLU, dReLU): the lossless sparse FFN (no predictor),
 * PowerInfer-style activation predictors (predictor mode, PWRI files) and per-layer telemetry.
 * Engines take `sparse: 'lossless' | 'predictor'` and `stats: true` (EngineOptions) and expose the
 * numbers as `engine.ffnStats.layers()`; the WASM engine's kernels are in assembly/sparse.ts.
 */
export { LosslessFfn, DEFAULT_SPARSE_CROSSOVER, requireReluFamily, checkCrossover, neuronBundle, type FfnTensors } from './lossless.js';
export {
  PredictorFfn, DEFAULT_PRED_THRESHOLD, predictorsOf, predictorThresholdOf, predictorScores, predictorRanks, predictorShapeProblem,
  fc1Name, fc2Name, type LayerPredictor,
} from './predictor.js';
export { savePowerInferGguf, type PowerInferSaveOptions } from './pwri.js';
export {
  FfnStats, formatFfnStats, neuronBytes, recordDenseToken,
  type FractionSummary, type LayerFfnStats, type NeuronBytes, type PredictorRecord,
} from './stats.js';
