import { UsageError } from '../errors.js';
import { mulberry32 } from '../rng.js';

export { mulberry32 };

/**
 * Sampling settings under llama.cpp's names and defaults (common/common.h `common_params_sampling`):
 * temp 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1.0 over the last 64 tokens.
 * temp <= 0 means greedy (argmax), as in llama.cpp.
 */
export interface SamplerOptions {
  temp?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  repeat_penalty?: number;
  repeat_last_n?: number;
  /** RNG seed; default random. Same seed + same logits => same tokens. */
  seed?: number;
}

export const SAMPLER_DEFAULTS = { temp: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, repeat_penalty: 1.0, repeat_last_n: 64 } as const;

/**
 * Draws the next token from logits (vocab_size,). Chain, in llama.cpp's default order
 * (common/sampling.cpp): repetition penalty -> top-k -> top-p -> min-p -> temperature -> draw.
 * Repetition penalty (CTRL paper, Keskar et al. 2019, as llama.cpp applies it): a logit of a
 * recently seen token is divided by the penalty when positive, multiplied when negative.
 */
export class Sampler {
  readonly opts: Required<Omit<SamplerOptions, 'seed'>> & { seed: number };
  private rng: () => number;

  constructor(options: SamplerOptions = {}) {
    const o = { ...SAMPLER_DEFAULTS, ...stripUndefined(options) };
    const seed = options.seed ?? Math.floor(Math.random() * 0xffffffff);
    check('--temp', o.temp, Number.isFinite(o.temp), 'must be a number');
    check('--top-k', o.top_k, Number.isInteger(o.top_k) && o.top_k >= 0, 'must be an integer >= 0 (0 = off)');
    check('--top-p', o.top_p, o.top_p > 0 && o.top_p <= 1, 'must be in (0, 1]');
    check('--min-p', o.min_p, o.min_p >= 0 && o.min_p <= 1, 'must be in [0, 1]');
    check('--repeat-penalty', o.repeat_penalty, o.repeat_penalty > 0 && Number.isFinite(o.repeat_penalty), 'must be > 0 (1.0 = off)');
    check('--repeat-last-n', o.repeat_last_n, Number.isInteger(o.repeat_last_n) && o.repeat_last_n >= 0, 'must be an integer >= 0');
    check('--seed', seed, Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff, 'must be an integer in 0..4294967295');
    this.opts = { ...o, seed };
    this.rng = mulberry32(seed);
  }

  /** Picks a token id. `history` is every token so far (prompt included), for the repetition penalty. */
  sample(logits: Float32Array, history: readonly number[] = []): number {
    const o = this.opts;
    const V = logits.length;
    let l = logits;
    if (o.repeat_penalty !== 1 && o.repeat_last_n > 0 && history.length > 0) {
      l = Float32Array.from(logits);
      const seen = new Set(history.slice(-o.repeat_last_n));
      for (const id of seen) {
        if (id < 0 || id >= V) continue;
        const v = l[id]!;
        l[id] = v > 0 ? v / o.repeat_penalty : v * o.repeat_penalty;
      }
    }
    if (o.temp <= 0) return argmax(l);

    // Candidates sorted by logit, descending (ties: lower id first, for determinism).
    let ids = Array.from({ length: V }, (_, i) => i);
    ids.sort((a, b) => l[b]! - l[a]! || a - b);
    if (o.top_k > 0 && o.top_k < ids.length) ids = ids.slice(0, o.top_k);

    // Softmax at temperature 1 over candidates for top-p/min-p (llama.cpp applies temp last).
    const probs = softmaxOf(ids.map((i) => l[i]!), 1);
    if (o.top_p < 1) {
      let cum = 0;
      let keep = ids.length;
      for (let i = 0; i < ids.length; i++) {
        cum += probs[i]!;
        if (cum >= o.top_p) {
          keep = i + 1;
          break;
        }
      }
      ids = ids.slice(0, keep);
    }
    if (o.min_p > 0) {
      const p = softmaxOf(ids.map((i) => l[i]!), 1);
      const floor = p[0]! * o.min_p;
      let keep = 1;
      while (keep < ids.length && p[keep]! >= floor) keep++;
      ids = ids.slice(0, keep);
    }
    const p = softmaxOf(ids.map((i) => l[i]!), o.temp);
    let r = this.rng();
    for (let i = 0; i < ids.length; i++) {
      r -= p[i]!;
      if (r < 0) return ids[i]!;
    }
    return ids[ids.length - 1]!;
  }
}

/** Index of the largest value (first one on ties), as llama2.c `sample_argmax`. */
export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** log-softmax of a logits row, float64 accumulation. */
export function logSoftmax(x: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! - lse;
  return out;
}

function softmaxOf(v: number[], temp: number): number[] {
  let max = -Infinity;
  for (const x of v) if (x > max) max = x;
  const e = v.map((x) => Math.exp((x - max) / temp));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}


function check(option: string, value: number, ok: boolean, problem: string): void {
  if (!ok) throw new UsageError(option, `${problem} (got ${value})`);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
