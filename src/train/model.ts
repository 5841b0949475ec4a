import { RelufyError } from '../errors.js';
import { dequantize } from '../formats/quant/index.js';
import { GGMLType, type Tensor } from '../formats/quant/types.js';
import type { ModelConfig } from '../model/config.js';
import type { LoadedModel } from '../model/types.js';
import { expectedTensorShapes } from '../model/weights.js';
import {
  attentionBackward, attentionForward, crossentropyBackward, crossentropyForward, encoderBackward, encoderForward,
  gluBackward, gluForward, klBackward, klForward, softmaxForward, linearBackward, linearForward, residualForward, rmsnormBackward, rmsnormForward,
  ropeBackward, ropeForward, ropeTable,
} from './ops/index.js';
import type { TrainKernel } from './ops/gemm.js';

/**
 * Where each named parameter lives in the one flat float32 parameter array (llm.c
 * `malloc_and_point_parameters`): GGUF names, PyTorch-order shapes, in `expectedTensorShapes` order.
 * A tied model has no `output.weight`; the head reads (and its gradient goes to) `token_embd.weight`.
 */
export interface ParamLayout {
  entries: { name: string; shape: number[]; offset: number; size: number }[];
  size: number;
}

export function paramLayout(config: ModelConfig): ParamLayout {
  const entries: ParamLayout['entries'] = [];
  let offset = 0;
  for (const [name, shape] of expectedTensorShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    entries.push({ name, shape, offset, size });
    offset += size;
  }
  return { entries, size: offset };
}

/** The model's weights as one float32 array in `paramLayout` order (any stored type is dequantized). */
export function paramsFromModel(model: LoadedModel): Float32Array {
  const layout = paramLayout(model.config);
  const params = new Float32Array(layout.size);
  for (const e of layout.entries) {
    const t = model.tensors.get(e.name);
    if (!t) throw new RelufyError(`${model.path}: missing tensor ${e.name}`);
    const v = dequantize(t);
    if (v.length !== e.size) throw new RelufyError(`${model.path}: tensor ${e.name} has ${v.length} values, expected ${e.size}`);
    params.set(v, e.offset);
  }
  return params;
}

/** F32 tensors (copies) of a flat parameter array, GGUF-named, for saving. */
export function tensorsFromParams(config: ModelConfig, params: Float32Array): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const e of paramLayout(config).entries) {
    const v = params.slice(e.offset, e.offset + e.size);
    out.set(e.name, { name: e.name, type: GGMLType.F32, shape: e.shape, data: new Uint8Array(v.buffer) });
  }
  return out;
}

/** Named views into a flat parameter (or gradient) array. */
interface LayerParams {
  attn_norm: Float32Array; // (C)
  attn_q: Float32Array; // (NH*D, C)
  attn_k: Float32Array; // (KVH*D, C)
  attn_v: Float32Array; // (KVH*D, C)
  attn_output: Float32Array; // (C, NH*D)
  ffn_norm: Float32Array; // (C)
  ffn_gate: Float32Array; // (F, C)
  ffn_up: Float32Array; // (F, C)
  ffn_down: Float32Array; // (C, F)
}
interface ParamViews {
  token_embd: Float32Array; // (V, C)
  layers: LayerParams[];
  output_norm: Float32Array; // (C)
  output: Float32Array; // (V, C); token_embd when tied
}

function views(config: ModelConfig, flat: Float32Array): ParamViews {
  const layout = paramLayout(config);
  if (flat.length !== layout.size) throw new RelufyError(`parameter array has ${flat.length} values, the model needs ${layout.size}`);
  const m = new Map(layout.entries.map((e) => [e.name, flat.subarray(e.offset, e.offset + e.size)]));
  const get = (n: string): Float32Array => m.get(n)!;
  const layers: LayerParams[] = [];
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const b = `blk.${l}.`;
    layers.push({
      attn_norm: get(b + 'attn_norm.weight'), attn_q: get(b + 'attn_q.weight'), attn_k: get(b + 'attn_k.weight'),
      attn_v: get(b + 'attn_v.weight'), attn_output: get(b + 'attn_output.weight'), ffn_norm: get(b + 'ffn_norm.weight'),
      ffn_gate: get(b + 'ffn_gate.weight'), ffn_up: get(b + 'ffn_up.weight'), ffn_down: get(b + 'ffn_down.weight'),
    });
  }
  const token_embd = get('token_embd.weight');
  return { token_embd, layers, output_norm: get('output_norm.weight'), output: config.tie_word_embeddings ? token_embd : get('output.weight') };
}

