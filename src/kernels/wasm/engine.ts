import { closeSync, openSync, readSync } from 'node:fs';
import { RelufyError, UsageError } from '../../errors.js';
import { typeLayout } from '../../formats/quant/index.js';
import { GGMLType } from '../../formats/quant/types.js';
import type { ModelConfig } from '../../model/config.js';
import type { Engine, InferenceSession } from '../../model/engine-types.js';
import { loadModel } from '../../model/load.js';
import type { LoadedModel } from '../../model/types.js';
import type { Tokenizer } from '../../tokenizer/types.js';
import { checkCrossover, DEFAULT_SPARSE_CROSSOVER, requireReluFamily } from '../../sparse/lossless.js';
import { DEFAULT_PRED_THRESHOLD } from '../../sparse/predictor.js';
import { buildBundles, bundleBytes, planBundles, SPARSE_PARTS, type LayerBundles } from './bundles.js';
import { bundleDown, predictorBatch, sparseFfnStep, syntheticPredictor, type SyntheticSparsity } from './sparse-ffn.js';
import { FfnStats, neuronBytes, recordDenseToken, type NeuronBytes } from '../../sparse/stats.js';
import { MAX_MEMORY_BYTES, WasmHeap } from './heap.js';
import { GLU_CODE, PackedType, prefillScratchStride, quadBytes, writePrefillCtx } from './layout.js';
import { instantiate, loadWasmModule, type VariantChoice, type WasmExports, type WasmVariant } from './module.js';
import { minStagingBytes, packMatrix, packVector, packedSizeOf, packedTypeOf, type PackedMatrix } from './pack.js';
import { writeDesc } from './kernels.js';
import { ThreadPool } from './pool.js';
import { checkFits, planShards, type ShardPlan } from './shard.js';
import { sourceFromGguf, sourceFromModel, type TensorInfo, type TensorSource } from './source.js';

export interface WasmEngineOptions {
  /** Threads incl. the calling one (default: number of cores). */
  threads?: number;
  /** Kernel build: 'auto' (default) = relaxed SIMD when the runtime validates it, else SIMD128. */
  variant?: VariantChoice;
  /** Largest session capacity in tokens; KV cache room is reserved for it (default min(context_length, 4096)). */
  maxContext?: number;
  /** Tokens per prefill chunk (default 64). */
  batch?: number;
  /** Bytes per WebAssembly memory (default and maximum 4 GiB); lower it to force sharding. */
  memoryLimit?: number;
  /** Run a few steps at load so the kernels are compiled by the optimizing tier (default true). */
  warmup?: boolean;
  /** Tokenizer file for models without one. */
  tokenizer?: string;
  /** Bytes assumed available instead of os.freemem() (tests). */
  availableBytes?: number;
  /**
   * FFN execution of decode steps over neuron bundles [ffn_gate row | ffn_up row | ffn_down column]
   * built at load (bundles.ts), in the file's encoding. 'lossless' (ReLU-family models): gate densely,
   * then up and down only for the neurons that can be non-zero. 'predictor' (files with PowerInfer
   * predictors `blk.N.fc1/fc2`): score = fc2 · relu(fc1 · x) on the FFN input, and gate, up and down
   * only for neurons with score >= sparseThreshold. Default 'off' (dense).
   */
  sparse?: 'off' | 'lossless' | 'predictor';
  /** Per layer and token, a pass runs sparsely only while its active fraction is at most this (default 0.4). */
  sparseCrossover?: number;
  /** Predictor mode: score threshold (default: the file's `powerinfer.sparse_threshold`, else 0). */
  sparseThreshold?: number;
  /**
   * Benchmarks only: replace the active set by a seeded random draw of `active` x F neurons per token
   * and layer, computed in full (no sign-based skipping), and, with `predictorRank`, run seeded random
   * predictors of that rank (their cost is real; their decision is replaced by the draw).
   */
  synthetic?: SyntheticSparsity;
  /**
   * Hot-neuron ordering (sparse modes): per layer, the neuron stored in each bundle slot (a permutation
   * of 0..F-1, e.g. `hotNeuronOrder(profile counts)`), so frequently active neurons are contiguous in
   * memory and read in one run. Results are unchanged.
   */
  neuronOrder?: Int32Array[];
  /** Collect per-layer FFN statistics (`ffnStats`); runs the FFN unfused (gate, up, glu, down). */
  stats?: boolean;
}

/** Facts about a loaded WASM engine, for `relufy bench` and logs. */
export interface WasmEngineInfo {
  variant: WasmVariant;
  threads: number;
  memories: number;
  /** Packed weight bytes in wasm memory (with lossless sparsity, including the neuron bundles). */
  weightBytes: number;
  /** Weight bytes one decode step streams (all layer matrices + output head + norms). */
  bytesPerToken: number;
  /** Planned bytes per memory. */
  memoryBytes: number[];
  /** Packed types of the layer matrices, e.g. { Q8_0: 224 }. */
  matrixTypes: Record<string, number>;
}

