import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, UsageError } from '../../errors.js';
import { configProblem, ffnActivationOf, type FfnActivation, type ModelConfig } from '../../model/config.js';

/** `architectures[0]` values relufy reads, with the architecture (HF `model_type`) each implies. */
export const HF_ARCHITECTURES: Readonly<Record<string, string>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  BambooForCausalLM: 'bamboo',
};

/** Architecture -> the `architectures[0]` class written by `hfConfigJson`. */
const CLASS_OF: Readonly<Record<string, string>> = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', bamboo: 'BambooForCausalLM' };

const SUPPORTED = `${Object.keys(HF_ARCHITECTURES).join(', ')}; or model_type bamboo`;

/**
 * Reads `<folder>/config.json` (transformers `PretrainedConfig.to_json_string` output) into a
 * ModelConfig. See `parseHfConfig` for the fields and rules.
 * @throws FormatError(configPath, ...) when missing, not JSON, or not a supported model.
 */
export function readHfConfig(folder: string): ModelConfig {
  const path = join(folder, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FormatError(path, `cannot read Hugging Face config (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FormatError(path, `not valid JSON (${(e as Error).message})`);
  }
  return parseHfConfig(path, json);
}

/**
 * config.json object -> ModelConfig.
 *
 * Architecture: `model_type: "bamboo"` (Bamboo-7B / TurboSparse, whatever `architectures` says),
 * else `architectures[0]` among LlamaForCausalLM / MistralForCausalLM / BambooForCausalLM, else a
 * `model_type` of llama / mistral / bamboo. `ModelConfig.architecture` is that model_type.
 * FFN: `ffnActivationOf(architecture, hidden_act)` (hidden_act default 'silu').
 * Required: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size,
 * max_position_embeddings. Defaults (transformers LlamaConfig): num_key_value_heads =
 * num_attention_heads, head_dim = hidden_size / num_attention_heads, rms_norm_eps 1e-6,
 * rope_theta 10000, sliding_window null, tie_word_embeddings false, bos/eos null (a list of eos
 * ids keeps the first).
 * @throws FormatError(path, 'unknown architecture X (supported: ...)'), and FormatError for a
 *   missing/mistyped field, an unsupported hidden_act, a non-null rope_scaling, attention/MLP
 *   biases, or any `configProblem`.
 */
export function parseHfConfig(path: string, json: unknown): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FormatError(path, 'config.json is not a JSON object');
  const j = json as Record<string, unknown>;
  const fail = (problem: string): FormatError => new FormatError(path, problem);

  const modelType = typeof j.model_type === 'string' ? j.model_type : undefined;
  const archs = Array.isArray(j.architectures) ? j.architectures.filter((a): a is string => typeof a === 'string') : [];
  let architecture: string;
  if (modelType === 'bamboo') architecture = 'bamboo';
  else if (archs.length > 0) {
    const fromClass = HF_ARCHITECTURES[archs[0]!];
    if (fromClass === undefined) throw fail(`unknown architecture ${archs[0]} (supported: ${SUPPORTED})`);
    architecture = modelType !== undefined && Object.hasOwn(CLASS_OF, modelType) ? modelType : fromClass;
  } else if (modelType !== undefined && Object.hasOwn(CLASS_OF, modelType)) architecture = modelType;
  else throw fail(`unknown architecture ${modelType !== undefined ? `model_type ${modelType}` : '(no architectures or model_type)'} (supported: ${SUPPORTED})`);

  const int = (key: string, fallback?: number): number => {
    const v = j[key] ?? fallback;
    if (v === undefined) throw fail(`missing ${key}`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw fail(`${key} must be a positive integer (got ${JSON.stringify(v)})`);
    return v;
  };
  const real = (key: string, fallback: number): number => {
    const v = j[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw fail(`${key} must be a number (got ${JSON.stringify(v)})`);
    return v;
  };
  const tokenId = (key: string): number | null => {
    let v = j[key];
    if (Array.isArray(v)) v = v[0];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw fail(`${key} must be a token id (got ${JSON.stringify(j[key])})`);
    return v;
  };

  if (j.rope_scaling !== undefined && j.rope_scaling !== null)
    throw fail(`rope_scaling ${JSON.stringify(j.rope_scaling)} is not supported (plain RoPE only)`);
  for (const bias of ['attention_bias', 'mlp_bias'])
    if (j[bias] === true) throw fail(`${bias}: true is not supported (Llama blocks without biases only)`);

  const hidden_act = j.hidden_act ?? 'silu';
  if (typeof hidden_act !== 'string') throw fail(`hidden_act must be a string (got ${JSON.stringify(hidden_act)})`);
  const ffn_activation = ffnActivationOf(architecture, hidden_act);
  if (ffn_activation === undefined) throw fail(`hidden_act ${hidden_act} is not supported (silu, relu, drelu)`);

  const hidden_size = int('hidden_size');
  const num_attention_heads = int('num_attention_heads');
  if (j.head_dim == null && hidden_size % num_attention_heads !== 0)
    throw fail(`hidden_size (${hidden_size}) is not a multiple of num_attention_heads (${num_attention_heads}) and head_dim is not given`);
  const sw = j.sliding_window;
  if (sw !== undefined && sw !== null && (typeof sw !== 'number' || !Number.isSafeInteger(sw) || sw <= 0))
    throw fail(`sliding_window must be a positive integer or null (got ${JSON.stringify(sw)})`);
  const tie = j.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean') throw fail(`tie_word_embeddings must be true or false (got ${JSON.stringify(tie)})`);

  const config: ModelConfig = {
    architecture,
    hidden_size,
    intermediate_size: int('intermediate_size'),
    num_hidden_layers: int('num_hidden_layers'),
    num_attention_heads,
    num_key_value_heads: int('num_key_value_heads', num_attention_heads),
    head_dim: int('head_dim', hidden_size / num_attention_heads),
    vocab_size: int('vocab_size'),
    max_position_embeddings: int('max_position_embeddings'),
    rms_norm_eps: real('rms_norm_eps', 1e-6),
    rope_theta: real('rope_theta', 10000),
    sliding_window: typeof sw === 'number' ? sw : null,
    hidden_act,
    ffn_activation,
    tie_word_embeddings: tie,
    bos_token_id: tokenId('bos_token_id'),
    eos_token_id: tokenId('eos_token_id'),
  };
  const problem = configProblem(config);
  if (problem !== null) throw fail(problem);
  return config;
}

/** Spellings of hidden_act that select each FFN form (first that `ffnActivationOf` maps back wins). */
const ACT_SPELLINGS: Readonly<Record<FfnActivation, string[]>> = { swiglu: ['silu'], reglu: ['relu'], drelu: ['relu', 'drelu'] };

/**
 * ModelConfig -> config.json object for transformers (LlamaConfig / MistralConfig field names),
 * with `architectures`, `model_type`, `hidden_act` (chosen so that `parseHfConfig` gives back the
 * same `ffn_activation`) and `torch_dtype`. Inverse of `parseHfConfig` for every field.
 * @throws UsageError('config', ...) for an architecture other than llama / mistral / bamboo, or an
 *   FFN form no hidden_act expresses for that architecture (e.g. swiglu is fine, reglu on bamboo is not).
 */
export function hfConfigJson(config: ModelConfig, torch_dtype: 'float32' | 'float16' | 'bfloat16'): Record<string, unknown> {
  const cls = CLASS_OF[config.architecture];
  if (cls === undefined) throw new UsageError('config', `architecture ${config.architecture} cannot be written as a Hugging Face folder (llama, mistral, bamboo)`);
  const candidates = [config.hidden_act, ...ACT_SPELLINGS[config.ffn_activation]];
  const hidden_act = candidates.find((a) => ffnActivationOf(config.architecture, a) === config.ffn_activation);
  if (hidden_act === undefined)
    throw new UsageError('config', `no hidden_act expresses ffn_activation ${config.ffn_activation} for architecture ${config.architecture}`);
  return {
    architectures: [cls],
    model_type: config.architecture,
    hidden_act,
    hidden_size: config.hidden_size,
    intermediate_size: config.intermediate_size,
    num_hidden_layers: config.num_hidden_layers,
    num_attention_heads: config.num_attention_heads,
    num_key_value_heads: config.num_key_value_heads,
    head_dim: config.head_dim,
    vocab_size: config.vocab_size,
    max_position_embeddings: config.max_position_embeddings,
    rms_norm_eps: config.rms_norm_eps,
    rope_theta: config.rope_theta,
    rope_scaling: null,
    sliding_window: config.sliding_window,
    tie_word_embeddings: config.tie_word_embeddings,
    bos_token_id: config.bos_token_id,
    eos_token_id: config.eos_token_id,
    torch_dtype,
  };
}