/** Saved activations of one layer for the backward pass (N = B*T). */
interface LayerActs {
  resid: Float32Array; // (N,C) input of the layer
  ln1: Float32Array; // (N,C)
  rstd1: Float32Array; // (N)
  q: Float32Array; // (N,NH*D) after RoPE
  k: Float32Array; // (N,KVH*D) after RoPE
  v: Float32Array; // (N,KVH*D)
  att: Float32Array; // (B,NH,T,T) attention probabilities
  atty: Float32Array; // (N,NH*D) attention output before attn_output
  resid2: Float32Array; // (N,C) after the attention residual
  ln2: Float32Array; // (N,C)
  rstd2: Float32Array; // (N)
  gate: Float32Array; // (N,F)
  up: Float32Array; // (N,F)
  h: Float32Array; // (N,F) glu(gate, up)
}

/**
 * Training forward/backward of a Llama / Mistral / Bamboo block model over micro-batches of B
 * sequences of T tokens (llm.c `gpt2_forward` / `gpt2_backward`), fp32 throughout.
 * The model reads `params` and accumulates into `grads` (both flat, `paramLayout` order); the caller
 * owns both (they may live in SharedArrayBuffers shared with other threads).
 *
 * With a `kernel`, every activation and gradient buffer is allocated in its WebAssembly memory and
 * the matrix products run in its SIMD GEMM — fully so when params and grads live there too
 * (`kernel.f32`); products whose arrays are plain (e.g. params in a SharedArrayBuffer) use the JS
 * reference. Without a kernel everything is plain JS.
 */
export class TrainModel {
  readonly config: ModelConfig;
  readonly B: number;
  readonly T: number;
  private readonly p: ParamViews;
  private readonly g: ParamViews;
  private readonly acts: LayerActs[] = [];
  private readonly cos: Float32Array;
  private readonly sin: Float32Array;
  // final norm, head and loss
  private readonly residF: Float32Array; // (N,C)
  private readonly lnf: Float32Array; // (N,C)
  private readonly rstdf: Float32Array; // (N)
  readonly logits: Float32Array; // (N,V)
  private readonly probs: Float32Array; // (N,V)
  readonly losses: Float32Array; // (N)
  // scratch
  private readonly qpre: Float32Array;
  private readonly kpre: Float32Array;
  private readonly projC: Float32Array;
  private inputs: Int32Array = new Int32Array(0);
  private targets: Int32Array = new Int32Array(0);
  /** Per layer: FFN entries with glu(gate, up) == 0 seen by `forward` since `resetStats` (of `ffnSeen`). */
  readonly ffnZeros: Float64Array;
  ffnSeen = 0;
  private readonly kernel: TrainKernel | null;
  /** Backward-pass buffers, allocated by the first `backward` (a teacher never needs them). */
  private bw: BackwardBuffers | null = null;

