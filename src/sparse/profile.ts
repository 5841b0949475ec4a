/**
 * Activation profile of a model's FFNs over a text corpus (the input to hot-neuron ordering, and
 * what Bamboo's README reports): per layer, how often each neuron is active, the per-token share of
 * inactive neurons, and the top-k table (perplexity when only the k% largest-magnitude activations
 * of each token are kept).
 *
 * "Active" means h = glu(gate, up) != 0, the ffn_down columns a sparse FFN must read. That is exact
 * for the ReLU family (reglu, drelu). SwiGLU has no exact zeros, so there a neuron counts as active
 * when |h| > `SWIGLU_ACTIVE_EPS` (a telemetry convention, not a lossless skip rule).
 *
 * Letters: T = tokens in a batch, C = hidden_size, F = intermediate_size, L = layers, N = tokens profiled.
 */
import { readFileSync } from 'node:fs';
import { FormatError, RelufyError, UsageError, checkReadablePath } from '../errors.js';
import { perplexity } from '../eval/perplexity.js';
import { writeFileAtomic } from '../formats/safetensors/index.js';
import { refKernels } from '../kernels/ref/index.js';
import type { KernelSet } from '../kernels/types.js';
import type { Engine, InferenceSession } from '../model/engine-types.js';
import { KernelEngine, modelIdOf } from '../model/engine.js';
import { arrangeWeights, KernelSession, type FfnExecutor, type ForwardWeights } from '../model/forward.js';
import type { LoadedModel } from '../model/types.js';

/** |h| above which a SwiGLU neuron counts as active (ReLU-family models use h != 0). */
export const SWIGLU_ACTIVE_EPS = 1e-3;

/** Bamboo's README top-k table columns (percent of neurons kept per token). */
export const DEFAULT_TOPK = [100, 20, 15, 12, 10];

export const PROFILE_FORMAT = 'relufy-activation-profile';
export const PROFILE_VERSION = 1;

/** Share of inactive neurons per token: mean and percentiles (fractions of F). */
export interface InactiveSummary {
  mean: number;
  p10: number;
  p50: number;
  p90: number;
}

export interface LayerProfile {
  layer: number;
  /** Per neuron (F): tokens on which the neuron was active. */
  counts: number[];
  inactive: InactiveSummary;
}

/** One row of the top-k table. */
export interface TopKRow {
  /** Percent of the F neurons kept per token (100 = dense). */
  k: number;
  ppl: number;
  natsPerToken: number;
}

/** The saved profile (JSON). `counts[i] / tokens` is neuron i's activation frequency. */
export interface ActivationProfile {
  format: typeof PROFILE_FORMAT;
  version: number;
  /** `path|bytes|mtime` of the weights (modelIdOf). */
  model: string;
  corpus: string;
  activation: string;
  /** How "active" was decided: 'h != 0' or '|h| > 0.001'. */
  activeRule: string;
  hidden_size: number;
  intermediate_size: number;
  /** Tokens profiled (N). */
  tokens: number;
  /** Tokens per forward window (each window starts a fresh KV cache). */
  ctx: number;
  layers: LayerProfile[];
  /** Top-k perplexity table on the corpus (llama.cpp method, `topkChunks` chunks of `ctx`). */
  topk: TopKRow[];
  topkChunks: number;
}

export interface ProfileOptions {
  /** Tokens per window (default 512, at most the model's context). */
  ctx?: number;
  /** Profile at most this many tokens (default all). */
  maxTokens?: number;
  /** Top-k percents (default DEFAULT_TOPK); [] skips the table. */
  topk?: number[];
  /** Perplexity chunks per top-k row (default 20). */
  topkChunks?: number;
  /** Called after each window with tokens done / total, and per top-k row. */
  onProgress?: (phase: 'profile' | 'topk', done: number, total: number) => void;
}

/** True when neuron value `v` counts as active under the model's activation. */
export function activeTest(activation: string): (v: number) => boolean {
  return activation === 'swiglu' ? (v) => Math.abs(v) > SWIGLU_ACTIVE_EPS : (v) => v !== 0;
}

