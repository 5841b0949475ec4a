import { statSync } from 'node:fs';
import { RelufyError, UsageError } from '../errors.js';
import { refKernels } from '../kernels/ref/index.js';
import type { KernelSet } from '../kernels/types.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { ModelConfig } from './config.js';
import type { Engine, EngineOptions, InferenceSession } from './engine-types.js';
import { arrangeWeights, KernelSession, type FfnObserver, type ForwardWeights } from './forward.js';
import { loadModel } from './load.js';
import type { LoadedModel } from './types.js';

/** An Engine over a KernelSet (the scalar reference by default). */
export class KernelEngine implements Engine {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  readonly modelId: string;
  private readonly weights: ForwardWeights;
  /** Called with every layer's FFN activations (for telemetry and profiling). */
  ffnObserver?: FfnObserver;

  constructor(readonly model: LoadedModel, private readonly kernels: KernelSet = refKernels) {
    if (!model.tokenizer) throw new RelufyError(`${model.path}: the model has no tokenizer; pass --tokenizer FILE`);
    this.config = model.config;
    this.tokenizer = model.tokenizer;
    this.modelId = modelIdOf(model.path);
    this.weights = arrangeWeights(model);
  }

  createSession(options: { capacity?: number } = {}): InferenceSession {
    const capacity = options.capacity ?? this.config.max_position_embeddings;
    if (!Number.isInteger(capacity) || capacity <= 0) throw new UsageError('--ctx-size', `must be a positive integer (got ${capacity})`);
    return new KernelSession(this.config, this.weights, this.kernels, capacity, (l, h, T) => this.ffnObserver?.(l, h, T));
  }
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
  if (options.sparse && options.sparse !== 'off')
    throw new UsageError('--sparse', `${options.sparse} execution is not available in this build yet (use off)`);
  if (backend === 'ref') return new KernelEngine(loadModel(path, { tokenizer: options.tokenizer }), refKernels);
  if (backend === 'wasm') {
    const { loadWasmEngine } = await import('../kernels/wasm/index.js');
    return loadWasmEngine(path, { threads: options.threads, tokenizer: options.tokenizer });
  }
  throw new UsageError('--backend', `unknown backend ${JSON.stringify(backend)} (available: wasm, ref)`);
}
