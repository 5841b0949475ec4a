import { quantize } from '../../formats/quant/index.js';
import { GGMLType } from '../../formats/quant/types.js';
import { Rng } from '../../rng.js';
import { PackedType } from './layout.js';
import type { LayerPlan, Shard, WasmEngine } from './engine.js';
import type { TensorInfo } from './source.js';
import { recordDenseToken } from '../../sparse/stats.js';

/**
 * Decode-step sparse FFN of the WASM engine (one token, T = 1) over a layer's neuron bundles
 * (bundles.ts, assembly/sparse.ts `ffn_bundles`). Modes:
 * - lossless (ReLU-family): gate densely; if at most `crossover` x F neurons have gate > 0, one fused
 *   pass over their bundles (up row, glu, down column when h != 0); else up densely, and if at most
 *   `crossover` x F have h != 0, the down pass over their bundles, else the dense down product.
 *   Equal to the dense FFN up to summation order.
 * - predictor (PowerInfer, shared/docs/powerinfer-and-gguf.md 1.2 and 1.5): score = fc2 · relu(fc1 · x)
 *   on the FFN input x (residual before ffn_norm); neurons with score >= threshold are computed
 *   (gate; for ReLU-family FFNs up only when gate > 0, down only when h != 0), all others skipped.
 *   Above `crossover` x F predicted neurons the layer runs gate and up densely for that token, zeroes h
 *   outside the predicted set and runs the dense down product (same result, fewer dispatches).
 * Results are the same for every thread count (fixed partial outputs, assembly/sparse.ts).
 */

/** Benchmark-only sparsity: see WasmEngineOptions.synthetic. */
export interface SyntheticSparsity {
  /** Fraction of the F neurons drawn active per token and layer, in (0, 1]. */
  active: number;
  /** Rank of seeded random predictors run in predictor mode (their decision is replaced by the draw). */
  predictorRank?: number;
  seed?: number;
}

const MODE_GATE = 0;
const MODE_UP = 1;
const MODE_DOWN = 2;

const quant = (t: PackedType): boolean => t !== PackedType.F32;

/** A tensor that exists only as a seeded generator (synthetic predictors). */
export interface GeneratedTensor {
  info: TensorInfo;
  read: (r0: number, n: number, dst: Uint8Array) => void;
}

/**
 * Seeded random predictor weights of rank R for layer l, in the model's FFN weight type (Q8_0 / Q4_0
 * when the rank allows, else F32), as PowerInfer stores predictors beside quantized weights:
 * fc1 (R, C), fc2 (F, R), entries uniform in +-1/sqrt(fan_in).
 */
export function syntheticPredictor(l: number, C: number, F: number, R: number, ffnType: GGMLType, seed: number): { fc1: GeneratedTensor; fc2: GeneratedTensor } {
  const type = (ffnType === GGMLType.Q8_0 || ffnType === GGMLType.Q4_0) && R % 32 === 0 && C % 32 === 0 ? ffnType : GGMLType.F32;
  const make = (name: string, O: number, K: number, salt: number): GeneratedTensor => ({
    info: { name, type, shape: [O, K] },
    read: (r0, n, dst) => {
      const rng = new Rng((seed * 1000003 + l * 7919 + salt * 104729 + r0) >>> 0);
      const a = 1 / Math.sqrt(K);
      const v = new Float32Array(n * K);
      for (let i = 0; i < v.length; i++) v[i] = (rng.next() * 2 - 1) * a;
      dst.set(type === GGMLType.F32 ? new Uint8Array(v.buffer) : quantize(v, [n, K], type).data);
    },
  });
  return { fc1: make(`blk.${l}.fc1.weight`, R, C, 1), fc2: make(`blk.${l}.fc2.weight`, F, R, 2) };
}

/** Per-engine state of synthetic draws (a permutation reused across tokens). */
const draws = new WeakMap<WasmEngine, { rng: Rng; perm: Int32Array }>();

/** Writes a seeded random ascending set of round(active x F) neurons into idx; returns its size. */
function drawActive(e: WasmEngine, idx: Int32Array, F: number): number {
  let d = draws.get(e);
  if (!d) {
    d = { rng: new Rng(e.synthetic!.seed ?? 1), perm: Int32Array.from({ length: F }, (_, i) => i) };
    draws.set(e, d);
  }
  const k = Math.max(1, Math.round(e.synthetic!.active * F));
  const p = d.perm;
  for (let j = 0; j < k; j++) {
    const r = j + Math.floor(d.rng.next() * (F - j));
    const t = p[j]!;
    p[j] = p[r]!;
    p[r] = t;
  }
  const chosen = p.subarray(0, k).slice().sort();
  idx.set(chosen);
  return k;
}

