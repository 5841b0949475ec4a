/** SentencePiece / GGUF token types (`tokenizer.ggml.token_type`, llama.cpp `llama_token_type`). */
export enum TokenType {
  UNDEFINED = 0,
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

/** A vocabulary in the form every source (GGUF, tokenizer.model, tokenizer.json, llama2.c) is reduced to. */
export interface SpmVocab {
  /** Pieces, indexed by token id, with SentencePiece's U+2581 for spaces. */
  tokens: string[];
  /** Merge priority per token (higher merges first). */
  scores: Float32Array;
  types: TokenType[];
  bos_token_id: number | null;
  eos_token_id: number | null;
  unk_token_id: number | null;
  pad_token_id: number | null;
  /** Prepend BOS by default when encoding (`tokenizer.ggml.add_bos_token`, default true). */
  add_bos_token: boolean;
  add_eos_token: boolean;
  /** Prepend U+2581 to the text before encoding (SentencePiece `add_dummy_prefix`, default true). */
  add_space_prefix: boolean;
  /** Jinja chat template, when the source carries one. */
  chat_template?: string;
}

export interface EncodeOptions {
  /** Prepend BOS (default: the vocab's `add_bos_token`). */
  add_bos?: boolean;
  /** Append EOS (default: the vocab's `add_eos_token`). */
  add_eos?: boolean;
  /** Recognize control/user-defined token text such as `<s>` in the input (default false, as llama.cpp `parse_special`). */
  parse_special?: boolean;
}

/** Decodes ids one at a time; returns only complete UTF-8 text, holding back split sequences. */
export interface StreamDecoder {
  push(id: number): string;
  /** Returns whatever is held back (invalid bytes as U+FFFD). */
  flush(): string;
}

export interface ChatMessage {
  role: string;
  content: string;
}

export interface Tokenizer {
  readonly vocab: SpmVocab;
  readonly vocab_size: number;
  encode(text: string, options?: EncodeOptions): number[];
  /** Decodes ids to text; skips BOS/EOS/control tokens, strips the dummy-prefix space of the first piece. */
  decode(ids: number[]): string;
  /** The piece of one id as text (`<0x0A>` byte tokens as the byte's text when valid). */
  piece(id: number): string;
  createStreamDecoder(): StreamDecoder;
  /** Renders the vocab's chat template (throws RelufyError when there is none). */
  applyChatTemplate(messages: ChatMessage[], options?: { add_generation_prompt?: boolean }): string;
}
