import { statSync } from 'node:fs';
import { RelufyError, UsageError } from '../errors.js';
import { refKernels } from '../kernels/ref/index.js';
import type { KernelSet } from '../kernels/types.js';
import { DEFAULT_SPARSE_CROSSOVER, LosslessFfn, requireReluFamily } from '../sparse/lossless.js';
import { PredictorFfn, predictorsOf, predictorThresholdOf } from '../sparse/predictor.js';
import { FfnStats, neuronBytes, recordDenseToken, type NeuronBytes } from '../sparse/stats.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { ModelConfig } from './config.js';
import type { Engine, EngineOptions, InferenceSession } from './engine-types.js';
import { arrangeWeights, KernelSession, type FfnExecutor, type FfnObserver, type ForwardWeights } from './forward.js';
import { loadModel } from './load.js';
import type { LoadedModel } from './types.js';

/** Sparse execution and telemetry options of a KernelEngine (see EngineOptions). */
export interface KernelEngineOptions {
  sparse?: 'off' | 'lossless' | 'predictor';
  sparseCrossover?: number;
  /** Predictor mode: score threshold, overriding the file's `powerinfer.sparse_threshold`. */
  sparseThreshold?: number;
  stats?: boolean;
}

/** The message of a predictor-mode request on a model without predictors. */
export const NO_PREDICTORS = 'predictor mode needs a model with activation predictors (blk.N.fc1/fc2, a PowerInfer PWRI file); this model has none';

/**
 * An Engine over a KernelSet (the scalar reference by default). With `sparse: 'lossless'` the FFN
 * runs on `LosslessFfn` (neuron-major float32 bundles built at load; ReLU-family models only); with
 * `sparse: 'predictor'` on `PredictorFfn` (the model's `blk.N.fc1/fc2` predictors choose the
 * neurons; threshold `sparseThreshold` ?? `powerinfer.sparse_threshold` ?? 0).
 */
export class KernelEngine implements Engine {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  readonly modelId: string;
  readonly ffnStats?: FfnStats;
  private readonly weights: ForwardWeights;
  private readonly sparseFfn?: FfnExecutor;
  private readonly neuronBytes: NeuronBytes[];
  /** Called with every layer's FFN activations (for telemetry and profiling). */
  ffnObserver?: FfnObserver;

  constructor(readonly model: LoadedModel, private readonly kernels: KernelSet = refKernels, options: KernelEngineOptions = {}) {
    if (!model.tokenizer) throw new RelufyError(`${model.path}: the model has no tokenizer; pass --tokenizer FILE`);
    this.config = model.config;
    this.tokenizer = model.tokenizer;
    this.modelId = modelIdOf(model.path);
    this.weights = arrangeWeights(model);
    const F = this.config.intermediate_size;
    if (options.stats) this.ffnStats = new FfnStats(this.config.num_hidden_layers, F);
    this.neuronBytes = this.weights.layers.map((L) => neuronBytes(L.ffn_gate.data.byteLength, L.ffn_up.data.byteLength, (L.ffn_down_t ?? L.ffn_down).data.byteLength, F));
    const mode = options.sparse ?? 'off';
    if (mode === 'lossless') {
      this.sparseFfn = new LosslessFfn(this.config, this.weights.layers, options.sparseCrossover ?? DEFAULT_SPARSE_CROSSOVER, this.ffnStats);
    } else if (mode === 'predictor') {
      const predictors = predictorsOf(model);
      if (!predictors) throw new UsageError('--sparse', NO_PREDICTORS);
      const threshold = checkPredThreshold(options.sparseThreshold ?? predictorThresholdOf(model));
      this.sparseFfn = new PredictorFfn(this.config, this.weights.layers, predictors, threshold, this.ffnStats);
    } else if (mode !== 'off') throw new UsageError('--sparse', `unknown mode ${JSON.stringify(mode)} (available: off, lossless, predictor)`);
  }

