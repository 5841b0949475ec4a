import { FormatError, RelufyError } from '../errors.js';
import { POWERINFER } from '../formats/gguf/keys.js';
import type { Tensor } from '../formats/quant/types.js';
import { gluValue, refKernels } from '../kernels/ref/index.js';
import type { ModelConfig } from '../model/config.js';
import type { FfnExecutor } from '../model/forward.js';
import type { LoadedModel } from '../model/types.js';
import { neuronBundle, type FfnTensors } from './lossless.js';
import { neuronBytes, type FfnStats, type NeuronBytes } from './stats.js';

/**
 * One layer's activation predictor, as PowerInfer defines it (shared/docs/powerinfer-and-gguf.md
 * 1.2; PowerInfer llama.cpp `llm_build_ffn_sparse`): a bias-free two-layer MLP on the FFN input x
 * (the residual stream after attention, before `ffn_norm`):
 *   score (F) = fc2 · relu(fc1 · x)
 * Neuron i is computed iff score[i] >= threshold (raw score, no sigmoid; 0 ≙ p = 0.5).
 * Shapes in PyTorch order: fc1 (R, C) = GGUF `blk.N.fc1.weight` ggml {C, R}; fc2 (F, R) =
 * `blk.N.fc2.weight` ggml {R, F}. The rank R may differ per layer.
 */
export interface LayerPredictor {
  fc1: Tensor;
  fc2: Tensor;
}

/** PowerInfer's default predictor threshold (`sparse_pred_threshold` = 0.0) when a file has no `powerinfer.sparse_threshold`. */
export const DEFAULT_PRED_THRESHOLD = 0;

/** GGUF names of layer l's predictor tensors. */
export const fc1Name = (l: number): string => `blk.${l}.fc1.weight`;
export const fc2Name = (l: number): string => `blk.${l}.fc2.weight`;

/**
 * What is wrong with layer l's predictor shapes, or null: fc1 must be (R, C) with R >= 1, fc2 (F, R)
 * with the same R, both present or both absent. Used by `validateTensors` (files) and
 * `savePowerInferGguf` / `predictorsOf` (in-memory predictors); the message names the tensor and
 * gives the expected against the actual shape.
 */
export function predictorShapeProblem(l: number, fc1: readonly number[] | undefined, fc2: readonly number[] | undefined, C: number, F: number): string | null {
  if (!fc1 && !fc2) return null;
  if (!fc1) return `${fc1Name(l)} is missing (${fc2Name(l)} is present; a predictor needs both)`;
  if (!fc2) return `${fc2Name(l)} is missing (${fc1Name(l)} is present; a predictor needs both)`;
  const R = fc1[0]!;
  if (fc1.length !== 2 || fc1[1] !== C || !(R >= 1))
    return `tensor ${fc1Name(l)} has shape [${fc1.join(', ')}], expected [R, ${C}] (R = predictor rank >= 1, ${C} = hidden_size)`;
  if (fc2.length !== 2 || fc2[0] !== F || fc2[1] !== R)
    return `tensor ${fc2Name(l)} has shape [${fc2.join(', ')}], expected [${F}, ${R}] (intermediate_size, the rank of ${fc1Name(l)})`;
  return null;
}

/**
 * The activation predictors of a loaded model (PowerInfer `blk.N.fc1.weight` / `blk.N.fc2.weight`,
 * shared/docs/powerinfer-and-gguf.md 1.4), one per layer, or null when the model has none.
 * Needs the tensor bytes (not a `headerOnly` load; use `predictorRanks` for headers).
 * @throws FormatError(model.path, ...) when only some layers have predictors or a layer has one of
 *   fc1 / fc2 without the other (`blk.3.fc2.weight is missing ...`), or a shape does not fit.
 */
export function predictorsOf(model: LoadedModel): LayerPredictor[] | null {
  const { config: c, tensors } = model;
  const L = c.num_hidden_layers;
  let any = false;
  for (let l = 0; l < L; l++) if (tensors.has(fc1Name(l)) || tensors.has(fc2Name(l))) any = true;
  if (!any) return null;
  const out: LayerPredictor[] = [];
  for (let l = 0; l < L; l++) {
    const fc1 = tensors.get(fc1Name(l));
    const fc2 = tensors.get(fc2Name(l));
    if (!fc1 && !fc2) throw new FormatError(model.path, `${fc1Name(l)} is missing: only some layers have activation predictors`);
    const problem = predictorShapeProblem(l, fc1?.shape, fc2?.shape, c.hidden_size, c.intermediate_size);
    if (problem) throw new FormatError(model.path, problem);
    out.push({ fc1: fc1!, fc2: fc2! });
  }
  return out;
}

