import { existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { UsageError, checkReadablePath } from '../errors.js';
import { openGguf } from '../formats/gguf/index.js';
import { loadWasmEngine, type WasmEngine } from '../kernels/wasm/index.js';
import type { VariantChoice } from '../kernels/wasm/module.js';
import type { Engine } from '../model/engine-types.js';
import { measureReadBandwidth } from './membw.js';
import { llamaCppPeer, requireLlamaCpp, type BenchPeer } from './peer-llamacpp.js';
import { SYNTHETIC_SHAPES, syntheticFileName, writeSyntheticGguf, type SyntheticQuant, type SyntheticShape } from './synthetic.js';

export interface BenchOptions {
  /** A GGUF file; or use `synthetic`. */
  model?: string;
  synthetic?: SyntheticShape;
  quant?: SyntheticQuant;
  /** Layers of the synthetic model (default: the real count). */
  layers?: number;
  /** Where synthetic files go (default .relufy-cache/synthetic). */
  cacheDir?: string;
  threads: number;
  /** Prompt tokens for pp (0 = skip). */
  nPrompt: number;
  /** Generated tokens for tg (0 = skip). */
  nGen: number;
  repetitions: number;
  peer?: 'llama.cpp';
  backend: 'wasm' | 'ref';
  variant: VariantChoice;
  /** The machine's read bandwidth in bytes/s; measured with a wasm streaming read when absent. */
  readBandwidth?: number;
  seed: number;
  /**
   * Sparse FFN mode measured beside relufy dense (the same loaded engine, switched per run):
   * 'lossless' or 'predictor' (PowerInfer predictors from the file, or synthetic ones with `active`).
   */
  sparse?: 'off' | 'lossless' | 'predictor';
  /** Synthetic active fraction per token and layer (seeded random sets, computed in full); marks results synthetic. */
  active?: number;
  /** Rank of the synthetic predictors in predictor mode with `active` (default 1024, close to published Bamboo files). */
  predictorRank?: number;
  /** Sparse modes: dense above this active fraction per layer and token (engine default 0.4; 1 = always sparse). */
  sparseCrossover?: number;
}

/** tokens/s over the repetitions. */
export interface BenchStat {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export interface BenchRow {
  /** 'pp128', 'tg32' (llama-bench naming). */
  test: string;
  /** 'relufy' (dense), 'relufy lossless' / 'relufy predictor' (sparse decode), 'llama.cpp'. */
  engine: string;
  /** tg only: weight bytes one decode step reads on this engine (sparse: incl. predictors). */
  bytesPerToken: number | null;
  tokensPerSecond: BenchStat;
  /** tg only: weight bytes per token x median tokens/s, bytes/s. */
  weightBandwidth: number | null;
  /** weightBandwidth / machine read bandwidth. */
  fractionOfReadBandwidth: number | null;
}

export interface BenchResult {
  model: string;
  fileBytes: number;
  /** Weight bytes a decode step reads (file encoding): every tensor except the embedding table, plus the head. */
  bytesPerToken: number;
  threads: number;
  backend: string;
  wasm: { variant: string; memories: number; packedBytesPerToken: number } | null;
  loadSeconds: number;
  readBandwidth: number;
  readBandwidthSource: string;
  rows: BenchRow[];
  /** Per test: 'A/B' ratios of medians (relufy/llama.cpp, relufy predictor/relufy, ...), and per interleaved run. */
  ratios: { name: string; test: string; median: number; runs: number[] }[];
  /** The sparse setting measured, if any (`synthetic` when the active sets were drawn at random). */
  sparse: { mode: string; active: number | null; predictorRank: number | null; synthetic: boolean } | null;
  machine: { cpus: number; model: string; totalBytes: number };
}

function stat(runs: number[]): BenchStat {
  const s = [...runs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, runs };
}

/** argmax over logits (greedy next token). */
function argmax(x: Float32Array): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[b]!) b = i;
  return b;
}

