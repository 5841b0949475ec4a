import { RelufyError } from '../errors.js';
import { GGMLType, type Tensor } from '../formats/quant/types.js';
import type { KernelSet } from '../kernels/types.js';
import { dequantizeRows } from '../kernels/ref/dequant.js';
import type { ModelConfig } from './config.js';
import type { InferenceSession } from './engine-types.js';
import type { LoadedModel } from './types.js';

/** Per-layer weights of one transformer block (GGUF names in comments). */
interface LayerWeights {
  attn_norm: Float32Array; // blk.N.attn_norm (C)
  attn_q: Tensor; // (H*D, C)
  attn_k: Tensor; // (KVH*D, C)
  attn_v: Tensor; // (KVH*D, C)
  attn_output: Tensor; // (C, H*D)
  ffn_norm: Float32Array; // (C)
  ffn_gate: Tensor; // (F, C)
  ffn_up: Tensor; // (F, C)
  ffn_down: Tensor; // (C, F)
  ffn_down_t?: Tensor; // (F, C): PowerInfer's stored transposed down, when the file has no ffn_down
}

/** Weights arranged for the forward pass; norms dequantized to float32 once. */
export interface ForwardWeights {
  token_embd: Tensor; // (V, C)
  layers: LayerWeights[];
  output_norm: Float32Array; // (C)
  output: Tensor; // (V, C); token_embd when tied
}

/**
 * Observes each layer's FFN activations h = glu(gate, up) and the gate projection, both (T, F), and
 * the FFN input (T, C): the residual stream after attention, before `ffn_norm` (PowerInfer's
 * predictor input `ffn_inp`, shared/docs/powerinfer-and-gguf.md 1.2). Used for sparsity telemetry,
 * profiling and predictor training. On sparse paths h is 0 for skipped neurons.
 */
export type FfnObserver = (layer: number, h: Float32Array, T: number, gate: Float32Array, input: Float32Array) => void;

/**
 * Replaces a layer's FFN block (sparse execution, `src/sparse`): out (T, C) = ffn_down(glu(ffn_gate(n),
 * ffn_up(n))) with n = ffn_norm(input); `input` (T, C) is the residual before `ffn_norm` (the
 * predictor's input). Fills h and gate (T, F) when given.
 */
export interface FfnExecutor {
  run(layer: number, out: Float32Array, n: Float32Array, T: number, h?: Float32Array, gate?: Float32Array, input?: Float32Array): void;
}

/**
 * Arranges a model's tensors for the forward pass. A PowerInfer file stores the down projection only
 * as `blk.N.ffn_down_t.weight` (F, C) (shared/docs/powerinfer-and-gguf.md 1.4); the reference path
 * then builds the (C, F) `ffn_down` it multiplies with by exact dequantization and transposition:
 * the values are exactly the stored ones, held as F32 (4 bytes per weight, whatever the stored type).
 * @throws RelufyError naming the file and a missing tensor.
 */
export function arrangeWeights(model: LoadedModel): ForwardWeights {
  const { config: c, tensors } = model;
  const get = (name: string): Tensor => {
    const t = tensors.get(name);
    if (!t) throw new RelufyError(`${model.path}: missing tensor ${name}`);
    return t;
  };
  const vec = (name: string): Float32Array => dequantizeRows(get(name), 0, 1);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const b = `blk.${l}.`;
    const downT = tensors.get(b + 'ffn_down_t.weight');
    let down = tensors.get(b + 'ffn_down.weight');
    if (!down) {
      if (!downT) throw new RelufyError(`${model.path}: ${b}ffn_down.weight is missing (and there is no PowerInfer ${b}ffn_down_t.weight)`);
      down = transposeToF32(downT, b + 'ffn_down.weight');
    }
    layers.push({
      attn_norm: vec(b + 'attn_norm.weight'),
      attn_q: get(b + 'attn_q.weight'),
      attn_k: get(b + 'attn_k.weight'),
      attn_v: get(b + 'attn_v.weight'),
      attn_output: get(b + 'attn_output.weight'),
      ffn_norm: vec(b + 'ffn_norm.weight'),
      ffn_gate: get(b + 'ffn_gate.weight'),
      ffn_up: get(b + 'ffn_up.weight'),
      ffn_down: down,
      ...(downT && !tensors.has(b + 'ffn_down.weight') ? { ffn_down_t: downT } : {}),
    });
  }
  const token_embd = get('token_embd.weight');
  return {
    token_embd,
    layers,
    output_norm: vec('output_norm.weight'),
    output: c.tie_word_embeddings ? tensors.get('output.weight') ?? token_embd : get('output.weight'),
  };
}

/** A 2-D tensor (R, K) of any decodable type as an F32 tensor (K, R) named `name`: exact values, transposed. */
function transposeToF32(t: Tensor, name: string): Tensor {
  const [R, K] = [t.shape[0]!, t.shape[1]!];
  const v = dequantizeRows(t, 0, R);
  const out = new Float32Array(R * K);
  for (let r = 0; r < R; r++) for (let k = 0; k < K; k++) out[k * R + r] = v[r * K + k]!;
  return { name, type: GGMLType.F32, shape: [K, R], data: new Uint8Array(out.buffer) };
}