interface Buffers {
  x: number; n: number; nq: number; nd: number; ns: number;
  qkv: number; att: number; aq: number; ad: number; as: number;
  h: number; hq: number; hd: number; hs: number;
  /** Prefill (batch > 1): token-quad activations (layout.ts quadBytes, assembly/prefill.ts); n16 serves n and att, h16 serves h. 0 otherwise. */
  n16: number; h16: number;
  /** Prefill context (layout.ts writePrefillCtx): work counter, zeroed before each prefill dispatch, and per-thread weight scratch. */
  ctx: number;
  attScratch: number; scratchStride: number;
  logits: number;
  /** Unfused FFN (stats or sparse): gate (B, F), up (B, F), neuron list (F i32), SPARSE_PARTS partial outputs (C); 0 otherwise. */
  g: number; u: number; idx: number; parts: number;
  /** Sparse: FFN input as int16 (nx16, C); per batch row: predictor input quantized (C i8, C/32 f32 x2), hidden (R f32, R i8, R/32 x2), scores (F f32). */
  nx16: number; pxq: number; pxd: number; pxs: number; pr: number; prq: number; prd: number; prs: number; score: number;
}

/** @internal */
export interface Shard {
  heap: WasmHeap;
  ex: WasmExports;
  buf: Buffers;
}

/** A layer's activation predictor, packed (fc1 (R, C) writes buf.pr, fc2 (F, R) writes buf.score). */
export interface PackedPredictor {
  fc1: PackedMatrix;
  fc2: PackedMatrix;
  /** Two matmul descriptors: fc1, fc2. */
  descs: number;
  /** Bytes one prediction streams. */
  bytes: number;
}

/** @internal */
export interface LayerPlan {
  mem: number;
  attnNorm: number;
  ffnNorm: number;
  q: PackedMatrix; k: PackedMatrix; v: PackedMatrix; o: PackedMatrix;
  gate: PackedMatrix; up: PackedMatrix;
  /** Dense down projection; absent for PowerInfer files that carry only ffn_down_t (the bundles serve it). */
  down?: PackedMatrix;
  /**
   * 3 descriptors q, k, v writing into qkv; then o (into x, accumulate); then down (into x, accumulate);
   * with the unfused FFN also gate (into g) and up (into u), adjacent so one dispatch runs both.
   */
  descs: number;
  /** Sparse modes and ffn_down_t files: the layer's neuron bundles. */
  bundles?: LayerBundles;
  /** Predictor mode: the layer's predictor. */
  pred?: PackedPredictor;
  /** FFN weight bytes per neuron as stored in the model file (telemetry). */
  nb: NeuronBytes;
}

const quant = (m: PackedMatrix): boolean => m.type !== PackedType.F32;

/**
 * Loads a model for the WebAssembly engine. GGUF files are streamed tensor by tensor into wasm
 * memory (never held in JS whole); other formats go through `loadModel` first.
 * @throws FormatError for malformed files; RelufyError when the model does not fit (bytes needed and available).
 */
export async function loadWasmEngine(path: string, options: WasmEngineOptions = {}): Promise<WasmEngine> {
  const source = isGguf(path)
    ? sourceFromGguf(path, { tokenizer: options.tokenizer })
    : sourceFromModel(loadModel(path, { tokenizer: options.tokenizer }));
  return WasmEngine.create(source, options);
}

/** The WASM engine over an already loaded model. */
export async function createWasmEngine(model: LoadedModel, options: WasmEngineOptions = {}): Promise<WasmEngine> {
  return WasmEngine.create(sourceFromModel(model), options);
}

function isGguf(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false; // loadModel reports the missing file
  }
  try {
    const b = Buffer.alloc(4);
    readSync(fd, b, 0, 4, 0);
    const magic = b.toString('latin1');
    return magic === 'GGUF' || magic === 'PWRI';
  } finally {
    closeSync(fd);
  }
}

/**
 * Engine on the WebAssembly SIMD kernels: weights repacked into interleaved tiles in one or more
 * shared WebAssembly memories (layers sharded across memories of at most 4 GiB), a decode step
 * running entirely inside wasm memory, and a worker-thread pool splitting each matmul, attention
 * and fused FFN by rows. Per layer: 4 parallel dispatches (qkv, attention, o, gate+up+glu, down)
 * plus small single-thread ops (rmsnorm, RoPE, KV store, activation quantization).
 */
export class WasmEngine implements Engine {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  readonly modelId: string;
  readonly info: WasmEngineInfo;
  /** @internal */ readonly shards: Shard[];
  /** @internal */ readonly layers: LayerPlan[];
  /** @internal */ readonly pool: ThreadPool;
  /** @internal */ readonly embd: PackedMatrix & { mem: number };
  /** @internal */ readonly output: PackedMatrix & { mem: number; norm: number; desc: number };
  /** @internal */ readonly batch: number;
  readonly maxContext: number;
  /** Per-layer FFN telemetry, when created with `stats: true`. */
  readonly ffnStats?: FfnStats;
  /** FFN execution mode of decode steps (see setSparse). */
  sparse: 'off' | 'lossless' | 'predictor';
  /** @internal */ readonly crossover: number;
  /** Predictor score threshold in use (predictor mode). */
  readonly predThreshold: number;
  /** @internal */ readonly synthetic?: SyntheticSparsity;