/** Bytes of the tensors one decode step reads, from a GGUF header. */
function decodeBytes(path: string): { file: number; perToken: number } {
  const f = openGguf(path);
  const embd = f.tensors.find((t) => t.name === 'token_embd.weight');
  const tied = !f.tensors.some((t) => t.name === 'output.weight');
  const all = f.tensors.reduce((a, t) => a + t.byteLength, 0);
  const e = embd?.byteLength ?? 0;
  return { file: f.fileSize, perToken: all - e + (tied ? e : 0) };
}

interface Runner {
  name: string;
  pp(tokens: number[]): Promise<number>;
  tg(first: number, n: number): Promise<number>;
}

function relufyRunner(engine: Engine, name = 'relufy', before: () => void = () => {}): Runner {
  return {
    name,
    async pp(tokens) {
      before();
      const s = engine.createSession({ capacity: tokens.length });
      const t0 = performance.now();
      s.forward(tokens);
      const dt = (performance.now() - t0) / 1000;
      (s as { dispose?: () => void }).dispose?.();
      return dt;
    },
    async tg(first, n) {
      before();
      const s = engine.createSession({ capacity: n });
      const t0 = performance.now();
      let logits = s.forward([first]);
      for (let i = 1; i < n; i++) logits = s.forward([argmax(logits)]);
      const dt = (performance.now() - t0) / 1000;
      (s as { dispose?: () => void }).dispose?.();
      return dt;
    },
  };
}

/**
 * `relufy bench`: pp (prompt processing) and tg (generation) tokens/s over repeated runs, optionally
 * against llama.cpp on the same file in the same process, the two interleaved run by run.
 * @throws UsageError for bad options; RelufyError / FormatError from loading.
 */