/**
 * Per-layer predictor ranks R from tensor headers (`relufy info`), or null when there are no
 * predictors; a layer without fc1 gets 0.
 */
export function predictorRanks(infos: readonly { name: string; shape: number[] }[], numLayers: number): number[] | null {
  const ranks: number[] = new Array<number>(numLayers).fill(0);
  let any = false;
  for (const t of infos) {
    const m = /^blk\.(\d+)\.fc1\.weight$/.exec(t.name);
    if (m && Number(m[1]) < numLayers) {
      ranks[Number(m[1])] = t.shape[0]!;
      any = true;
    }
  }
  return any ? ranks : null;
}

/**
 * The predictor score threshold stored in the model: GGUF `powerinfer.sparse_threshold` (f32; from
 * the parsed header, else the metadata summary), or DEFAULT_PRED_THRESHOLD (0) when absent, as
 * PowerInfer llama.cpp reads it (shared/docs/powerinfer-and-gguf.md 1.2).
 * @throws FormatError when the key holds something other than a finite number.
 */
export function predictorThresholdOf(model: LoadedModel): number {
  const key = POWERINFER.SPARSE_THRESHOLD;
  const kv = model.gguf?.metadata.get(key);
  const v: unknown = kv ? kv.value : model.metadata[key];
  if (v === undefined) return DEFAULT_PRED_THRESHOLD;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new FormatError(model.path, `metadata key ${key} is not a finite number (${String(v)})`);
  return v;
}

/**
 * Predictor scores of T tokens: out (T, F) = fc2 · relu(fc1 · x) per token, with x (T, C) the FFN
 * input (residual before `ffn_norm`). Uses the reference matmul (weights of any type relufy decodes,
 * float64 sums rounded to float32), so scores are reproducible bit for bit.
 * Source: PowerInfer llama.cpp `llm_build_ffn_sparse` (mul_mat fc1, relu, mul_mat fc2).
 */
export function predictorScores(p: LayerPredictor, x: Float32Array, T: number, out: Float32Array): void {
  const R = p.fc1.shape[0]!;
  const hid = new Float32Array(T * R);
  refKernels.matmul(hid, x, p.fc1, T);
  for (let i = 0; i < hid.length; i++) if (!(hid[i]! > 0)) hid[i] = 0;
  refKernels.matmul(out, hid, p.fc2, T);
}

/**
 * Predictor-mode FFN on the reference path (PowerInfer's CPU sparse FFN, shared/docs/powerinfer-and-gguf.md
 * 1.5), for one layer and token, with x the FFN input (C) and n = ffn_norm(x) (C):
 *   score = fc2 · relu(fc1 · x)                      (F)
 *   for neurons with score_i >= threshold:  gate_i = W_gate[i] · n, up_i = W_up[i] · n, h_i = glu(gate_i, up_i)
 *   all other neurons:                      h_i = 0 (their gate, up and down bytes are not read)
 *   y = sum_{i : h_i != 0} h_i * down_t[i]           (C)
 * For ReGLU / dReLU the down pass also skips predicted neurons whose h is exactly 0; for SwiGLU the
 * same code is plain masking. Arithmetic is the dense reference's (float32 weights dequantized
 * exactly, float64 sums in increasing neuron order, only exact zeros skipped), so when the predictor
 * marks every neuron active the output equals the dense FFN bit for bit.
 * Observers get h (T, F) with zeros for unpredicted neurons and gate (T, F) with 0 where it was not
 * computed. Stats count `predicted` = score >= threshold, `active` = h != 0, `gateActive` = gate > 0
 * among predicted neurons, and bytes = predicted gate + up rows + active down columns + the
 * predictor's own fc1 and fc2 bytes.
 */
