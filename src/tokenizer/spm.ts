// SentencePiece BPE encoder, following llama.cpp's SPM tokenizer (src/llama-vocab.cpp
// `llm_tokenizer_spm_session` + `tokenizer_st_partition` + the SPM branch of `impl::tokenize`) and
// sentencepiece's bpe_model.cc for the two points where they differ (see `SpmEncoder`).

import { RelufyError } from '../errors.js';
import { TokenType, type EncodeOptions, type SpmVocab } from './types.js';

/** SentencePiece's whitespace meta symbol U+2581 (LOWER ONE EIGHTH BLOCK). */
export const SPACE_SYMBOL = '\u2581';

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** The byte value of a `<0xXX>` piece, or -1 when the text is not of that form. */
export function bytePieceValue(piece: string): number {
  const m = BYTE_PIECE.exec(piece);
  return m ? parseInt(m[1]!, 16) : -1;
}

/**
 * Max-heap of candidate merges: highest score first, ties broken by the leftmost symbol. Entries
 * live in a pool (score/left/right/size by entry number); the heap orders entry numbers only.
 */
class BigramHeap {
  private score = new Float64Array(64);
  private left = new Int32Array(64);
  private right = new Int32Array(64);
  private size = new Int32Array(64);
  private tok = new Int32Array(64);
  private heap = new Int32Array(64);
  /** Entries in the pool (the heap holds `length` of them). */
  private entries = 0;
  length = 0;

  clear(): void {
    this.entries = 0;
    this.length = 0;
  }

  /** True when entry a must be popped before entry b. */
  private before(a: number, b: number): boolean {
    const sa = this.score[a]!;
    const sb = this.score[b]!;
    return sa > sb || (sa === sb && this.left[a]! < this.left[b]!);
  }

  private grow(): void {
    const cap = this.score.length * 2;
    const score = new Float64Array(cap);
    score.set(this.score);
    this.score = score;
    for (const k of ['left', 'right', 'size', 'tok', 'heap'] as const) {
      const a = new Int32Array(cap);
      a.set(this[k]);
      this[k] = a;
    }
  }

  private newEntry(score: number, left: number, right: number, size: number, tok: number): number {
    if (this.entries === this.score.length) this.grow();
    const e = this.entries++;
    this.score[e] = score;
    this.left[e] = left;
    this.right[e] = right;
    this.size[e] = size;
    this.tok[e] = tok;
    return e;
  }

  private siftUp(i: number, e: number): void {
    const heap = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = heap[p]!;
      if (!this.before(e, pe)) break;
      heap[i] = pe;
      i = p;
    }
    heap[i] = e;
  }

  private siftDown(i: number, e: number): void {
    const heap = this.heap;
    const n = this.length;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(heap[c + 1]!, heap[c]!)) c++;
      const ce = heap[c]!;
      if (!this.before(ce, e)) break;
      heap[i] = ce;
      i = c;
    }
    heap[i] = e;
  }

  push(score: number, left: number, right: number, size: number, tok: number): void {
    const e = this.newEntry(score, left, right, size, tok);
    this.siftUp(this.length++, e);
  }

  /** Adds an entry without ordering it; call `heapify` once after a batch of these. */
  pushUnordered(score: number, left: number, right: number, size: number, tok: number): void {
    const e = this.newEntry(score, left, right, size, tok);
    this.heap[this.length++] = e;
  }

  heapify(): void {
    for (let i = (this.length >> 1) - 1; i >= 0; i--) this.siftDown(i, this.heap[i]!);
  }

  /** Removes the top entry and writes it to `out` as [left, right, size, tok]. */
  pop(out: Int32Array): void {
    const top = this.heap[0]!;
    out[0] = this.left[top]!;
    out[1] = this.right[top]!;
    out[2] = this.size[top]!;
    out[3] = this.tok[top]!;
    const last = this.heap[--this.length]!;
    if (this.length > 0) this.siftDown(0, last);
  }
}

interface SpecialPiece {
  id: number;
  text: string;
  /** CONTROL or UNKNOWN: only matched with `parse_special`. USER_DEFINED pieces are always matched. */
  needsParseSpecial: boolean;
}

/** Bound on the pair memo (entries); it is cleared when full. */
const MAX_PAIR_MEMO = 1 << 20;

interface PairTables {
  /** Memo: (left id * vocab size + right id) -> id of the mergeable piece they concatenate to, or -1. */
  pairs: Map<number, number>;
  /** Mergeable id -> `pieceToId` id of the same text (the symbol id after the merge). */
  canon: Int32Array;
  /** Code point -> id of the single-code-point piece. */
  codePointId: Map<number, number>;
  /** Code points that occur in some mergeable piece of two or more code points. */
  mergeChars: Set<number>;
}

