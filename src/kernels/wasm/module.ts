import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { RelufyError, UsageError } from '../../errors.js';
import { WA, type WasmCompiled, type WasmMemory } from './wasm-api.js';

/** 'simd' = SIMD128 (every Node >= 20); 'relaxed' = + relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd). */
export type WasmVariant = 'simd' | 'relaxed';

/**
 * How to choose the variant. 'auto' = relaxed when this runtime validates it, else simd;
 * 'relaxed-flag' = like auto, but first turn on V8's `--experimental-wasm-relaxed-simd` (Node 20),
 * a process-wide flag change, so it is opt-in for library users (the relufy CLI opts in). Env
 * RELUFY_WASM=simd|relaxed|relaxed-flag overrides 'auto'.
 */
export type VariantChoice = 'auto' | 'relaxed-flag' | WasmVariant;

/** Typed exports of dist/wasm/relufy-*.wasm (assembly/index.ts). Pointers are byte offsets. */
export interface WasmExports {
  heap_base(): number;
  relaxed(): number;
  quantize_q8(x: number, xq: number, xd: number, xs: number, nb: number, xi: number, K: number, ith: number, nth: number): void;
  group_bytes(type: number, K: number): number;
  matmul_groups(type: number, w: number, O: number, K: number, out: number, ldo: number, accumulate: number,
    g0: number, g1: number, xf: number, xq: number, xd: number, xs: number, T: number): void;
  matmul_multi(descs: number, ndesc: number, xf: number, xq: number, xd: number, xs: number, T: number, x16: number, ctx: number,
    ith: number, nth: number): void;
  rmsnorm(out: number, x: number, weight: number, T: number, C: number, eps: number): void;
  rope(x: number, ld: number, T: number, nHeads: number, D: number, pos0: number, theta: number): void;
  copy_rows(dst: number, src: number, lds: number, T: number, n: number): void;
  attention(out: number, q: number, ldq: number, kc: number, vc: number, T: number, pos0: number, H: number, KVH: number,
    D: number, window: number, scratch: number, scratchStride: number, ith: number, nth: number): void;
  glu(out: number, gate: number, up: number, n: number, kind: number): void;
  add(x: number, y: number, n: number): void;
  argmax(x: number, n: number): number;
  stream_read(p: number, n64: number, out: number, ith: number, nth: number): void;
  ffn_gate_up(tg: number, wg: number, tu: number, wu: number, F: number, C: number, kind: number,
    xf: number, xq: number, xd: number, xs: number, T: number,
    h: number, hq: number, hd: number, hs: number, quantOut: number, x16: number, h16: number, ctx: number, ith: number, nth: number): void;
  ffn_bundles(desc: number, x: number, xq: number, x16: number, xd: number, xs: number, idx: number, n: number, kind: number, mode: number, force: number,
    g: number, h: number, partials: number, ith: number, nth: number): void;
  add_partials(x: number, partials: number, C: number): void;
  extend_i8(xq: number, x16: number, n: number): void;
  relu_inplace(x: number, n: number): void;
  bundle_rows(type: number, src: number, n: number, C: number, dst: number, stride: number): void;
  pack_q8(src: number, dst: number, rows: number, K: number): void;
  pack_q4(src: number, dst: number, rows: number, K: number): void;
  pack_f32(src: number, dst: number, rows: number, K: number): void;
  f16_to_f32(src: number, dst: number, n: number): void;
  bf16_to_f32(src: number, dst: number, n: number): void;
  unpack_row(type: number, w: number, row: number, K: number, out: number): void;
  /**
   * out (M,P) (= or +=) A (M,K) @ Bm (K,P), fp32 (assembly/train.ts). Byte pointers, element strides:
   * A[m,k] at a + 4*(m*sam + k*sak), Bm[k,p] at b + 4*(k*ldb + p), out[m,p] at out + 4*(m*ldo + p).
   * tri: 0 full, 1 only p < m+4, 2 only k < m+4, 3 only k >= m (per 4-row block m; causal attention).
   */
  gemm_f32(out: number, ldo: number, a: number, sam: number, sak: number, b: number, ldb: number,
    M: number, K: number, P: number, accumulate: number, tri: number): void;
  /** dst (C,R) = src (R,C)^T, fp32, byte pointers. */
  transpose_f32(dst: number, src: number, R: number, C: number): void;
  /** dst[i] = e^src[i] for i < n, fp32 (vectorized exp; x < ln 2^-126 gives 0), byte pointers. */
  exp_f32(dst: number, src: number, n: number): void;
  /**
   * In place on one head's scores S (T,T): row t = softmax over s in [lo, t] of S[t,s] * scale,
   * lo = max(0, t - window + 1) (window > 0) else 0; other entries 0. Byte pointer.
   */
  causal_softmax_f32(s: number, T: number, scale: number, window: number): void;
  /** In place dP (T,T) <- P (dP - rowdot(P, dP)) * scale within the causal window, 0 outside. Byte pointers. */
  causal_softmax_bwd_f32(dp: number, p: number, T: number, scale: number, window: number): void;
  /** out (N,V) = row softmax of inp (N,V) (out 0: not written); stats (N,2) (0: none) = per row [max, sum e^(x-max)]. */
  softmax_rows_f32(out: number, inp: number, N: number, V: number, stats: number): void;
}

