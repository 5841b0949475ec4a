/**
 * Activation-predictor training for PowerInfer-style sparse execution (the part PowerInfer never
 * released): collect (FFN input x, active mask) pairs per layer from the reference engine, train one
 * low-rank predictor per layer (predictor-fit.ts), pick each layer's threshold for a target recall,
 * and fold the thresholds into the weights so one global `powerinfer.sparse_threshold` realizes them.
 *
 * Data split, by forward windows of `ctx` tokens in corpus order: the last `heldOut` share of the
 * windows is held out; its first half calibrates the thresholds, its second half gives the reported
 * recall / precision / predicted sparsity. The rest trains.
 *
 * Work folder (resume): `manifest.json` (what is collected, from which model and corpus),
 * `part-NNNNN.bin` (collected windows, written atomically one part at a time), `layer-N.bin`
 * (a trained layer with its settings). A killed run restarted with `resume` skips the parts and
 * layers already written; layers whose settings changed are retrained.
 *
 * Letters: C = hidden_size, F = intermediate_size, L = layers, R = predictor rank, n = tokens.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { RelufyError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../formats/safetensors/index.js';
import { GGMLType, type Tensor } from '../formats/quant/types.js';
import { KernelEngine, modelIdOf } from '../model/engine.js';
import type { LoadedModel } from '../model/types.js';
import { fitPredictor, maskBytes, type FitOptions, type FitResult, type LayerSamples, type PredictorMetrics } from './predictor-fit.js';
import type { FitJob } from './predictor-worker.js';
import type { LayerPredictor } from './predictor.js';
import { activeTest } from './profile.js';

export const WORK_FORMAT = 'relufy-predictor-work';
export const WORK_VERSION = 1;
/** The global threshold written to PWRI files (per-layer thresholds are folded into fc2). */
export const FOLDED_THRESHOLD = -1;
/** Default `--budget`: predictor bytes <= this share of the sparse FFN's bytes. */
export const DEFAULT_BUDGET = 0.15;

export interface TrainPredictorOptions {
  model: LoadedModel;
  /** Corpus path (recorded in the manifest). */
  corpus: string;
  /** The tokenized corpus. */
  tokens: Int32Array;
  workDir: string;
  /** Continue a run in `workDir` (else the folder must hold no run). */
  resume?: boolean;
  /** Tokens per forward window (default min(512, context)). */
  ctx?: number;
  maxTokens?: number;
  /** Held-out share of the windows (default 0.1). */
  heldOut?: number;
  /** Fixed rank for every layer (default `defaultRank(C)`), or ... */
  rank?: number;
  /** ... per-layer rank from a byte budget (share of the sparse FFN's bytes). */
  budget?: number;
  /** Target recall per layer (default 0.99). */
  recall?: number;
  /** Passes over the training tokens (default 12). */
  epochs?: number;
  /** Peak AdamW learning rate (default 3e-3; cosine to a tenth). */
  lr?: number;
  /** AdamW decoupled weight decay (default 0.01). */
  weightDecay?: number;
  /** Tokens per minibatch (default 64). */
  batch?: number;
  /** Seed of init and shuffling (default 1; layer l uses seed + 7919 l). */
  seed?: number;
  /** Worker threads training layers in parallel (default 2; 1 = calling thread). */
  threads?: number;
  /** Windows per part file (default 8). */
  partWindows?: number;
  onCollect?: (done: number, total: number) => void;
  onTrain?: (doneSteps: number, totalSteps: number) => void;
  onNote?: (msg: string) => void;
}

export interface LayerReport {
  layer: number;
  rank: number;
  /** Threshold before folding (raw score units of the unfolded predictor). */
  threshold: number;
  metrics: PredictorMetrics;
  /** fc1 + fc2 bytes as written (F32). */
  predictorBytes: number;
  /** Mean active share (training tokens) x FFN weight bytes (gate + up + down as stored). */
  sparseFfnBytes: number;
  loss: number;
}

