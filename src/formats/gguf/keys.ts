/**
 * Standard GGUF metadata keys (ggml docs/gguf.md "Standardized key-value pairs"; llama.cpp
 * gguf-py/gguf/constants.py `Keys`; PowerInfer gguf-py constants for `powerinfer.*`).
 * Architecture-scoped keys are functions of the architecture name (`general.architecture`,
 * e.g. 'llama', 'bamboo'). Each comment gives the usual value type and the HF / llama.cpp name.
 */

/** Keys under `general.` */
export const GENERAL = {
  /** STRING, required: 'llama', 'bamboo', ... */
  ARCHITECTURE: 'general.architecture',
  /** UINT32, required when any tensor is quantized (ggml GGML_QNT_VERSION = 2). */
  QUANTIZATION_VERSION: 'general.quantization_version',
  /** UINT32 power of two, default 32. */
  ALIGNMENT: 'general.alignment',
  /** STRING */
  NAME: 'general.name',
  AUTHOR: 'general.author',
  VERSION: 'general.version',
  ORGANIZATION: 'general.organization',
  BASENAME: 'general.basename',
  FINETUNE: 'general.finetune',
  DESCRIPTION: 'general.description',
  QUANTIZED_BY: 'general.quantized_by',
  SIZE_LABEL: 'general.size_label',
  LICENSE: 'general.license',
  URL: 'general.url',
  REPO_URL: 'general.repo_url',
  SOURCE_URL: 'general.source.url',
  SOURCE_REPO_URL: 'general.source.repo_url',
  /** UINT32 llama_ftype: 0 ALL_F32, 1 MOSTLY_F16, 2 Q4_0, 7 Q8_0, 15 Q4_K_M, 18 Q6_K, ... */
  FILE_TYPE: 'general.file_type',
  /** STRING 'model', 'adapter', ... */
  TYPE: 'general.type',
} as const;

/** GGUF default data alignment (ggml `GGUF_DEFAULT_ALIGNMENT`). */
export const DEFAULT_ALIGNMENT = 32;
/** ggml `GGML_QNT_VERSION`, the value written to `general.quantization_version`. */
export const QUANTIZATION_VERSION = 2;

/** `{arch}.vocab_size` (UINT32; HF vocab_size). */
export const vocabSizeKey = (arch: string): string => `${arch}.vocab_size`;
/** `{arch}.context_length` (UINT32; HF max_position_embeddings, llama.cpp n_ctx_train). */
export const contextLengthKey = (arch: string): string => `${arch}.context_length`;
/** `{arch}.embedding_length` (UINT32; HF hidden_size, llama.cpp n_embd). */
export const embeddingLengthKey = (arch: string): string => `${arch}.embedding_length`;
/** `{arch}.block_count` (UINT32; HF num_hidden_layers, llama.cpp n_layer). */
export const blockCountKey = (arch: string): string => `${arch}.block_count`;
/** `{arch}.feed_forward_length` (UINT32; HF intermediate_size, llama.cpp n_ff). */
export const feedForwardLengthKey = (arch: string): string => `${arch}.feed_forward_length`;
/** `{arch}.attention.head_count` (UINT32; HF num_attention_heads, llama.cpp n_head). */
export const headCountKey = (arch: string): string => `${arch}.attention.head_count`;
/** `{arch}.attention.head_count_kv` (UINT32; HF num_key_value_heads, llama.cpp n_head_kv). */
export const headCountKvKey = (arch: string): string => `${arch}.attention.head_count_kv`;
/** `{arch}.attention.layer_norm_rms_epsilon` (FLOAT32; HF rms_norm_eps). */
export const rmsNormEpsKey = (arch: string): string => `${arch}.attention.layer_norm_rms_epsilon`;
/** `{arch}.attention.layer_norm_epsilon` (FLOAT32; LayerNorm models). */
export const layerNormEpsKey = (arch: string): string => `${arch}.attention.layer_norm_epsilon`;
/** `{arch}.attention.key_length` (UINT32; head dim of K when not n_embd / n_head). */
export const keyLengthKey = (arch: string): string => `${arch}.attention.key_length`;
/** `{arch}.attention.value_length` (UINT32). */
export const valueLengthKey = (arch: string): string => `${arch}.attention.value_length`;
/** `{arch}.attention.sliding_window` (UINT32; Mistral v0.1 sliding window). */
export const slidingWindowKey = (arch: string): string => `${arch}.attention.sliding_window`;
/** `{arch}.rope.dimension_count` (UINT32; rotated dims per head, llama.cpp n_rot). */
export const ropeDimensionCountKey = (arch: string): string => `${arch}.rope.dimension_count`;
/** `{arch}.rope.freq_base` (FLOAT32; HF rope_theta). */
export const ropeFreqBaseKey = (arch: string): string => `${arch}.rope.freq_base`;
/** `{arch}.rope.scaling.type` (STRING 'none' | 'linear' | 'yarn'). */
export const ropeScalingTypeKey = (arch: string): string => `${arch}.rope.scaling.type`;
/** `{arch}.rope.scaling.factor` (FLOAT32). */
export const ropeScalingFactorKey = (arch: string): string => `${arch}.rope.scaling.factor`;
/** `{arch}.rope.scaling.original_context_length` (UINT32). */
export const ropeScalingOrigCtxKey = (arch: string): string => `${arch}.rope.scaling.original_context_length`;
/** `{arch}.expert_count` (UINT32; MoE). */
export const expertCountKey = (arch: string): string => `${arch}.expert_count`;
/** `{arch}.expert_used_count` (UINT32; MoE). */
export const expertUsedCountKey = (arch: string): string => `${arch}.expert_used_count`;