  private constructor(init: {
    config: ModelConfig; tokenizer: Tokenizer; modelId: string; info: WasmEngineInfo; shards: Shard[]; layers: LayerPlan[];
    pool: ThreadPool; embd: PackedMatrix & { mem: number }; output: PackedMatrix & { mem: number; norm: number; desc: number };
    batch: number; maxContext: number; ffnStats?: FfnStats; sparse: 'off' | 'lossless' | 'predictor'; crossover: number; predThreshold: number;
    synthetic?: SyntheticSparsity;
  }) {
    this.ffnStats = init.ffnStats;
    this.sparse = init.sparse;
    this.crossover = init.crossover;
    this.predThreshold = init.predThreshold;
    this.synthetic = init.synthetic;
    this.config = init.config;
    this.tokenizer = init.tokenizer;
    this.modelId = init.modelId;
    this.info = init.info;
    this.shards = init.shards;
    this.layers = init.layers;
    this.pool = init.pool;
    this.embd = init.embd;
    this.output = init.output;
    this.batch = init.batch;
    this.maxContext = init.maxContext;
  }

  /**
   * Plans the memories, checks the model fits, packs every weight and starts the thread pool.
   * @throws RelufyError (does not fit / no tokenizer / unsupported shape), UsageError for bad options.
   */
  static async create(src: TensorSource, options: WasmEngineOptions = {}): Promise<WasmEngine> {
    const c = src.config;
    if (!src.tokenizer) throw new RelufyError(`${src.path}: the model has no tokenizer; pass --tokenizer FILE`);
    const threads = options.threads ?? autoThreads(c);
    if (!Number.isInteger(threads) || threads < 1) throw new UsageError('--threads', `must be a positive integer (got ${threads})`);
    const batch = options.batch ?? 64;
    const maxContext = options.maxContext ?? Math.min(c.max_position_embeddings, 4096);
    if (!Number.isInteger(maxContext) || maxContext < 1) throw new UsageError('--ctx-size', `must be a positive integer (got ${maxContext})`);
    const limit = Math.min(options.memoryLimit ?? MAX_MEMORY_BYTES, MAX_MEMORY_BYTES);
    const sparseMode = options.sparse ?? 'off';
    if (sparseMode !== 'off' && sparseMode !== 'lossless' && sparseMode !== 'predictor')
      throw new UsageError('--sparse', `unknown mode ${JSON.stringify(sparseMode)} (available: off, lossless, predictor)`);
    const crossover = checkCrossover(options.sparseCrossover ?? DEFAULT_SPARSE_CROSSOVER);
    if (sparseMode === 'lossless') requireReluFamily(c);
    const synthetic = options.synthetic;
    if (synthetic && !(synthetic.active > 0 && synthetic.active <= 1)) throw new UsageError('--active', `must be a fraction in (0, 1] (got ${synthetic.active})`);
    const predThreshold = options.sparseThreshold ?? src.sparseThreshold ?? DEFAULT_PRED_THRESHOLD;
    if (!Number.isFinite(predThreshold)) throw new UsageError('--sparse-threshold', `must be a finite number (got ${predThreshold})`);

    const C = c.hidden_size, F = c.intermediate_size, D = c.head_dim;
    const qDim = c.num_attention_heads * D, kvDim = c.num_key_value_heads * D;
    const need = (name: string) => {
      const t = src.info(name);
      if (!t) throw new RelufyError(`${src.path}: missing tensor ${name}`);
      return t;
    };
    const L = c.num_hidden_layers;
    // A layer's dense down projection is ffn_down; PowerInfer files may carry only ffn_down_t, which the bundles serve.
    const hasDown = Array.from({ length: L }, (_, l) => src.info(`blk.${l}.ffn_down.weight`) !== undefined);
    for (let l = 0; l < L; l++) if (!hasDown[l]) need(`blk.${l}.ffn_down_t.weight`);
    const layerNames = (l: number) => ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', ...(hasDown[l] ? ['ffn_down'] : [])].map((n) => `blk.${l}.${n}.weight`);
    const bundled = sparseMode !== 'off' || hasDown.some((h) => !h);
    const layouts = Array.from({ length: L }, (_, l) => bundled
      ? planBundles(C, F, need(`blk.${l}.ffn_gate.weight`), need(`blk.${l}.ffn_up.weight`), need(`blk.${l}.ffn_down${hasDown[l] ? '' : '_t'}.weight`))
      : undefined);
    // Predictors: from the file (blk.N.fc1/fc2), or synthetic ones of a given rank (benchmarks).
    const predictorMode = sparseMode === 'predictor';
    const synthRank = synthetic?.predictorRank;
    const predInfo = (l: number) => {
      if (!predictorMode) return undefined;
      if (synthRank !== undefined) return syntheticPredictor(l, C, F, synthRank, need(`blk.${l}.ffn_gate.weight`).type, synthetic!.seed ?? 1);
      const fc1 = src.info(`blk.${l}.fc1.weight`), fc2 = src.info(`blk.${l}.fc2.weight`);
      if (!fc1 || !fc2) throw new UsageError('--sparse', `predictor mode needs a model with activation predictors (blk.N.fc1/fc2, a PowerInfer PWRI file); ${src.path} has none for layer ${l}`);
      return { fc1: { info: fc1, read: (r0: number, n: number, dst: Uint8Array) => src.readRows(fc1.name, r0, n, dst) },
        fc2: { info: fc2, read: (r0: number, n: number, dst: Uint8Array) => src.readRows(fc2.name, r0, n, dst) } };
    };
    const preds = Array.from({ length: L }, (_, l) => predInfo(l));
    const maxRank = Math.max(32, ...preds.map((p) => (p ? p.fc1.info.shape[0]! : 0)));
    const unfused = bundled || options.stats === true;
    if (options.neuronOrder && options.neuronOrder.length !== L)
      throw new UsageError('--hot-neurons', `the profile has ${options.neuronOrder.length} layers, the model ${L}`);
    const tied = !src.info('output.weight');
    const maxK = Math.max(C, F, qDim);
    const staging = Math.max(C >= 1024 ? 8 << 20 : 1 << 20, minStagingBytes(maxK));
    const buffers = bufferBytes(c, batch, threads, maxContext, unfused, maxRank);
    const plan: ShardPlan = planShards({
      embd: packedSizeOf(need('token_embd.weight')),
      output: (tied ? 0 : packedSizeOf(need('output.weight'))) + C * 4 + 256,
      layers: Array.from({ length: c.num_hidden_layers }, (_, l) => layerNames(l).reduce((a, n) => a + packedSizeOf(need(n)) + 64, 0) + 2 * C * 4 + 512 +
        (layouts[l] ? bundleBytes(layouts[l]) : 0) + (preds[l] ? packedSizeOf(preds[l].fc1.info) + packedSizeOf(preds[l].fc2.info) + 256 : 0)),
      kvPerLayer: 2 * maxContext * kvDim * 4 + 128,
      perMemory: buffers + staging + 4096,
      outputBuffers: batch * c.vocab_size * 4 + 64,
    }, limit);
    checkFits(plan, src.path, options.availableBytes);

    const mod = loadWasmModule(options.variant ?? 'auto');
    const shards: Shard[] = [];
    const stagings: number[] = [];
    for (let m = 0; m < plan.memories; m++) {
      const heap = new WasmHeap(limit, Math.min(limit, plan.bytes[m]!));
      const ex = instantiate(mod, heap.memory);
      if (ex.heap_base() > 65536) throw new RelufyError('kernel module static data overlaps the heap');
      shards.push({ heap, ex, buf: allocBuffers(heap, c, batch, threads, maxContext, m === plan.outputMem, unfused, maxRank) });
      stagings.push(heap.alloc(staging));
    }
    const pack = (name: string, m: number): PackedMatrix => {
      const s = shards[m]!;
      return packMatrix(s.heap, s.ex, { ptr: stagings[m]!, bytes: staging }, need(name), (r0, n, dst) => src.readRows(name, r0, n, dst));
    };
    const vec = (name: string, m: number): number => packVector(shards[m]!.heap, src.read(name));

    const embd = { ...pack('token_embd.weight', plan.embdMem), mem: plan.embdMem };
    const layers: LayerPlan[] = [];
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const m = plan.layerMem[l]!;
      const [q, k, v, o, gate, up, down] = layerNames(l).map((n) => pack(n, m)) as [PackedMatrix, PackedMatrix, PackedMatrix, PackedMatrix, PackedMatrix, PackedMatrix, PackedMatrix | undefined];
      if (q.O !== qDim || k.O !== kvDim || v.O !== kvDim || o.O !== C || gate.O !== F || up.O !== F || (down && (down.O !== C || down.K !== F)) || q.K !== C) {
        throw new RelufyError(`${src.path}: layer ${l} weight shapes do not match the config`);
      }
      const s = shards[m]!;
      const descs = s.heap.alloc((unfused ? 7 : 5) * 32);
      const qkvLd = qDim + 2 * kvDim;
      writeDesc(s.heap, descs, q, s.buf.qkv, qkvLd, false);
      writeDesc(s.heap, descs + 32, k, s.buf.qkv + qDim * 4, qkvLd, false);
      writeDesc(s.heap, descs + 64, v, s.buf.qkv + (qDim + kvDim) * 4, qkvLd, false);
      writeDesc(s.heap, descs + 96, o, s.buf.x, C, true);
      if (down) writeDesc(s.heap, descs + 128, down, s.buf.x, C, true);
      if (unfused) {
        writeDesc(s.heap, descs + 160, gate, s.buf.g, F, false);
        writeDesc(s.heap, descs + 192, up, s.buf.u, F, false);
      }
      const layout = layouts[l];
      const bundles = layout ? buildBundles(s.heap, s.ex, { ptr: stagings[m]!, bytes: staging }, src, `blk.${l}.`, layout, options.neuronOrder?.[l]) : undefined;
      let pred: PackedPredictor | undefined;
      const pi = preds[l];
      if (pi) {
        const packP = (p: { info: TensorInfo; read: (r0: number, n: number, dst: Uint8Array) => void }) =>
          packMatrix(s.heap, s.ex, { ptr: stagings[m]!, bytes: staging }, p.info, p.read);
        const fc1 = packP(pi.fc1), fc2 = packP(pi.fc2);
        if (fc1.K !== C || fc2.O !== F || fc2.K !== fc1.O) throw new RelufyError(`${src.path}: layer ${l} predictor shapes fc1 [${fc1.O}, ${fc1.K}] / fc2 [${fc2.O}, ${fc2.K}] do not match hidden_size ${C} / intermediate_size ${F}`);
        const pd = s.heap.alloc(64);
        writeDesc(s.heap, pd, fc1, s.buf.pr, fc1.O, false);
        writeDesc(s.heap, pd + 32, fc2, s.buf.score, F, false);
        pred = { fc1, fc2, descs: pd, bytes: fc1.bytes + fc2.bytes };
      }
      const sb = (n: string) => storedBytes(need(`blk.${l}.${n}.weight`));
      const nb = neuronBytes(sb('ffn_gate'), sb('ffn_up'), sb(hasDown[l] ? 'ffn_down' : 'ffn_down_t'), F);
      layers.push({ mem: m, attnNorm: vec(`blk.${l}.attn_norm.weight`, m), ffnNorm: vec(`blk.${l}.ffn_norm.weight`, m), q, k, v, o, gate, up, down, descs, bundles, pred, nb });
    }
    const om = plan.outputMem;
    let outMat: PackedMatrix;
    if (tied) {
      if (om !== plan.embdMem) {
        outMat = pack('token_embd.weight', om); // the tied head lives where the logits are computed
      } else outMat = embd;
    } else outMat = pack('output.weight', om);
    const os = shards[om]!;
    const outDesc = os.heap.alloc(32);
    writeDesc(os.heap, outDesc, outMat, os.buf.logits, c.vocab_size, false);
    const output = { ...outMat, mem: om, norm: vec('output_norm.weight', om), desc: outDesc };
    for (let m = 0; m < shards.length; m++) shards[m]!.heap.release(stagings[m]!);
    src.close();

