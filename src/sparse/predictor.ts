import type { Tensor } from '../formats/quant/types.js';

/**
 * One layer's activation predictor, as PowerInfer defines it (shared/docs/powerinfer-and-gguf.md
 * 1.2; PowerInfer llama.cpp `llm_build_ffn_sparse`): a bias-free two-layer MLP on the FFN input x
 * (the residual stream after attention, before `ffn_norm`):
 *   score (F) = fc2 · relu(fc1 · x)
 * Neuron i is computed iff score[i] >= threshold (raw score, no sigmoid; 0 ≙ p = 0.5).
 * Shapes in PyTorch order: fc1 (R, C) = GGUF `blk.N.fc1.weight` ggml {C, R}; fc2 (F, R) =
 * `blk.N.fc2.weight` ggml {R, F}. The rank R may differ per layer.
 */
export interface LayerPredictor {
  fc1: Tensor;
  fc2: Tensor;
}

/** PowerInfer's default predictor threshold (`sparse_pred_threshold` = 0.0) when a file has no `powerinfer.sparse_threshold`. */
export const DEFAULT_PRED_THRESHOLD = 0;
