// HF tokenizers `tokenizer.json` of a SentencePiece-converted BPE model (transformers
// convert_slow_tokenizer `LlamaConverter`: Prepend/Replace normalizer or Metaspace pre-tokenizer,
// byte_fallback), reduced to an SpmVocab.

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FormatError } from '../../errors.js';
import { SPACE_SYMBOL, bytePieceValue } from '../spm.js';
import { tokenizerFromVocab } from '../tokenizer.js';
import { TokenType, type SpmVocab, type Tokenizer } from '../types.js';
import { applyTokenizerConfig, parseJsonFile, readTokenizerConfigDir } from './hf-config.js';

type Json = Record<string, unknown>;

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Every component of a normalizer / pre_tokenizer / decoder, flattening `Sequence`s. */
function components(node: unknown, listKey: string): Json[] {
  if (!isObject(node)) return [];
  if (node.type === 'Sequence' && Array.isArray(node[listKey])) {
    return (node[listKey] as unknown[]).flatMap((c) => components(c, listKey));
  }
  return [node];
}

function replacesSpace(c: Json): boolean {
  const pattern = c.pattern;
  return c.type === 'Replace' && isObject(pattern) && pattern.String === ' ' && c.content === SPACE_SYMBOL;
}

/**
 * How the tokenizer escapes whitespace and adds the dummy prefix: `Replace(' ', '▁')` +
 * `Prepend('▁')` normalizers (legacy Llama/Mistral conversion) or a `Metaspace` pre-tokenizer
 * (`prepend_scheme` always/first => prefix; "first" only differs after special tokens).
 */
function spaceHandling(json: Json, file: string): { add_space_prefix: boolean } {
  const normalizers = components(json.normalizer, 'normalizers');
  const preTokenizers = components(json.pre_tokenizer, 'pretokenizers');
  if (preTokenizers.some((c) => c.type === 'ByteLevel') || components(json.decoder, 'decoders').some((c) => c.type === 'ByteLevel')) {
    throw new FormatError(file, 'byte-level BPE tokenizer.json is not supported (only SentencePiece-style BPE)');
  }
  const metaspace = preTokenizers.find((c) => c.type === 'Metaspace');
  if (metaspace) {
    if (metaspace.replacement !== undefined && metaspace.replacement !== SPACE_SYMBOL) {
      throw new FormatError(file, `Metaspace replacement ${JSON.stringify(metaspace.replacement)} is not U+2581`);
    }
    const scheme = typeof metaspace.prepend_scheme === 'string' ? metaspace.prepend_scheme : metaspace.add_prefix_space === false ? 'never' : 'always';
    return { add_space_prefix: scheme !== 'never' };
  }
  if (!normalizers.some(replacesSpace)) {
    throw new FormatError(file, 'not a SentencePiece-style BPE tokenizer.json (no Replace(" ", "\u2581") normalizer or Metaspace pre-tokenizer)');
  }
  return { add_space_prefix: normalizers.some((c) => c.type === 'Prepend' && c.prepend === SPACE_SYMBOL) };
}

/** BOS/EOS added by a `TemplateProcessing` post-processor's `single` template. */
function postProcessorSpecials(json: Json): { bos?: string; eos?: string } {
  const pp = components(json.post_processor, 'processors').find((c) => c.type === 'TemplateProcessing');
  if (!pp || !Array.isArray(pp.single)) return {};
  const single = pp.single as unknown[];
  const specialId = (item: unknown): string | undefined => {
    if (!isObject(item) || !isObject(item.SpecialToken)) return undefined;
    const id = item.SpecialToken.id;
    return typeof id === 'string' ? id : undefined;
  };
  const bos = specialId(single[0]);
  const eos = single.length > 1 ? specialId(single[single.length - 1]) : undefined;
  return { ...(bos !== undefined && { bos }), ...(eos !== undefined && { eos }) };
}

/**
 * Parses tokenizer.json text (model.type BPE, vocab + merges, added_tokens) into an SpmVocab.
 * Merge ranks become scores (score = -rank of the first merge producing the piece; tokens no merge
 * produces get 0 for CONTROL/UNKNOWN/BYTE and -(merges + 1) otherwise), so the SentencePiece
 * encoder reproduces rank-ordered merging; ties go leftmost, as sentencepiece does.
 * Types: added_tokens special -> CONTROL, non-special -> USER_DEFINED; `<0xXX>` with byte_fallback
 * -> BYTE; model.unk_token -> UNKNOWN; the rest NORMAL. BOS/EOS and add_bos/add_eos come from a
 * TemplateProcessing post-processor (else `<s>` / `</s>`, add_bos true, add_eos false).
 * Throws FormatError(file, …) on invalid JSON or structure, or a byte-level (GPT-2 style) BPE.
 */
