/**
 * Training one layer's activation predictor (PowerInfer's low-rank MLP, src/sparse/predictor.ts):
 *   score (F) = fc2 (F, R) · relu(fc1 (R, C) · x (C))
 * on (FFN input x, active mask) pairs, with class-weighted binary cross-entropy on sigmoid(score)
 * and AdamW; then the threshold that reaches a target recall on calibration tokens, and recall /
 * precision / predicted sparsity on test tokens. Runs on the calling thread or in a worker
 * (predictor-worker.ts); pure computation, no I/O.
 *
 * Differences from the Deja Vu trainer (shared/docs/powerinfer-and-gguf.md section 2: two linears
 * without a nonlinearity, decision p >= 0.5): PowerInfer's ReLU between fc1 and fc2, balanced class
 * weights (each class carries half the loss), and a threshold picked for recall afterwards.
 */
import { adamwInit, adamwUpdate } from '../train/optim/index.js';
import { Rng } from '../rng.js';

/** (x, mask) pairs of one layer: x (n, C) float32 FFN inputs; mask (n, ceil(F/8)) bits, neuron i of token t at byte t*FB + (i>>3), bit i&7. */
export interface LayerSamples {
  n: number;
  x: Float32Array;
  mask: Uint8Array;
}

export interface FitOptions {
  C: number;
  F: number;
  /** Predictor rank R (fc1 rows). */
  rank: number;
  epochs: number;
  /** Peak AdamW learning rate (cosine decay to a tenth). */
  lr: number;
  weightDecay: number;
  batch: number;
  seed: number;
  /** Share of truly active calibration neurons the threshold must keep (e.g. 0.99). */
  recall: number;
}

/** Predictor quality on test tokens (fractions over tokens x F neurons). */
export interface PredictorMetrics {
  /** Truly active neurons that the predictor selects / truly active neurons. */
  recall: number;
  /** Truly active among the selected. */
  precision: number;
  /** Share of neurons NOT selected (what the sparse FFN skips). */
  predictedSparsity: number;
  /** Share of neurons inactive (h = 0). */
  trueSparsity: number;
  tokens: number;
}

export interface FitResult {
  /** (R, C) row-major, for raw (unscaled) x. */
  fc1: Float32Array;
  /** (F, R) row-major. */
  fc2: Float32Array;
  rank: number;
  /**
   * Raw-score threshold reaching the recall target on the calibration tokens (neuron on iff score >=
   * threshold); always negative: a threshold at or above -eps (eps = 1e-3 x RMS of the calibration
   * scores) is lowered to -eps, which can only raise recall.
   */
  threshold: number;
  metrics: PredictorMetrics;
  /** Mean weighted BCE of the last epoch. */
  loss: number;
}

export const maskBytes = (F: number): number => (F + 7) >> 3;

/** Standard normal via Box-Muller from the project PRNG. */
function gaussian(r: Rng): number {
  const u = Math.max(r.next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.next());
}

/**
 * Scores (n, F) = fc2 · relu(fc1 · x) for n rows of x (n, C); `a` is scratch (R).
 * Sums in float64, stored float32.
 */
export function scoreRows(fc1: Float32Array, fc2: Float32Array, R: number, C: number, F: number, x: Float32Array, n: number, out: Float32Array): void {
  const a = new Float64Array(R);
  for (let t = 0; t < n; t++) {
    const xo = t * C;
    for (let r = 0; r < R; r++) {
      let s = 0;
      const wo = r * C;
      for (let c = 0; c < C; c++) s += fc1[wo + c]! * x[xo + c]!;
      a[r] = s > 0 ? s : 0;
    }
    const so = t * F;
    for (let f = 0; f < F; f++) {
      let s = 0;
      const wo = f * R;
      for (let r = 0; r < R; r++) s += fc2[wo + r]! * a[r]!;
      out[so + f] = s;
    }
  }
}

const bit = (mask: Uint8Array, t: number, FB: number, i: number): number => (mask[t * FB + (i >> 3)]! >> (i & 7)) & 1;

/**
 * Threshold for a target recall: the largest t such that at least `recall` of the truly active
 * neurons have score >= t (nearest rank over the active neurons' scores).
 */
