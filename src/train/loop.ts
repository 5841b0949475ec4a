import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, UsageError } from '../errors.js';
import { GGMLType } from '../formats/quant/types.js';
import { loadModel } from '../model/load.js';
import { saveGguf } from '../model/save.js';
import type { LoadedModel } from '../model/types.js';
import { checkpointName, latestCheckpoint, pruneCheckpoints, readCheckpoint, writeCheckpoint, type CheckpointHeader } from './checkpoint.js';
import { convertActivation } from './convert.js';
import { DataMix, tokenizeFile, validationWindows, WindowSampler } from './data.js';
import type { GradJob, GradResult } from './grad.js';
import { paramLayout, paramsFromModel, tensorsFromParams } from './model.js';
import { adamwInit, adamwUpdate, clipGradNorm, cosineLr } from './optim/index.js';
import { plotCurves, type CurvePoint } from './plot.js';
import { GradPool } from './pool.js';
import { phaseSteps, readRecipe, type Recipe } from './recipe.js';

export interface TrainOptions {
  recipe: string;
  /** Initial model (GGUF, llama2.c .bin or HF folder). */
  model: string;
  outDir: string;
  /** true = newest checkpoint of OUT_DIR/checkpoints; a path = that checkpoint. */
  resume?: boolean | string;
  threads?: number;
  /** Stop after this global step (the run can be resumed later); for tests and short trials. */
  stopAfter?: number;
  /** Tokenizer for models without one (llama2.c .bin). */
  tokenizer?: string;
  onProgress?: (p: Progress) => void;
  /** One-line notes (phase changes, evaluations, checkpoints). */
  onNote?: (msg: string) => void;
}

export interface Progress {
  step: number;
  total: number;
  phase: string;
  loss: number;
  tokensPerSecond: number;
}

/** One JSONL record of OUT_DIR/log.jsonl. */
export type LogRecord =
  | { type: 'train'; step: number; phase: string; tokens: number; loss: number; kl?: number; lr: number; grad_norm: number; sparsity: number; sparsity_layers: number[]; tok_per_s: number; elapsed: number }
  | { type: 'val'; step: number; tokens: number; val_loss: number; sparsity: number; sparsity_layers: number[]; val_tokens: number };

export interface EvalResult {
  loss: number;
  tokens: number;
  sparsity: number;
  sparsityLayers: number[];
}

export interface TrainSummary {
  recipe: string;
  steps: number;
  tokens: number;
  elapsed: number;
  tokensPerSecond: number;
  threads: number;
  finished: boolean;
  valBefore?: EvalResult;
  valAfter?: EvalResult;
  modelPath?: string;
  plotPath?: string;
}

/** Mean over layers of per-layer zero shares. */
function shares(res: GradResult[], L: number): { layers: number[]; mean: number } {
  const zeros = new Array<number>(L).fill(0);
  let seen = 0;
  for (const r of res) {
    r.zeros.forEach((z, l) => (zeros[l] += z));
    seen += r.seen;
  }
  const layers = zeros.map((z) => (seen > 0 ? z / seen : 0));
  return { layers, mean: layers.reduce((a, b) => a + b, 0) / Math.max(1, L) };
}

/** Loss and FFN sparsity of the pool's current parameters on held-out windows (forward only). */
export async function evaluate(pool: GradPool, windows: { inputs: Int32Array; targets: Int32Array }[], L: number): Promise<EvalResult> {
  const n = pool.B * pool.T;
  const per = Math.ceil(windows.length / pool.B / pool.threads) * pool.B;
  const jobs: GradJob[] = [];
  for (let i = 0; i < pool.threads && i * per < windows.length; i++) {
    const part = windows.slice(i * per, (i + 1) * per);
    while (part.length % pool.B !== 0) part.push({ inputs: part[0]!.inputs, targets: new Int32Array(pool.T).fill(-1) });
    const inputs = new Int32Array(part.length * pool.T), targets = new Int32Array(part.length * pool.T);
    part.forEach((w, j) => (inputs.set(w.inputs, j * pool.T), targets.set(w.targets, j * pool.T)));
    jobs.push({ inputs, targets, lossScale: 0, l1: 0, distill: 0, backward: false });
  }
  void n;
  const res = await pool.run(jobs);
  const lossSum = res.reduce((a, r) => a + r.lossSum, 0), count = res.reduce((a, r) => a + r.count, 0);
  const s = shares(res, L);
  return { loss: lossSum / count, tokens: count, sparsity: s.mean, sparsityLayers: s.layers };
}

function recipeHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);
}

/**
 * Loads the initial model, converting its FFN when the recipe asks for another activation.
 * `teacher` is the model as loaded (before conversion), the teacher of distilling phases.
 */
export function initialModel(recipe: Recipe, path: string, tokenizer?: string): { model: LoadedModel; teacher: LoadedModel } {
  const loaded = loadModel(path, tokenizer ? { tokenizer } : {});
  let model = loaded;
  if (recipe.activation && recipe.activation !== model.config.ffn_activation) model = convertActivation(model, recipe.activation);
  if (!model.tokenizer) throw new UsageError('-m', `${path} carries no tokenizer (pass one with --tokenizer)`);
  return { model, teacher: loaded };
}

/**
 * Runs (or resumes) a recipe: phases of AdamW + warm-up/cosine LR over a weighted data mix, with
 * gradient accumulation to each phase's batch_tokens, clipping, optional L1 on FFN activations,
 * periodic validation, atomic checkpoints, a JSONL log, and at the end OUT_DIR/model.gguf,
 * OUT_DIR/curves.svg and OUT_DIR/summary.json.
 */
export async function train(o: TrainOptions): Promise<TrainSummary> {
  const recipe = readRecipe(o.recipe);
  const rHash = recipeHash(o.recipe);
  const { model, teacher } = initialModel(recipe, o.model, o.tokenizer);
  const c = model.config;
  const L = c.num_hidden_layers;
  const T = recipe.seq_len, B = recipe.micro_batch;
  if (T > c.max_position_embeddings) throw new UsageError('recipe seq_len', `${T} exceeds the model's context of ${c.max_position_embeddings}`);
  const threads = o.threads ?? 2;
  const note = o.onNote ?? (() => {});
  mkdirSync(o.outDir, { recursive: true });
  const ckDir = join(o.outDir, 'checkpoints');
  mkdirSync(ckDir, { recursive: true });
  const logPath = join(o.outDir, 'log.jsonl');

  // data
  const tok = model.tokenizer!;
  const files = [...new Set(recipe.phases.flatMap((p) => p.data.map((d) => d.file)))];
  const streams = new Map<string, Int32Array>();
  for (const f of files) streams.set(f, tokenizeFile(f, tok));
  let valTokens: Int32Array;
  const v = recipe.validation;
  if ('files' in v) {
    const parts = v.files.map((f) => tokenizeFile(f, tok));
    valTokens = new Int32Array(parts.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of parts) (valTokens.set(p, off), (off += p.length));
  } else {
    // hold out the tail of each training file
    const tails: Int32Array[] = [];
    for (const [f, s] of streams) {
      const cut = Math.floor(s.length * (1 - v.holdout));
      tails.push(s.slice(cut));
      streams.set(f, s.slice(0, cut));
    }
    valTokens = new Int32Array(tails.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of tails) (valTokens.set(p, off), (off += p.length));
  }
  const valWindows = validationWindows(valTokens, T, v.tokens);
  if (valWindows.length === 0) throw new FormatError(o.recipe, `validation text has fewer than ${T + 1} tokens`);
  const samplers = new Map<string, WindowSampler>();
  [...streams.entries()].forEach(([f, s], i) => samplers.set(f, new WindowSampler(s, T, (recipe.seed + 1000 * (i + 1)) >>> 0, f)));
  const mix = new DataMix(samplers, recipe.seed);

  // parameters and optimizer
  const layout = paramLayout(c);
  const distills = recipe.phases.some((p) => p.distill > 0);
  const pool = new GradPool(c, layout.size, threads, B, T, distills ? { config: teacher.config, params: paramsFromModel(teacher) } : undefined);
  try {
    pool.params.set(paramsFromModel(model));
    const decay = new Uint8Array(layout.size);
    for (const e of layout.entries) if (e.shape.length === 2) decay.fill(1, e.offset, e.offset + e.size);
    let opt = adamwInit(layout.size);
    let step = 0, tokens = 0, elapsedBefore = 0;
    let valBefore: EvalResult | undefined;

    if (o.resume) {
      const { path, ck } = typeof o.resume === 'string' ? { path: o.resume, ck: readCheckpoint(o.resume) } : latestCheckpoint(ckDir);
      if (ck.header.recipeHash !== rHash) throw new UsageError('--resume', `${path} was written by a different recipe file (recipe changed since)`);
      if (ck.header.paramCount !== layout.size) throw new UsageError('--resume', `${path} holds ${ck.header.paramCount} parameters, the model has ${layout.size}`);
      pool.params.set(ck.params);
      opt = { m: ck.m, v: ck.v };
      step = ck.header.step;
      tokens = ck.header.tokens;
      elapsedBefore = ck.header.elapsed;
      mix.setState(ck.header.data);
      // keep the log up to the checkpoint, so the resumed log reads as one uninterrupted run
      if (existsSync(logPath)) {
        const kept = readFileSync(logPath, 'utf8').split('\n').filter((line) => {
          if (!line.trim()) return false;
          try {
            return (JSON.parse(line) as LogRecord).step <= step;
          } catch {
            return false;
          }
        });
        writeFileSync(logPath, kept.map((l) => l + '\n').join(''));
        const first = kept.map((l) => JSON.parse(l) as LogRecord).find((r) => r.type === 'val' && r.step === 0);
        if (first && first.type === 'val') valBefore = { loss: first.val_loss, tokens: first.val_tokens, sparsity: first.sparsity, sparsityLayers: first.sparsity_layers };
      }
      note(`resumed from ${path} at step ${step}`);
    } else {
      writeFileSync(logPath, '');
    }
    const log = (r: LogRecord): void => appendFileSync(logPath, JSON.stringify(r) + '\n');

    const { steps: phaseLen, starts, total } = phaseSteps(recipe);
    if (step === 0) {
      valBefore = await evaluate(pool, valWindows, L);
      log({ type: 'val', step: 0, tokens: 0, val_loss: valBefore.loss, sparsity: valBefore.sparsity, sparsity_layers: valBefore.sparsityLayers, val_tokens: valBefore.tokens });
      note(`step 0: val loss ${valBefore.loss.toFixed(4)}, FFN sparsity ${(100 * valBefore.sparsity).toFixed(1)}%`);
    }
    const stopAt = Math.min(total, o.stopAfter ?? total);
    const grad = new Float32Array(layout.size);
    const t0 = performance.now();
    const tokensAtStart = tokens;
    const n = B * T;
    let lastCkptStep = step;
    while (step < stopAt) {
      let pi = 0;
      while (pi + 1 < starts.length && step >= starts[pi + 1]!) pi++;
      const phase = recipe.phases[pi]!;
      const micro = phase.batch_tokens / n;
      const perThread = Math.ceil(micro / threads);
      const jobs: GradJob[] = [];
      const batches: { inputs: Int32Array; targets: Int32Array }[] = [];
      for (let k = 0; k < micro; k++) {
        const inputs = new Int32Array(n), targets = new Int32Array(n);
        mix.fill(phase.data, inputs, targets, B, T);
        batches.push({ inputs, targets });
      }
      const lossScale = 1 / (micro * n);
      for (let w = 0; w < threads && w * perThread < micro; w++) {
        const mine = batches.filter((_, k) => k % threads === w);
        const inputs = new Int32Array(mine.length * n), targets = new Int32Array(mine.length * n);
        mine.forEach((b, j) => (inputs.set(b.inputs, j * n), targets.set(b.targets, j * n)));
        jobs.push({ inputs, targets, lossScale, l1: phase.l1, distill: phase.distill, backward: true });
      }
      const res = await pool.run(jobs);
      pool.reduce(grad, jobs.length);
      const gnorm = clipGradNorm(grad, recipe.grad_clip);
      const local = step - starts[pi]!;
      const lr = cosineLr(local, phaseLen[pi]!, phase.warmup_steps, phase.peak_lr, phase.min_lr);
      adamwUpdate(pool.params, grad, opt, decay, step + 1, { lr, weightDecay: phase.weight_decay });
      step++;
      tokens += micro * n;
      const counted = res.reduce((a, r) => a + r.count, 0);
      const loss = res.reduce((a, r) => a + r.lossSum, 0) / counted;
      const kl = phase.distill > 0 ? res.reduce((a, r) => a + r.klSum, 0) / counted : undefined;
      const sp = shares(res, L);
      const secs = (performance.now() - t0) / 1000;
      const tps = (tokens - tokensAtStart) / Math.max(secs, 1e-9);
      log({ type: 'train', step, phase: phase.name, tokens, loss, ...(kl !== undefined ? { kl } : {}), lr, grad_norm: gnorm, sparsity: sp.mean, sparsity_layers: sp.layers, tok_per_s: tps, elapsed: elapsedBefore + secs });
      o.onProgress?.({ step, total, phase: phase.name, loss, tokensPerSecond: tps });
      if (step % recipe.eval_every === 0 && step < total) {
        const ev = await evaluate(pool, valWindows, L);
        log({ type: 'val', step, tokens, val_loss: ev.loss, sparsity: ev.sparsity, sparsity_layers: ev.sparsityLayers, val_tokens: ev.tokens });
        note(`step ${step}: val loss ${ev.loss.toFixed(4)}, FFN sparsity ${(100 * ev.sparsity).toFixed(1)}%`);
      }
      if (step % recipe.checkpoint_every === 0 || step === stopAt) {
        const header: CheckpointHeader = { step, tokens, elapsed: elapsedBefore + secs, recipeHash: rHash, config: c, paramCount: layout.size, data: mix.getState() };
        writeCheckpoint(join(ckDir, checkpointName(step)), { header, params: pool.params, m: opt.m, v: opt.v });
        pruneCheckpoints(ckDir, recipe.keep_checkpoints);
        lastCkptStep = step;
      }
    }
    void lastCkptStep;
    const elapsed = elapsedBefore + (performance.now() - t0) / 1000;
    const summary: TrainSummary = {
      recipe: recipe.name, steps: step, tokens, elapsed, tokensPerSecond: (tokens - tokensAtStart) / Math.max(1e-9, (performance.now() - t0) / 1000),
      threads, finished: step >= total,
    };
    if (valBefore) summary.valBefore = valBefore;
    if (step >= total) {
      const after = await evaluate(pool, valWindows, L);
      summary.valAfter = after;
      log({ type: 'val', step, tokens, val_loss: after.loss, sparsity: after.sparsity, sparsity_layers: after.sparsityLayers, val_tokens: after.tokens });
      note(`final: val loss ${after.loss.toFixed(4)}, FFN sparsity ${(100 * after.sparsity).toFixed(1)}%`);
      const out: LoadedModel = { ...model, tensors: tensorsFromParams(c, pool.params), metadata: {} };
      summary.modelPath = join(o.outDir, 'model.gguf');
      saveGguf(summary.modelPath, out, { weightType: GGMLType.F32, name: recipe.name });
      summary.plotPath = join(o.outDir, 'curves.svg');
      await plotLog(logPath, summary.plotPath, recipe.name);
      writeFileSync(join(o.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    }
    return summary;
  } finally {
    await pool.close();
  }
}

/** Draws OUT_DIR/log.jsonl's train/val loss and sparsity curves. */
export async function plotLog(logPath: string, out: string, title: string): Promise<void> {
  const recs = readFileSync(logPath, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as LogRecord);
  const loss: CurvePoint[] = [], sparsity: CurvePoint[] = [];
  for (const r of recs) {
    if (r.type === 'train') {
      loss.push({ step: r.step, value: r.loss, series: 'train loss' });
      sparsity.push({ step: r.step, value: r.sparsity, series: 'train' });
    } else {
      loss.push({ step: r.step, value: r.val_loss, series: 'validation loss' });
      sparsity.push({ step: r.step, value: r.sparsity, series: 'validation' });
    }
  }
  await plotCurves(out, loss, sparsity, title);
}
