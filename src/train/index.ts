/** Continued pre-training of Llama / Mistral / Bamboo block models (dense -> dReLU / ReGLU), fp32 on the CPU. */
export { convertActivation, convertConfig } from './convert.js';
export { checkpointName, latestCheckpoint, listCheckpoints, readCheckpoint, writeCheckpoint, type Checkpoint, type CheckpointHeader } from './checkpoint.js';
export { DataMix, splitDocuments, tokenizeFile, validationWindows, WindowSampler } from './data.js';
export { GradComputer, type GradJob, type GradResult } from './grad.js';
export { evaluate, initialModel, plotLog, train, type EvalResult, type LogRecord, type Progress, type TrainOptions, type TrainSummary } from './loop.js';
export { paramLayout, paramsFromModel, tensorsFromParams, TrainModel, type ParamLayout } from './model.js';
export { adamwInit, adamwUpdate, clipGradNorm, cosineLr } from './optim/index.js';
export { plotCurves, type CurvePoint } from './plot.js';
export { GradPool } from './pool.js';
export { parseRecipe, phaseSteps, readRecipe, type DataSource, type Phase, type Recipe } from './recipe.js';