/** A fragment of the input after special-token partitioning: raw text, or a token id. */
type Fragment = string | number;

/**
 * Encodes text with a SentencePiece BPE vocabulary.
 *
 * Behaviour (llama.cpp `llama_vocab::impl::tokenize`, SPM branch):
 * - special pieces are cut out of the raw text first, longest text first: USER_DEFINED pieces
 *   always, CONTROL/UNKNOWN pieces only with `parse_special`;
 * - each remaining text fragment gets the dummy-prefix space when `add_space_prefix` and it is the
 *   first fragment or follows a special piece; spaces become U+2581;
 * - the fragment is split into code points and the adjacent pair whose concatenation is a piece
 *   with the highest score is merged (ties: leftmost), until no pair is a piece;
 * - a final symbol that is not a piece is written as its UTF-8 bytes with `<0xXX>` BYTE tokens
 *   (a missing byte token, or a vocab without byte tokens, gives the UNK token).
 *
 * Where llama.cpp and sentencepiece differ, this follows sentencepiece (whose output the test
 * vectors are): merges only form NORMAL / USER_DEFINED / UNUSED / UNDEFINED pieces (never
 * CONTROL, UNKNOWN or BYTE pieces such as `<s>`), and a merged UNUSED piece is split back into the
 * two pieces it was made of (`rev_merge` in bpe_model.cc).
 *
 * Cost: O(n log n) in the text length (binary heap of candidate merges over a linked list of
 * symbols; merge candidates are memoized by numeric id pair).
 */
export class SpmEncoder {
  /** Piece text -> its first id (any type): the id a final symbol is written as. */
  private readonly pieceToId = new Map<string, number>();
  /** Piece text -> first id among the pieces merges may form. */
  private readonly mergeable = new Map<string, number>();
  /** Longest mergeable piece, in UTF-16 code units (longer pairs are not looked up). */
  private readonly maxMergeUnits: number;
  private readonly byteToId = new Int32Array(256).fill(-1);
  private readonly hasByteTokens: boolean;
  private readonly hasUnused: boolean;
  private readonly specials: SpecialPiece[];
  /** Built on first encode (see `buildTables`). */
  private tables: PairTables | undefined;

  // Scratch state, reused between calls (one encode at a time; JS is single-threaded).
  private symStart = new Int32Array(256);
  private symLen = new Int32Array(256);
  private symPrev = new Int32Array(256);
  private symNext = new Int32Array(256);
  /** Id of the symbol's text (`pieceToId`), or -1 when it is not a piece. */
  private symId = new Int32Array(256);
  private readonly heap = new BigramHeap();
  private readonly popped = new Int32Array(4);
  private readonly revMerge = new Map<string, [string, string]>();

  constructor(readonly vocab: SpmVocab) {
    const { tokens, types } = vocab;
    let maxUnits = 0;
    let hasBytes = false;
    let hasUnused = false;
    const specials: SpecialPiece[] = [];
    for (let id = 0; id < tokens.length; id++) {
      const text = tokens[id]!;
      const type = types[id] ?? TokenType.NORMAL;
      if (!this.pieceToId.has(text)) this.pieceToId.set(text, id);
      switch (type) {
        case TokenType.BYTE: {
          const b = bytePieceValue(text);
          if (b >= 0 && this.byteToId[b] === -1) {
            this.byteToId[b] = id;
            hasBytes = true;
          }
          break;
        }
        case TokenType.CONTROL:
        case TokenType.UNKNOWN:
          if (text.length > 0) specials.push({ id, text, needsParseSpecial: true });
          break;
        case TokenType.USER_DEFINED:
          if (text.length > 0) specials.push({ id, text, needsParseSpecial: false });
          break;
        default:
          break;
      }
      if (type !== TokenType.BYTE && type !== TokenType.CONTROL && type !== TokenType.UNKNOWN) {
        if (!this.mergeable.has(text)) this.mergeable.set(text, id);
        if (text.length > maxUnits) maxUnits = text.length;
        if (type === TokenType.UNUSED) hasUnused = true;
      }
    }
    // Longest first, as llama.cpp's `cache_special_tokens`; ties by id for a stable order.
    specials.sort((a, b) => b.text.length - a.text.length || a.id - b.id);
    this.specials = specials;
    this.maxMergeUnits = maxUnits;
    this.hasByteTokens = hasBytes;
    this.hasUnused = hasUnused;
  }

