import type { FfnStats } from '../sparse/stats.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { ModelConfig } from './config.js';

/**
 * How the FFN is executed: 'off' = dense; 'lossless' = ReLU-family models only (reglu, drelu): gate
 * densely, up and down only for neurons that can be non-zero, output equal to dense up to summation
 * order (src/sparse); 'predictor' = PowerInfer's predictor mode (models with `blk.N.fc1/fc2`
 * activation predictors, e.g. PWRI files): only neurons whose predictor score is >= the threshold
 * are computed, the rest contribute 0 (approximate; src/sparse/predictor.ts).
 */
export type SparseMode = 'off' | 'lossless' | 'predictor';

export interface EngineOptions {
  /** 'ref' = scalar TypeScript reference kernels (the truth); 'wasm' = fast path when available. */
  backend?: 'ref' | 'wasm';
  /** Worker threads for the fast path (default: number of cores). */
  threads?: number;
  sparse?: SparseMode;
  /**
   * Lossless mode: a layer runs a token sparsely only while at most this fraction of its neurons has
   * gate > 0, else densely (default 0.4, `DEFAULT_SPARSE_CROSSOVER`; the result is the same either way).
   */
  sparseCrossover?: number;
  /**
   * Predictor mode: PowerInfer's predictor score threshold (`powerinfer.sparse_threshold`): a neuron
   * is computed iff fc2 · relu(fc1 · x) >= this. Overrides the file's value (default: the file's, else
   * 0). Any finite number; lower values compute more neurons (higher recall).
   */
  sparseThreshold?: number;
  /** Collect per-layer FFN sparsity statistics (`Engine.ffnStats`). */
  stats?: boolean;
  /**
   * Hot-neuron ordering: an activation profile (`relufy profile` JSON) whose per-neuron counts order
   * each layer's neuron bundles, most active first (wasm sparse modes; results are unchanged).
   */
  hotNeurons?: string;
  /** Path of a tokenizer when the model file has none (llama2.c .bin). */
  tokenizer?: string;
  /**
   * Wasm backend: the longest sequence in tokens a session may hold; KV cache room is reserved for it
   * (default min(max_position_embeddings, 4096)). Larger than the model's trained context is allowed.
   */
  maxContext?: number;
}

/**
 * One sequence's state: its KV cache and position.
 * Positions are 0-based; `length` tokens are in the cache.
 */
export interface InferenceSession {
  readonly length: number;
  /** KV-cache capacity in tokens. */
  readonly capacity: number;
  /**
   * Appends `tokens` at positions `length .. length+T-1`, processing them as one batch (prefill),
   * and returns logits. With `allLogits` the result is (T, vocab_size) row-major, else (1, vocab_size)
   * for the last token only. Logits are raw (pre-softmax) float32.
   * @throws RelufyError when the cache would exceed `capacity` or a token id is out of range.
   */
  forward(tokens: number[], options?: { allLogits?: boolean }): Float32Array;
  /** Drops cached tokens from position n on (keeps a shared prefix for reuse). */
  truncate(n: number): void;
  reset(): void;
}

/** A loaded model ready to run: config, tokenizer and a factory for sessions. */
export interface Engine {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  /** Identifies the weights (path + size + mtime), for result caches. */
  readonly modelId: string;
  createSession(options?: { capacity?: number }): InferenceSession;
  /**
   * Per-layer FFN telemetry (active-neuron fractions, FFN bytes read vs dense) over every token this
   * engine's sessions processed; present when loaded with `stats: true`. `ffnStats.reset()` clears it.
   */
  readonly ffnStats?: FfnStats;
}