    const pool = await ThreadPool.create(mod, shards.map((s) => s.heap.memory), shards.map((s) => s.ex), threads);
    const matrices = layers.flatMap((L) => [L.q, L.k, L.v, L.o, L.gate, L.up, ...(L.down ? [L.down] : [])]);
    const matrixTypes: Record<string, number> = {};
    for (const m of matrices) matrixTypes[PackedType[m.type]] = (matrixTypes[PackedType[m.type]] ?? 0) + 1;
    const extraBytes = layers.reduce((a, L) => a + (L.bundles ? L.bundles.layout.F * L.bundles.layout.stride : 0) + (L.pred ? L.pred.bytes : 0), 0);
    const weightBytes = matrices.reduce((a, m) => a + m.bytes, 0) + embd.bytes + (outMat === embd ? 0 : outMat.bytes) + extraBytes;
    const info: WasmEngineInfo = {
      variant: mod.variant,
      threads,
      memories: plan.memories,
      weightBytes,
      bytesPerToken: matrices.reduce((a, m) => a + m.bytes, 0) + outMat.bytes + (2 * c.num_hidden_layers + 1) * C * 4,
      memoryBytes: plan.bytes,
      matrixTypes,
    };
    const ffnStats = options.stats ? new FfnStats(c.num_hidden_layers, F) : undefined;
    const engine = new WasmEngine({ config: c, tokenizer: src.tokenizer, modelId: src.modelId, info, shards, layers, pool, embd, output, batch, maxContext,
      ffnStats, sparse: sparseMode, crossover, predThreshold, synthetic });
    if (options.warmup ?? true) engine.warmup();
    ffnStats?.reset();
    return engine;
  }

  /** Runs a few decode steps and a small prefill so every kernel reaches V8's optimizing tier. */
  warmup(): void {
    const s = this.createSession({ capacity: Math.min(this.maxContext, 8) });
    try {
      const n = Math.min(3, s.capacity - 1);
      if (n >= 1) s.forward(Array.from({ length: n }, (_, i) => i % this.config.vocab_size));
      for (let i = n; i < s.capacity; i++) s.forward([i % this.config.vocab_size]);
    } finally {
      s.dispose();
    }
  }

  /**
   * A new sequence with its own KV cache (capacity tokens, default maxContext).
   * @throws UsageError when capacity exceeds maxContext; RelufyError when wasm memory is full.
   */
  createSession(options: { capacity?: number } = {}): WasmSession {
    const capacity = options.capacity ?? this.maxContext;
    if (!Number.isInteger(capacity) || capacity <= 0) throw new UsageError('--ctx-size', `must be a positive integer (got ${capacity})`);
    if (capacity > this.maxContext) throw new UsageError('--ctx-size', `${capacity} exceeds the engine's maximum context ${this.maxContext} (set maxContext when loading)`);
    return new WasmSession(this, capacity);
  }

  /**
   * Switches the FFN mode of later decode steps between 'off' and the mode the engine was loaded
   * with (its bundles and predictors stay in memory), so benchmarks compare both on one load.
   * @throws UsageError for a mode the engine was not loaded for.
   */
  setSparse(mode: 'off' | 'lossless' | 'predictor'): void {
    if (mode === 'off') {
      this.sparse = mode;
      return;
    }
    const L = this.layers;
    const ok = mode === 'lossless' ? L.every((x) => x.bundles) && this.config.ffn_activation !== 'swiglu' : L.every((x) => x.bundles && x.pred);
    if (!ok) throw new UsageError('--sparse', `this engine was not loaded for ${mode} execution`);
    this.sparse = mode;
  }

  /**
   * Weight bytes one decode step reads in synthetic sparse mode: attention matrices, norms and the
   * output head as in dense decode, plus per layer the predictor (predictor mode) or the dense gate
   * (lossless), and round(active x F) whole neuron bundles (gate, up, down parts).
   */
  syntheticBytesPerToken(): number {
    const syn = this.synthetic;
    if (!syn) throw new RelufyError('syntheticBytesPerToken: the engine has no synthetic sparsity');
    const F = this.config.intermediate_size;
    const k = Math.max(1, Math.round(syn.active * F));
    let total = this.info.bytesPerToken;
    for (const L of this.layers) {
      total -= L.gate.bytes + L.up.bytes + (L.down?.bytes ?? 0);
      const pb = L.bundles!.layout.partBytes;
      if (this.sparse === 'predictor') total += L.pred!.bytes + k * (pb.gate + pb.up + pb.down);
      else total += L.gate.bytes + k * (pb.up + pb.down);
    }
    return total;
  }

  /** Stops the worker threads. The engine cannot run afterwards. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** Activation buffer bytes per memory (see allocBuffers), without logits. */