/** Value at quantile q (0..1) of an ascending-sorted array (nearest rank, linear interpolation). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const p = q * (n - 1);
  const lo = Math.floor(p);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (p - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * Runs `tokens` through the reference engine in windows of `ctx` tokens (fresh KV cache per window,
 * one batched forward each) and counts active neurons per layer from the FFN observer.
 * @returns counts (L x F) and the per-token inactive shares (L x N, fractions of F).
 */
export function countActivations(
  model: LoadedModel, tokens: Int32Array, ctx: number, onWindow?: (done: number, total: number) => void,
): { counts: Float64Array[]; inactive: Float32Array[]; tokens: number } {
  const c = model.config;
  const F = c.intermediate_size;
  const L = c.num_hidden_layers;
  const N = tokens.length;
  const isActive = activeTest(c.ffn_activation);
  const counts = Array.from({ length: L }, () => new Float64Array(F));
  const inactive = Array.from({ length: L }, () => new Float32Array(N));
  const engine = new KernelEngine(model);
  let base = 0;
  engine.ffnObserver = (l, h, T) => {
    const cl = counts[l]!;
    const il = inactive[l]!;
    for (let t = 0; t < T; t++) {
      let a = 0;
      const o = t * F;
      for (let i = 0; i < F; i++) if (isActive(h[o + i]!)) (cl[i] = cl[i]! + 1), a++;
      il[base + t] = 1 - a / F;
    }
  };
  const session = engine.createSession({ capacity: ctx });
  for (let s = 0; s < N; s += ctx) {
    const win = Array.from(tokens.subarray(s, Math.min(N, s + ctx)));
    session.reset();
    base = s;
    session.forward(win);
    onWindow?.(s + win.length, N);
  }
  return { counts, inactive, tokens: N };
}

/** Mean and p10 / p50 / p90 of per-token inactive shares. */
export function summarizeInactive(shares: Float32Array): InactiveSummary {
  const s = Float64Array.from(shares).sort();
  let sum = 0;
  for (const v of s) sum += v;
  return { mean: s.length ? sum / s.length : Number.NaN, p10: quantile(s, 0.1), p50: quantile(s, 0.5), p90: quantile(s, 0.9) };
}

/**
 * FFN that keeps only each token's `keep` largest-magnitude activations (Bamboo README "top-k"
 * table: neurons chosen by activation magnitude): h is computed densely, every entry below the
 * keep-th largest |h| of its token is zeroed (ties at the cut are all kept), then out = ffn_down(h).
 * `keep` = ceil(k% of F). It measures how much quality depends on the small activations; it saves
 * no work.
 */
export class TopKFfn implements FfnExecutor {
  private readonly w: ForwardWeights;
  private gate = new Float32Array(0);
  private up = new Float32Array(0);
  private hb = new Float32Array(0);
  private readonly mag: Float32Array;

  constructor(
    private readonly model: LoadedModel, readonly keep: number,
    private readonly k: KernelSet = refKernels, weights?: ForwardWeights,
  ) {
    const F = model.config.intermediate_size;
    if (!Number.isInteger(keep) || keep < 1 || keep > F) throw new UsageError('--topk', `keep ${keep} is outside 1..${F}`);
    this.w = weights ?? arrangeWeights(model);
    this.mag = new Float32Array(F);
  }