export function thresholdForRecall(scores: Float32Array, s: LayerSamples, F: number, recall: number): number {
  const FB = maskBytes(F);
  const pos: number[] = [];
  for (let t = 0; t < s.n; t++) for (let i = 0; i < F; i++) if (bit(s.mask, t, FB, i)) pos.push(scores[t * F + i]!);
  if (pos.length === 0) return Infinity;
  pos.sort((a, b) => a - b);
  const drop = Math.floor((1 - recall) * pos.length + 1e-9);
  return pos[Math.min(drop, pos.length - 1)]!;
}

/** Recall, precision and sparsities of the rule `score >= threshold` against the masks. */
export function predictorMetrics(scores: Float32Array, s: LayerSamples, F: number, threshold: number): PredictorMetrics {
  const FB = maskBytes(F);
  let tp = 0, fp = 0, fn = 0;
  for (let t = 0; t < s.n; t++) {
    for (let i = 0; i < F; i++) {
      const y = bit(s.mask, t, FB, i);
      const p = scores[t * F + i]! >= threshold;
      if (p && y) tp++;
      else if (p) fp++;
      else if (y) fn++;
    }
  }
  const total = s.n * F;
  return {
    recall: tp + fn > 0 ? tp / (tp + fn) : 1,
    precision: tp + fp > 0 ? tp / (tp + fp) : 1,
    predictedSparsity: total > 0 ? 1 - (tp + fp) / total : 0,
    trueSparsity: total > 0 ? 1 - (tp + fn) / total : 0,
    tokens: s.n,
  };
}

/**
 * Trains one layer's predictor.
 *
 * x is divided by its RMS over the training tokens before training (conditioning); as the
 * predictor is positively homogeneous in x (relu(a x) = a relu(x) for a > 0), the scale is folded
 * back into fc1, so the returned weights take the raw residual. Loss per (token, neuron):
 *   w_y · BCE(sigmoid(score), y),  w_1 = 0.5 / p, w_0 = 0.5 / (1 - p),  p = active share in training
 * averaged over the minibatch. He-normal init (std sqrt(2 / fan_in)), AdamW (b1 0.9, b2 0.999,
 * decoupled decay on both matrices), cosine LR from `lr` to lr/10, samples reshuffled each epoch.
 * @param onStep called after every optimizer step with (step, total steps, running loss)
 */
