// GGUF `tokenizer.ggml.*` metadata (ggml docs/gguf.md "Tokenizer"; llama.cpp `llama_vocab::impl::load`)
// reduced to an SpmVocab. Works on an already-parsed metadata map, so it does not depend on the reader.

import { FormatError } from '../../errors.js';
import { GGUFValueType, type GGUFArrayValue, type GGUFKV, type GGUFScalar } from '../../formats/gguf/types.js';
import { bytePieceValue } from '../spm.js';
import { tokenizerFromVocab } from '../tokenizer.js';
import { TokenType, type SpmVocab, type Tokenizer } from '../types.js';

const INTEGER_TYPES = new Set<GGUFValueType>([
  GGUFValueType.UINT8,
  GGUFValueType.INT8,
  GGUFValueType.UINT16,
  GGUFValueType.INT16,
  GGUFValueType.UINT32,
  GGUFValueType.INT32,
  GGUFValueType.UINT64,
  GGUFValueType.INT64,
]);

function isArray(v: GGUFScalar | GGUFArrayValue): v is GGUFArrayValue {
  return typeof v === 'object' && v !== null && 'items' in v;
}

/** Typed access to the metadata map, with FormatError(file, "<key> …") for wrong types. */
class Meta {
  constructor(
    private readonly metadata: Map<string, GGUFKV>,
    private readonly file: string,
  ) {}

  fail(key: string, problem: string): never {
    throw new FormatError(this.file, `${key} ${problem}`);
  }

  string(key: string): string | undefined {
    const kv = this.metadata.get(key);
    if (kv === undefined) return undefined;
    if (kv.type !== GGUFValueType.STRING || typeof kv.value !== 'string') this.fail(key, 'is not a string');
    return kv.value;
  }

  bool(key: string): boolean | undefined {
    const kv = this.metadata.get(key);
    if (kv === undefined) return undefined;
    if (kv.type !== GGUFValueType.BOOL || typeof kv.value !== 'boolean') this.fail(key, 'is not a bool');
    return kv.value;
  }

  /** An integer of any integer type (llama.cpp reads the special ids as uint32); bigint becomes number. */
  integer(key: string): number | undefined {
    const kv = this.metadata.get(key);
    if (kv === undefined) return undefined;
    const v = kv.value;
    if (!INTEGER_TYPES.has(kv.type) || (typeof v !== 'number' && typeof v !== 'bigint')) this.fail(key, 'is not an integer');
    return Number(v);
  }

  array(key: string, itemTypes: GGUFValueType[], what: string): (GGUFScalar | GGUFArrayValue)[] | undefined {
    const kv = this.metadata.get(key);
    if (kv === undefined) return undefined;
    if (kv.type !== GGUFValueType.ARRAY || !isArray(kv.value)) this.fail(key, 'is not an array');
    if (!itemTypes.includes(kv.value.itemType)) this.fail(key, `is not an array of ${what}`);
    return kv.value.items;
  }
}

/**
 * Builds an SpmVocab from GGUF metadata. Keys (all `tokenizer.ggml.` except the template):
 * `model` (must be "llama", i.e. SentencePiece BPE), `tokens` (required), `scores` (f32, default 0),
 * `token_type` (i32; when absent types are inferred: `<0xXX>` BYTE, unk UNKNOWN, bos/eos CONTROL,
 * else NORMAL), `bos_token_id` / `eos_token_id` / `unknown_token_id` (defaults 1 / 2 / 0 as
 * llama.cpp for "llama"), `padding_token_id`, `add_bos_token` (default true), `add_eos_token`
 * (default false), `add_space_prefix` (default true) and `tokenizer.chat_template`.
 * Special ids outside the vocabulary (e.g. -1 stored as 0xFFFFFFFF) are ignored, as llama.cpp does.
 * Throws FormatError(file, …) for a missing/unsupported model, wrongly typed keys, mismatched array
 * lengths or invalid token types.
 */
