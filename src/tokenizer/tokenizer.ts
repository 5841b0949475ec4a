// The `Tokenizer` over an `SpmVocab`: encoder, decoder and chat template together.

import { RelufyError } from '../errors.js';
import { ChatTemplate } from './chat-template.js';
import { SpmDecoder } from './decode.js';
import { SpmEncoder } from './spm.js';
import {
  TokenType,
  type ChatMessage,
  type EncodeOptions,
  type SpmVocab,
  type StreamDecoder,
  type Tokenizer,
} from './types.js';

class SpmTokenizer implements Tokenizer {
  readonly vocab_size: number;
  private readonly encoder: SpmEncoder;
  private readonly decoder: SpmDecoder;
  private chatTemplate: ChatTemplate | undefined;

  constructor(readonly vocab: SpmVocab) {
    this.vocab_size = vocab.tokens.length;
    this.encoder = new SpmEncoder(vocab);
    this.decoder = new SpmDecoder(vocab);
  }

  encode(text: string, options?: EncodeOptions): number[] {
    return this.encoder.encode(text, options);
  }

  decode(ids: number[]): string {
    return this.decoder.decode(ids);
  }

  piece(id: number): string {
    return this.decoder.piece(id);
  }

  createStreamDecoder(): StreamDecoder {
    return this.decoder.createStreamDecoder();
  }

  applyChatTemplate(messages: ChatMessage[], options: { add_generation_prompt?: boolean } = {}): string {
    const source = this.vocab.chat_template;
    if (source === undefined || source === '') {
      throw new RelufyError('the tokenizer has no chat template');
    }
    this.chatTemplate ??= new ChatTemplate(source);
    const v = this.vocab;
    return this.chatTemplate.render({
      messages,
      bos_token: v.bos_token_id === null ? '' : v.tokens[v.bos_token_id]!,
      eos_token: v.eos_token_id === null ? '' : v.tokens[v.eos_token_id]!,
      add_generation_prompt: options.add_generation_prompt ?? false,
    });
  }
}

/** Throws RelufyError when the parallel arrays or the special ids of a vocab disagree. */
export function checkVocab(vocab: SpmVocab): void {
  const n = vocab.tokens.length;
  if (n === 0) throw new RelufyError('vocabulary is empty');
  if (vocab.scores.length !== n) throw new RelufyError(`vocabulary has ${n} tokens but ${vocab.scores.length} scores`);
  if (vocab.types.length !== n) throw new RelufyError(`vocabulary has ${n} tokens but ${vocab.types.length} token types`);
  for (let i = 0; i < n; i++) {
    const t = vocab.types[i]!;
    if (!Number.isInteger(t) || t < TokenType.UNDEFINED || t > TokenType.BYTE) {
      throw new RelufyError(`vocabulary token ${i} has invalid type ${t}`);
    }
  }
  for (const key of ['bos_token_id', 'eos_token_id', 'unk_token_id', 'pad_token_id'] as const) {
    const id = vocab[key];
    if (id !== null && (!Number.isInteger(id) || id < 0 || id >= n)) {
      throw new RelufyError(`vocabulary ${key} ${id} is out of range [0, ${n})`);
    }
  }
}

/**
 * A tokenizer over an already-built vocabulary (the common target of every loader).
 * Encoding follows llama.cpp's SPM tokenizer (see `SpmEncoder`), decoding llama.cpp
 * `token_to_piece` + sentencepiece's dummy-prefix strip (see `SpmDecoder`).
 * Throws RelufyError when the vocab's arrays or special ids are inconsistent.
 */
export function tokenizerFromVocab(vocab: SpmVocab): Tokenizer {
  checkVocab(vocab);
  return new SpmTokenizer(vocab);
}
