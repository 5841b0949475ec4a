// Ids -> text for SentencePiece vocabularies: llama.cpp `token_to_piece` / `detokenize` (SPM) with
// sentencepiece's handling of the dummy-prefix space.

import { UsageError } from '../errors.js';
import { SPACE_SYMBOL, bytePieceValue } from './spm.js';
import { TokenType, type SpmVocab, type StreamDecoder } from './types.js';

const enum Kind {
  /** CONTROL / UNKNOWN: produce no text. */
  SKIP = 0,
  /** Text piece; NORMAL-like pieces have U+2581 turned into spaces, USER_DEFINED ones are as-is. */
  TEXT = 1,
  /** One raw byte (`<0xXX>` BYTE token). */
  BYTE = 2,
}

const SPACE_RE = new RegExp(SPACE_SYMBOL, 'g');
const EMPTY = new Uint8Array(0);

/** Token id -> bytes, shared by `decode`, `piece` and the stream decoders of one tokenizer. */
export class SpmDecoder {
  private readonly kind: Uint8Array;
  private readonly byteValue: Int16Array;
  private readonly bytesCache: (Uint8Array | undefined)[];
  private readonly stripPrefix: boolean;

  constructor(readonly vocab: SpmVocab) {
    const n = vocab.tokens.length;
    this.kind = new Uint8Array(n);
    this.byteValue = new Int16Array(n).fill(-1);
    this.bytesCache = new Array<Uint8Array | undefined>(n);
    this.stripPrefix = vocab.add_space_prefix;
    for (let id = 0; id < n; id++) {
      const type = vocab.types[id];
      if (type === TokenType.CONTROL || type === TokenType.UNKNOWN) {
        this.kind[id] = Kind.SKIP;
      } else if (type === TokenType.BYTE && bytePieceValue(vocab.tokens[id]!) >= 0) {
        this.kind[id] = Kind.BYTE;
        this.byteValue[id] = bytePieceValue(vocab.tokens[id]!);
      } else {
        this.kind[id] = Kind.TEXT;
      }
    }
  }

  private check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.kind.length) {
      throw new UsageError('token id', `${id} is out of range [0, ${this.kind.length})`);
    }
  }

  /** Text of a text piece: U+2581 -> space, except USER_DEFINED pieces (llama.cpp `token_to_piece`). */
  private pieceText(id: number): string {
    const t = this.vocab.tokens[id]!;
    return this.vocab.types[id] === TokenType.USER_DEFINED ? t : t.replace(SPACE_RE, ' ');
  }

  /**
   * The UTF-8 bytes id contributes to decoded text (empty for CONTROL/UNKNOWN). With `first`, one
   * leading space is dropped when the vocab adds a dummy prefix (sentencepiece's decoder, llama.cpp
   * `detokenize` lstrip).
   */
  bytes(id: number, first: boolean): Uint8Array {
    this.check(id);
    const kind = this.kind[id] as Kind;
    if (kind === Kind.SKIP) return EMPTY;
    if (kind === Kind.BYTE) return Uint8Array.of(this.byteValue[id]!);
    let b = this.bytesCache[id];
    if (b === undefined) {
      b = new Uint8Array(Buffer.from(this.pieceText(id), 'utf8'));
      this.bytesCache[id] = b;
    }
    return first && this.stripPrefix && b[0] === 0x20 ? b.subarray(1) : b;
  }

  /** Whether id produces text (so that it is the "first piece" for the dummy-prefix strip). */
  producesText(id: number): boolean {
    this.check(id);
    return this.kind[id] !== Kind.SKIP;
  }

  /** See `Tokenizer.decode`. Invalid UTF-8 (e.g. a lone byte token) becomes U+FFFD. */
  decode(ids: number[]): string {
    const parts: Uint8Array[] = [];
    let total = 0;
    let first = true;
    for (const id of ids) {
      if (!this.producesText(id)) continue;
      const b = this.bytes(id, first);
      first = false;
      parts.push(b);
      total += b.length;
    }
    const buf = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      buf.set(p, o);
      o += p.length;
    }
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf);
  }

  /** See `Tokenizer.piece`: the raw piece text, with U+2581 as space and ASCII byte tokens as their character. */
  piece(id: number): string {
    this.check(id);
    const kind = this.kind[id] as Kind;
    if (kind === Kind.SKIP) return this.vocab.tokens[id]!;
    if (kind === Kind.BYTE) {
      const b = this.byteValue[id]!;
      return b < 0x80 ? String.fromCharCode(b) : this.vocab.tokens[id]!;
    }
    return this.pieceText(id);
  }

  createStreamDecoder(): StreamDecoder {
    return new SpmStreamDecoder(this);
  }
}

/**
 * Incremental decoding: the concatenation of every `push` result and a final `flush` equals
 * `decode(allIds)`. Multi-byte characters split over BYTE tokens are held back until complete
 * (WHATWG TextDecoder streaming); `flush` emits an incomplete tail as U+FFFD and ends the stream
 * (the dummy-prefix strip is not re-armed: later pushes continue the same text).
 */
class SpmStreamDecoder implements StreamDecoder {
  private readonly utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
  private first = true;

  constructor(private readonly dec: SpmDecoder) {}

  push(id: number): string {
    if (!this.dec.producesText(id)) return '';
    const b = this.dec.bytes(id, this.first);
    this.first = false;
    return this.utf8.decode(b, { stream: true });
  }

  flush(): string {
    return this.utf8.decode();
  }
}