  /**
   * Numeric lookup tables, so the merge loop mostly avoids slicing and hashing strings: the id of
   * every single-code-point piece, the code points that can take part in merges, and a memo of
   * (left id, right id) -> merged piece filled as pairs are met.
   */
  private buildTables(): PairTables {
    const n = this.vocab.tokens.length;
    const canon = new Int32Array(n).fill(-1);
    const codePointId = new Map<number, number>();
    for (const [text, id] of this.pieceToId) {
      const cp = text.codePointAt(0);
      if (cp !== undefined && text.length === (cp > 0xffff ? 2 : 1)) codePointId.set(cp, id);
    }
    const mergeChars = new Set<number>();
    for (const [text, m] of this.mergeable) {
      canon[m] = this.pieceToId.get(text)!;
      const first = text.codePointAt(0);
      if (first === undefined || text.length === (first > 0xffff ? 2 : 1)) continue;
      for (let i = 0; i < text.length; ) {
        const cp = text.codePointAt(i)!;
        mergeChars.add(cp);
        i += cp > 0xffff ? 2 : 1;
      }
    }
    return { pairs: new Map(), canon, codePointId, mergeChars };
  }

  /** Token ids for `text` (see the class comment); BOS/EOS per `options` or the vocab's defaults. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const v = this.vocab;
    const addBos = options.add_bos ?? v.add_bos_token;
    const addEos = options.add_eos ?? v.add_eos_token;
    const out: number[] = [];
    if (addBos) {
      if (v.bos_token_id === null) throw new RelufyError('cannot add BOS: the vocabulary has no bos_token_id');
      out.push(v.bos_token_id);
    }
    if (text.length > 0) {
      this.tables ??= this.buildTables();
      let prevSpecial = true;
      for (const f of this.partition(text, options.parse_special ?? false)) {
        if (typeof f === 'number') {
          out.push(f);
          prevSpecial = true;
        } else {
          this.encodeFragment(f, v.add_space_prefix && prevSpecial, this.tables, out);
          prevSpecial = false;
        }
      }
    }
    if (addEos) {
      if (v.eos_token_id === null) throw new RelufyError('cannot add EOS: the vocabulary has no eos_token_id');
      out.push(v.eos_token_id);
    }
    return out;
  }

  /** Cuts special pieces out of the text (llama.cpp `tokenizer_st_partition`, without lstrip/rstrip). */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    let fragments: Fragment[] = [text];
    for (const sp of this.specials) {
      if (sp.needsParseSpecial && !parseSpecial) continue;
      let next: Fragment[] | null = null;
      for (let k = 0; k < fragments.length; k++) {
        const f = fragments[k]!;
        const at = typeof f === 'string' ? f.indexOf(sp.text) : -1;
        if (at < 0) {
          if (next) next.push(f);
          continue;
        }
        next ??= fragments.slice(0, k);
        const s = f as string;
        let from = 0;
        let pos = at;
        while (pos >= 0) {
          if (pos > from) next.push(s.slice(from, pos));
          next.push(sp.id);
          from = pos + sp.text.length;
          pos = s.indexOf(sp.text, from);
        }
        if (from < s.length) next.push(s.slice(from));
      }
      if (next) fragments = next;
    }
    return fragments;
  }

  /** Doubles the symbol arrays, keeping their contents (the chunk being built). */
  private growSymbols(): void {
    const grow = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(a.length * 2);
      b.set(a);
      return b;
    };
    this.symStart = grow(this.symStart);
    this.symLen = grow(this.symLen);
    this.symPrev = grow(this.symPrev);
    this.symNext = grow(this.symNext);
    this.symId = grow(this.symId);
  }

  /**
   * llama.cpp `llm_tokenizer_spm_session::tokenize` on one raw text fragment. Code points that occur
   * in no multi-code-point mergeable piece (e.g. a newline in Llama's vocab) can never take part in a
   * merge, so the text is merged in independent chunks between them: same result, bounded queue.
   */
  private encodeFragment(raw: string, dummyPrefix: boolean, t: PairTables, out: number[]): void {
    const s = (dummyPrefix ? SPACE_SYMBOL : '') + raw.replaceAll(' ', SPACE_SYMBOL);
    const n = s.length;

    // Split into code points (a surrogate pair is one symbol; a lone surrogate is its own symbol),
    // seeding the queue with every adjacent pair that forms a piece.
    let count = 0;
    for (let i = 0; i < n; ) {
      let cp = s.charCodeAt(i);
      let l = 1;
      if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < n) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) {
          l = 2;
          cp = ((cp - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        }
      }
      if (!t.mergeChars.has(cp)) {
        if (count > 0) this.mergeChunk(s, count, t, out);
        count = 0;
        const id = t.codePointId.get(cp);
        if (id !== undefined) out.push(id);
        else this.resegment(s.slice(i, i + l), out);
        i += l;
        continue;
      }
      if (count === 0) {
        this.heap.clear();
        if (this.hasUnused) this.revMerge.clear();
      }
      if (count === this.symStart.length) this.growSymbols();
      this.symStart[count] = i;
      this.symLen[count] = l;
      this.symPrev[count] = count - 1;
      this.symNext[count] = count + 1;
      this.symId[count] = t.codePointId.get(cp) ?? -1;
      if (count > 0) this.tryAddBigram(s, count - 1, count, t, false);
      count++;
      i += l;
    }
    if (count > 0) this.mergeChunk(s, count, t, out);
  }

  /** Runs the merges over symbols 0..count-1 (seeded, unordered, in the heap) and emits the result. */
  private mergeChunk(s: string, count: number, t: PairTables, out: number[]): void {
    const start = this.symStart;
    const len = this.symLen;
    const prev = this.symPrev;
    const next = this.symNext;
    const symId = this.symId;
    const heap = this.heap;
    next[count - 1] = -1;
    heap.heapify();

    const popped = this.popped;
    while (heap.length > 0) {
      heap.pop(popped);
      const l = popped[0]!;
      const r = popped[1]!;
      const size = popped[2]!;
      const m = popped[3]!;
      // Stale when either symbol already took part in another merge (lengths only ever grow, and a
      // consumed symbol has length 0, so the sum equals `size` only for the untouched pair).
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== size) continue;
      if (this.hasUnused && this.vocab.types[m] === TokenType.UNUSED) {
        const merged = s.slice(start[l]!, start[l]! + size);
        this.revMerge.set(merged, [s.slice(start[l]!, start[l]! + len[l]!), s.slice(start[r]!, start[r]! + len[r]!)]);
      }
      len[l] = size;
      len[r] = 0;
      symId[l] = t.canon[m]!;
      const rn = next[r]!;
      next[l] = rn;
      if (rn >= 0) prev[rn] = l;
      if (prev[l]! >= 0) this.tryAddBigram(s, prev[l]!, l, t, true);
      if (rn >= 0) this.tryAddBigram(s, l, rn, t, true);
    }

    for (let i = 0; i !== -1; i = next[i]!) {
      const id = symId[i]!;
      if (id >= 0 && !(this.hasUnused && this.vocab.types[id] === TokenType.UNUSED)) out.push(id);
      else this.resegment(s.slice(start[i]!, start[i]! + len[i]!), out);
    }
  }

  private tryAddBigram(s: string, l: number, r: number, t: PairTables, ordered: boolean): void {
    const a = this.symId[l]!;
    const b = this.symId[r]!;
    const size = this.symLen[l]! + this.symLen[r]!;
    let m: number | undefined;
    if (a >= 0 && b >= 0) {
      const key = a * t.canon.length + b;
      m = t.pairs.get(key);
      if (m === undefined) {
        m = size <= this.maxMergeUnits ? this.mergeable.get(s.slice(this.symStart[l]!, this.symStart[l]! + size)) ?? -1 : -1;
        if (t.pairs.size >= MAX_PAIR_MEMO) t.pairs.clear();
        t.pairs.set(key, m);
      }
      if (m < 0) return;
    } else {
      if (size > this.maxMergeUnits) return;
      m = this.mergeable.get(s.slice(this.symStart[l]!, this.symStart[l]! + size));
      if (m === undefined) return;
    }
    if (ordered) this.heap.push(this.vocab.scores[m]!, l, r, size, m);
    else this.heap.pushUnordered(this.vocab.scores[m]!, l, r, size, m);
  }

  /** Emits the id(s) of a final symbol: splits merged UNUSED pieces, falls back to bytes / UNK. */
  private resegment(piece: string, out: number[]): void {
    const id = this.pieceToId.get(piece);
    if (id !== undefined) {
      if (this.hasUnused && this.vocab.types[id] === TokenType.UNUSED) {
        const parts = this.revMerge.get(piece);
        if (parts) {
          this.resegment(parts[0], out);
          this.resegment(parts[1], out);
          return;
        }
      }
      out.push(id);
      return;
    }
    const unk = this.vocab.unk_token_id;
    if (!this.hasByteTokens) {
      if (unk === null) throw cannotEncode(piece);
      out.push(unk);
      return;
    }
    for (const b of Buffer.from(piece, 'utf8')) {
      const bid = this.byteToId[b]!;
      if (bid >= 0) out.push(bid);
      else if (unk !== null) out.push(unk);
      else throw cannotEncode(piece);
    }
  }
}

function cannotEncode(piece: string): RelufyError {
  const cp = piece.codePointAt(0) ?? 0;
  return new RelufyError(
    `cannot encode U+${cp.toString(16).toUpperCase().padStart(4, '0')}: the vocabulary has no piece, byte token or unknown token for it`,
  );
}
