import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../errors.js';
import { configProblem, type ModelConfig } from '../../model/config.js';
import { expectedTensorShapes } from '../../model/weights.js';
import { ggufToHf, parseBlockName } from '../names.js';
import { dequantize, quantize } from '../quant/index.js';
import { GGMLType, type Tensor } from '../quant/types.js';
import { DTYPE_TO_GGML, ggmlToDtype, writeFileAtomic, writeSafetensors, type SupportedDtype } from '../safetensors/index.js';
import { hfConfigJson } from './config.js';
import { SAFETENSORS_FILE } from './load.js';
import { permuteQkGgufToHf } from './permute.js';

/** Options of `writeHfFolder`. */
export interface WriteHfOptions {
  /**
   * Store every tensor as this type (converted through float32 with round-to-nearest-even).
   * Default: keep F32 / F16 / BF16 tensors as they are and dequantize any other type to F32.
   */
  dtype?: SupportedDtype;
  /** Extra `__metadata__` strings for model.safetensors (`format: 'pt'` is always set). */
  metadata?: Record<string, string>;
}

const TORCH_DTYPE: Readonly<Record<SupportedDtype, 'float32' | 'float16' | 'bfloat16'>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
};

function converted(t: Tensor, dtype: SupportedDtype | undefined): Tensor {
  const target = dtype !== undefined ? DTYPE_TO_GGML[dtype] : ggmlToDtype(t.type) !== undefined ? t.type : GGMLType.F32;
  if (target === t.type) return t;
  return { ...quantize(dequantize(t), t.shape, target), name: t.name };
}

/**
 * Writes a model as a Hugging Face folder that transformers (`LlamaForCausalLM`,
 * `MistralForCausalLM`) and `loadHfFolder` read: `config.json` (see `hfConfigJson`: architectures,
 * model_type, hidden_act, torch_dtype, ...) and one `model.safetensors` with HF tensor names and
 * q_proj / k_proj rows permuted from GGUF interleaved order to HF rotate-half order (the forward
 * of `permuteQkHfToGguf`). Each file is written atomically (temp file + rename); `folder` is created.
 *
 * @param model.tensors GGUF-named tensors, PyTorch-order shapes, as every relufy loader returns
 *   them. All tensors of `expectedTensorShapes(config)` are required. `output.weight` of a tied
 *   model and `blk.N.ffn_down_t.weight` (derivable) are skipped; PowerInfer `blk.N.fc1/fc2.weight`
 *   are written as `model.layers.N.fc1/fc2.weight`.
 * @throws UsageError('model', ...) for an invalid config, a missing tensor, a shape mismatch or a
 *   tensor without an HF name; UsageError('config', ...) for an architecture transformers cannot
 *   load here (see `hfConfigJson`).
 */
export function writeHfFolder(
  folder: string,
  model: { config: ModelConfig; tensors: ReadonlyMap<string, Tensor> },
  options: WriteHfOptions = {},
): void {
  const { config, tensors } = model;
  const problem = configProblem(config);
  if (problem !== null) throw new UsageError('model', `config: ${problem}`);

  const out: Tensor[] = [];
  const expected = expectedTensorShapes(config);
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (t === undefined) throw new UsageError('model', `missing tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new UsageError('model', `tensor ${name} has shape [${t.shape.join(',')}], config expects [${shape.join(',')}]`);
  }
  for (const [name, t] of tensors) {
    const role = parseBlockName(name)?.role;
    if (role === 'ffn_down_t') continue;
    if (name === 'output.weight' && config.tie_word_embeddings) continue;
    if (!expected.has(name) && role !== 'fc1' && role !== 'fc2') throw new UsageError('model', `unexpected tensor ${name}`);
    const hf = ggufToHf(name);
    if (hf === undefined) throw new UsageError('model', `tensor ${name} has no Hugging Face name`);
    let w = converted({ ...t, name: hf }, options.dtype);
    if (role === 'attn_q') w = permuteQkGgufToHf(w, config.num_attention_heads);
    else if (role === 'attn_k') w = permuteQkGgufToHf(w, config.num_key_value_heads);
    out.push(w);
  }

  const embd = out.find((t) => t.name === ggufToHf('token_embd.weight'))!;
  const torch_dtype = TORCH_DTYPE[options.dtype ?? ggmlToDtype(embd.type) ?? 'F32'];
  const json = hfConfigJson(config, torch_dtype);
  mkdirSync(folder, { recursive: true });
  writeSafetensors(join(folder, SAFETENSORS_FILE), out, options.metadata);
  writeFileAtomic(join(folder, 'config.json'), [new TextEncoder().encode(JSON.stringify(json, null, 2) + '\n')]);
}
