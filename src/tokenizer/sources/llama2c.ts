// llama2.c `tokenizer.bin` (karpathy/llama2.c tokenizer.py `export`, read by run.c `build_tokenizer`).

import { readFileSync } from 'node:fs';
import { FormatError } from '../../errors.js';
import { SPACE_SYMBOL, bytePieceValue } from '../spm.js';
import { tokenizerFromVocab } from '../tokenizer.js';
import { TokenType, type SpmVocab, type Tokenizer } from '../types.js';

export interface Llama2cTokenizerOptions {
  /**
   * Number of tokens to read (run.c takes it from the checkpoint header). Without it the file is
   * read to its end. With it, bytes after the last token are an error too.
   */
  vocab_size?: number;
}

/** Token lengths above this are not plausible for a SentencePiece piece. */
const MAX_PIECE_BYTES = 1 << 16;

/**
 * Parses llama2.c tokenizer.bin bytes: int32 max_token_length, then per token float32 score,
 * int32 byte length, the piece's UTF-8 bytes (all little-endian).
 *
 * The export turned U+2581 into spaces and spelled BOS/EOS `\n<s>\n` / `\n</s>\n`; this undoes
 * both (spaces -> U+2581, ids 1/2 renamed `<s>`/`</s>` when so spelled). Types come from the
 * llama2.c layout: id 0 UNKNOWN, ids 1 (BOS) and 2 (EOS) CONTROL, `<0xXX>` pieces at ids 3..258
 * BYTE, everything else NORMAL. add_bos true, add_eos false, add_space_prefix true (run.c `encode`).
 * Throws FormatError(file, …) on any structural problem; never allocates more than the file holds.
 */
export function vocabFromLlama2cTokenizer(bytes: Uint8Array, file: string, opts: Llama2cTokenizerOptions = {}): SpmVocab {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = bytes.byteLength;
  if (size < 4) throw new FormatError(file, `file is ${size} bytes, too short for a llama2.c tokenizer header`);
  const maxLen = view.getInt32(0, true);
  if (maxLen <= 0 || maxLen > MAX_PIECE_BYTES) {
    throw new FormatError(file, `max_token_length ${maxLen} is not plausible (expected 1..${MAX_PIECE_BYTES})`);
  }
  const want = opts.vocab_size;
  if (want !== undefined) {
    if (!Number.isInteger(want) || want <= 0) throw new FormatError(file, `vocab_size ${want} is not a positive integer`);
    // Every token takes at least 8 bytes: reject before allocating for it.
    if (want > (size - 4) / 8) throw new FormatError(file, `file is too short for ${want} tokens (${size} bytes)`);
  }
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const tokens: string[] = [];
  const scoreList: number[] = [];
  let off = 4;
  while (want === undefined ? off < size : tokens.length < want) {
    const id = tokens.length;
    if (off + 8 > size) throw new FormatError(file, `truncated at token ${id} (offset ${off}): score/length need 8 bytes`);
    const score = view.getFloat32(off, true);
    const len = view.getInt32(off + 4, true);
    off += 8;
    if (!Number.isFinite(score)) throw new FormatError(file, `token ${id} has a non-finite score (offset ${off - 8})`);
    if (len < 0 || len > maxLen) {
      throw new FormatError(file, `token ${id} has length ${len} outside 0..max_token_length ${maxLen} (offset ${off - 4})`);
    }
    if (off + len > size) throw new FormatError(file, `truncated in token ${id}: ${len} bytes needed at offset ${off}, file is ${size}`);
    let text: string;
    try {
      text = utf8.decode(bytes.subarray(off, off + len));
    } catch {
      throw new FormatError(file, `token ${id} is not valid UTF-8 (offset ${off})`);
    }
    off += len;
    tokens.push(text);
    scoreList.push(score);
  }
  if (off !== size) throw new FormatError(file, `${size - off} unexpected bytes after token ${tokens.length - 1}`);
  if (tokens.length < 3) throw new FormatError(file, `only ${tokens.length} tokens; a llama2.c vocabulary has <unk>, <s>, </s> first`);

  const types: TokenType[] = new Array<TokenType>(tokens.length);
  for (let id = 0; id < tokens.length; id++) {
    const raw = tokens[id]!;
    if (id === 0) {
      types[id] = TokenType.UNKNOWN;
    } else if (id === 1 || id === 2) {
      types[id] = TokenType.CONTROL;
      const trimmed = raw.trim();
      if (trimmed === (id === 1 ? '<s>' : '</s>')) tokens[id] = trimmed;
    } else if (id <= 258 && bytePieceValue(raw) >= 0) {
      types[id] = TokenType.BYTE;
    } else {
      types[id] = TokenType.NORMAL;
      tokens[id] = raw.replaceAll(' ', SPACE_SYMBOL);
    }
  }
  return {
    tokens,
    scores: Float32Array.from(scoreList),
    types,
    bos_token_id: 1,
    eos_token_id: 2,
    unk_token_id: 0,
    pad_token_id: null,
    add_bos_token: true,
    add_eos_token: false,
    add_space_prefix: true,
  };
}

/**
 * Loads a llama2.c tokenizer.bin (e.g. `tok512.bin`, llama2.c's `tokenizer.bin`) as a Tokenizer.
 * Throws FormatError(path, …) for a malformed file (see `vocabFromLlama2cTokenizer`), and the
 * usual Node error when the file cannot be read.
 */
export function loadLlama2cTokenizer(path: string, opts: Llama2cTokenizerOptions = {}): Tokenizer {
  return tokenizerFromVocab(vocabFromLlama2cTokenizer(readFileSync(path), path, opts));
}
