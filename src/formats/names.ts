/**
 * The one tensor-name table of relufy: Hugging Face (`model.layers.N.mlp.gate_proj.weight`),
 * Meta / llama2.c (`layers.N.feed_forward.w1.weight`) and GGUF (`blk.N.ffn_gate.weight`) names
 * for the Llama-family block, plus PowerInfer's sparse additions in the GGUF vocabulary.
 *
 * Sources: llama.cpp / PowerInfer `gguf-py/gguf/tensor_mapping.py` (`llama-hf` and `llama-pth`
 * rows; PowerInfer's `FC_1`/`FC_2` predictor rows) and `gguf-py/gguf/constants.py` (GGUF names).
 * Meta's FFN naming: w1 = gate, w2 = down, w3 = up (`down(silu(w1 x) * w3 x)` = `w2(...)`).
 *
 * Names map one-to-one except where a source has aliases (PowerInfer predictors accept both
 * `model.layers.N.fc1.weight` and `model.layers.N.mlp.predictor.fc1.weight`; the first is the
 * canonical HF spelling returned by `ggufToHf`).
 */

/** One role of a tensor; `undefined` where a naming scheme has no such tensor. */
interface NameRow {
  /** GGUF name (for block rows: the part after `blk.N.`). */
  gguf: string;
  /** Canonical HF name (for block rows: the part after `model.layers.N.`). */
  hf?: string;
  /** Further HF spellings accepted by `hfToGguf`. */
  hfAliases?: string[];
  /** Meta / llama2.c name (for block rows: the part after `layers.N.`). */
  meta?: string;
}

/** Whole-model tensors. */
const GLOBAL_ROWS: readonly NameRow[] = [
  { gguf: 'token_embd.weight', hf: 'model.embed_tokens.weight', meta: 'tok_embeddings.weight' },
  { gguf: 'output_norm.weight', hf: 'model.norm.weight', meta: 'norm.weight' },
  { gguf: 'output.weight', hf: 'lm_head.weight', meta: 'output.weight' },
];

/** Per-block tensors (prefixes: GGUF `blk.N.`, HF `model.layers.N.`, Meta `layers.N.`). */
const BLOCK_ROWS: readonly NameRow[] = [
  { gguf: 'attn_norm.weight', hf: 'input_layernorm.weight', meta: 'attention_norm.weight' },
  { gguf: 'attn_q.weight', hf: 'self_attn.q_proj.weight', meta: 'attention.wq.weight' },
  { gguf: 'attn_k.weight', hf: 'self_attn.k_proj.weight', meta: 'attention.wk.weight' },
  { gguf: 'attn_v.weight', hf: 'self_attn.v_proj.weight', meta: 'attention.wv.weight' },
  { gguf: 'attn_output.weight', hf: 'self_attn.o_proj.weight', meta: 'attention.wo.weight' },
  { gguf: 'ffn_norm.weight', hf: 'post_attention_layernorm.weight', meta: 'ffn_norm.weight' },
  { gguf: 'ffn_gate.weight', hf: 'mlp.gate_proj.weight', meta: 'feed_forward.w1.weight' },
  { gguf: 'ffn_down.weight', hf: 'mlp.down_proj.weight', meta: 'feed_forward.w2.weight' },
  { gguf: 'ffn_up.weight', hf: 'mlp.up_proj.weight', meta: 'feed_forward.w3.weight' },
  // PowerInfer activation predictor (MLP hidden_size -> rank -> intermediate_size).
  { gguf: 'fc1.weight', hf: 'fc1.weight', hfAliases: ['mlp.predictor.fc1.weight'] },
  { gguf: 'fc2.weight', hf: 'fc2.weight', hfAliases: ['mlp.predictor.fc2.weight'] },
  // PowerInfer's transposed copy of ffn_down (derived at conversion time; no HF/Meta counterpart).
  { gguf: 'ffn_down_t.weight' },
];

type Scheme = 'gguf' | 'hf' | 'meta';

const BLOCK_PREFIX: Record<Scheme, RegExp> = {
  gguf: /^blk\.(0|[1-9][0-9]*)\.(.+)$/,
  hf: /^model\.layers\.(0|[1-9][0-9]*)\.(.+)$/,
  meta: /^layers\.(0|[1-9][0-9]*)\.(.+)$/,
};

const BLOCK_FORMAT: Record<Scheme, (bid: string, rest: string) => string> = {
  gguf: (bid, rest) => `blk.${bid}.${rest}`,
  hf: (bid, rest) => `model.layers.${bid}.${rest}`,
  meta: (bid, rest) => `layers.${bid}.${rest}`,
};

