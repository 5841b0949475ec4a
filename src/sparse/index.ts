/**
 * Activation sparsity of ReLU-family FFNs (ReGLU, dReLU): the lossless sparse FFN (no predictor),
 * PowerInfer-style activation predictors (predictor mode, PWRI files) and per-layer telemetry.
 * Engines take `sparse: 'lossless' | 'predictor'` and `stats: true` (EngineOptions) and expose the
 * numbers as `engine.ffnStats.layers()`; the WASM engine's kernels are in assembly/sparse.ts. Activation
 * profiling (profile.ts) and predictor training (predictor-train.ts) feed hot-neuron ordering and PWRI files.
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
export {
  profileModel, countActivations, summarizeInactive, topKTable, TopKFfn, engineWithFfn, saveProfile, readProfile, formatProfile,
  frequencyCdf, neuronsCovering, activeTest, DEFAULT_TOPK, SWIGLU_ACTIVE_EPS,
  type ActivationProfile, type LayerProfile, type InactiveSummary, type TopKRow, type ProfileOptions,
} from './profile.js';
export { renderProfileReport, writeProfileReport } from './profile-report.js';
export { fitPredictor, scoreRows, thresholdForRecall, predictorMetrics, type FitOptions, type FitResult, type LayerSamples, type PredictorMetrics } from './predictor-fit.js';
export {
  trainPredictors, collectWindows, foldThreshold, rankForBudget, defaultRank, formatPredictorReport, FOLDED_THRESHOLD, DEFAULT_BUDGET,
  type TrainPredictorOptions, type TrainPredictorResult, type LayerReport,
} from './predictor-train.js';
