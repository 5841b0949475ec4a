/**
 * Test doubles for the eval code (used by the *.test.ts files only): a toy tokenizer with
 * SentencePiece-like behaviour (dummy-prefix space, greedy longest-piece match, BOS/EOS) and a
 * deterministic causal "model" whose logits depend on the whole prefix plus an optional bigram table,
 * behind the real `Engine` / `InferenceSession` interfaces.
 */
import { RelufyError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import type { Engine, InferenceSession } from '../model/engine-types.js';
import { TokenType, type SpmVocab, type Tokenizer } from '../tokenizer/types.js';

const SPACE = '\u2581';

/** Pieces: specials, every printable ASCII char, newline, and some multi-char pieces. */
function toyPieces(extra: readonly string[]): string[] {
  const chars: string[] = [];
  for (let c = 0x21; c < 0x7f; c++) chars.push(String.fromCharCode(c));
  const multi = [SPACE, '\n', `${SPACE}A`, `${SPACE}B`, `${SPACE}C`, `${SPACE}D`, `${SPACE}E`, `${SPACE}the`, `${SPACE}yes`, `${SPACE}no`, 'Question', 'Answer', `${SPACE}Question`, `${SPACE}Answer`, '##', '####', `${SPACE}is`, 'ing', 'er', 'ed', ...extra];
  return ['<unk>', '<s>', '</s>', ...chars, ...multi.filter((m, i, a) => a.indexOf(m) === i)];
}

export class ToyTokenizer implements Tokenizer {
  readonly vocab: SpmVocab;
  private readonly ids = new Map<string, number>();
  private readonly maxLen: number;

  constructor(extraPieces: readonly string[] = [], addBos = true) {
    const tokens = toyPieces(extraPieces);
    tokens.forEach((t, i) => this.ids.set(t, i));
    this.maxLen = Math.max(...tokens.map((t) => t.length));
    this.vocab = {
      tokens,
      scores: new Float32Array(tokens.length),
      types: tokens.map((_, i) => (i === 0 ? TokenType.UNKNOWN : i < 3 ? TokenType.CONTROL : TokenType.NORMAL)),
      bos_token_id: 1,
      eos_token_id: 2,
      unk_token_id: 0,
      pad_token_id: null,
      add_bos_token: addBos,
      add_eos_token: false,
      add_space_prefix: true,
    };
  }

  get vocab_size(): number {
    return this.vocab.tokens.length;
  }

  encode(text: string, options: { add_bos?: boolean; add_eos?: boolean } = {}): number[] {
    const out: number[] = [];
    if (options.add_bos ?? this.vocab.add_bos_token) out.push(1);
    if (text === '') return out; // SentencePiece adds no dummy prefix to an empty string
    const s = (SPACE + text).replaceAll(' ', SPACE);
    let i = 0;
    while (i < s.length) {
      let found = 0;
      for (let len = Math.min(this.maxLen, s.length - i); len > 0; len--) {
        const id = this.ids.get(s.slice(i, i + len));
        if (id !== undefined && id > 2) {
          out.push(id);
          found = len;
          break;
        }
      }
      if (found === 0) {
        out.push(0);
        found = 1;
      }
      i += found;
    }
    if (options.add_eos ?? false) out.push(2);
    return out;
  }

  decode(ids: number[]): string {
    let s = ids.filter((i) => i > 2).map((i) => this.vocab.tokens[i]!).join('').replaceAll(SPACE, ' ');
    if (ids.find((i) => i > 2) !== undefined && this.vocab.tokens[ids.find((i) => i > 2)!]!.startsWith(SPACE)) s = s.slice(1);
    return s;
  }

  piece(id: number): string {
    return this.vocab.tokens[id] ?? '';
  }

  createStreamDecoder(): { push(id: number): string; flush(): string } {
    return { push: (id) => this.decode([id]), flush: () => '' };
  }

  applyChatTemplate(): string {
    throw new RelufyError('toy tokenizer: no chat template');
  }
}

/** FNV-1a over token ids: the prefix state of the toy model. */
function mix(h: number, t: number): number {
  return Math.imul(h ^ (t + 0x9e37), 16777619) >>> 0;
}

/** Deterministic logits in [-3, 3) for one prefix hash, plus bigram boosts. */
function logitsFor(h: number, last: number, vocab: number, bigram: ReadonlyMap<number, number>, out: Float32Array, off: number): void {
  let s = h || 1;
  for (let v = 0; v < vocab; v++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[off + v] = ((s >>> 0) / 4294967296) * 6 - 3;
  }
  const next = bigram.get(last);
  if (next !== undefined) out[off + next] = 12;
}

export class ToySession implements InferenceSession {
  private tokens: number[] = [];
  private hashes: number[] = [];

  constructor(readonly capacity: number, private readonly engine: ToyEngine) {}

  get length(): number {
    return this.tokens.length;
  }

  forward(tokens: number[], options: { allLogits?: boolean } = {}): Float32Array {
    if (this.tokens.length + tokens.length > this.capacity) throw new RelufyError(`toy session: ${this.tokens.length + tokens.length} tokens exceed capacity ${this.capacity}`);
    const V = this.engine.config.vocab_size;
    const rows = options.allLogits ? tokens.length : 1;
    const out = new Float32Array(rows * V);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (!(t >= 0 && t < V)) throw new RelufyError(`toy session: token ${t} out of range`);
      const h = mix(this.hashes.length > 0 ? this.hashes[this.hashes.length - 1]! : 2166136261, t);
      this.tokens.push(t);
      this.hashes.push(h);
      if (options.allLogits) logitsFor(h, t, V, this.engine.bigram, out, i * V);
      else if (i === tokens.length - 1) logitsFor(h, t, V, this.engine.bigram, out, 0);
    }
    this.engine.tokensRun += tokens.length;
    return out;
  }

  truncate(n: number): void {
    this.tokens.length = Math.min(n, this.tokens.length);
    this.hashes.length = this.tokens.length;
  }

  reset(): void {
    this.truncate(0);
  }
}

