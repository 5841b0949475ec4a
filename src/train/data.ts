import { readFileSync } from 'node:fs';
import { FormatError } from '../errors.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { Rng } from './rng.js';

/**
 * Splits a TinyStories-style text into documents: paragraphs inside a story are separated by a
 * blank line, stories by a single newline. Other texts (no such pattern) come out as one document
 * per line group, which is still a sensible unit.
 */
export function splitDocuments(text: string): string[] {
  return text.split(/(?<!\n)\n(?!\n)/).map((d) => d.trim()).filter((d) => d.length > 0);
}

/**
 * Tokenizes a text file as llama2.c's TinyStories pretokenizer does: each document is encoded with
 * BOS and no EOS, and the documents are concatenated into one stream.
 * @throws FormatError when the file cannot be read or holds no text.
 */
export function tokenizeFile(path: string, tokenizer: Tokenizer): Int32Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FormatError(path, `cannot read training text (${(e as Error).message})`);
  }
  const docs = splitDocuments(text);
  if (docs.length === 0) throw new FormatError(path, 'holds no text');
  const parts: number[][] = docs.map((d) => tokenizer.encode(d, { add_bos: true }));
  const out = new Int32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Position of a `WindowSampler` (saved in checkpoints). */
export interface SamplerState {
  epoch: number;
  cursor: number;
}

/**
 * Serves windows of T+1 tokens (inputs = first T, targets = last T) from one token stream. Windows
 * start at multiples of T (non-overlapping inputs) and are visited in a seeded random order that is
 * reshuffled every epoch, so the state is just (epoch, cursor).
 */
export class WindowSampler {
  readonly count: number;
  private order: Uint32Array = new Uint32Array(0);
  private orderEpoch = -1;
  state: SamplerState = { epoch: 0, cursor: 0 };

  constructor(readonly tokens: Int32Array, readonly T: number, private readonly seed: number, readonly name: string) {
    this.count = Math.floor((tokens.length - 1) / T);
    if (this.count < 1) throw new FormatError(name, `has ${tokens.length} tokens, fewer than one window of ${T + 1}`);
  }

  private ensureOrder(): void {
    if (this.orderEpoch === this.state.epoch) return;
    const rng = new Rng((this.seed ^ Math.imul(this.state.epoch + 1, 0x9e3779b1)) >>> 0);
    const o = new Uint32Array(this.count);
    for (let i = 0; i < o.length; i++) o[i] = i;
    for (let i = o.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      const t = o[i]!;
      o[i] = o[j]!;
      o[j] = t;
    }
    this.order = o;
    this.orderEpoch = this.state.epoch;
  }

  /** Writes the next window into inputs[off..off+T) and targets[off..off+T). */
  next(inputs: Int32Array, targets: Int32Array, off: number): void {
    this.ensureOrder();
    const start = this.order[this.state.cursor]! * this.T;
    inputs.set(this.tokens.subarray(start, start + this.T), off);
    targets.set(this.tokens.subarray(start + 1, start + this.T + 1), off);
    this.state.cursor++;
    if (this.state.cursor >= this.count) this.state = { epoch: this.state.epoch + 1, cursor: 0 };
  }
}

/** The training data of a run: one sampler per distinct file, a mix RNG, and the held-out windows. */
export interface MixState {
  rng: number;
  samplers: Record<string, SamplerState>;
}

/** Picks a source per window by weight (seeded, checkpointable RNG), then the source's next window. */
export class DataMix {
  readonly rng: Rng;
  constructor(readonly samplers: Map<string, WindowSampler>, seed: number) {
    this.rng = new Rng(seed);
  }

  /** Fills micro-batch `inputs`/`targets` (B*T each) from the phase's sources. */
  fill(sources: { file: string; weight: number }[], inputs: Int32Array, targets: Int32Array, B: number, T: number): void {
    const total = sources.reduce((a, s) => a + s.weight, 0);
    for (let b = 0; b < B; b++) {
      let r = this.rng.next() * total;
      let src = sources[sources.length - 1]!;
      for (const s of sources) {
        if (r < s.weight) {
          src = s;
          break;
        }
        r -= s.weight;
      }
      this.samplers.get(src.file)!.next(inputs, targets, b * T);
    }
  }

  getState(): MixState {
    const samplers: Record<string, SamplerState> = {};
    for (const [f, s] of this.samplers) samplers[f] = { ...s.state };
    return { rng: this.rng.state, samplers };
  }

  setState(st: MixState): void {
    this.rng.state = st.rng >>> 0;
    for (const [f, s] of this.samplers) {
      const saved = st.samplers[f];
      if (saved) s.state = { ...saved };
    }
  }
}

/** Held-out windows: the first `maxTokens` tokens of the stream cut into non-overlapping T+1 windows. */
export function validationWindows(tokens: Int32Array, T: number, maxTokens: number): { inputs: Int32Array; targets: Int32Array }[] {
  const out: { inputs: Int32Array; targets: Int32Array }[] = [];
  for (let s = 0; s + T + 1 <= tokens.length && (out.length + 1) * T <= maxTokens; s += T) {
    out.push({ inputs: tokens.slice(s, s + T), targets: tokens.slice(s + 1, s + T + 1) });
  }
  return out;
}
