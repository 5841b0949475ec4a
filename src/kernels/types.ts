import type { Tensor } from '../formats/quant/types.js';

/**
 * The kernels one forward pass needs, on float32 activations held in JS typed arrays.
 * `kernels/ref` implements them in plain scalar TypeScript and is the truth every fast
 * implementation is tested against (ggml `_generic` / `test-backend-ops` habit).
 *
 * Letters: T = tokens in the batch, C = hidden_size, F = intermediate_size, H = heads,
 * KVH = key/value heads, D = head_dim, S = cached positions.
 */
export interface KernelSet {
  readonly name: string;
  /**
   * out (T, O) = x (T, I) @ W^T for a linear weight W of shape (O, I) in any supported type
   * (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K). Rows of W are dequantized exactly as ggml does.
   */
  matmul(out: Float32Array, x: Float32Array, w: Tensor, T: number): void;
  /** out (T, C) = x / sqrt(mean(x^2) + eps) * weight (C); per row. Source: Zhang & Sennrich 2019; llama2.c `rmsnorm`. */
  rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, T: number, C: number, eps: number): void;
  /**
   * In-place rotary embedding on x (T, nHeads * D), token t at position `pos0 + t`, rotating adjacent
   * pairs (2i, 2i+1) by angle pos * theta^(-2i/D) — the GGUF / Meta / llama2.c convention (llama.cpp ROPE mode 0).
   */
  rope(x: Float32Array, T: number, nHeads: number, D: number, pos0: number, theta: number): void;
  /**
   * Causal grouped-query attention for T new tokens at positions pos0..pos0+T-1.
   * q (T, H*D); kCache, vCache (capacity, KVH*D) already holding positions 0..pos0+T-1;
   * out (T, H*D). Query head h uses kv head floor(h / (H / KVH)). With `window` (Mistral sliding
   * window) a query at position p sees keys at positions p-window+1 .. p. Scores scaled by 1/sqrt(D).
   */
  attention(
    out: Float32Array, q: Float32Array, kCache: Float32Array, vCache: Float32Array,
    T: number, pos0: number, H: number, KVH: number, D: number, window: number | null,
  ): void;
  /**
   * out (T*F) = act(gate) * g(up): swiglu silu(gate)*up, reglu relu(gate)*up, drelu relu(gate)*relu(up).
   * Sources: Shazeer 2020 (GLU variants); TurboSparse (arXiv 2406.05955) section 3 for dReLU.
   */
  glu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number, kind: 'swiglu' | 'reglu' | 'drelu'): void;
  /** x += y, elementwise over n. */
  add(x: Float32Array, y: Float32Array, n: number): void;
}