  constructor(config: ModelConfig, params: Float32Array, grads: Float32Array, B: number, T: number, kernel: TrainKernel | null = null) {
    this.config = config;
    this.kernel = kernel;
    const f32 = (n: number): Float32Array => (kernel ? kernel.f32(n) : new Float32Array(n));
    this.B = B;
    this.T = T;
    this.p = views(config, params);
    this.g = views(config, grads);
    const N = B * T;
    const C = config.hidden_size, F = config.intermediate_size, V = config.vocab_size;
    const NH = config.num_attention_heads, KVH = config.num_key_value_heads, D = config.head_dim;
    for (let l = 0; l < config.num_hidden_layers; l++) {
      this.acts.push({
        resid: f32(N * C), ln1: f32(N * C), rstd1: f32(N),
        q: f32(N * NH * D), k: f32(N * KVH * D), v: f32(N * KVH * D),
        att: f32(B * NH * T * T), atty: f32(N * NH * D),
        resid2: f32(N * C), ln2: f32(N * C), rstd2: f32(N),
        gate: f32(N * F), up: f32(N * F), h: f32(N * F),
      });
    }
    ({ cos: this.cos, sin: this.sin } = ropeTable(T, D, config.rope_theta));
    this.residF = f32(N * C);
    this.lnf = f32(N * C);
    this.rstdf = f32(N);
    this.logits = f32(N * V);
    this.probs = f32(N * V);
    this.losses = f32(N);
    this.qpre = f32(N * NH * D);
    this.kpre = f32(N * KVH * D);
    this.projC = f32(N * C);
    this.ffnZeros = new Float64Array(config.num_hidden_layers);
  }

  resetStats(): void {
    this.ffnZeros.fill(0);
    this.ffnSeen = 0;
  }

  /**
   * inputs (B,T) token ids; targets (B,T) next-token ids, < 0 = no loss at that position, or null
   * (logits only). Returns the summed loss over counted positions and their count.
   */
  forward(inputs: Int32Array, targets: Int32Array | null): { lossSum: number; count: number } {
    const c = this.config, B = this.B, T = this.T, N = B * T;
    const C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
    const NH = c.num_attention_heads, KVH = c.num_key_value_heads, D = c.head_dim;
    if (inputs.length !== N || (targets && targets.length !== N)) throw new RelufyError(`forward: expected ${N} = B*T tokens, got ${inputs.length}`);
    for (let i = 0; i < N; i++) if (!(inputs[i]! >= 0 && inputs[i]! < V)) throw new RelufyError(`token id ${inputs[i]} is outside the vocabulary (0..${V - 1})`);
    this.inputs = inputs;
    const L = c.num_hidden_layers;
    encoderForward(this.acts[0]!.resid, inputs, this.p.token_embd, B, T, C);
    for (let l = 0; l < L; l++) {
      const a = this.acts[l]!, w = this.p.layers[l]!;
      rmsnormForward(a.ln1, a.rstd1, a.resid, w.attn_norm, N, C, c.rms_norm_eps);
      linearForward(this.qpre, a.ln1, w.attn_q, N, C, NH * D, this.kernel);
      linearForward(this.kpre, a.ln1, w.attn_k, N, C, KVH * D, this.kernel);
      linearForward(a.v, a.ln1, w.attn_v, N, C, KVH * D, this.kernel);
      ropeForward(a.q, this.qpre, this.cos, this.sin, B, T, NH, D);
      ropeForward(a.k, this.kpre, this.cos, this.sin, B, T, KVH, D);
      attentionForward(a.atty, a.att, a.q, a.k, a.v, B, T, NH, KVH, D, c.sliding_window, this.kernel);
      linearForward(this.projC, a.atty, w.attn_output, N, NH * D, C, this.kernel);
      residualForward(a.resid2, a.resid, this.projC, N * C);
      rmsnormForward(a.ln2, a.rstd2, a.resid2, w.ffn_norm, N, C, c.rms_norm_eps);
      linearForward(a.gate, a.ln2, w.ffn_gate, N, C, F, this.kernel);
      linearForward(a.up, a.ln2, w.ffn_up, N, C, F, this.kernel);
      gluForward(a.h, a.gate, a.up, N * F, c.ffn_activation);
      let zeros = 0;
      for (let i = 0; i < N * F; i++) if (a.h[i] === 0) zeros++;
      this.ffnZeros[l] += zeros;
      linearForward(this.projC, a.h, w.ffn_down, N, F, C, this.kernel);
      residualForward(l + 1 < L ? this.acts[l + 1]!.resid : this.residF, a.resid2, this.projC, N * C);
    }
    this.ffnSeen += N * F;
    rmsnormForward(this.lnf, this.rstdf, this.residF, this.p.output_norm, N, C, c.rms_norm_eps);
    linearForward(this.logits, this.lnf, this.p.output, N, C, V, this.kernel);
    if (!targets) return { lossSum: 0, count: 0 };
    this.targets = targets;
    crossentropyForward(this.losses, this.probs, this.logits, targets, N, V, this.kernel);
    let lossSum = 0, count = 0;
    for (let i = 0; i < N; i++) {
      if (targets[i]! >= 0) {
        lossSum += this.losses[i]!;
        count++;
      }
    }
    return { lossSum, count };
  }