export class PredictorFfn implements FfnExecutor {
  private readonly bundles: Float32Array[];
  private readonly nb: NeuronBytes[];
  private readonly predictorBytes: number[];
  private readonly C: number;
  private readonly F: number;
  private readonly kind: ModelConfig['ffn_activation'];
  private score: Float32Array;
  private readonly hv: Float32Array;
  private readonly gv: Float32Array;
  private readonly acc: Float64Array;

  /**
   * @param layers      the FFN matrices per layer (gate, up (F, C); down (C, F))
   * @param predictors  one predictor per layer (fc1 (R, C), fc2 (F, R))
   * @param threshold   score threshold (PowerInfer `powerinfer.sparse_threshold`, any finite number)
   * @throws RelufyError when the predictor count or shapes do not fit the model.
   */
  constructor(
    config: ModelConfig,
    layers: FfnTensors[],
    private readonly predictors: LayerPredictor[],
    readonly threshold: number,
    readonly stats?: FfnStats,
  ) {
    const C = (this.C = config.hidden_size);
    const F = (this.F = config.intermediate_size);
    this.kind = config.ffn_activation;
    if (predictors.length !== layers.length)
      throw new RelufyError(`predictors: ${predictors.length} predictors for a ${layers.length}-layer model`);
    predictors.forEach((p, l) => {
      const problem = predictorShapeProblem(l, p.fc1.shape, p.fc2.shape, C, F);
      if (problem) throw new RelufyError(`predictors: ${problem}`);
    });
    this.bundles = layers.map((L) => neuronBundle(L, C, F));
    this.nb = layers.map((L) => neuronBytes(L.ffn_gate.data.byteLength, L.ffn_up.data.byteLength, (L.ffn_down_t ?? L.ffn_down).data.byteLength, F));
    this.predictorBytes = predictors.map((p) => p.fc1.data.byteLength + p.fc2.data.byteLength);
    this.score = new Float32Array(F);
    this.hv = new Float32Array(F);
    this.gv = new Float32Array(F);
    this.acc = new Float64Array(C);
  }

  run(l: number, out: Float32Array, n: Float32Array, T: number, h?: Float32Array, gateOut?: Float32Array, input?: Float32Array): void {
    if (!input) throw new Error('PredictorFfn.run: the FFN input (predictor input) is required');
    const { C, F, hv, gv, acc, kind } = this;
    if (this.score.length < T * F) this.score = new Float32Array(T * F);
    const score = this.score;
    predictorScores(this.predictors[l]!, input.subarray(0, T * C), T, score);
    const b = this.bundles[l]!;
    const nb = this.nb[l]!;
    const S = 3 * C;
    const thr = this.threshold;
    for (let t = 0; t < T; t++) {
      const xo = t * C;
      const so = t * F;
      let predicted = 0;
      let gateActive = 0;
      let active = 0;
      for (let i = 0; i < F; i++) {
        if (!(score[so + i]! >= thr)) {
          hv[i] = 0;
          gv[i] = 0;
          continue;
        }
        predicted++;
        const o = i * S;
        let sg = 0;
        let su = 0;
        for (let c = 0; c < C; c++) {
          const v = n[xo + c]!;
          sg += b[o + c]! * v;
          su += b[o + C + c]! * v;
        }
        gv[i] = sg; // rounded to float32, as the dense matmul stores it
        hv[i] = su; // up, float32
        const g = gv[i]!;
        const u = hv[i]!;
        if (g > 0) gateActive++;
        hv[i] = gluValue(g, u, kind);
        if (hv[i] !== 0) active++;
      }
      acc.fill(0);
      for (let i = 0; i < F; i++) {
        const hi = hv[i]!;
        if (hi === 0) continue;
        const od = i * S + 2 * C;
        for (let c = 0; c < C; c++) acc[c] = acc[c]! + hi * b[od + c]!;
      }
      for (let c = 0; c < C; c++) out[xo + c] = acc[c]!;
      if (h) h.set(hv, t * F);
      if (gateOut) gateOut.set(gv, t * F);
      if (this.stats) {
        const dense = F * (nb.gate + nb.up + nb.down);
        const read = predicted * (nb.gate + nb.up) + active * nb.down + this.predictorBytes[l]!;
        this.stats.record(l, active, gateActive, read, dense, true, true, { predicted, predictorBytes: this.predictorBytes[l]! });
      }
    }
  }
}