/** Runs ffn_bundles over idx[0..n) and adds the result into x (one token). */
function runBundles(e: WasmEngine, L: LayerPlan, s: Shard, kind: number, n: number, mode: number, force: boolean, h = s.buf.h, x = s.buf.x): void {
  const { buf } = s;
  e.pool.run(L.mem, 'ffn_bundles', [L.bundles!.desc, buf.n, buf.nq, buf.nx16, buf.nd, buf.ns, buf.idx, n, kind, mode, force ? 1 : 0, buf.g, h, buf.parts]);
  s.ex.add_partials(x, buf.parts, e.config.hidden_size);
}

/**
 * x += ffn_down(h) for T tokens when the layer has no dense down matrix (PowerInfer files with only
 * ffn_down_t): every neuron through the bundles' down parts, token by token.
 */
export function bundleDown(e: WasmEngine, L: LayerPlan, s: Shard, T: number): void {
  const F = e.config.intermediate_size, C = e.config.hidden_size;
  const idx = s.heap.i32(s.buf.idx, F);
  for (let i = 0; i < F; i++) idx[i] = i;
  for (let t = 0; t < T; t++) runBundles(e, L, s, 0, F, MODE_DOWN, false, s.buf.h + t * F * 4, s.buf.x + t * C * 4);
}

/** Predictor scores (T, F) into buf.score: fc2 · relu(fc1 · x) on the FFN input buf.x (T, C). */
function runPredictor(e: WasmEngine, L: LayerPlan, s: Shard, T: number): void {
  const C = e.config.hidden_size;
  const { buf, ex } = s;
  const P = L.pred!;
  const R = P.fc1.O;
  if (quant(P.fc1.type)) ex.quantize_q8(buf.x, buf.pxq, buf.pxd, buf.pxs, (T * C) / 32, 0, 0, 0, 1);
  e.pool.run(L.mem, 'matmul_multi', [P.descs, 1, buf.x, buf.pxq, buf.pxd, buf.pxs, T, 0, 0]);
  ex.relu_inplace(buf.pr, T * R);
  if (quant(P.fc2.type)) ex.quantize_q8(buf.pr, buf.prq, buf.prd, buf.prs, (T * R) / 32, 0, 0, 0, 1);
  e.pool.run(L.mem, 'matmul_multi', [P.descs + 32, 1, buf.pr, buf.prq, buf.prd, buf.prs, T, 0, 0]);
}

/** Zeroes h[off + i] for every neuron i outside the listed slots idx[0..n) (slot k holds neuron ord[k]). */
function maskToList(h: Float32Array, off: number, idx: Int32Array, n: number, ord: Int32Array): void {
  const keep = new Uint8Array(ord.length);
  for (let j = 0; j < n; j++) keep[ord[idx[j]!]!] = 1;
  for (let i = 0; i < keep.length; i++) if (!keep[i]) h[off + i] = 0;
}

/**
 * x += ffn(n) for one decode token in the engine's sparse mode (see the file comment). `gateUp` /
 * `down` are the engine's dense gate+up and down products for this layer (dense fallbacks).
 */