  /**
   * This model's next-token distribution (B*T, V) for the last `forward`: softmax of `logits`, in
   * the model's own probs buffer (valid until the next forward). A distillation teacher's q.
   */
  distribution(): Float32Array {
    softmaxForward(this.probs, this.logits, this.B * this.T, this.config.vocab_size, this.kernel);
    return this.probs;
  }

  /**
   * KL(teacher || this model) per position of the last `forward` (0 where the target is ignored),
   * summed over counted positions. teacherProbs (B*T, V): the teacher's softmax on the same inputs.
   */
  distillLoss(teacherProbs: Float32Array): number {
    const N = this.B * this.T, V = this.config.vocab_size;
    const kl = new Float32Array(N);
    klForward(kl, this.logits, teacherProbs, this.targets, N, V, this.kernel);
    let s = 0;
    for (let i = 0; i < N; i++) s += kl[i]!;
    return s;
  }

  /**
   * Accumulates d(objective)/d(params) into grads, for the last `forward` with targets, where
   *   objective = lossScale * sum_positions [ (1 - a) CE + a KL(q || p) + l1 * sum_layers mean_f |h_f| ]
   * (lossScale = 1 / tokens of the whole optimizer step gives the step's mean loss). The L1 term is
   * ProSparse's activation penalty, on the FFN activation h = glu(gate, up) of every layer. The KL
   * term (weight a = teacher.alpha, 0 without a teacher) distills a teacher's next-token
   * distribution q (teacher.probs, (B*T, V)) into the model's p, as in ReLU-fication by distillation
   * from the dense model (Hinton et al. 2015, temperature 1).
   */
  backward(lossScale: number, l1 = 0, teacher?: { probs: Float32Array; alpha: number }): void {
    const c = this.config, B = this.B, T = this.T, N = B * T;
    const C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
    const NH = c.num_attention_heads, KVH = c.num_key_value_heads, D = c.head_dim;
    const L = c.num_hidden_layers;
    const alpha = teacher ? teacher.alpha : 0;
    const bw = this.backwardBuffers();
    const { dlogits, dln, dresid, dh, dgate, dup, datty, dq, dqpre, dk, dkpre, dv } = bw;
    dlogits.fill(0);
    dln.fill(0);
    dresid.fill(0);
    const dlosses = new Float32Array(N).fill(lossScale * (1 - alpha));
    crossentropyBackward(dlogits, dlosses, this.probs, this.targets, N, V);
    if (teacher && alpha !== 0) klBackward(dlogits, new Float32Array(N).fill(lossScale * alpha), this.probs, teacher.probs, this.targets, N, V);
    linearBackward(dln, this.g.output, dlogits, this.lnf, this.p.output, N, C, V, this.kernel);
    // dresid: gradient of the residual stream. The residual adds pass it through unchanged
    // (residualBackward), so one buffer serves both branches: it is the gradient of a layer's
    // output, then of resid2, then of the layer's input.
    rmsnormBackward(dresid, this.g.output_norm, dln, this.residF, this.p.output_norm, this.rstdf, N, C);
    const l1Grad = (l1 * lossScale) / F;
    for (let l = L - 1; l >= 0; l--) {
      const a = this.acts[l]!, w = this.p.layers[l]!, g = this.g.layers[l]!;
      // FFN branch: resid_out = resid2 + ffn_down(h)
      dh.fill(0);
      linearBackward(dh, g.ffn_down, dresid, a.h, w.ffn_down, N, F, C, this.kernel);
      if (l1Grad !== 0) for (let i = 0; i < N * F; i++) dh[i] += a.h[i]! > 0 ? l1Grad : a.h[i]! < 0 ? -l1Grad : 0;
      dgate.fill(0);
      dup.fill(0);
      gluBackward(dgate, dup, dh, a.gate, a.up, N * F, c.ffn_activation);
      dln.fill(0);
      linearBackward(dln, g.ffn_gate, dgate, a.ln2, w.ffn_gate, N, C, F, this.kernel);
      linearBackward(dln, g.ffn_up, dup, a.ln2, w.ffn_up, N, C, F, this.kernel);
      rmsnormBackward(dresid, g.ffn_norm, dln, a.resid2, w.ffn_norm, a.rstd2, N, C);
      // attention branch: resid2 = resid + attn_output(atty)
      datty.fill(0);
      linearBackward(datty, g.attn_output, dresid, a.atty, w.attn_output, N, NH * D, C, this.kernel);
      dq.fill(0);
      dk.fill(0);
      dv.fill(0);
      attentionBackward(dq, dk, dv, datty, a.att, a.q, a.k, a.v, B, T, NH, KVH, D, c.sliding_window, this.kernel);
      dqpre.fill(0);
      dkpre.fill(0);
      ropeBackward(dqpre, dq, this.cos, this.sin, B, T, NH, D);
      ropeBackward(dkpre, dk, this.cos, this.sin, B, T, KVH, D);
      dln.fill(0);
      linearBackward(dln, g.attn_q, dqpre, a.ln1, w.attn_q, N, C, NH * D, this.kernel);
      linearBackward(dln, g.attn_k, dkpre, a.ln1, w.attn_k, N, C, KVH * D, this.kernel);
      linearBackward(dln, g.attn_v, dv, a.ln1, w.attn_v, N, C, KVH * D, this.kernel);
      rmsnormBackward(dresid, g.attn_norm, dln, a.resid, w.attn_norm, a.rstd1, N, C);
    }
    encoderBackward(this.g.token_embd, dresid, this.inputs, B, T, C);
  }