export function vocabFromTokenizerJson(text: string, file: string): SpmVocab {
  const json = parseJsonFile(text, file);
  if (!isObject(json)) throw new FormatError(file, 'expected a JSON object');
  const model = json.model;
  if (!isObject(model)) throw new FormatError(file, 'missing "model" object');
  if (model.type !== undefined && model.type !== 'BPE') {
    throw new FormatError(file, `unsupported tokenizer model type ${JSON.stringify(model.type)} (only BPE)`);
  }
  if (!isObject(model.vocab)) throw new FormatError(file, 'model.vocab is not an object');
  if (!Array.isArray(model.merges)) throw new FormatError(file, 'model.merges is not an array');
  const { add_space_prefix } = spaceHandling(json, file);

  // Pieces by id: model.vocab plus added_tokens (which may extend it).
  const byId = new Map<number, string>();
  const setPiece = (id: unknown, piece: string, where: string): void => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new FormatError(file, `${where}: invalid id ${String(id)}`);
    const prev = byId.get(id);
    if (prev !== undefined && prev !== piece) {
      throw new FormatError(file, `${where}: id ${id} is both ${JSON.stringify(prev)} and ${JSON.stringify(piece)}`);
    }
    byId.set(id, piece);
  };
  for (const [piece, id] of Object.entries(model.vocab)) setPiece(id, piece, 'model.vocab');
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) throw new FormatError(file, 'added_tokens is not an array');
  const addedType = new Map<number, TokenType>();
  for (const t of added) {
    if (!isObject(t) || typeof t.content !== 'string') throw new FormatError(file, 'added_tokens entries need a string "content"');
    setPiece(t.id, t.content, 'added_tokens');
    addedType.set(t.id as number, t.special === true ? TokenType.CONTROL : TokenType.USER_DEFINED);
  }
  const n = byId.size;
  if (n === 0) throw new FormatError(file, 'empty vocabulary');
  const tokens = new Array<string>(n);
  for (let id = 0; id < n; id++) {
    const piece = byId.get(id);
    if (piece === undefined) throw new FormatError(file, `token ids are not contiguous: id ${id} is missing (${n} tokens)`);
    tokens[id] = piece;
  }
  const idOf = new Map<string, number>();
  for (let id = n - 1; id >= 0; id--) idOf.set(tokens[id]!, id);

  const byteFallback = model.byte_fallback === true;
  const unkText = typeof model.unk_token === 'string' ? model.unk_token : null;
  const types = new Array<TokenType>(n);
  for (let id = 0; id < n; id++) {
    const t = tokens[id]!;
    types[id] =
      t === unkText ? TokenType.UNKNOWN
      : addedType.get(id) ?? (byteFallback && bytePieceValue(t) >= 0 ? TokenType.BYTE : TokenType.NORMAL);
  }

  const merges = model.merges as unknown[];
  const scores = new Float32Array(n);
  const produced = new Uint8Array(n);
  for (let rank = 0; rank < merges.length; rank++) {
    const m = merges[rank];
    let a: unknown;
    let b: unknown;
    if (typeof m === 'string') {
      const sp = m.indexOf(' ');
      if (sp <= 0 || sp === m.length - 1 || m.indexOf(' ', sp + 1) >= 0) throw new FormatError(file, `merge ${rank} is not "a b": ${JSON.stringify(m)}`);
      a = m.slice(0, sp);
      b = m.slice(sp + 1);
    } else if (Array.isArray(m) && m.length === 2) {
      [a, b] = m;
    }
    if (typeof a !== 'string' || typeof b !== 'string') throw new FormatError(file, `merge ${rank} is neither "a b" nor [a, b]`);
    if (!idOf.has(a) || !idOf.has(b)) throw new FormatError(file, `merge ${rank} uses a piece not in the vocabulary`);
    const id = idOf.get(a + b);
    if (id === undefined) throw new FormatError(file, `merge ${rank} produces ${JSON.stringify(a + b)}, which is not in the vocabulary`);
    if (!produced[id]) {
      produced[id] = 1;
      scores[id] = -rank;
    }
  }
  for (let id = 0; id < n; id++) {
    if (produced[id]) continue;
    const t = types[id];
    scores[id] = t === TokenType.CONTROL || t === TokenType.UNKNOWN || t === TokenType.BYTE ? 0 : -(merges.length + 1);
  }

  const pp = postProcessorSpecials(json);
  const bos = pp.bos ?? '<s>';
  const eos = pp.eos ?? '</s>';
  return {
    tokens,
    scores,
    types,
    bos_token_id: idOf.get(bos) ?? null,
    eos_token_id: idOf.get(eos) ?? null,
    unk_token_id: unkText === null ? null : idOf.get(unkText) ?? null,
    pad_token_id: null,
    add_bos_token: json.post_processor == null ? true : pp.bos !== undefined,
    add_eos_token: pp.eos !== undefined,
    add_space_prefix,
  };
}

/**
 * Loads an HF tokenizer.json (SentencePiece-style BPE, see `vocabFromTokenizerJson`) and, when a
 * sibling tokenizer_config.json exists, applies its add_bos_token / add_eos_token / chat_template /
 * bos_token / eos_token / unk_token / pad_token (a sibling chat_template.jinja is used when the
 * config has no template). Throws FormatError naming the file at fault.
 */
export function loadTokenizerJson(path: string): Tokenizer {
  let vocab = vocabFromTokenizerJson(readFileSync(path, 'utf8'), path);
  const cfg = readTokenizerConfigDir(dirname(path));
  if (cfg) vocab = applyTokenizerConfig(vocab, cfg.config, cfg.file);
  return tokenizerFromVocab(vocab);
}