/** A compiled kernel module, shareable with worker threads. */
export interface WasmModule {
  module: WasmCompiled;
  variant: WasmVariant;
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..', '..');

/**
 * Folder holding relufy-{simd,relaxed}.wasm: `dist/wasm` next to the compiled `dist/kernels/wasm/`,
 * or `<repo>/dist/wasm` when running from `src/` (tsx). Builds it from `assembly/` with the
 * AssemblyScript dev dependency when missing, or older than `assembly/`, in a source checkout.
 * @throws RelufyError when the files are missing and cannot be built.
 */
export function wasmDir(): string {
  located ??= locateWasmDir();
  return located;
}

/** wasmDir's answer, found (and in a source checkout, rebuilt if stale) once per process. */
let located: string | undefined;

function locateWasmDir(): string {
  const candidates = [resolve(here, '..', '..', 'wasm'), join(repoRoot, 'dist', 'wasm')];
  // Running from src/ (tsx) in a source checkout: a build older than assembly/ is rebuilt.
  const fromSource = import.meta.url.endsWith('.ts') && existsSync(join(repoRoot, 'assembly', 'index.ts'));
  const stale = fromSource && isStale(join(candidates[1]!, 'relufy-simd.wasm'), join(repoRoot, 'assembly'));
  if (!stale) for (const c of candidates) if (existsSync(join(c, 'relufy-simd.wasm'))) return c;
  const script = join(repoRoot, 'scripts', 'build-wasm.mjs');
  if (existsSync(script) && existsSync(join(repoRoot, 'assembly', 'index.ts'))) {
    const r = spawnSync(process.execPath, [script, '--quiet'], { stdio: 'inherit' });
    if (r.status === 0 && existsSync(join(candidates[1]!, 'relufy-simd.wasm'))) return candidates[1]!;
  }
  throw new RelufyError(`WebAssembly kernels not found (looked in ${candidates.join(', ')}); run npm run build`);
}

/** True when `wasm` is missing or older than a source file in `srcDir`. */
function isStale(wasm: string, srcDir: string): boolean {
  if (!existsSync(wasm)) return true;
  const built = statSync(wasm).mtimeMs;
  return readdirSync(srcDir).some((f) => f.endsWith('.ts') && statSync(join(srcDir, f)).mtimeMs > built);
}

const cache = new Map<WasmVariant, WasmModule>();
let relaxedBytes: Buffer | undefined;

/**
 * Compiles (once per process) the kernel module of the chosen variant.
 * @throws RelufyError when 'relaxed' is forced but this runtime rejects it; UsageError for an unknown
 *   RELUFY_WASM value.
 */
export function loadWasmModule(choice: VariantChoice = 'auto'): WasmModule {
  const env = process.env['RELUFY_WASM'];
  if (env !== undefined && env !== '' && env !== 'auto' && env !== 'simd' && env !== 'relaxed' && env !== 'relaxed-flag')
    throw new UsageError('RELUFY_WASM', `expected one of auto, simd, relaxed, relaxed-flag, got ${JSON.stringify(env)}`);
  if (choice === 'auto' && (env === 'simd' || env === 'relaxed' || env === 'relaxed-flag')) choice = env;
  const dir = wasmDir();
  relaxedBytes ??= readFileSync(join(dir, 'relufy-relaxed.wasm'));
  if (choice === 'relaxed-flag' && !WA.validate(relaxedBytes)) setFlagsFromString('--experimental-wasm-relaxed-simd');
  let variant: WasmVariant = 'simd';
  if (choice !== 'simd' && WA.validate(relaxedBytes)) variant = 'relaxed';
  else if (choice === 'relaxed') throw new RelufyError('relaxed SIMD is not available in this runtime (Node 20: run with --experimental-wasm-relaxed-simd)');
  const hit = cache.get(variant);
  if (hit) return hit;
  const bytes = variant === 'relaxed' ? relaxedBytes : readFileSync(join(dir, 'relufy-simd.wasm'));
  const m: WasmModule = { module: new WA.Module(bytes), variant };
  cache.set(variant, m);
  return m;
}

/** Instantiates the module over one (shared) memory. */
export function instantiate(m: WasmModule, memory: WasmMemory): WasmExports {
  const inst = new WA.Instance(m.module, { env: { memory } });
  return inst.exports as unknown as WasmExports;
}