  private backwardBuffers(): BackwardBuffers {
    if (this.bw) return this.bw;
    const c = this.config, N = this.B * this.T;
    const C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, QD = c.num_attention_heads * c.head_dim, KD = c.num_key_value_heads * c.head_dim;
    const k = this.kernel;
    const f32 = (n: number): Float32Array => (k ? k.f32(n) : new Float32Array(n));
    this.bw = {
      dlogits: f32(N * V), dln: f32(N * C), dresid: f32(N * C), dh: f32(N * F), dgate: f32(N * F), dup: f32(N * F),
      datty: f32(N * QD), dq: f32(N * QD), dqpre: f32(N * QD), dk: f32(N * KD), dkpre: f32(N * KD), dv: f32(N * KD),
    };
    return this.bw;
  }
}

/** Gradients of the activations (N = B*T; QD = NH*D, KD = KVH*D), reused across `backward` calls. */
interface BackwardBuffers {
  dlogits: Float32Array; // (N,V)
  dln: Float32Array; // (N,C) gradient of a norm's output
  dresid: Float32Array; // (N,C) gradient of the residual stream
  dh: Float32Array; // (N,F)
  dgate: Float32Array; // (N,F)
  dup: Float32Array; // (N,F)
  datty: Float32Array; // (N,QD)
  dq: Float32Array; // (N,QD)
  dqpre: Float32Array; // (N,QD)
  dk: Float32Array; // (N,KD)
  dkpre: Float32Array; // (N,KD)
  dv: Float32Array; // (N,KD)
}
