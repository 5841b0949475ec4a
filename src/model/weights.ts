import { FormatError } from '../errors.js';
import { quantTraits, typeName } from '../formats/quant/index.js';
import type { Tensor } from '../formats/quant/types.js';
import { predictorShapeProblem } from '../sparse/predictor.js';
import type { ModelConfig } from './config.js';

/**
 * The tensors a Llama / Mistral / Bamboo block model needs, with their PyTorch-order shapes,
 * keyed by GGUF name (llama.cpp `LLM_TENSOR_*` names, `src/llama-arch.cpp`).
 */
export function expectedTensorShapes(c: ModelConfig): Map<string, number[]> {
  const C = c.hidden_size;
  const F = c.intermediate_size;
  const qDim = c.num_attention_heads * c.head_dim;
  const kvDim = c.num_key_value_heads * c.head_dim;
  const m = new Map<string, number[]>();
  m.set('token_embd.weight', [c.vocab_size, C]);
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const b = `blk.${l}.`;
    m.set(b + 'attn_norm.weight', [C]);
    m.set(b + 'attn_q.weight', [qDim, C]);
    m.set(b + 'attn_k.weight', [kvDim, C]);
    m.set(b + 'attn_v.weight', [kvDim, C]);
    m.set(b + 'attn_output.weight', [C, qDim]);
    m.set(b + 'ffn_norm.weight', [C]);
    m.set(b + 'ffn_gate.weight', [F, C]);
    m.set(b + 'ffn_up.weight', [F, C]);
    m.set(b + 'ffn_down.weight', [C, F]);
  }
  m.set('output_norm.weight', [C]);
  if (!c.tie_word_embeddings) m.set('output.weight', [c.vocab_size, C]);
  return m;
}

/**
 * Checks that every tensor the config implies is present with the right shape.
 * PowerInfer files (shared/docs/powerinfer-and-gguf.md 1.4) may carry `ffn_down_t` (F, C) instead
 * of, or besides, `ffn_down` (C, F); and per layer an activation predictor: `fc1` (R, C) with R >= 1
 * and `fc2` (F, R) with the same R, both or neither. An `output.weight` in a tied model is allowed
 * (GGUF files often carry a copy).
 * @throws FormatError(path, 'missing tensor X' | 'tensor X has shape [..], config expects [..]' |
 *   'blk.N.fc2.weight is missing ...' | 'tensor blk.N.fc1.weight has shape [..], expected [..]')
 */
export function validateTensors(path: string, c: ModelConfig, tensors: Map<string, Pick<Tensor, 'name' | 'shape' | 'type'>>): void {
  // configProblem caps num_hidden_layers, so this table stays small even for a corrupt count.
  const expected = expectedTensorShapes(c);
  for (const name of tensors.keys()) {
    if (!expected.has(name) && !isKnownExtra(name, c.num_hidden_layers))
      throw new FormatError(path, `unexpected tensor ${JSON.stringify(name)} (not part of a ${c.num_hidden_layers}-layer ${c.architecture} model)`);
  }
  for (const [name, shape] of expected) {
    let t = tensors.get(name);
    let want = shape;
    if (!t && name.endsWith('.ffn_down.weight')) {
      const alt = name.replace('.ffn_down.weight', '.ffn_down_t.weight');
      t = tensors.get(alt);
      want = [shape[1]!, shape[0]!];
    }
    if (!t) throw new FormatError(path, `missing tensor ${name}`);
    if (!sameShape(t.shape, want))
      throw new FormatError(path, `tensor ${t.name} has shape [${t.shape.join(', ')}], config expects [${want.join(', ')}]`);
    if (!quantTraits(t.type))
      throw new FormatError(path, `tensor ${t.name} has type ${typeName(t.type)}, which relufy cannot compute with (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)`);
  }
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const dt = tensors.get(`blk.${l}.ffn_down_t.weight`);
    if (dt && !sameShape(dt.shape, [c.intermediate_size, c.hidden_size]))
      throw new FormatError(path, `tensor ${dt.name} has shape [${dt.shape.join(', ')}], config expects [${c.intermediate_size}, ${c.hidden_size}] (intermediate_size, hidden_size)`);
    if (dt && !quantTraits(dt.type))
      throw new FormatError(path, `tensor ${dt.name} has type ${typeName(dt.type)}, which relufy cannot compute with (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)`);
    const fc1 = tensors.get(`blk.${l}.fc1.weight`);
    const fc2 = tensors.get(`blk.${l}.fc2.weight`);
    const problem = predictorShapeProblem(l, fc1?.shape, fc2?.shape, c.hidden_size, c.intermediate_size);
    if (problem) throw new FormatError(path, problem);
    for (const t of [fc1, fc2])
      if (t && !quantTraits(t.type))
        throw new FormatError(path, `tensor ${t.name} has type ${typeName(t.type)}, which relufy cannot compute with (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)`);
  }
  const out = tensors.get('output.weight');
  if (out && !sameShape(out.shape, [c.vocab_size, c.hidden_size]))
    throw new FormatError(path, `tensor output.weight has shape [${out.shape.join(', ')}], config expects [${c.vocab_size}, ${c.hidden_size}]`);
}

function sameShape(a: number[], b: number[]): boolean {
  // A 1-D norm stored as [C] or [1, C] both pass; otherwise exact.
  const sa = a.filter((d, i) => !(d === 1 && i < a.length - 1 && a.length > b.length));
  return sa.length === b.length && sa.every((d, i) => d === b[i]);
}

/**
 * Tensors a file may carry besides the block weights: a copy of the output head in tied models,
 * and PowerInfer's per-layer `ffn_down_t` (transposed down), `fc1`/`fc2` (activation predictor) and
 * `gpu_idx`/`gpu_bucket` (GPU offload index) tensors (PowerInfer llama.cpp `LLM_TENSOR_*`).
 */
function isKnownExtra(name: string, layers: number): boolean {
  if (name === 'output.weight') return true;
  const m = /^blk\.(\d+)\.(ffn_down_t\.weight|fc1\.weight|fc2\.weight|gpu_idx|gpu_bucket)$/.exec(name);
  return m !== null && Number(m[1]) < layers;
}