  run(layer: number, out: Float32Array, n: Float32Array, T: number, h?: Float32Array, gate?: Float32Array): void {
    const c = this.model.config;
    const F = c.intermediate_size;
    const L = this.w.layers[layer]!;
    if (this.gate.length < T * F) {
      this.gate = new Float32Array(T * F);
      this.up = new Float32Array(T * F);
      this.hb = new Float32Array(T * F);
    }
    const g = this.gate.subarray(0, T * F);
    const u = this.up.subarray(0, T * F);
    const hb = this.hb.subarray(0, T * F);
    this.k.matmul(g, n, L.ffn_gate, T);
    this.k.matmul(u, n, L.ffn_up, T);
    this.k.glu(hb, g, u, T * F, c.ffn_activation);
    if (this.keep < F) {
      for (let t = 0; t < T; t++) {
        const o = t * F;
        for (let i = 0; i < F; i++) this.mag[i] = Math.abs(hb[o + i]!);
        const cut = this.mag.slice().sort()[F - this.keep]!; // keep-th largest |h|
        for (let i = 0; i < F; i++) if (this.mag[i]! < cut) hb[o + i] = 0;
      }
    }
    this.k.matmul(out, hb, L.ffn_down, T);
    if (h) h.set(hb);
    if (gate) gate.set(g);
  }
}

/** An Engine over the reference kernels whose FFN is `ffn` (for perplexity with a custom FFN). */
export function engineWithFfn(model: LoadedModel, ffn: FfnExecutor, weights?: ForwardWeights): Engine {
  if (!model.tokenizer) throw new RelufyError(`${model.path}: the model has no tokenizer; pass --tokenizer FILE`);
  const w = weights ?? arrangeWeights(model);
  return {
    config: model.config,
    tokenizer: model.tokenizer,
    modelId: modelIdOf(model.path),
    createSession: (o: { capacity?: number } = {}): InferenceSession =>
      new KernelSession(model.config, w, refKernels, o.capacity ?? model.config.max_position_embeddings, undefined, ffn),
  };
}

/**
 * Bamboo's top-k table on `text`: llama.cpp perplexity (chunks of `ctx`, second half scored) with
 * only the k% largest |h| of each token kept, for each k in `ks`.
 */
export function topKTable(model: LoadedModel, text: string, ks: number[], ctx: number, chunks: number, onRow?: (done: number, total: number) => void): TopKRow[] {
  const F = model.config.intermediate_size;
  const weights = arrangeWeights(model);
  const rows: TopKRow[] = [];
  for (const k of ks) {
    if (!(k > 0 && k <= 100)) throw new UsageError('--topk', `${k} is not a percentage in (0, 100]`);
    const keep = Math.max(1, Math.ceil((k / 100) * F - 1e-9));
    const r = perplexity(engineWithFfn(model, new TopKFfn(model, keep, refKernels, weights), weights), text, { nCtx: ctx, maxChunks: chunks });
    rows.push({ k, ppl: r.ppl, natsPerToken: r.nllPerToken });
    onRow?.(rows.length, ks.length);
  }
  return rows;
}

/**
 * Profiles `model` over `tokens` (the tokenized corpus) and, unless `topk` is empty, computes the
 * top-k table on `text` (the same corpus as raw text).
 * @throws UsageError for a bad ctx / topk; RelufyError when the corpus is too short for the table.
 */
export function profileModel(model: LoadedModel, corpus: string, text: string, tokens: Int32Array, o: ProfileOptions = {}): ActivationProfile {
  const c = model.config;
  const ctx = o.ctx ?? Math.min(512, c.max_position_embeddings);
  if (!Number.isInteger(ctx) || ctx < 4 || ctx > c.max_position_embeddings)
    throw new UsageError('--ctx', `must be an integer in 4..${c.max_position_embeddings} (got ${ctx})`);
  const use = o.maxTokens !== undefined ? tokens.subarray(0, o.maxTokens) : tokens;
  if (use.length === 0) throw new FormatError(corpus, 'holds no tokens');
  const counted = countActivations(model, use, ctx, o.onProgress && ((d, t) => o.onProgress!('profile', d, t)));
  const ks = o.topk ?? DEFAULT_TOPK;
  const topkChunks = o.topkChunks ?? 20;
  const topk = ks.length ? topKTable(model, text, ks, ctx, topkChunks, o.onProgress && ((d, t) => o.onProgress!('topk', d, t))) : [];
  return {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    model: modelIdOf(model.path),
    corpus,
    activation: c.ffn_activation,
    activeRule: c.ffn_activation === 'swiglu' ? `|h| > ${SWIGLU_ACTIVE_EPS}` : 'h != 0',
    hidden_size: c.hidden_size,
    intermediate_size: c.intermediate_size,
    tokens: counted.tokens,
    ctx,
    layers: counted.counts.map((cl, l) => ({ layer: l, counts: Array.from(cl), inactive: summarizeInactive(counted.inactive[l]!) })),
    topk,
    topkChunks,
  };
}