/** A toy `Engine`: `bigram` maps a piece to the piece the model strongly predicts next. */
export class ToyEngine implements Engine {
  readonly tokenizer: ToyTokenizer;
  readonly config: ModelConfig;
  readonly modelId: string;
  readonly bigram = new Map<number, number>();
  tokensRun = 0;

  constructor(options: { extraPieces?: string[]; bigram?: [string, string][]; maxPositions?: number; addBos?: boolean; id?: string } = {}) {
    this.tokenizer = new ToyTokenizer(options.extraPieces ?? [], options.addBos ?? true);
    const vocab = this.tokenizer.vocab_size;
    for (const [a, b] of options.bigram ?? []) {
      const ia = this.tokenizer.vocab.tokens.indexOf(a);
      const ib = this.tokenizer.vocab.tokens.indexOf(b);
      if (ia < 0 || ib < 0) throw new Error(`toy engine: unknown piece in bigram ${a} -> ${b}`);
      this.bigram.set(ia, ib);
    }
    this.modelId = options.id ?? 'toy-model';
    this.config = {
      architecture: 'toy', hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 1, num_key_value_heads: 1, head_dim: 8,
      vocab_size: vocab, max_position_embeddings: options.maxPositions ?? 256, rms_norm_eps: 1e-5, rope_theta: 10000, sliding_window: null,
      hidden_act: 'silu', ffn_activation: 'swiglu', tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2,
    };
  }

  createSession(options: { capacity?: number } = {}): ToySession {
    return new ToySession(options.capacity ?? this.config.max_position_embeddings, this);
  }
}

/**
 * A `LanguageModel` that records every request and answers from functions (default: logprob =
 * −(code points of the continuation), greedy false; generation "").
 */
export class RecordingLM {
  readonly cacheNamespace = { model: 'recording' };
  readonly calls: { type: string; a: string; b: unknown }[] = [];
  tokensProcessed = 0;
  constructor(
    private readonly ll: (context: string, continuation: string) => number = (_c, x) => -[...x].length,
    private readonly gen: (context: string) => string = () => '',
  ) {}
  loglikelihood(context: string, continuation: string): { logprob: number; is_greedy: boolean } {
    this.calls.push({ type: 'loglikelihood', a: context, b: continuation });
    return { logprob: this.ll(context, continuation), is_greedy: false };
  }
  loglikelihoodRolling(text: string): number {
    this.calls.push({ type: 'loglikelihood_rolling', a: text, b: null });
    return -[...text].length / 4;
  }
  generateUntil(context: string, until: readonly string[], maxGenToks: number): string {
    this.calls.push({ type: 'generate_until', a: context, b: { until, maxGenToks } });
    return this.gen(context);
  }
}