export async function runBench(o: BenchOptions, log: (line: string) => void = () => {}): Promise<BenchResult> {
  // every option is checked before anything is written, measured or loaded
  if (o.synthetic && o.model) throw new UsageError('--synthetic', 'give either a model file or --synthetic, not both');
  if (!o.synthetic && !o.model) throw new UsageError('model', 'give a GGUF file or --synthetic SHAPE');
  if (o.nPrompt === 0 && o.nGen === 0) throw new UsageError('--n-prompt/--n-gen', 'nothing to measure');
  const sparse = o.sparse ?? 'off';
  if (o.active !== undefined && sparse === 'off') throw new UsageError('--active', 'needs --sparse lossless or predictor');
  if (o.predictorRank !== undefined && (sparse !== 'predictor' || o.active === undefined))
    throw new UsageError('--predictor-rank', 'synthetic predictors need --sparse predictor and --active');
  if (sparse !== 'off' && o.backend !== 'wasm') throw new UsageError('--sparse', 'sparse benchmarks run on the wasm backend');
  if (o.synthetic && o.layers !== undefined && o.layers > SYNTHETIC_SHAPES[o.synthetic].layers)
    throw new UsageError('--layers', `${o.synthetic} has ${SYNTHETIC_SHAPES[o.synthetic].layers} layers (got ${o.layers})`);
  if (o.model) checkReadablePath(o.model, false);
  if (o.peer) await requireLlamaCpp();
  const predictorRank = sparse === 'predictor' && o.active !== undefined ? o.predictorRank ?? 1024 : undefined;

  let path: string;
  if (o.synthetic) {
    const so = { shape: o.synthetic, quant: o.quant ?? 'q8_0', layers: o.layers, seed: o.seed };
    path = join(o.cacheDir ?? join('.relufy-cache', 'synthetic'), syntheticFileName(so));
    log(`${existsSync(path) ? `reusing synthetic ${o.synthetic} ${so.quant} from` : `writing synthetic ${o.synthetic} ${so.quant} to`} ${path}...`);
    writeSyntheticGguf(path, so);
  } else path = o.model!; // checked above

  const sizes = decodeBytes(path);
  let readBandwidth = o.readBandwidth ?? 0;
  let readBandwidthSource = 'given (--read-bw)';
  if (!o.readBandwidth) {
    log(`measuring read bandwidth (wasm, ${o.threads} thread(s), 1 GiB)...`);
    readBandwidth = await measureReadBandwidth(o.threads);
    readBandwidthSource = `measured: wasm streaming read, ${o.threads} thread(s)`;
  }

  log(`loading ${path} (${o.backend})...`);
  const t0 = performance.now();
  const ctx = Math.max(o.nPrompt, o.nGen, 16);
  let engine: Engine;
  let wasm: WasmEngine | null = null;
  if (o.backend === 'wasm') {
    wasm = await loadWasmEngine(path, {
      threads: o.threads, variant: o.variant, maxContext: ctx, sparse, sparseCrossover: o.sparseCrossover,
      synthetic: o.active === undefined ? undefined : { active: o.active, predictorRank, seed: o.seed },
    });
    engine = wasm;
  } else {
    const { loadEngine } = await import('../model/engine.js');
    engine = await loadEngine(path, { backend: 'ref' });
  }
  const loadSeconds = (performance.now() - t0) / 1000;
  let peer: BenchPeer | null = null;
  try {
    if (o.peer) {
      log('loading llama.cpp (node-llama-cpp)...');
      peer = await llamaCppPeer(path, o.threads, ctx + 16);
    }
    const w = wasm;
    const sparseName = `relufy ${sparse}`;
    const runners: Runner[] = w && sparse !== 'off'
      ? [relufyRunner(engine, 'relufy', () => w.setSparse('off')), relufyRunner(engine, sparseName, () => w.setSparse(sparse)), ...(peer ? [peer] : [])]
      : [relufyRunner(engine), ...(peer ? [peer] : [])];
    const tokenBytes = (name: string) => (w && name === sparseName && o.active !== undefined ? w.syntheticBytesPerToken() : name === sparseName ? null : sizes.perToken);
    const V = engine.config.vocab_size;
    let seed = o.seed >>> 0 || 1;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0), seed);
    const prompt = Array.from({ length: o.nPrompt }, () => 3 + (rand() % (V - 3)));
    const first = engine.config.bos_token_id ?? 1;

    // warm-up (not timed): page the weights in, let JIT tiers settle
    for (const r of runners) {
      if (o.nPrompt) await r.pp(prompt.slice(0, Math.min(16, o.nPrompt)));
      if (o.nGen) await r.tg(first, Math.min(4, o.nGen));
    }
    const tests: { test: string; tokens: number; run: (r: Runner) => Promise<number> }[] = [];
    if (o.nPrompt) tests.push({ test: `pp${o.nPrompt}`, tokens: o.nPrompt, run: (r) => r.pp(prompt) });
    if (o.nGen) tests.push({ test: `tg${o.nGen}`, tokens: o.nGen, run: (r) => r.tg(first, o.nGen) });
    const runs = new Map<string, number[]>();
    for (let rep = 0; rep < o.repetitions; rep++) {
      for (const t of tests) {
        const order = rep % 2 === 0 ? runners : [...runners].reverse();
        for (const r of order) {
          const sec = await t.run(r);
          const key = `${t.test}\u0000${r.name}`;
          runs.set(key, [...(runs.get(key) ?? []), t.tokens / sec]);
          log(`  run ${rep + 1}/${o.repetitions} ${t.test} ${r.name}: ${(t.tokens / sec).toFixed(2)} tokens/s`);
        }
      }
    }
    const rows: BenchRow[] = [];
    const ratios: BenchResult['ratios'] = [];
    for (const t of tests) {
      for (const r of runners) {
        const st = stat(runs.get(`${t.test}\u0000${r.name}`)!);
        const tb = t.test.startsWith('tg') ? tokenBytes(r.name) : null;
        const bw = tb === null ? null : tb * st.median;
        rows.push({ test: t.test, engine: r.name, bytesPerToken: tb, tokensPerSecond: st, weightBandwidth: bw, fractionOfReadBandwidth: bw === null ? null : bw / readBandwidth });
      }
      const ratio = (a: string, b: string) => {
        const x = runs.get(`${t.test}\u0000${a}`)!;
        const y = runs.get(`${t.test}\u0000${b}`)!;
        ratios.push({ name: `${a}/${b}`, test: t.test, median: stat(x).median / stat(y).median, runs: x.map((v, i) => v / y[i]!) });
      };
      if (peer) ratio('relufy', peer.name);
      if (sparse !== 'off' && t.test.startsWith('tg')) {
        if (peer) ratio(sparseName, peer.name);
        ratio(sparseName, 'relufy');
      }
    }
    return {
      model: path,
      fileBytes: sizes.file,
      bytesPerToken: sizes.perToken,
      threads: o.threads,
      backend: o.backend,
      wasm: wasm ? { variant: wasm.info.variant, memories: wasm.info.memories, packedBytesPerToken: wasm.info.bytesPerToken } : null,
      loadSeconds,
      readBandwidth,
      readBandwidthSource,
      rows,
      ratios,
      sparse: sparse === 'off' ? null : { mode: sparse, active: o.active ?? null, predictorRank: predictorRank ?? null, synthetic: o.active !== undefined },
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', totalBytes: totalmem() },
    };
  } finally {
    await peer?.close();
    await wasm?.close();
  }
}

