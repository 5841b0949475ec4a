import { closeSync, existsSync, openSync, readdirSync, readSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { checkReadablePath, FormatError, RelufyError } from '../errors.js';
import { openGguf, readTensor } from '../formats/gguf/index.js';
import type { GGUFFile, GGUFKV } from '../formats/gguf/types.js';
import { loadHfFolder } from '../formats/hf/index.js';
import { readLlama2cCheckpoint } from '../formats/llama2c/index.js';
import type { Tensor } from '../formats/quant/types.js';
import { loadTokenizer, tokenizerFromVocab, vocabFromGgufMetadata } from '../tokenizer/index.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { configProblem, type FfnActivation, type ModelConfig } from './config.js';
import type { LoadedModel } from './types.js';
import { validateTensors } from './weights.js';

export interface LoadOptions {
  /** Tokenizer file or folder, for models that carry none (llama2.c `.bin`). */
  tokenizer?: string;
  /** Only read the header / config and tokenizer, not the tensor bytes (for `relufy info`). */
  headerOnly?: boolean;
}

/** Architectures read from GGUF `general.architecture`, with the FFN each implies by default. */
const GGUF_ARCHITECTURES: Record<string, FfnActivation> = { llama: 'swiglu', mistral: 'swiglu', bamboo: 'drelu' };

/**
 * Loads a model from a GGUF file (incl. PowerInfer `PWRI`), a llama2.c `.bin` checkpoint (tokenizer
 * beside it or from `options.tokenizer`) or a Hugging Face folder (`config.json` + safetensors).
 * @throws FormatError naming the file and the problem for anything malformed or unsupported.
 */
export function loadModel(path: string, options: LoadOptions = {}): LoadedModel {
  const kind = checkReadablePath(path, true);
  let model: LoadedModel;
  if (kind === 'dir') model = loadHf(path);
  else {
    const magic = readMagic(path);
    if (magic === 'GGUF' || magic === 'PWRI') model = loadGgufModel(path, options);
    else if (path.endsWith('.safetensors') || basename(path) === 'config.json') model = loadHf(dirname(path));
    else if (path.endsWith('.bin')) model = loadLlama2c(path, options);
    else throw new FormatError(path, `not a GGUF file (magic ${JSON.stringify(magic)}), llama2.c .bin or Hugging Face folder`);
  }
  if (options.tokenizer) model.tokenizer = loadTokenizer(options.tokenizer);
  if (model.tokenizer && model.tokenizer.vocab_size !== model.config.vocab_size) {
    throw new FormatError(
      options.tokenizer ?? path,
      `tokenizer has ${model.tokenizer.vocab_size} tokens but the model's vocab_size is ${model.config.vocab_size}`,
    );
  }
  return model;
}

function readMagic(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4);
    const n = readSync(fd, b, 0, 4, 0);
    return b.subarray(0, n).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

function num(f: GGUFFile, key: string, required: boolean): number | undefined {
  const kv = f.metadata.get(key);
  if (kv === undefined) {
    if (required) throw new FormatError(f.path, `missing metadata key ${key}`);
    return undefined;
  }
  const v = kv.value;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  throw new FormatError(f.path, `metadata key ${key} is not a number`);
}

function str(f: GGUFFile, key: string): string | undefined {
  const kv = f.metadata.get(key);
  if (kv === undefined) return undefined;
  if (typeof kv.value !== 'string') throw new FormatError(f.path, `metadata key ${key} is not a string`);
  return kv.value;
}

/** ModelConfig from GGUF `{arch}.*` keys (ggml docs/gguf.md "LLM" keys). */
export function configFromGguf(f: GGUFFile): ModelConfig {
  const arch = str(f, 'general.architecture');
  if (arch === undefined) throw new FormatError(f.path, 'missing metadata key general.architecture');
  const defaultAct = GGUF_ARCHITECTURES[arch];
  if (!defaultAct) throw new FormatError(f.path, `unknown architecture ${JSON.stringify(arch)} (supported: ${Object.keys(GGUF_ARCHITECTURES).join(', ')})`);
  const k = (s: string) => `${arch}.${s}`;
  const C = num(f, k('embedding_length'), true)!;
  const H = num(f, k('attention.head_count'), true)!;
  const embd = f.tensors.find((t) => t.name === 'token_embd.weight');
  const tokens = f.metadata.get('tokenizer.ggml.tokens');
  const vocabFromTokens = tokens && typeof tokens.value === 'object' && 'items' in tokens.value ? tokens.value.items.length : undefined;
  const vocab = num(f, k('vocab_size'), false) ?? embd?.shape[0] ?? vocabFromTokens;
  if (vocab === undefined) throw new FormatError(f.path, 'cannot tell the vocabulary size (no token_embd.weight, no tokenizer)');
  // Activation: relufy writes `{arch}.ffn_activation`; PowerInfer's llama files are ReLU models (ReGLU).
  const actKey = str(f, k('ffn_activation'));
  let act: FfnActivation = f.magic === 'PWRI' && arch === 'llama' ? 'reglu' : defaultAct;
  if (actKey !== undefined) {
    if (actKey !== 'swiglu' && actKey !== 'reglu' && actKey !== 'drelu')
      throw new FormatError(f.path, `${k('ffn_activation')} is ${JSON.stringify(actKey)} (expected swiglu, reglu or drelu)`);
    act = actKey;
  }
  const head_dim = num(f, k('attention.key_length'), false) ?? (C % H === 0 ? C / H : 0);
  const bos = num(f, 'tokenizer.ggml.bos_token_id', false);
  const eos = num(f, 'tokenizer.ggml.eos_token_id', false);
  const config: ModelConfig = {
    architecture: arch,
    hidden_size: C,
    intermediate_size: num(f, k('feed_forward_length'), true)!,
    num_hidden_layers: num(f, k('block_count'), true)!,
    num_attention_heads: H,
    num_key_value_heads: num(f, k('attention.head_count_kv'), false) ?? H,
    head_dim,
    vocab_size: vocab,
    max_position_embeddings: num(f, k('context_length'), false) ?? 2048,
    rms_norm_eps: num(f, k('attention.layer_norm_rms_epsilon'), false) ?? 1e-5,
    rope_theta: num(f, k('rope.freq_base'), false) ?? 10000,
    sliding_window: num(f, k('attention.sliding_window'), false) ?? null,
    hidden_act: act === 'swiglu' ? 'silu' : act === 'reglu' ? 'relu' : 'drelu',
    ffn_activation: act,
    tie_word_embeddings: !f.tensors.some((t) => t.name === 'output.weight'),
    bos_token_id: bos ?? null,
    eos_token_id: eos ?? null,
  };
  const problem = configProblem(config);
  if (problem) throw new FormatError(f.path, problem);
  const ropeDim = num(f, k('rope.dimension_count'), false);
  if (ropeDim !== undefined && ropeDim !== head_dim)
    throw new FormatError(f.path, `${k('rope.dimension_count')} = ${ropeDim} differs from head_dim ${head_dim}: partial RoPE is not supported`);
  return config;
}

function metadataSummary(meta: Map<string, GGUFKV>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, kv] of meta) {
    const v = kv.value;
    if (typeof v === 'object') out[key] = `[${v.items.length} items]`;
    else out[key] = typeof v === 'bigint' ? v.toString() : v;
  }
  return out;
}