/**
 * One sequence on the reference forward pass (llama2.c `forward`, batched over T tokens for prefill):
 *   x = token_embd[tokens]
 *   per layer: x += attn_output(attention(rope(q(n)), rope(k(n)), v(n))), n = rmsnorm(x, attn_norm)
 *              x += ffn_down(glu(ffn_gate(n), ffn_up(n))),                n = rmsnorm(x, ffn_norm)
 *   logits = output(rmsnorm(x, output_norm))
 * KV cache: per layer (capacity, KVH*D) float32 for keys (after RoPE) and values.
 */
export class KernelSession implements InferenceSession {
  private pos = 0;
  readonly capacity: number;
  private readonly kCache: Float32Array[];
  private readonly vCache: Float32Array[];

  constructor(
    private readonly config: ModelConfig,
    private readonly w: ForwardWeights,
    private readonly k: KernelSet,
    capacity: number,
    private readonly observer?: FfnObserver,
    private readonly ffn?: FfnExecutor,
  ) {
    this.capacity = capacity;
    const kvDim = config.num_key_value_heads * config.head_dim;
    this.kCache = [];
    this.vCache = [];
    for (let l = 0; l < config.num_hidden_layers; l++) {
      this.kCache.push(new Float32Array(capacity * kvDim));
      this.vCache.push(new Float32Array(capacity * kvDim));
    }
  }

  get length(): number {
    return this.pos;
  }

  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.pos) throw new RelufyError(`truncate: ${n} is outside 0..${this.pos}`);
    this.pos = n;
  }

  reset(): void {
    this.pos = 0;
  }

  forward(tokens: number[], options: { allLogits?: boolean } = {}): Float32Array {
    const c = this.config;
    const T = tokens.length;
    if (T === 0) throw new RelufyError('forward: no tokens');
    if (this.pos + T > this.capacity)
      throw new RelufyError(`context full: ${this.pos} + ${T} tokens exceed the context size of ${this.capacity}`);
    const V = c.vocab_size;
    for (const t of tokens) if (!Number.isInteger(t) || t < 0 || t >= V) throw new RelufyError(`token id ${t} is outside the vocabulary (0..${V - 1})`);

    const C = c.hidden_size;
    const F = c.intermediate_size;
    const H = c.num_attention_heads;
    const KVH = c.num_key_value_heads;
    const D = c.head_dim;
    const qDim = H * D;
    const kvDim = KVH * D;
    const k = this.k;
    const pos0 = this.pos;

    const x = new Float32Array(T * C);
    for (let t = 0; t < T; t++) x.set(dequantizeRows(this.w.token_embd, tokens[t]!, 1), t * C);
    const n = new Float32Array(T * C);
    const q = new Float32Array(T * qDim);
    const kk = new Float32Array(T * kvDim);
    const vv = new Float32Array(T * kvDim);
    const att = new Float32Array(T * qDim);
    const o = new Float32Array(T * C);
    const gate = new Float32Array(T * F);
    const up = new Float32Array(T * F);
    const h = new Float32Array(T * F);

    for (let l = 0; l < c.num_hidden_layers; l++) {
      const L = this.w.layers[l]!;
      k.rmsnorm(n, x, L.attn_norm, T, C, c.rms_norm_eps);
      k.matmul(q, n, L.attn_q, T);
      k.matmul(kk, n, L.attn_k, T);
      k.matmul(vv, n, L.attn_v, T);
      k.rope(q, T, H, D, pos0, c.rope_theta);
      k.rope(kk, T, KVH, D, pos0, c.rope_theta);
      this.kCache[l]!.set(kk, pos0 * kvDim);
      this.vCache[l]!.set(vv, pos0 * kvDim);
      k.attention(att, q, this.kCache[l]!, this.vCache[l]!, T, pos0, H, KVH, D, c.sliding_window);
      k.matmul(o, att, L.attn_output, T);
      k.add(x, o, T * C);

      k.rmsnorm(n, x, L.ffn_norm, T, C, c.rms_norm_eps);
      if (this.ffn) {
        this.ffn.run(l, o, n, T, this.observer ? h : undefined, this.observer ? gate : undefined, x);
        if (this.observer) this.observer(l, h, T, gate, x);
      } else {
        k.matmul(gate, n, L.ffn_gate, T);
        k.matmul(up, n, L.ffn_up, T);
        k.glu(h, gate, up, T * F, c.ffn_activation);
        if (this.observer) this.observer(l, h, T, gate, x);
        k.matmul(o, h, L.ffn_down, T);
      }
      k.add(x, o, T * C);
    }
    this.pos += T;

    const rows = options.allLogits ? T : 1;
    const last = x.subarray((T - rows) * C);
    const nl = n.subarray(0, rows * C);
    k.rmsnorm(nl, last, this.w.output_norm, rows, C, c.rms_norm_eps);
    const logits = new Float32Array(rows * V);
    k.matmul(logits, nl, this.w.output, rows);
    return logits;
  }
}
