import type { GGUFFile } from '../formats/gguf/types.js';
import type { GGMLType, Tensor } from '../formats/quant/types.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { ModelConfig } from './config.js';

/**
 * A model as every loader (GGUF, llama2.c, HF folder) delivers it.
 *
 * `tensors` are keyed by GGUF names (`token_embd.weight`, `blk.N.attn_q.weight`, ...,
 * `output_norm.weight`, `output.weight`), shapes in PyTorch order (`[out, in]` for linears).
 * q/k projection rows are in GGUF / Meta order (RoPE rotates adjacent pairs 2i, 2i+1); the HF
 * loader un-permutes HF checkpoints into that order (llama.cpp convert_hf_to_gguf.py `permute`).
 */
export interface LoadedModel {
  path: string;
  format: 'gguf' | 'pwri' | 'llama2c' | 'hf';
  config: ModelConfig;
  tensors: Map<string, Tensor>;
  tokenizer: Tokenizer | null;
  /** Extra key/values from the source, for `relufy info` (GGUF metadata minus tokenizer arrays, or config.json). */
  metadata: Record<string, unknown>;
  /** Name, type, shape and bytes of every stored tensor, in file order (also filled when tensor bytes were not read). */
  tensorInfos: { name: string; type: GGMLType; shape: number[]; byteLength: number }[];
  /** The parsed GGUF header, for GGUF / PWRI sources (lets engines stream tensors without re-parsing). */
  gguf?: GGUFFile;
}