  createSession(options: { capacity?: number } = {}): InferenceSession {
    const capacity = options.capacity ?? this.config.max_position_embeddings;
    if (!Number.isInteger(capacity) || capacity <= 0) throw new UsageError('--ctx-size', `must be a positive integer (got ${capacity})`);
    const F = this.config.intermediate_size;
    const denseStats = this.sparseFfn ? undefined : this.ffnStats;
    const observer: FfnObserver = (l, h, T, gate, input) => {
      if (denseStats) for (let t = 0; t < T; t++) recordDenseToken(denseStats, l, gate, h, t * F, F, this.neuronBytes[l]!);
      this.ffnObserver?.(l, h, T, gate, input);
    };
    return new KernelSession(this.config, this.weights, this.kernels, capacity, observer, this.sparseFfn);
  }
}

/** A predictor score threshold: any finite number (PowerInfer `powerinfer.sparse_threshold`). */
export function checkPredThreshold(t: number): number {
  if (!Number.isFinite(t)) throw new UsageError('--sparse-threshold', `must be a finite number (got ${t})`);
  return t;
}

/** `path|bytes|mtime`: changes when the weights file changes (keys result caches). */
export function modelIdOf(path: string): string {
  try {
    const st = statSync(path);
    return `${path}|${st.size}|${Math.floor(st.mtimeMs)}`;
  } catch {
    return path;
  }
}

/**
 * Loads a model file or folder and returns a ready Engine: the WebAssembly SIMD engine by default
 * (`backend: 'wasm'`, worker threads over shared memory), or the scalar TypeScript reference
 * (`backend: 'ref'`), which every fast kernel is tested against.
 * @throws FormatError for malformed files, UsageError for bad options, RelufyError when the model
 *   does not fit in memory.
 */
export async function loadEngine(path: string, options: EngineOptions = {}): Promise<Engine> {
  const backend = options.backend ?? 'wasm';
  const sparse = options.sparse ?? 'off';
  if (sparse !== 'off' && sparse !== 'lossless' && sparse !== 'predictor')
    throw new UsageError('--sparse', `unknown mode ${JSON.stringify(sparse)} (available: off, lossless, predictor)`);
  if (options.sparseThreshold !== undefined) checkPredThreshold(options.sparseThreshold);
  if (backend === 'ref') {
    const model = loadModel(path, { tokenizer: options.tokenizer });
    if (sparse === 'lossless') requireReluFamily(model.config);
    return new KernelEngine(model, refKernels, {
      sparse, sparseCrossover: options.sparseCrossover, sparseThreshold: options.sparseThreshold, stats: options.stats,
    });
  }
  if (backend === 'wasm') {
    const { loadWasmEngine } = await import('../kernels/wasm/index.js');
    return loadWasmEngine(path, {
      threads: options.threads, tokenizer: options.tokenizer, maxContext: options.maxContext,
      sparse, sparseCrossover: options.sparseCrossover, sparseThreshold: options.sparseThreshold, stats: options.stats,
      neuronOrder: options.hotNeurons === undefined ? undefined : await hotNeuronOrders(options.hotNeurons, sparse),
    });
  }
  throw new UsageError('--backend', `unknown backend ${JSON.stringify(backend)} (available: wasm, ref)`);
}

/**
 * Per-layer hot-neuron orders from an activation profile (most active neuron first).
 * @throws UsageError without a sparse mode; FormatError for a malformed profile.
 */
async function hotNeuronOrders(path: string, sparse: string): Promise<Int32Array[]> {
  if (sparse === 'off') throw new UsageError('--hot-neurons', 'orders the neuron bundles of a sparse mode; add --sparse lossless or predictor');
  const { readProfile } = await import('../sparse/profile.js');
  const { hotNeuronOrder } = await import('../kernels/wasm/bundles.js');
  return readProfile(path).layers.map((l) => hotNeuronOrder(l.counts));
}
