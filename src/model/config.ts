/**
 * Model hyper-parameters under their Hugging Face `config.json` names.
 * Each field notes its GGUF key (`{arch}.` prefix), llama.cpp short name and llama2.c name.
 */
export type FfnActivation = 'swiglu' | 'reglu' | 'drelu';

export interface ModelConfig {
  /** `general.architecture` for GGUF ('llama', 'bamboo', ...), HF `model_type` otherwise. */
  architecture: string;
  /** GGUF `embedding_length`, llama.cpp `n_embd`, llama2.c `dim`. */
  hidden_size: number;
  /** GGUF `feed_forward_length`, llama.cpp `n_ff`, llama2.c `hidden_dim`. */
  intermediate_size: number;
  /** GGUF `block_count`, llama.cpp `n_layer`, llama2.c `n_layers`. */
  num_hidden_layers: number;
  /** GGUF `attention.head_count`, llama.cpp `n_head`, llama2.c `n_heads`. */
  num_attention_heads: number;
  /** GGUF `attention.head_count_kv`, llama.cpp `n_head_kv`, llama2.c `n_kv_heads`. */
  num_key_value_heads: number;
  /** hidden_size / num_attention_heads unless the source says otherwise (GGUF `attention.key_length`). */
  head_dim: number;
  /** Token count of the vocabulary = rows of `token_embd`. llama2.c `vocab_size`. */
  vocab_size: number;
  /** GGUF `context_length`, llama.cpp `n_ctx_train`, llama2.c `seq_len`. */
  max_position_embeddings: number;
  /** GGUF `attention.layer_norm_rms_epsilon`, llama.cpp `f_norm_rms_eps` (llama2.c: 1e-5). */
  rms_norm_eps: number;
  /** GGUF `rope.freq_base` (llama2.c: 10000). */
  rope_theta: number;
  /** Mistral sliding-window attention span in tokens (GGUF `attention.sliding_window`); null = full causal. */
  sliding_window: number | null;
  /** HF `hidden_act` as stored ('silu', 'relu', ...). */
  hidden_act: string;
  /** The FFN form: swiglu `down(silu(gate x) * up x)`, reglu `down(relu(gate x) * up x)`, drelu `down(relu(gate x) * relu(up x))`. */
  ffn_activation: FfnActivation;
  /** Output head shares the token embedding (no `output.weight`). */
  tie_word_embeddings: boolean;
  bos_token_id: number | null;
  eos_token_id: number | null;
}

/**
 * FFN activation from HF fields. Source: TurboSparse/Bamboo `model_type: bamboo` uses dReLU
 * (relu on gate and up); ReluLLaMA / ProSparse set `hidden_act: relu` on a Llama block (ReGLU);
 * `silu` is SwiGLU. `hidden_act: drelu` is accepted as an explicit spelling.
 * @throws Error (caller wraps into FormatError) for an activation we do not implement.
 */
export function ffnActivationOf(model_type: string, hidden_act: string): FfnActivation | undefined {
  const act = hidden_act.toLowerCase();
  if (act === 'drelu' || model_type === 'bamboo' || model_type === 'turbosparse') {
    if (act === 'silu' || act === 'swish') return 'swiglu';
    return 'drelu';
  }
  if (act === 'silu' || act === 'swish') return 'swiglu';
  if (act === 'relu') return 'reglu';
  return undefined;
}

/** Checks internal consistency; returns a problem description or null. */
export function configProblem(c: ModelConfig): string | null {
  const ints: (keyof ModelConfig)[] = [
    'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads',
    'num_key_value_heads', 'head_dim', 'vocab_size', 'max_position_embeddings',
  ];
  for (const k of ints) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 1 << 30) return `${k} must be a positive integer (got ${String(v)})`;
  }
  // Sanity caps far above any published model, so a corrupt count fails here instead of driving allocations.
  if (c.num_hidden_layers > 4096) return `num_hidden_layers ${c.num_hidden_layers} is implausible (at most 4096)`;
  if (c.num_attention_heads > 4096) return `num_attention_heads ${c.num_attention_heads} is implausible (at most 4096)`;
  if (c.num_attention_heads % c.num_key_value_heads !== 0)
    return `num_attention_heads (${c.num_attention_heads}) is not a multiple of num_key_value_heads (${c.num_key_value_heads})`;
  if (c.head_dim % 2 !== 0) return `head_dim (${c.head_dim}) must be even for RoPE`;
  if (!(c.rms_norm_eps > 0)) return `rms_norm_eps must be > 0 (got ${c.rms_norm_eps})`;
  if (!(c.rope_theta > 0)) return `rope_theta must be > 0 (got ${c.rope_theta})`;
  if (c.sliding_window !== null && !(Number.isInteger(c.sliding_window) && c.sliding_window > 0))
    return `sliding_window must be a positive integer or null (got ${c.sliding_window})`;
  return null;
}