export interface TrainPredictorResult {
  /** Folded predictors: neuron on iff score >= FOLDED_THRESHOLD. */
  predictors: LayerPredictor[];
  threshold: number;
  layers: LayerReport[];
  tokens: { train: number; calib: number; test: number };
}

interface Manifest {
  format: string;
  version: number;
  model: string;
  corpus: string;
  tokens: number;
  ctx: number;
  windows: number;
  trainWindows: number;
  calibWindows: number;
  partWindows: number;
  C: number;
  F: number;
  L: number;
}

/**
 * Default rank: C / 4 within 64 .. 1024, at most C (PowerInfer's 7B predictors are ~1k for C = 4096;
 * on stories260K-drelu, C = 64, rank 16 left 5-13% predicted sparsity at recall 0.99, rank 64 ~70%).
 */
export function defaultRank(C: number): number {
  return Math.min(C, Math.max(64, Math.min(1024, Math.floor(C / 4))));
}

/**
 * Rank from a byte budget: the largest R with (R·C + F·R)·4 <= budget · sparseFfnBytes, where
 * sparseFfnBytes = a · (gate + up + down weight bytes as stored) and a the layer's mean active share
 * (for F32 weights: a · 3·C·F·4). Clamped to 1 .. F.
 */
export function rankForBudget(budget: number, sparseFfnBytes: number, C: number, F: number): number {
  const r = Math.floor((budget * sparseFfnBytes) / ((C + F) * 4));
  return Math.max(1, Math.min(r, F));
}

/** Layer l's FFN weight bytes (gate + up + down, or PowerInfer's down_t), as stored. */
function ffnBytes(model: LoadedModel, l: number): number {
  const t = (n: string): number => model.tensors.get(`blk.${l}.${n}.weight`)?.data.byteLength ?? 0;
  return t('ffn_gate') + t('ffn_up') + (t('ffn_down') || t('ffn_down_t'));
}

const partName = (i: number): string => `part-${String(i).padStart(5, '0')}.bin`;

/** Serializes a part: u32 header length, JSON header, then per layer x (n, C) f32 and masks (n, FB). */
function encodePart(n: number, layers: { x: Float32Array; mask: Uint8Array }[]): Uint8Array[] {
  const head = Buffer.from(JSON.stringify({ n, layers: layers.length }), 'utf8');
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, head.length, true);
  const chunks: Uint8Array[] = [len, head];
  for (const L of layers) {
    chunks.push(new Uint8Array(L.x.buffer, L.x.byteOffset, L.x.byteLength), L.mask);
  }
  return chunks;
}

function decodePart(path: string, C: number, F: number, L: number): { n: number; layers: { x: Float32Array; mask: Uint8Array }[] } {
  const buf = readFileSync(path);
  const hl = buf.readUInt32LE(0);
  const head = JSON.parse(buf.subarray(4, 4 + hl).toString('utf8')) as { n: number; layers: number };
  if (head.layers !== L) throw new RelufyError(`${path}: ${head.layers} layers, expected ${L}`);
  const FB = maskBytes(F);
  let o = 4 + hl;
  const layers = [];
  for (let l = 0; l < L; l++) {
    const x = new Float32Array(head.n * C);
    new Uint8Array(x.buffer).set(buf.subarray(o, o + 4 * head.n * C));
    o += 4 * head.n * C;
    const mask = new Uint8Array(buf.subarray(o, o + head.n * FB));
    o += head.n * FB;
    layers.push({ x, mask });
  }
  if (o !== buf.length) throw new RelufyError(`${path}: ${buf.length} bytes, expected ${o} (truncated or foreign part file)`);
  return { n: head.n, layers };
}

/**
 * Runs windows [w0, w1) of `tokens` (each `ctx` long, the last one maybe shorter) through the
 * reference engine and records every layer's FFN input x and active mask (h != 0; |h| > eps for SwiGLU).
 */