function spellings(row: NameRow, scheme: Scheme): string[] {
  if (scheme === 'gguf') return [row.gguf];
  if (scheme === 'meta') return row.meta === undefined ? [] : [row.meta];
  return row.hf === undefined ? [] : [row.hf, ...(row.hfAliases ?? [])];
}

function canonical(row: NameRow, scheme: Scheme): string | undefined {
  return scheme === 'gguf' ? row.gguf : row[scheme];
}

/** Lookup tables from a scheme's spelling to its row, built once. */
function index(rows: readonly NameRow[], scheme: Scheme): Map<string, NameRow> {
  const m = new Map<string, NameRow>();
  for (const row of rows) for (const s of spellings(row, scheme)) m.set(s, row);
  return m;
}

const GLOBAL_INDEX: Record<Scheme, Map<string, NameRow>> = {
  gguf: index(GLOBAL_ROWS, 'gguf'),
  hf: index(GLOBAL_ROWS, 'hf'),
  meta: index(GLOBAL_ROWS, 'meta'),
};
const BLOCK_INDEX: Record<Scheme, Map<string, NameRow>> = {
  gguf: index(BLOCK_ROWS, 'gguf'),
  hf: index(BLOCK_ROWS, 'hf'),
  meta: index(BLOCK_ROWS, 'meta'),
};

function translate(name: string, from: Scheme, to: Scheme): string | undefined {
  const g = GLOBAL_INDEX[from].get(name);
  if (g !== undefined) return canonical(g, to);
  const m = BLOCK_PREFIX[from].exec(name);
  if (m === null) return undefined;
  const row = BLOCK_INDEX[from].get(m[2]!);
  if (row === undefined) return undefined;
  const rest = canonical(row, to);
  return rest === undefined ? undefined : BLOCK_FORMAT[to](m[1]!, rest);
}

/**
 * HF name -> GGUF name, e.g. `model.layers.3.mlp.gate_proj.weight` -> `blk.3.ffn_gate.weight`,
 * `lm_head.weight` -> `output.weight`, `model.layers.0.mlp.predictor.fc1.weight` -> `blk.0.fc1.weight`.
 * @returns undefined for a name outside the table (e.g. `rotary_emb.inv_freq`, biases).
 */
export function hfToGguf(name: string): string | undefined {
  return translate(name, 'hf', 'gguf');
}

/**
 * GGUF name -> canonical HF name (inverse of `hfToGguf`).
 * @returns undefined for unknown names and for `blk.N.ffn_down_t.weight` (no HF counterpart).
 */
export function ggufToHf(name: string): string | undefined {
  return translate(name, 'gguf', 'hf');
}

/**
 * Meta / llama2.c name -> GGUF name, e.g. `layers.0.feed_forward.w2.weight` -> `blk.0.ffn_down.weight`,
 * `tok_embeddings.weight` -> `token_embd.weight`, `norm.weight` -> `output_norm.weight`.
 * @returns undefined for a name outside the table.
 */
export function metaToGguf(name: string): string | undefined {
  return translate(name, 'meta', 'gguf');
}

/** GGUF name -> Meta / llama2.c name (inverse of `metaToGguf`); undefined when Meta has none. */
export function ggufToMeta(name: string): string | undefined {
  return translate(name, 'gguf', 'meta');
}

/** GGUF name of a per-block tensor, e.g. `blockName(3, 'ffn_gate')` = `blk.3.ffn_gate.weight`. */
export function blockName(layer: number, role: GgufBlockRole): string {
  return `blk.${layer}.${role}.weight`;
}

/** Short GGUF roles of per-block tensors (without `blk.N.` and `.weight`). */
export type GgufBlockRole =
  | 'attn_norm' | 'attn_q' | 'attn_k' | 'attn_v' | 'attn_output'
  | 'ffn_norm' | 'ffn_gate' | 'ffn_up' | 'ffn_down'
  | 'fc1' | 'fc2' | 'ffn_down_t';

/**
 * Splits a GGUF block name: `blk.3.ffn_gate.weight` -> `{ layer: 3, role: 'ffn_gate' }`;
 * undefined for whole-model or unknown names.
 */
export function parseBlockName(name: string): { layer: number; role: GgufBlockRole } | undefined {
  const m = BLOCK_PREFIX.gguf.exec(name);
  if (m === null) return undefined;
  const row = BLOCK_INDEX.gguf.get(m[2]!);
  if (row === undefined) return undefined;
  return { layer: Number(m[1]), role: row.gguf.slice(0, -'.weight'.length) as GgufBlockRole };
}