/** Writes the profile as JSON, atomically (temp file + rename). */
export function saveProfile(path: string, p: ActivationProfile): void {
  writeFileAtomic(path, [Buffer.from(JSON.stringify(p) + '\n', 'utf8')]);
}

/** Reads a profile written by `saveProfile`. @throws FormatError when it is not one. */
export function readProfile(path: string): ActivationProfile {
  checkReadablePath(path, false);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FormatError(path, `not a JSON activation profile (${(e as Error).message})`);
  }
  const p = raw as Partial<ActivationProfile>;
  if (p.format !== PROFILE_FORMAT) throw new FormatError(path, `not a relufy activation profile (format ${JSON.stringify(p.format)})`);
  if (p.version !== PROFILE_VERSION) throw new FormatError(path, `profile version ${p.version} is not supported (expected ${PROFILE_VERSION})`);
  if (!Array.isArray(p.layers) || p.layers.some((l) => !Array.isArray(l.counts) || l.counts.length !== p.intermediate_size))
    throw new FormatError(path, 'layers[].counts must hold intermediate_size numbers each');
  return p as ActivationProfile;
}

/**
 * Neuron-frequency CDF of one layer (Bamboo README figure): neurons sorted hottest first; point j is
 * (share of neurons j/F, share of all activations they account for).
 */
export function frequencyCdf(counts: number[]): { neurons: number; activations: number }[] {
  const s = [...counts].sort((a, b) => b - a);
  const total = s.reduce((a, b) => a + b, 0);
  const out = [{ neurons: 0, activations: 0 }];
  let acc = 0;
  for (let j = 0; j < s.length; j++) {
    acc += s[j]!;
    out.push({ neurons: (j + 1) / s.length, activations: total > 0 ? acc / total : 0 });
  }
  return out;
}

const pct = (x: number, w = 6): string => (100 * x).toFixed(1).padStart(w);

/** Share of neurons that cover `share` of all activations (hot-neuron concentration). */
export function neuronsCovering(counts: number[], share: number): number {
  const cdf = frequencyCdf(counts);
  for (const p of cdf) if (p.activations >= share) return p.neurons;
  return 1;
}

/** Formats the profile as text tables (per-layer sparsity, then top-k). */
export function formatProfile(p: ActivationProfile): string {
  const lines = [
    `activation profile: ${p.tokens} tokens of ${p.corpus}, windows of ${p.ctx}; active = ${p.activeRule}; F = ${p.intermediate_size}`,
    'layer  inactive% mean    p10    p50    p90 | dead neurons | neurons holding 80% / 95% of activations',
  ];
  for (const l of p.layers) {
    const dead = l.counts.filter((c) => c === 0).length;
    lines.push(
      `${String(l.layer).padStart(5)}  ${pct(l.inactive.mean, 14)} ${pct(l.inactive.p10)} ${pct(l.inactive.p50)} ${pct(l.inactive.p90)} | ` +
      `${String(dead).padStart(12)} | ${pct(neuronsCovering(l.counts, 0.8))}% / ${pct(neuronsCovering(l.counts, 0.95)).trim()}%`,
    );
  }
  if (p.topk.length) {
    lines.push('', `top-k table (perplexity keeping the k% largest |h| per token; ${p.topkChunks} chunks of ${p.ctx}):`);
    lines.push('k%   ' + p.topk.map((r) => String(r.k).padStart(9)).join(''));
    lines.push('PPL  ' + p.topk.map((r) => r.ppl.toFixed(4).padStart(9)).join(''));
  }
  return lines.join('\n') + '\n';
}