export function fitPredictor(train: LayerSamples, calib: LayerSamples, test: LayerSamples, o: FitOptions, onStep?: (step: number, total: number, loss: number) => void): FitResult {
  const { C, F, batch } = o;
  const R = o.rank;
  const FB = maskBytes(F);
  const n = train.n;
  let ss = 0;
  for (let i = 0; i < n * C; i++) ss += train.x[i]! * train.x[i]!;
  const scale = n > 0 ? Math.sqrt(ss / (n * C)) || 1 : 1;
  let positives = 0;
  for (let t = 0; t < n; t++) for (let i = 0; i < F; i++) positives += bit(train.mask, t, FB, i);
  const p = Math.min(1 - 1e-6, Math.max(1e-6, positives / Math.max(1, n * F)));
  const w1 = 0.5 / p, w0 = 0.5 / (1 - p);

  const rng = new Rng(o.seed);
  const params = new Float32Array(R * C + F * R);
  const fc1 = params.subarray(0, R * C);
  const fc2 = params.subarray(R * C);
  for (let i = 0; i < fc1.length; i++) fc1[i] = gaussian(rng) * Math.sqrt(2 / C);
  for (let i = 0; i < fc2.length; i++) fc2[i] = gaussian(rng) * Math.sqrt(2 / R);
  const grads = new Float32Array(params.length);
  const g1 = grads.subarray(0, R * C);
  const g2 = grads.subarray(R * C);
  const opt = adamwInit(params.length);
  const decay = new Uint8Array(params.length).fill(1);

  const steps = Math.ceil(n / batch);
  const total = steps * o.epochs;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const xb = new Float32Array(batch * C);
  const a = new Float32Array(batch * R);
  const ds = new Float32Array(batch * F);
  const dz = new Float64Array(R);
  const inv = 1 / scale;
  let step = 0;
  let lastLoss = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) {
      const j = rng.nextU32() % (i + 1);
      const tmp = order[i]!;
      order[i] = order[j]!;
      order[j] = tmp;
    }
    let epochLoss = 0;
    for (let s0 = 0; s0 < n; s0 += batch) {
      const B = Math.min(batch, n - s0);
      for (let b = 0; b < B; b++) {
        const src = order[s0 + b]! * C;
        for (let c = 0; c < C; c++) xb[b * C + c] = train.x[src + c]! * inv;
      }
      // forward: a = relu(fc1 x), score = fc2 a; ds = dLoss/dscore
      let loss = 0;
      for (let b = 0; b < B; b++) {
        for (let r = 0; r < R; r++) {
          let s = 0;
          const wo = r * C, xo = b * C;
          for (let c = 0; c < C; c++) s += fc1[wo + c]! * xb[xo + c]!;
          a[b * R + r] = s > 0 ? s : 0;
        }
        const t = order[s0 + b]!;
        for (let f = 0; f < F; f++) {
          let s = 0;
          const wo = f * R, ao = b * R;
          for (let r = 0; r < R; r++) s += fc2[wo + r]! * a[ao + r]!;
          const y = bit(train.mask, t, FB, f);
          const w = y ? w1 : w0;
          // BCE with logits: log(1 + e^s) - y s, stable form
          loss += w * (Math.max(s, 0) - y * s + Math.log1p(Math.exp(-Math.abs(s))));
          const sig = 1 / (1 + Math.exp(-s));
          ds[b * F + f] = (w * (sig - y)) / (B * F);
        }
      }
      // backward
      grads.fill(0);
      for (let b = 0; b < B; b++) {
        dz.fill(0);
        const ao = b * R, so = b * F;
        for (let f = 0; f < F; f++) {
          const d = ds[so + f]!;
          if (d === 0) continue;
          const wo = f * R;
          for (let r = 0; r < R; r++) {
            g2[wo + r] = g2[wo + r]! + d * a[ao + r]!;
            dz[r] = dz[r]! + d * fc2[wo + r]!;
          }
        }
        const xo = b * C;
        for (let r = 0; r < R; r++) {
          if (a[ao + r]! <= 0) continue;
          const d = dz[r]!;
          const wo = r * C;
          for (let c = 0; c < C; c++) g1[wo + c] = g1[wo + c]! + d * xb[xo + c]!;
        }
      }
      const lr = o.lr * (0.1 + 0.45 * (1 + Math.cos((Math.PI * step) / Math.max(1, total - 1))));
      step++;
      adamwUpdate(params, grads, opt, decay, step, { lr, weightDecay: o.weightDecay, beta2: 0.999 });
      epochLoss += loss;
      lastLoss = loss / (B * F);
      onStep?.(step, total, lastLoss);
    }
    lastLoss = epochLoss / Math.max(1, n * F);
  }
  // fold the input scale into fc1: the predictor then takes the raw residual
  const out1 = new Float32Array(R * C);
  for (let i = 0; i < out1.length; i++) out1[i] = fc1[i]! * inv;
  const out2 = Float32Array.from(fc2);
  const cs = new Float32Array(calib.n * F);
  scoreRows(out1, out2, R, C, F, calib.x, calib.n, cs);
  let threshold = thresholdForRecall(cs, calib, F, o.recall);
  // Keep thresholds negative (see `foldThresholds`): lowering one only raises recall.
  let sc = 0;
  for (let i = 0; i < cs.length; i++) sc += cs[i]! * cs[i]!;
  const eps = 1e-3 * (Math.sqrt(sc / Math.max(1, cs.length)) || 1);
  if (!(threshold <= -eps)) threshold = -eps;
  const ts = new Float32Array(test.n * F);
  scoreRows(out1, out2, R, C, F, test.x, test.n, ts);
  return { fc1: out1, fc2: out2, rank: R, threshold, metrics: predictorMetrics(ts, test, F, threshold), loss: lastLoss };
}