function loadGgufModel(path: string, options: LoadOptions): LoadedModel {
  const f = openGguf(path);
  const config = configFromGguf(f);
  const tensors = new Map<string, Tensor>();
  // Validate names, shapes and types from the header before any tensor byte is read.
  validateTensors(path, config, new Map(f.tensors.map((t) => [t.name, t])));
  if (!options.headerOnly) for (const info of f.tensors) tensors.set(info.name, readTensor(f, info));
  let tokenizer: Tokenizer | null = null;
  if (f.metadata.has('tokenizer.ggml.tokens')) tokenizer = tokenizerFromVocab(vocabFromGgufMetadata(f.metadata, path));
  return { path, format: f.magic === 'PWRI' ? 'pwri' : 'gguf', config, tensors, tokenizer, metadata: metadataSummary(f.metadata), tensorInfos: f.tensors.map((t) => ({ name: t.name, type: t.type, shape: t.shape, byteLength: t.byteLength })), gguf: f };
}

function loadLlama2c(path: string, options: LoadOptions): LoadedModel {
  const { config, tensors } = readLlama2cCheckpoint(path);
  validateTensors(path, config, tensors);
  let tokenizer: Tokenizer | null = null;
  if (!options.tokenizer) {
    const dir = dirname(path);
    const candidates = readdirSync(dir).filter((n) => /^tok.*\.(bin|model|json)$/.test(n) && join(dir, n) !== path);
    if (candidates.length === 1) tokenizer = loadTokenizer(join(dir, candidates[0]!));
    else if (candidates.length > 1)
      throw new RelufyError(`${path}: several tokenizers beside the checkpoint (${candidates.join(', ')}); choose one with --tokenizer`);
    else throw new RelufyError(`${path}: a llama2.c checkpoint carries no tokenizer and none was found beside it; pass --tokenizer FILE`);
  }
  return { path, format: 'llama2c', config, tensors, tokenizer, metadata: {}, tensorInfos: infosOf(tensors) };
}

function loadHf(folder: string): LoadedModel {
  const { config, tensors } = loadHfFolder(folder);
  validateTensors(folder, config, tensors);
  let tokenizer: Tokenizer | null = null;
  if (existsSync(join(folder, 'tokenizer.json')) || existsSync(join(folder, 'tokenizer.model'))) tokenizer = loadTokenizer(folder);
  return { path: folder, format: 'hf', config, tensors, tokenizer, metadata: { ...config }, tensorInfos: infosOf(tensors) };
}

function infosOf(tensors: Map<string, Tensor>): LoadedModel['tensorInfos'] {
  return [...tensors.values()].map((t) => ({ name: t.name, type: t.type, shape: t.shape, byteLength: t.data.byteLength }));
}