const gb = (b: number) => (b / 1e9).toFixed(1);

/** The readable table. */
export function formatBench(r: BenchResult): string {
  const lines: string[] = [];
  lines.push(`model:   ${basename(r.model)} (${(r.fileBytes / 2 ** 30).toFixed(2)} GiB, ${gb(r.bytesPerToken)} GB of weights read per token)`);
  lines.push(`engine:  relufy ${r.backend}${r.wasm ? ` (${r.wasm.variant}, ${r.wasm.memories} wasm memor${r.wasm.memories === 1 ? 'y' : 'ies'})` : ''}, ${r.threads} thread(s), loaded in ${r.loadSeconds.toFixed(1)} s`);
  lines.push(`machine: ${r.machine.cpus} x ${r.machine.model}, ${(r.machine.totalBytes / 2 ** 30).toFixed(0)} GiB; read bandwidth ${gb(r.readBandwidth)} GB/s (${r.readBandwidthSource})`);
  if (r.sparse) {
    lines.push(`sparse:  ${r.sparse.mode}${r.sparse.synthetic ? ` — SYNTHETIC active sets: ${(r.sparse.active! * 100).toFixed(1)}% of FFN neurons per token and layer, seeded random, computed in full` : ''}` +
      `${r.sparse.predictorRank !== null ? `; synthetic predictors of rank ${r.sparse.predictorRank} (their cost included)` : ''}`);
  }
  lines.push('');
  const head = ['test', 'engine', 't/s median', 'min', 'max', 'MB/token', 'weight GB/s', '% of read bw'];
  const body = r.rows.map((x) => [
    x.test, x.engine, x.tokensPerSecond.median.toFixed(2), x.tokensPerSecond.min.toFixed(2), x.tokensPerSecond.max.toFixed(2),
    x.bytesPerToken === null ? '-' : (x.bytesPerToken / 1e6).toFixed(1),
    x.weightBandwidth === null ? '-' : gb(x.weightBandwidth), x.fractionOfReadBandwidth === null ? '-' : `${(x.fractionOfReadBandwidth * 100).toFixed(0)}%`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => '| ' + cells.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ') + ' |';
  lines.push(fmt(head));
  lines.push('|' + w.map((n, i) => (i < 2 ? '-'.repeat(n + 2) : '-'.repeat(n + 1) + ':')).join('|') + '|');
  for (const b of body) lines.push(fmt(b));
  for (const q of r.ratios) {
    lines.push(`${q.name} ${q.test}: ${q.median.toFixed(2)} (per interleaved run: ${q.runs.map((x) => x.toFixed(2)).join(', ')})`);
  }
  return lines.join('\n');
}