export function collectWindows(engine: KernelEngine, tokens: Int32Array, ctx: number, w0: number, w1: number): { n: number; layers: { x: Float32Array; mask: Uint8Array }[] } {
  const c = engine.config;
  const C = c.hidden_size, F = c.intermediate_size, FB = maskBytes(F);
  const start = w0 * ctx, end = Math.min(tokens.length, w1 * ctx);
  const n = end - start;
  const layers = Array.from({ length: c.num_hidden_layers }, () => ({ x: new Float32Array(n * C), mask: new Uint8Array(n * FB) }));
  const isActive = activeTest(c.ffn_activation);
  let base = 0;
  const prev = engine.ffnObserver;
  engine.ffnObserver = (l, h, T, _gate, input) => {
    const L = layers[l]!;
    L.x.set(input.subarray(0, T * C), base * C);
    for (let t = 0; t < T; t++) {
      const mo = (base + t) * FB;
      for (let i = 0; i < F; i++) if (isActive(h[t * F + i]!)) L.mask[mo + (i >> 3)] |= 1 << (i & 7);
    }
  };
  try {
    const session = engine.createSession({ capacity: ctx });
    for (let s = start; s < end; s += ctx) {
      session.reset();
      base = s - start;
      session.forward(Array.from(tokens.subarray(s, Math.min(end, s + ctx))));
    }
  } finally {
    engine.ffnObserver = prev;
  }
  return { n, layers };
}

function concat(parts: { n: number; x: Float32Array; mask: Uint8Array }[], C: number, FB: number): LayerSamples {
  const n = parts.reduce((a, p) => a + p.n, 0);
  const x = new Float32Array(n * C);
  const mask = new Uint8Array(n * FB);
  let o = 0;
  for (const p of parts) {
    x.set(p.x, o * C);
    mask.set(p.mask, o * FB);
    o += p.n;
  }
  return { n, x, mask };
}

function readManifest(path: string): Manifest | null {
  if (!existsSync(path)) return null;
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

function writeJson(path: string, v: unknown): void {
  writeFileAtomic(path, [Buffer.from(JSON.stringify(v, null, 1) + '\n', 'utf8')]);
}

/** Settings that decide a layer's training (a saved layer is reused only when they match). */
function fitKey(o: FitOptions): string {
  return JSON.stringify([o.rank, o.epochs, o.lr, o.weightDecay, o.batch, o.seed, o.recall]);
}

function saveLayer(path: string, layer: number, key: string, r: FitResult): void {
  const head = Buffer.from(JSON.stringify({ layer, key, rank: r.rank, threshold: r.threshold, metrics: r.metrics, loss: r.loss }), 'utf8');
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, head.length, true);
  writeFileAtomic(path, [len, head, new Uint8Array(r.fc1.buffer, r.fc1.byteOffset, r.fc1.byteLength), new Uint8Array(r.fc2.buffer, r.fc2.byteOffset, r.fc2.byteLength)]);
}

function loadLayer(path: string, C: number, F: number): { key: string; result: FitResult } | null {
  if (!existsSync(path)) return null;
  const buf = readFileSync(path);
  const hl = buf.readUInt32LE(0);
  const h = JSON.parse(buf.subarray(4, 4 + hl).toString('utf8')) as { key: string; rank: number; threshold: number; metrics: PredictorMetrics; loss: number };
  const R = h.rank;
  if (buf.length !== 4 + hl + 4 * (R * C + F * R)) return null;
  const w = new Float32Array(R * C + F * R);
  new Uint8Array(w.buffer).set(buf.subarray(4 + hl));
  return { key: h.key, result: { fc1: w.slice(0, R * C), fc2: w.slice(R * C), rank: R, threshold: h.threshold, metrics: h.metrics, loss: h.loss } };
}