export function vocabFromGgufMetadata(metadata: Map<string, GGUFKV>, file: string): SpmVocab {
  const m: Meta = new Meta(metadata, file);
  const model = m.string('tokenizer.ggml.model');
  if (model === undefined) throw new FormatError(file, 'no tokenizer: tokenizer.ggml.model is missing');
  if (model !== 'llama') throw new FormatError(file, `unsupported tokenizer model ${model}`);

  const tokenItems = m.array('tokenizer.ggml.tokens', [GGUFValueType.STRING], 'strings');
  if (tokenItems === undefined) m.fail('tokenizer.ggml.tokens', 'is missing');
  const n = tokenItems.length;
  if (n === 0) m.fail('tokenizer.ggml.tokens', 'is empty');
  const tokens = tokenItems.slice() as string[];

  const scores = new Float32Array(n);
  const scoreItems = m.array('tokenizer.ggml.scores', [GGUFValueType.FLOAT32, GGUFValueType.FLOAT64], 'floats');
  if (scoreItems !== undefined) {
    if (scoreItems.length !== n) m.fail('tokenizer.ggml.scores', `has ${scoreItems.length} entries for ${n} tokens`);
    for (let i = 0; i < n; i++) {
      const s = scoreItems[i] as number;
      if (!Number.isFinite(s)) m.fail('tokenizer.ggml.scores', `entry ${i} is not finite`);
      scores[i] = s;
    }
  }

  // As llama.cpp: an id outside the vocabulary (e.g. -1 stored as uint32 0xFFFFFFFF, or a pad id equal
  // to the vocab size) is ignored and the default applies.
  const idKey = (key: string, dflt: number | null): number | null => {
    const id = m.integer(key);
    if (id !== undefined && id >= 0 && id < n) return id;
    return dflt !== null && dflt < n ? dflt : null;
  };
  const bos = idKey('tokenizer.ggml.bos_token_id', 1);
  const eos = idKey('tokenizer.ggml.eos_token_id', 2);
  const unk = idKey('tokenizer.ggml.unknown_token_id', 0);
  const pad = idKey('tokenizer.ggml.padding_token_id', null);

  const types = new Array<TokenType>(n);
  const typeItems = m.array(
    'tokenizer.ggml.token_type',
    [GGUFValueType.INT32, GGUFValueType.UINT32, GGUFValueType.INT8, GGUFValueType.UINT8, GGUFValueType.INT16, GGUFValueType.UINT16],
    'integers',
  );
  if (typeItems !== undefined) {
    if (typeItems.length !== n) m.fail('tokenizer.ggml.token_type', `has ${typeItems.length} entries for ${n} tokens`);
    for (let i = 0; i < n; i++) {
      const t = typeItems[i] as number;
      if (!Number.isInteger(t) || t < TokenType.UNDEFINED || t > TokenType.BYTE) m.fail('tokenizer.ggml.token_type', `entry ${i} is ${t}, not a token type 0..6`);
      if (t === TokenType.BYTE && bytePieceValue(tokens[i]!) < 0) m.fail('tokenizer.ggml.token_type', `entry ${i} is BYTE but the token is not <0xXX>`);
      types[i] = t as TokenType;
    }
  } else {
    for (let i = 0; i < n; i++) {
      types[i] =
        i === unk ? TokenType.UNKNOWN
        : i === bos || i === eos ? TokenType.CONTROL
        : bytePieceValue(tokens[i]!) >= 0 ? TokenType.BYTE
        : TokenType.NORMAL;
    }
  }

  const vocab: SpmVocab = {
    tokens,
    scores,
    types,
    bos_token_id: bos,
    eos_token_id: eos,
    unk_token_id: unk,
    pad_token_id: pad,
    add_bos_token: m.bool('tokenizer.ggml.add_bos_token') ?? true,
    add_eos_token: m.bool('tokenizer.ggml.add_eos_token') ?? false,
    add_space_prefix: m.bool('tokenizer.ggml.add_space_prefix') ?? true,
  };
  const template = m.string('tokenizer.chat_template');
  if (template !== undefined) vocab.chat_template = template;
  return vocab;
}

/** `tokenizerFromVocab(vocabFromGgufMetadata(metadata, file))`; same errors. */
export function tokenizerFromGgufMetadata(metadata: Map<string, GGUFKV>, file: string): Tokenizer {
  return tokenizerFromVocab(vocabFromGgufMetadata(metadata, file));
}