export function sparseFfnStep(e: WasmEngine, l: number, L: LayerPlan, s: Shard, kind: number, gateUp: () => void, down: () => void): void {
  const F = e.config.intermediate_size, C = e.config.hidden_size;
  const { buf, heap, ex } = s;
  const m = L.mem;
  const pool = e.pool;
  const lay = L.bundles!.layout;
  const limit = e.crossover * F;
  const force = e.synthetic !== undefined;
  const idx = heap.i32(buf.idx, F);
  const nb = L.nb;
  const st = e.ffnStats;
  const ord = L.bundles!.order; // slot -> neuron; lists hold slots in ascending (memory) order
  if (quant(lay.gateType) || quant(lay.upType)) ex.extend_i8(buf.nq, buf.nx16, C);

  if (e.sparse === 'predictor') {
    const P = L.pred!;
    runPredictor(e, L, s, 1);
    let n = 0;
    if (force) n = drawActive(e, idx, F);
    else {
      const score = heap.f32(buf.score, F);
      const thr = e.predThreshold;
      for (let k = 0; k < F; k++) if (score[ord[k]!]! >= thr) idx[n++] = k;
    }
    if (n > limit) {
      // too many predicted neurons for sparse to pay: dense gate and up, h masked to the predicted set, dense down
      gateUp();
      ex.glu(buf.h, buf.g, buf.u, F, kind);
      const h = heap.f32(buf.h, F);
      maskToList(h, 0, idx, n, ord);
      down();
      if (st) recordDenseToken(st, l, heap.f32(buf.g, F), h, 0, F, nb, { predicted: n, predictorBytes: P.bytes });
      return;
    }
    const h = heap.f32(buf.h, F);
    const g = heap.f32(buf.g, F);
    runBundles(e, L, s, kind, n, MODE_GATE, force);
    // quantized bundles read the gate and up rows of four neurons in one pass (assembly/sparse.ts): every up row is read
    const fusedUp = lay.gateType === lay.upType && quant(lay.gateType);
    if (st) {
      let upRows = 0, active = 0;
      for (let j = 0; j < n; j++) {
        const i = ord[idx[j]!]!;
        if (force || fusedUp || kind === 0 || g[i]! > 0) upRows++;
        if (force || h[i] !== 0) active++;
      }
      st.record(l, active, upRows, P.bytes + n * nb.gate + upRows * nb.up + active * nb.down, F * (nb.gate + nb.up + nb.down), true, true,
        { predicted: n, predictorBytes: P.bytes });
    }
    return;
  }

  // lossless
  pool.run(m, 'matmul_multi', [L.descs + 160, 1, buf.n, buf.nq, buf.nd, buf.ns, 1, 0, 0]);
  const g = heap.f32(buf.g, F);
  let gateActive = 0;
  if (force) gateActive = drawActive(e, idx, F);
  else for (let k = 0; k < F; k++) if (g[ord[k]!]! > 0) idx[gateActive++] = k;
  const sparseUp = gateActive <= limit;
  let active = 0;
  let sparseDown: boolean;
  if (sparseUp) {
    runBundles(e, L, s, kind, gateActive, MODE_UP, force);
    sparseDown = true;
    const h = heap.f32(buf.h, F);
    for (let j = 0; j < gateActive; j++) if (force || h[ord[idx[j]!]!] !== 0) active++;
  } else {
    pool.run(m, 'matmul_multi', [L.descs + 192, 1, buf.n, buf.nq, buf.nd, buf.ns, 1, 0, 0]);
    ex.glu(buf.h, buf.g, buf.u, F, kind);
    const h = heap.f32(buf.h, F);
    for (let k = 0; k < F; k++) if (h[ord[k]!] !== 0) idx[active++] = k;
    sparseDown = active <= limit || !L.down;
    if (sparseDown) runBundles(e, L, s, kind, active, MODE_DOWN, force);
    else down();
  }
  if (st) {
    const read = F * nb.gate + (sparseUp ? gateActive : F) * nb.up + (sparseDown ? active : F) * nb.down;
    st.record(l, active, gateActive, read, F * (nb.gate + nb.up + nb.down), sparseUp, sparseDown);
  }
}

/**
 * Predictor mode for a batch of T tokens (prefill, perplexity): gate and up densely, h zeroed outside
 * each token's predicted set (score >= threshold; synthetic: a drawn set), then the dense down product
 * (or the bundles for ffn_down_t-only files). Same result as T decode steps. `gateUp` / `down` run the
 * engine's batch matrix products (prefill kernels) for this layer.
 */
export function predictorBatch(e: WasmEngine, l: number, L: LayerPlan, s: Shard, kind: number, T: number, gateUp: () => void, down: () => void): void {
  const F = e.config.intermediate_size;
  const { buf, heap, ex } = s;
  const P = L.pred!;
  runPredictor(e, L, s, T);
  gateUp();
  ex.glu(buf.h, buf.g, buf.u, T * F, kind);
  const h = heap.f32(buf.h, T * F);
  const score = heap.f32(buf.score, T * F);
  const g = heap.f32(buf.g, T * F);
  const idx = heap.i32(buf.idx, F);
  const st = e.ffnStats;
  const nb = L.nb;
  for (let t = 0; t < T; t++) {
    const o = t * F;
    let predicted = 0;
    if (e.synthetic) {
      predicted = drawActive(e, idx, F);
      maskToList(h, o, idx, predicted, L.bundles!.order);
    } else {
      const thr = e.predThreshold;
      for (let i = 0; i < F; i++) {
        if (score[o + i]! >= thr) predicted++;
        else h[o + i] = 0;
      }
    }
    if (st) recordDenseToken(st, l, g, h, o, F, nb, { predicted, predictorBytes: P.bytes });
  }
  down();
}