/**
 * Fits jobs on `threads` worker threads (1 = the calling thread), results in job order; `onDone`
 * runs as each layer finishes (it saves the layer, so a killed run keeps it).
 * Workers load predictor-worker.ts under tsx (tests, `npx tsx`) or its built .js (as src/train/pool.ts).
 */
async function runFits(jobs: FitJob[], threads: number, onSteps: (steps: number) => void, onDone: (job: FitJob, r: FitResult) => void): Promise<FitResult[]> {
  const results: FitResult[] = new Array(jobs.length);
  if (threads <= 1 || jobs.length <= 1) {
    for (const [k, j] of jobs.entries()) {
      let last = 0;
      results[k] = fitPredictor(j.train, j.calib, j.test, j.options, (s) => {
        onSteps(s - last);
        last = s;
      });
      onDone(j, results[k]!);
      await new Promise((r) => setImmediate(r));
    }
    return results;
  }
  const isTs = import.meta.url.endsWith('.ts');
  const entry = new URL(isTs ? './predictor-worker.ts' : './predictor-worker.js', import.meta.url);
  const source = isTs
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`
    : null;
  const workers = Array.from({ length: Math.min(threads, jobs.length) }, () => new Worker(source ?? entry, { eval: source !== null }));
  let next = 0;
  try {
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      const give = (): void => {
        if (next >= jobs.length) return resolve();
        const k = next++;
        const j = jobs[k]!;
        const onMsg = (m: { type: string; steps?: number; result?: FitResult; error?: string }): void => {
          if (m.type === 'progress') onSteps(m.steps!);
          else if (m.type === 'error') reject(new RelufyError(`predictor training worker (layer ${j.layer}): ${m.error}`));
          else if (m.type === 'done') {
            w.off('message', onMsg);
            results[k] = m.result!;
            try {
              onDone(j, m.result!);
            } catch (e) {
              return reject(e);
            }
            give();
          }
        };
        w.on('message', onMsg);
        w.postMessage(j);
      };
      w.once('error', (e) => reject(new RelufyError(`predictor training worker failed: ${e.message}`)));
      give();
    })));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}

/**
 * Folds per-layer thresholds into the weights for PowerInfer's single global threshold: with
 * t_l < 0 (fitPredictor guarantees it), fc2_l / |t_l| scores s / |t_l|, and s / |t_l| >= -1 iff
 * s >= t_l. So every layer's own threshold holds with `powerinfer.sparse_threshold` = -1
 * (FOLDED_THRESHOLD), in PowerInfer and in relufy alike; no extra metadata key is needed.
 */
export function foldThreshold(fc2: Float32Array, threshold: number): Float32Array {
  if (!(threshold < 0)) throw new RelufyError(`foldThreshold: threshold ${threshold} is not negative`);
  const s = 1 / -threshold;
  return fc2.map((v) => v * s);
}

const f32Tensor = (name: string, shape: number[], v: Float32Array): Tensor =>
  ({ name, type: GGMLType.F32, shape, data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) });

/**
 * Collects, trains and folds the predictors of every layer (see the file comment).
 * @throws UsageError for bad options or a work folder holding another run; RelufyError when the
 *   corpus is too short for the split.
 */
export async function trainPredictors(o: TrainPredictorOptions): Promise<TrainPredictorResult> {
  const model = o.model;
  const c = model.config;
  const C = c.hidden_size, F = c.intermediate_size, L = c.num_hidden_layers, FB = maskBytes(F);
  const ctx = o.ctx ?? Math.min(512, c.max_position_embeddings);
  if (!Number.isInteger(ctx) || ctx < 1 || ctx > c.max_position_embeddings) throw new UsageError('--ctx', `must be an integer in 1..${c.max_position_embeddings} (got ${ctx})`);
  const heldOut = o.heldOut ?? 0.1;
  if (!(heldOut > 0 && heldOut < 1)) throw new UsageError('--held-out', `must be a fraction in (0, 1) (got ${heldOut})`);
  if (o.rank !== undefined && o.budget !== undefined) throw new UsageError('--rank', 'give --rank or --budget, not both');
  if (o.rank !== undefined && !(Number.isInteger(o.rank) && o.rank >= 1)) throw new UsageError('--rank', `must be a positive integer (got ${o.rank})`);
  if (o.budget !== undefined && !(o.budget > 0)) throw new UsageError('--budget', `must be a positive share (got ${o.budget})`);
  const recall = o.recall ?? 0.99;
  if (!(recall > 0 && recall <= 1)) throw new UsageError('--recall', `must be in (0, 1] (got ${recall})`);
  const tokens = o.maxTokens !== undefined ? o.tokens.subarray(0, o.maxTokens) : o.tokens;
  const windows = Math.ceil(tokens.length / ctx);
  const held = Math.max(2, Math.round(windows * heldOut));
  if (windows < held + 1) throw new RelufyError(`${o.corpus}: ${tokens.length} tokens make ${windows} windows of ${ctx}; need at least ${held + 1} (use more text or a smaller --ctx)`);
  const calibWindows = Math.ceil(held / 2);
  const partWindows = o.partWindows ?? 8;
  const manifest: Manifest = {
    format: WORK_FORMAT, version: WORK_VERSION, model: modelIdOf(model.path), corpus: o.corpus, tokens: tokens.length,
    ctx, windows, trainWindows: windows - held, calibWindows, partWindows, C, F, L,
  };

  mkdirSync(o.workDir, { recursive: true });
  const mPath = join(o.workDir, 'manifest.json');
  const old = readManifest(mPath);
  if (old && !o.resume) throw new UsageError('--work-dir', `${o.workDir} holds an earlier run; pass --resume to continue it or choose another folder`);
  if (old && JSON.stringify(old) !== JSON.stringify(manifest))
    throw new UsageError('--resume', `${o.workDir} holds a run with other data settings (model, corpus, tokens or ctx differ); use another --work-dir`);
  if (!old) writeJson(mPath, manifest);

  // 1. Collection, one part file at a time. Parts never straddle the train / held-out boundary.
  const bounds: [number, number][] = [];
  for (const [a, b] of [[0, manifest.trainWindows], [manifest.trainWindows, manifest.trainWindows + calibWindows], [manifest.trainWindows + calibWindows, windows]] as const)
    for (let w = a; w < b; w += partWindows) bounds.push([w, Math.min(b, w + partWindows)]);
  const engine = new KernelEngine(model);
  const parts: { w0: number; n: number; layers: { x: Float32Array; mask: Uint8Array }[] }[] = [];
  let done = 0;
  let resumed = 0;
  for (const [k, [w0, w1]] of bounds.entries()) {
    const p = join(o.workDir, partName(k));
    let part;
    if (existsSync(p)) {
      part = decodePart(p, C, F, L);
      resumed++;
    } else {
      part = collectWindows(engine, tokens, ctx, w0, w1);
      writeFileAtomic(p, encodePart(part.n, part.layers));
    }
    parts.push({ w0, ...part });
    done += part.n;
    o.onCollect?.(done, tokens.length);
    await new Promise((r) => setImmediate(r));
  }
  if (resumed) o.onNote?.(`resumed: ${resumed} of ${bounds.length} collected parts read from ${o.workDir}`);

  const split = (l: number, a: number, b: number): LayerSamples =>
    concat(parts.filter((p) => p.w0 >= a && p.w0 < b).map((p) => ({ n: p.n, ...p.layers[l]! })), C, FB);
  const tw = manifest.trainWindows;

  // 2. Ranks, then training (layers in parallel), resuming finished layers.
  const sparseBytes: number[] = [];
  const jobs: FitJob[] = [];
  const results: (FitResult | undefined)[] = new Array(L);
  let totalSteps = 0, doneSteps = 0;
  const batch = o.batch ?? 64;
  const epochs = o.epochs ?? 12;
  for (let l = 0; l < L; l++) {
    const train = split(l, 0, tw);
    let ones = 0;
    for (let i = 0; i < train.mask.length; i++) for (let v = train.mask[i]!; v; v &= v - 1) ones++;
    const active = ones / Math.max(1, train.n * F);
    sparseBytes.push(active * ffnBytes(model, l));
    const rank = o.budget !== undefined ? rankForBudget(o.budget, sparseBytes[l]!, C, F) : o.rank ?? defaultRank(C);
    const options: FitOptions = {
      C, F, rank, epochs, lr: o.lr ?? 3e-3, weightDecay: o.weightDecay ?? 0.01, batch, seed: (o.seed ?? 1) + 7919 * l, recall,
    };
    const saved = loadLayer(join(o.workDir, `layer-${l}.bin`), C, F);
    if (saved && saved.key === fitKey(options)) {
      results[l] = saved.result;
      continue;
    }
    jobs.push({ layer: l, train, calib: split(l, tw, tw + calibWindows), test: split(l, tw + calibWindows, windows), options });
    totalSteps += epochs * Math.ceil(train.n / batch);
  }
  if (jobs.length < L) o.onNote?.(`resumed: ${L - jobs.length} of ${L} trained layers read from ${o.workDir}`);
  o.onTrain?.(0, totalSteps);
  const threads = o.threads ?? 2;
  await runFits(jobs, threads, (s) => {
    doneSteps += s;
    o.onTrain?.(doneSteps, totalSteps);
  }, (j, r) => {
    results[j.layer] = r;
    saveLayer(join(o.workDir, `layer-${j.layer}.bin`), j.layer, fitKey(j.options), r);
  });

  // 3. Fold thresholds; report.
  const predictors: LayerPredictor[] = [];
  const layers: LayerReport[] = [];
  for (let l = 0; l < L; l++) {
    const r = results[l]!;
    const R = r.rank;
    predictors.push({ fc1: f32Tensor(`blk.${l}.fc1.weight`, [R, C], r.fc1), fc2: f32Tensor(`blk.${l}.fc2.weight`, [F, R], foldThreshold(r.fc2, r.threshold)) });
    layers.push({ layer: l, rank: R, threshold: r.threshold, metrics: r.metrics, predictorBytes: 4 * (R * C + F * R), sparseFfnBytes: sparseBytes[l]!, loss: r.loss });
  }
  const count = (a: number, b: number): number => parts.filter((p) => p.w0 >= a && p.w0 < b).reduce((s, p) => s + p.n, 0);
  return {
    predictors, threshold: FOLDED_THRESHOLD, layers,
    tokens: { train: count(0, tw), calib: count(tw, tw + calibWindows), test: count(tw + calibWindows, windows) },
  };
}

const pct = (x: number, w = 7): string => (100 * x).toFixed(2).padStart(w);

/** The per-layer table `relufy train-predictor` prints. */
export function formatPredictorReport(r: TrainPredictorResult, recallTarget: number): string {
  const lines = [
    `predictor quality on ${r.tokens.test} held-out test tokens (thresholds set for recall ${recallTarget} on ${r.tokens.calib} calibration tokens; trained on ${r.tokens.train})`,
    'layer  rank   recall%  precision%  pred. sparsity%  true sparsity%  threshold | predictor / sparse-FFN bytes',
  ];
  for (const l of r.layers) {
    const m = l.metrics;
    lines.push(
      `${String(l.layer).padStart(5)}  ${String(l.rank).padStart(4)}  ${pct(m.recall)}  ${pct(m.precision, 10)}  ${pct(m.predictedSparsity, 15)}  ${pct(m.trueSparsity, 14)}  ${l.threshold.toExponential(2).padStart(9)} | ` +
      `${l.predictorBytes} / ${Math.round(l.sparseFfnBytes)} (${(100 * l.predictorBytes / Math.max(1, l.sparseFfnBytes)).toFixed(0)}%)`,
    );
  }
  return lines.join('\n') + '\n';
}