/**
 * Default thread count: every core, except for tiny models (under ~8M matrix weights, e.g.
 * stories260K), where one decode step is shorter than a cross-thread dispatch round trip on a
 * shared 2-vCPU machine (kernel-notes section 3), so one thread is faster.
 */
export function autoThreads(c: ModelConfig): number {
  const qkv = c.hidden_size * (c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim;
  const params = c.num_hidden_layers * (qkv + c.num_attention_heads * c.head_dim * c.hidden_size + 3 * c.hidden_size * c.intermediate_size) + c.vocab_size * c.hidden_size;
  return params < 8_000_000 ? 1 : ThreadPool.defaultThreads();
}

/** Bytes of a tensor in its stored (file) encoding. */
function storedBytes(t: { type: GGMLType; shape: number[]; name: string }): number {
  const l = typeLayout(t.type);
  if (!l) throw new RelufyError(`${t.name}: tensor type ${GGMLType[t.type] ?? t.type} is not supported`);
  return (t.shape.reduce((a, b) => a * b, 1) / l.blockSize) * l.typeSize;
}

function bufferBytes(c: ModelConfig, B: number, threads: number, maxContext: number, unfused: boolean, maxRank: number): number {
  const C = c.hidden_size, F = c.intermediate_size, D = c.head_dim;
  const qDim = c.num_attention_heads * D, kvDim = c.num_key_value_heads * D;
  const blocks = (n: number) => Math.ceil(n / 32) * 4;
  const r = (n: number) => Math.ceil(n / 64) * 64;
  return B * (r(C * 4) * 2 + r(C) + 2 * r(blocks(C)) + r((qDim + 2 * kvDim) * 4) + r(qDim * 4) + r(qDim) + 2 * r(blocks(qDim)) +
    r(F * 4) + r(F) + 2 * r(blocks(F))) + threads * r(maxContext * 4) + 20 * 64 +
    (B > 1 ? r(quadBytes(B, Math.max(C, qDim))) + r(quadBytes(B, F)) : 0) + 64 + threads * prefillScratchStride(Math.max(C, F, qDim)) +
    (unfused ? 2 * B * r(F * 4) + r(F * 4) + SPARSE_PARTS * r(C * 4) + 4 * 64 +
      r(C * 2) + B * (r(C) + 2 * r(blocks(C)) + r(maxRank * 4) + r(maxRank) + 2 * r(blocks(maxRank)) + r(F * 4)) + 10 * 64 : 0);
}

function allocBuffers(heap: WasmHeap, c: ModelConfig, B: number, threads: number, maxContext: number, withLogits: boolean, unfused: boolean, maxRank: number): Buffers {
  const C = c.hidden_size, F = c.intermediate_size, D = c.head_dim;
  const qDim = c.num_attention_heads * D, kvDim = c.num_key_value_heads * D;
  const blocks = (n: number) => Math.ceil(n / 32) * 4;
  const scratchStride = Math.ceil((maxContext * 4) / 64) * 64;
  const u = (n: number) => {
    if (!unfused) return 0;
    const p = heap.alloc(n);
    heap.u8(p, n).fill(0);
    return p;
  };
  return {
    x: heap.alloc(B * C * 4), n: heap.alloc(B * C * 4), nq: heap.alloc(B * C), nd: heap.alloc(B * blocks(C)), ns: heap.alloc(B * blocks(C)),
    qkv: heap.alloc(B * (qDim + 2 * kvDim) * 4), att: heap.alloc(B * qDim * 4), aq: heap.alloc(B * qDim), ad: heap.alloc(B * blocks(qDim)), as: heap.alloc(B * blocks(qDim)),
    h: heap.alloc(B * F * 4), hq: heap.alloc(B * F), hd: heap.alloc(B * blocks(F)), hs: heap.alloc(B * blocks(F)),
    n16: B > 1 ? heap.alloc(quadBytes(B, Math.max(C, qDim))) : 0, h16: B > 1 ? heap.alloc(quadBytes(B, F)) : 0,
    ctx: prefillCtx(heap, threads, Math.max(C, F, qDim)),
    attScratch: heap.alloc(threads * scratchStride), scratchStride,
    logits: withLogits ? heap.alloc(B * c.vocab_size * 4) : 0,
    g: unfused ? heap.alloc(B * F * 4) : 0, u: unfused ? heap.alloc(B * F * 4) : 0,
    idx: unfused ? heap.alloc(F * 4) : 0, parts: unfused ? heap.alloc(SPARSE_PARTS * C * 4) : 0,
    nx16: u(C * 2), pxq: u(B * C), pxd: u(B * blocks(C)), pxs: u(B * blocks(C)),
    pr: u(B * maxRank * 4), prq: u(B * maxRank), prd: u(B * blocks(maxRank)), prs: u(B * blocks(maxRank)), score: u(B * F * 4),
  };
}

/** A prefill context (counter + per-thread scratch for weights of up to maxK columns) in heap. */
function prefillCtx(heap: WasmHeap, threads: number, maxK: number): number {
  const ctx = heap.alloc(64);
  writePrefillCtx(heap.i32(ctx, 3), heap.alloc(threads * prefillScratchStride(maxK)), maxK);
  return ctx;
}

const registry = new FinalizationRegistry<() => void>((free) => free());

/** One sequence on the WASM engine: KV caches (capacity, KVH*D) float32 per layer in that layer's memory. */
export class WasmSession implements InferenceSession {
  readonly capacity: number;
  private pos = 0;
  private readonly kc: number[] = [];
  private readonly vc: number[] = [];
  private disposed = false;

  constructor(private readonly e: WasmEngine, capacity: number) {
    this.capacity = capacity;
    const kvBytes = capacity * e.config.num_key_value_heads * e.config.head_dim * 4;
    for (const L of e.layers) {
      const heap = e.shards[L.mem]!.heap;
      this.kc.push(heap.alloc(kvBytes));
      this.vc.push(heap.alloc(kvBytes));
    }
    const kc = [...this.kc], vc = [...this.vc], layers = e.layers, shards = e.shards;
    registry.register(this, () => {
      layers.forEach((L, l) => {
        shards[L.mem]!.heap.release(kc[l]!);
        shards[L.mem]!.heap.release(vc[l]!);
      });
    }, this);
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

  /** Frees the KV cache now (also happens when the session is garbage collected). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    registry.unregister(this);
    this.e.layers.forEach((L, l) => {
      this.e.shards[L.mem]!.heap.release(this.kc[l]!);
      this.e.shards[L.mem]!.heap.release(this.vc[l]!);
    });
  }

  forward(tokens: number[], options: { allLogits?: boolean } = {}): Float32Array {
    const e = this.e;
    const c = e.config;
    const V = c.vocab_size;
    if (this.disposed) throw new RelufyError('forward: the session was disposed');
    if (tokens.length === 0) throw new RelufyError('forward: no tokens');
    if (this.pos + tokens.length > this.capacity)
      throw new RelufyError(`context full: ${this.pos} + ${tokens.length} tokens exceed the context size of ${this.capacity}`);
    for (const t of tokens) if (!Number.isInteger(t) || t < 0 || t >= V) throw new RelufyError(`token id ${t} is outside the vocabulary (0..${V - 1})`);
    const all = options.allLogits === true;
    const result = new Float32Array((all ? tokens.length : 1) * V);
    for (let i = 0; i < tokens.length; i += e.batch) {
      const chunk = tokens.slice(i, i + e.batch);
      const last = i + e.batch >= tokens.length;
      const rows = all ? chunk.length : last ? 1 : 0;
      this.step(chunk, rows, result, all ? i * V : 0);
    }
    return result;
  }

  /** Runs T <= batch tokens through all layers; writes the logits of the last `rows` into out at outOff. */
  private step(tokens: number[], rows: number, out: Float32Array, outOff: number): void {
    const e = this.e;
    const c = e.config;
    const T = tokens.length;
    const C = c.hidden_size, F = c.intermediate_size, H = c.num_attention_heads, KVH = c.num_key_value_heads, D = c.head_dim;
    const qDim = H * D, kvDim = KVH * D, qkvLd = qDim + 2 * kvDim;
    const eps = c.rms_norm_eps, theta = c.rope_theta, win = c.sliding_window ?? 0;
    const kind = GLU_CODE[c.ffn_activation];
    const pool = e.pool;
    const pos0 = this.pos;
    const quantize = (s: Shard, m: number, x: number, q: number, d: number, sum: number, K: number, xi: number) => {
      const nb = (T * K) / 32;
      if (T > 1 && pool.nth > 1) pool.run(m, 'quantize_q8', [x, q, d, sum, nb, xi, K]);
      else s.ex.quantize_q8(x, q, d, sum, nb, xi, K, 0, 1);
    };

    let cur = e.embd.mem;
    {
      const s = e.shards[cur]!;
      for (let t = 0; t < T; t++) s.ex.unpack_row(e.embd.type, e.embd.ptr, tokens[t]!, C, s.buf.x + t * C * 4);
    }
    const moveTo = (m: number) => {
      if (m === cur) return;
      const from = e.shards[cur]!, to = e.shards[m]!;
      to.heap.f32(to.buf.x, T * C).set(from.heap.f32(from.buf.x, T * C));
      cur = m;
    };

    for (let l = 0; l < e.layers.length; l++) {
      const L = e.layers[l]!;
      moveTo(L.mem);
      const m = L.mem;
      const s = e.shards[m]!;
      const { ex, buf } = s;
      // token-quad activations for the prefill kernels (0 = matvec kernels)
      const n16 = T > 1 ? buf.n16 : 0, h16 = T > 1 ? buf.h16 : 0;
      // prefill: rows are claimed dynamically (a thread the OS pre-empts does not hold the others up); decode: static split
      const prefill = () => {
        if (T === 1) return 0;
        s.heap.i32(buf.ctx, 1)[0] = 0;
        return buf.ctx;
      };
      // attention block
      ex.rmsnorm(buf.n, buf.x, L.attnNorm, T, C, eps);
      if (quant(L.q) || quant(L.k) || quant(L.v)) quantize(s, m, buf.n, buf.nq, buf.nd, buf.ns, C, n16);
      pool.run(m, 'matmul_multi', [L.descs, 3, buf.n, buf.nq, buf.nd, buf.ns, T, n16, prefill()]);
      ex.rope(buf.qkv, qkvLd, T, H, D, pos0, theta);
      ex.rope(buf.qkv + qDim * 4, qkvLd, T, KVH, D, pos0, theta);
      const kc = this.kc[l]!, vc = this.vc[l]!;
      ex.copy_rows(kc + pos0 * kvDim * 4, buf.qkv + qDim * 4, qkvLd, T, kvDim);
      ex.copy_rows(vc + pos0 * kvDim * 4, buf.qkv + (qDim + kvDim) * 4, qkvLd, T, kvDim);
      pool.run(m, 'attention', [buf.att, buf.qkv, qkvLd, kc, vc, T, pos0, H, KVH, D, win, buf.attScratch, buf.scratchStride]);
      if (quant(L.o)) quantize(s, m, buf.att, buf.aq, buf.ad, buf.as, qDim, n16);
      pool.run(m, 'matmul_multi', [L.descs + 96, 1, buf.att, buf.aq, buf.ad, buf.as, T, n16, prefill()]);
      // feed-forward block
      ex.rmsnorm(buf.n, buf.x, L.ffnNorm, T, C, eps);
      if (quant(L.gate) || quant(L.up)) quantize(s, m, buf.n, buf.nq, buf.nd, buf.ns, C, n16);
      const gateUp = () => pool.run(m, 'matmul_multi', [L.descs + 160, 2, buf.n, buf.nq, buf.nd, buf.ns, T, n16, prefill()]);
      const down = () => {
        if (!L.down) return bundleDown(e, L, s, T);
        if (quant(L.down)) quantize(s, m, buf.h, buf.hq, buf.hd, buf.hs, F, h16);
        pool.run(m, 'matmul_multi', [L.descs + 128, 1, buf.h, buf.hq, buf.hd, buf.hs, T, h16, prefill()]);
      };
      if (e.sparse !== 'off' && T === 1) {
        sparseFfnStep(e, l, L, s, kind, gateUp, down);
      } else if (e.sparse === 'predictor') {
        predictorBatch(e, l, L, s, kind, T, gateUp, down);
      } else if (e.ffnStats) {
        // telemetry needs the gate: gate and up (adjacent descriptors, one dispatch), then glu, then down
        pool.run(m, 'matmul_multi', [L.descs + 160, 2, buf.n, buf.nq, buf.nd, buf.ns, T, n16, prefill()]);
        ex.glu(buf.h, buf.g, buf.u, T * F, kind);
        const st = e.ffnStats;
        if (st) {
          const g = s.heap.f32(buf.g, T * F), h = s.heap.f32(buf.h, T * F);
          for (let t = 0; t < T; t++) recordDenseToken(st, l, g, h, t * F, F, L.nb);
        }
        down();
      } else if (L.down) {
        // fused gate, up, activation (and the int8 / token-quad forms of h the down product reads)
        pool.run(m, 'ffn_gate_up', [L.gate.type, L.gate.ptr, L.up.type, L.up.ptr, F, C, kind, buf.n, buf.nq, buf.nd, buf.ns, T,
          buf.h, buf.hq, buf.hd, buf.hs, quant(L.down) ? 1 : 0, n16, h16, prefill()]);
        pool.run(m, 'matmul_multi', [L.descs + 128, 1, buf.h, buf.hq, buf.hd, buf.hs, T, h16, prefill()]);
      } else {
        pool.run(m, 'ffn_gate_up', [L.gate.type, L.gate.ptr, L.up.type, L.up.ptr, F, C, kind, buf.n, buf.nq, buf.nd, buf.ns, T,
          buf.h, buf.hq, buf.hd, buf.hs, 0, n16, 0, prefill()]);
        bundleDown(e, L, s, T);
      }
    }
    this.pos += T;
    if (rows === 0) return;

    const o = e.output;
    moveTo(o.mem);
    const s = e.shards[o.mem]!;
    const { ex, buf } = s;
    ex.rmsnorm(buf.n, buf.x + (T - rows) * C * 4, o.norm, rows, C, eps);
    const n16 = rows > 1 ? buf.n16 : 0;
    if (quant(o)) ex.quantize_q8(buf.n, buf.nq, buf.nd, buf.ns, (rows * C) / 32, n16, C, 0, 1);
    if (rows > 1) s.heap.i32(buf.ctx, 1)[0] = 0;
    pool.run(o.mem, 'matmul_multi', [o.desc, 1, buf.n, buf.nq, buf.nd, buf.ns, rows, n16, rows > 1 ? buf.ctx : 0]);
    out.set(s.heap.f32(buf.logits, rows * c.vocab_size), outOff);
  }
}
