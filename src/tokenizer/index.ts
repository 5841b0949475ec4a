/**
 * Public surface of tokenizer/: SentencePiece BPE tokenizers (Llama 2 / Mistral family) loaded from
 * GGUF metadata, SentencePiece `tokenizer.model`, HF `tokenizer.json` or llama2.c `tokenizer.bin`;
 * encoding as llama.cpp's SPM tokenizer, decoding (also streaming) and chat templates.
 */
export { TokenType } from './types.js';
export type { ChatMessage, EncodeOptions, SpmVocab, StreamDecoder, Tokenizer } from './types.js';
export { SPACE_SYMBOL } from './spm.js';
export { checkVocab, tokenizerFromVocab } from './tokenizer.js';
export { ChatTemplate, type ChatTemplateContext } from './chat-template.js';
export { tokenizerFromGgufMetadata, vocabFromGgufMetadata } from './sources/gguf.js';
export { loadSentencePieceModel, vocabFromSentencePieceModel } from './sources/sentencepiece-model.js';
export { loadTokenizerJson, vocabFromTokenizerJson } from './sources/tokenizer-json.js';
export {
  applyTokenizerConfig,
  parseTokenizerConfig,
  readTokenizerConfigDir,
  type HfTokenizerConfig,
} from './sources/hf-config.js';
export { loadLlama2cTokenizer, vocabFromLlama2cTokenizer, type Llama2cTokenizerOptions } from './sources/llama2c.js';
export { detectTokenizerFile, loadTokenizer, type TokenizerSourceKind } from './load.js';