/** Keys under `tokenizer.` */
export const TOKENIZER = {
  /** STRING: 'llama' (SentencePiece), 'gpt2' (byte-level BPE), 'bert', 'no_vocab', ... */
  MODEL: 'tokenizer.ggml.model',
  /** STRING: pre-tokenizer name for BPE ('default', 'llama3', ...). */
  PRE: 'tokenizer.ggml.pre',
  /** ARRAY of STRING, indexed by token id. */
  TOKENS: 'tokenizer.ggml.tokens',
  /** ARRAY of FLOAT32 (SentencePiece scores). */
  SCORES: 'tokenizer.ggml.scores',
  /** ARRAY of INT32: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  TOKEN_TYPE: 'tokenizer.ggml.token_type',
  /** UINT32 */
  TOKEN_TYPE_COUNT: 'tokenizer.ggml.token_type_count',
  /** ARRAY of STRING 'left right' (BPE). */
  MERGES: 'tokenizer.ggml.merges',
  /** UINT32 token ids */
  BOS_ID: 'tokenizer.ggml.bos_token_id',
  EOS_ID: 'tokenizer.ggml.eos_token_id',
  EOT_ID: 'tokenizer.ggml.eot_token_id',
  EOM_ID: 'tokenizer.ggml.eom_token_id',
  UNK_ID: 'tokenizer.ggml.unknown_token_id',
  /** Spelled 'seperator' in llama.cpp. */
  SEP_ID: 'tokenizer.ggml.seperator_token_id',
  PAD_ID: 'tokenizer.ggml.padding_token_id',
  CLS_ID: 'tokenizer.ggml.cls_token_id',
  MASK_ID: 'tokenizer.ggml.mask_token_id',
  /** BOOL */
  ADD_BOS: 'tokenizer.ggml.add_bos_token',
  ADD_EOS: 'tokenizer.ggml.add_eos_token',
  ADD_SPACE_PREFIX: 'tokenizer.ggml.add_space_prefix',
  REMOVE_EXTRA_WS: 'tokenizer.ggml.remove_extra_whitespaces',
  /** ARRAY of UINT8 (SentencePiece normalizer). */
  PRECOMPILED_CHARSMAP: 'tokenizer.ggml.precompiled_charsmap',
  /** STRING: the whole HF tokenizer.json. */
  HF_JSON: 'tokenizer.huggingface.json',
  /** STRING: Jinja chat template. */
  CHAT_TEMPLATE: 'tokenizer.chat_template',
} as const;

/** `tokenizer.chat_template.{name}` (STRING; named extra templates). */
export const chatTemplateKey = (name: string): string => `tokenizer.chat_template.${name}`;

/** Keys of PowerInfer sparse models (PowerInfer gguf-py constants `Keys.PowerInfer`). */
export const POWERINFER = {
  /** FLOAT32, optional: predictor score threshold for an active neuron. */
  SPARSE_THRESHOLD: 'powerinfer.sparse_threshold',
} as const;
