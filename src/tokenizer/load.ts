// `loadTokenizer`: picks the right source for a path by name, then by content.

import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { checkReadablePath, FormatError } from '../errors.js';
// Only loadTokenizer's GGUF branch uses the GGUF reader; the rest of tokenizer/ works on parsed metadata.
import { openGguf } from '../formats/gguf/index.js';
import { vocabFromGgufMetadata } from './sources/gguf.js';
import { applyTokenizerConfig, readTokenizerConfigDir } from './sources/hf-config.js';
import { vocabFromLlama2cTokenizer } from './sources/llama2c.js';
import { vocabFromSentencePieceModel } from './sources/sentencepiece-model.js';
import { vocabFromTokenizerJson } from './sources/tokenizer-json.js';
import { tokenizerFromVocab } from './tokenizer.js';
import type { SpmVocab, Tokenizer } from './types.js';

/** The source formats `loadTokenizer` recognizes. */
export type TokenizerSourceKind = 'gguf' | 'tokenizer.json' | 'sentencepiece' | 'llama2c';

function head(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * The format of a tokenizer file: by extension (`.gguf`, `.json`, `.model` / `.model.vN`, `.bin`),
 * else by content (`GGUF`/`PWRI` magic, a leading `{`, a protobuf field-1 tag 0x0A, else llama2.c).
 */
export function detectTokenizerFile(path: string): TokenizerSourceKind {
  const name = basename(path).toLowerCase();
  if (name.endsWith('.gguf')) return 'gguf';
  if (name.endsWith('.json')) return 'tokenizer.json';
  if (/\.model(\.v\d+)?$/.test(name)) return 'sentencepiece';
  if (name.endsWith('.bin')) return 'llama2c';
  const h = head(path, 4);
  const magic = String.fromCharCode(...h);
  if (magic === 'GGUF' || magic === 'PWRI') return 'gguf';
  if (h[0] === 0x7b) return 'tokenizer.json';
  if (h[0] === 0x0a) return 'sentencepiece';
  return 'llama2c';
}

/** Applies a sibling tokenizer_config.json / chat_template.jinja when there is one. */
function withSiblingConfig(vocab: SpmVocab, path: string): SpmVocab {
  const cfg = readTokenizerConfigDir(dirname(path));
  return cfg ? applyTokenizerConfig(vocab, cfg.config, cfg.file) : vocab;
}

function vocabFromFile(path: string): SpmVocab {
  switch (detectTokenizerFile(path)) {
    case 'gguf':
      return vocabFromGgufMetadata(openGguf(path).metadata, path);
    case 'tokenizer.json':
      return withSiblingConfig(vocabFromTokenizerJson(readFileSync(path, 'utf8'), path), path);
    case 'sentencepiece':
      return withSiblingConfig(vocabFromSentencePieceModel(readFileSync(path), path), path);
    case 'llama2c':
      return vocabFromLlama2cTokenizer(readFileSync(path), path);
  }
}

/**
 * Loads a tokenizer from any supported source:
 * - a `.gguf` file (its `tokenizer.ggml.*` metadata, header read with `openGguf`; no tensor data);
 * - a folder with `tokenizer.json` (preferred: it carries HF added tokens) or `tokenizer.model`;
 * - a `tokenizer.json` (HF, SentencePiece-style BPE) or `tokenizer.model` (SentencePiece BPE) file;
 *   for both, a `tokenizer_config.json` next to it supplies add_bos/add_eos/special tokens/chat_template;
 * - a llama2.c `tokenizer.bin` (e.g. `tok512.bin`).
 * Files without a telling extension are recognized by content (see `detectTokenizerFile`).
 * Synchronous (small files; the GGUF reader reads only the header).
 * Throws FormatError naming the file at fault (also for a folder without a tokenizer, and for a GGUF
 * whose tokenizer is not SentencePiece "llama", a missing path, or a path that is not a regular file).
 */
export function loadTokenizer(path: string): Tokenizer {
  let file = path;
  if (checkReadablePath(path, true) === 'dir') {
    const json = join(path, 'tokenizer.json');
    const model = join(path, 'tokenizer.model');
    if (existsSync(json)) file = json;
    else if (existsSync(model)) file = model;
    else throw new FormatError(path, 'folder has no tokenizer.json or tokenizer.model');
    checkReadablePath(file, false);
  }
  return tokenizerFromVocab(vocabFromFile(file));
}
