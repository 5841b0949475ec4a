import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../../errors.js';
import type { ModelConfig } from '../../model/config.js';
import { expectedTensorShapes } from '../../model/weights.js';
import { ggufToHf, hfToGguf, parseBlockName } from '../names.js';
import type { Tensor } from '../quant/types.js';
import { readSafetensors, readShardedSafetensors, SAFETENSORS_INDEX } from '../safetensors/index.js';
import { readHfConfig } from './config.js';
import { permuteQkHfToGguf } from './permute.js';

/** Single-file weights name written by transformers `save_pretrained`. */
export const SAFETENSORS_FILE = 'model.safetensors';

const shapeText = (s: readonly number[]): string => `[${s.join(',')}]`;
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** HF tensors that carry no weights relufy needs and are dropped silently. */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;

/**
 * Loads a Hugging Face model folder: `config.json` (see `readHfConfig`) and the weights from
 * `model.safetensors` or, failing that, `model.safetensors.index.json` + its shards.
 *
 * Tensors come back under GGUF names (`token_embd.weight`, `blk.N.attn_q.weight`, ...), in model
 * order, in their stored type (F32 / F16 / BF16, not converted), shapes in PyTorch order, with
 * q_proj / k_proj rows un-permuted from HF rotate-half order into GGUF interleaved order (inverse
 * of llama.cpp convert_hf_to_gguf.py `permute`; q with num_attention_heads heads, k with
 * num_key_value_heads). With `tie_word_embeddings` there is no `output.weight` (a stored
 * `lm_head.weight` is dropped, as transformers ties it). PowerInfer predictor tensors
 * (`model.layers.N.fc1.weight` / `fc2.weight`) are kept as `blk.N.fc1/fc2.weight`;
 * `rotary_emb.inv_freq` buffers are ignored.
 *
 * @throws FormatError(config.json, ...) for config problems (see `readHfConfig`);
 *   FormatError(folder, ...) when there is no safetensors weights file;
 *   FormatError(file, 'tensor model.layers.0.self_attn.q_proj.weight has shape [a,b], config expects [c,d]');
 *   FormatError(file, 'tensor X is missing ...') for an expected tensor not present;
 *   FormatError(file, 'unexpected tensor X ...') for a tensor outside the Llama block (e.g. a bias)
 *   or beyond num_hidden_layers; and every FormatError of the safetensors readers.
 */
export function loadHfFolder(folder: string): { config: ModelConfig; tensors: Map<string, Tensor> } {
  const config = readHfConfig(folder);
  const single = join(folder, SAFETENSORS_FILE);
  const indexPath = join(folder, SAFETENSORS_INDEX);
  let raw: Map<string, Tensor>;
  let fileOf: (name: string) => string;
  let weightsFile: string;
  if (existsSync(single)) {
    raw = readSafetensors(single).tensors;
    fileOf = () => single;
    weightsFile = single;
  } else if (existsSync(indexPath)) {
    const sharded = readShardedSafetensors(folder);
    raw = sharded.tensors;
    fileOf = (name) => sharded.files.get(name) ?? indexPath;
    weightsFile = indexPath;
  } else {
    const hasBin = existsSync(join(folder, 'pytorch_model.bin')) || existsSync(join(folder, 'pytorch_model.bin.index.json'));
    throw new FormatError(
      folder,
      `no ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX}${hasBin ? ' (pytorch_model.bin pickles are not read; save the model with safe_serialization=True)' : ''}`,
    );
  }
  return { config, tensors: toGguf(config, raw, fileOf, weightsFile) };
}

/** Maps, checks and un-permutes HF-named tensors; `fileOf` names the file each came from. */
function toGguf(
  config: ModelConfig,
  raw: Map<string, Tensor>,
  fileOf: (hfName: string) => string,
  weightsFile: string,
): Map<string, Tensor> {
  const expected = expectedTensorShapes(config);
  const found = new Map<string, Tensor>();
  const extras = new Map<string, Tensor>();
  for (const [hfName, t] of raw) {
    if (IGNORED.test(hfName)) continue;
    const file = fileOf(hfName);
    const gguf = hfToGguf(hfName);
    if (gguf === undefined) throw new FormatError(file, `unexpected tensor ${hfName} (not a weight of a ${config.architecture} model relufy reads)`);
    if (gguf === 'output.weight' && config.tie_word_embeddings) continue;
    const want = expected.get(gguf);
    if (want === undefined) {
      const block = parseBlockName(gguf);
      if (block !== undefined && block.layer >= config.num_hidden_layers)
        throw new FormatError(file, `unexpected tensor ${hfName}: config has num_hidden_layers ${config.num_hidden_layers}`);
      if (block?.role === 'fc1' || block?.role === 'fc2') {
        extras.set(gguf, { ...t, name: gguf });
        continue;
      }
      throw new FormatError(file, `unexpected tensor ${hfName}`);
    }
    if (!sameShape(t.shape, want))
      throw new FormatError(file, `tensor ${hfName} has shape ${shapeText(t.shape)}, config expects ${shapeText(want)}`);
    let out: Tensor = { ...t, name: gguf };
    const role = parseBlockName(gguf)?.role;
    if (role === 'attn_q') out = permuteQkHfToGguf(out, config.num_attention_heads);
    else if (role === 'attn_k') out = permuteQkHfToGguf(out, config.num_key_value_heads);
    found.set(gguf, out);
  }
  const tensors = new Map<string, Tensor>();
  for (const [gguf, shape] of expected) {
    const t = found.get(gguf);
    if (t === undefined) throw new FormatError(weightsFile, `tensor ${ggufToHf(gguf) ?? gguf} is missing (config expects shape ${shapeText(shape)})`);
    tensors.set(gguf, t);
  }
  for (const [gguf, t] of extras) tensors.set(gguf, t);
  return tensors;
}
