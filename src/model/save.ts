import { writeGguf } from '../formats/gguf/index.js';
import { GGUFValueType, type GGUFKV } from '../formats/gguf/types.js';
import { GGMLType, dequantize, quantize, quantTraits, typeName } from '../formats/quant/index.js';
import type { Tensor } from '../formats/quant/types.js';
import { UsageError } from '../errors.js';
import type { SpmVocab } from '../tokenizer/types.js';
import type { ModelConfig } from './config.js';
import type { LoadedModel } from './types.js';

const u32 = (v: number): GGUFKV => ({ type: GGUFValueType.UINT32, value: v });
const f32 = (v: number): GGUFKV => ({ type: GGUFValueType.FLOAT32, value: v });
const str = (v: string): GGUFKV => ({ type: GGUFValueType.STRING, value: v });
const bool = (v: boolean): GGUFKV => ({ type: GGUFValueType.BOOL, value: v });

/** GGUF architecture name for a config: 'bamboo' for dReLU models (as PowerInfer names them), else 'llama'. */
export function ggufArchitecture(c: ModelConfig): string {
  // llama.cpp writes Llama and Mistral alike as 'llama'; ReGLU models keep 'llama' plus relufy's ffn_activation key.
  return c.ffn_activation === 'drelu' ? 'bamboo' : 'llama';
}

/**
 * GGUF metadata for a model: `general.*`, `{arch}.*` hyper-parameters (ggml docs/gguf.md "LLM" keys),
 * relufy's `{arch}.ffn_activation` (so ReGLU/dReLU survive a round trip through `llama`-arch files),
 * and `tokenizer.ggml.*` from the vocab.
 */
export function ggufMetadata(c: ModelConfig, vocab: SpmVocab | null, name: string, fileType?: number): Map<string, GGUFKV> {
  const arch = ggufArchitecture(c);
  const m = new Map<string, GGUFKV>();
  const k = (s: string) => `${arch}.${s}`;
  m.set('general.architecture', str(arch));
  m.set('general.name', str(name));
  if (fileType !== undefined) {
    m.set('general.quantization_version', u32(2));
    m.set('general.file_type', u32(fileType));
  }
  m.set(k('context_length'), u32(c.max_position_embeddings));
  m.set(k('embedding_length'), u32(c.hidden_size));
  m.set(k('block_count'), u32(c.num_hidden_layers));
  m.set(k('feed_forward_length'), u32(c.intermediate_size));
  m.set(k('rope.dimension_count'), u32(c.head_dim));
  m.set(k('attention.head_count'), u32(c.num_attention_heads));
  m.set(k('attention.head_count_kv'), u32(c.num_key_value_heads));
  if (c.head_dim * c.num_attention_heads !== c.hidden_size) m.set(k('attention.key_length'), u32(c.head_dim));
  m.set(k('attention.layer_norm_rms_epsilon'), f32(c.rms_norm_eps));
  m.set(k('rope.freq_base'), f32(c.rope_theta));
  if (c.sliding_window !== null) m.set(k('attention.sliding_window'), u32(c.sliding_window));
  m.set(k('vocab_size'), u32(c.vocab_size));
  m.set(k('ffn_activation'), str(c.ffn_activation));
  if (vocab) {
    m.set('tokenizer.ggml.model', str('llama'));
    m.set('tokenizer.ggml.tokens', { type: GGUFValueType.ARRAY, value: { itemType: GGUFValueType.STRING, items: [...vocab.tokens] } });
    m.set('tokenizer.ggml.scores', { type: GGUFValueType.ARRAY, value: { itemType: GGUFValueType.FLOAT32, items: Array.from(vocab.scores) } });
    m.set('tokenizer.ggml.token_type', { type: GGUFValueType.ARRAY, value: { itemType: GGUFValueType.INT32, items: vocab.types.map(Number) } });
    if (vocab.bos_token_id !== null) m.set('tokenizer.ggml.bos_token_id', u32(vocab.bos_token_id));
    if (vocab.eos_token_id !== null) m.set('tokenizer.ggml.eos_token_id', u32(vocab.eos_token_id));
    if (vocab.unk_token_id !== null) m.set('tokenizer.ggml.unknown_token_id', u32(vocab.unk_token_id));
    if (vocab.pad_token_id !== null) m.set('tokenizer.ggml.padding_token_id', u32(vocab.pad_token_id));
    m.set('tokenizer.ggml.add_bos_token', bool(vocab.add_bos_token));
    m.set('tokenizer.ggml.add_eos_token', bool(vocab.add_eos_token));
    m.set('tokenizer.ggml.add_space_prefix', bool(vocab.add_space_prefix));
    if (vocab.chat_template !== undefined) m.set('tokenizer.chat_template', str(vocab.chat_template));
  }
  return m;
}

/** llama.cpp `general.file_type` (enum llama_ftype) for a weight type. */
const FILE_TYPE: Partial<Record<GGMLType, number>> = { [GGMLType.F32]: 0, [GGMLType.F16]: 1, [GGMLType.Q4_0]: 2, [GGMLType.Q8_0]: 7, [GGMLType.BF16]: 32 };

/** llama.cpp `general.file_type` for weights converted to `type`, or undefined when there is none. */
export function fileTypeOf(type: GGMLType): number | undefined {
  return FILE_TYPE[type];
}

/**
 * Writes a model as GGUF (atomically). With `weightType`, 2-D weights are converted to it (norms stay
 * F32, as llama.cpp's quantizer keeps 1-D tensors in F32); rows whose length is not a multiple of the
 * type's block size stay as they are.
 * @throws UsageError for a type relufy cannot encode.
 */
export function saveGguf(path: string, model: LoadedModel, options: { weightType?: GGMLType; name?: string } = {}): void {
  const wt = options.weightType;
  if (wt !== undefined && !quantTraits(wt)) throw new UsageError('--quant', `cannot write ${typeName(wt)} weights`);
  const tensors: Tensor[] = [];
  for (const t of model.tensors.values()) tensors.push(wt === undefined ? t : convertTensor(t, wt));
  const metadata = ggufMetadata(model.config, model.tokenizer?.vocab ?? null, options.name ?? 'relufy model', wt === undefined ? undefined : fileTypeOf(wt));
  writeGguf(path, { metadata, tensors });
}

/**
 * A 2-D+ weight converted to `to` (exact dequantization, then the reference quantizer); 1-D tensors,
 * tensors already of that type and rows whose length is not a multiple of the block size are returned as they are.
 */
export function convertTensor(t: Tensor, to: GGMLType): Tensor {
  if (t.shape.length < 2 || t.type === to) return t;
  const traits = quantTraits(to)!;
  if (t.shape[t.shape.length - 1]! % traits.blockSize !== 0) return t;
  return { ...quantize(dequantize(t), t.shape, to), name: t.name };
}
