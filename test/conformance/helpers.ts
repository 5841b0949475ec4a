/** Seeded random data and error measures shared by the conformance suites. */
import { after } from 'node:test';
import { createWasmEngine, loadWasmEngine, type WasmEngine, type WasmEngineOptions } from '../../src/kernels/wasm/index.js';
import type { LoadedModel } from '../../src/model/types.js';
import { mulberry32 } from '../../src/rng.js';

/** Seeded PRNG, uniform in [0, 1) (the project's mulberry32). */
export const rng = mulberry32;

/** n values uniform in [-scale, scale). */
export function randn(r: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/**
 * Normalized mean squared error sum((a-b)^2) / sum(b^2) (ggml test-backend-ops `nmse`), with b the reference.
 * Returns Infinity when a has a non-finite value the reference does not.
 */
export function nmse(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(a[i]!) && Number.isFinite(b[i]!)) return Infinity;
    const d = a[i]! - b[i]!;
    num += d * d;
    den += b[i]! * b[i]!;
  }
  return den === 0 ? num : num / den;
}

/** max |a - b| / max |b|, with b the reference; the arrays must have equal length. */
export function relErr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths differ (${a.length} vs ${b.length})`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

/** max |a - b|; the arrays must have equal length. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Anything that opens sessions (KernelEngine, WasmEngine, ...). */
export interface SessionFactory {
  createSession(o: { capacity: number }): { forward(t: number[], o?: { allLogits?: boolean }): Float32Array };
}

/** Logits of a batched prefill of `prompt` (all positions), then one decode step per token of `decode`, concatenated. */
export function prefillThenDecode(e: SessionFactory, prompt: number[], decode: number[]): Float32Array {
  const s = e.createSession({ capacity: 32 });
  const parts = [s.forward(prompt, { allLogits: true })];
  for (const t of decode) parts.push(s.forward([t]));
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A factory of WASM engines (from a LoadedModel or a file path, maxContext 64 unless given) that are
 * all closed after the test file (node:test `after`).
 */
export function wasmEngineFactory(): (model: LoadedModel | string, o?: WasmEngineOptions) => Promise<WasmEngine> {
  const engines: WasmEngine[] = [];
  after(async () => {
    for (const e of engines) await e.close();
  });
  return async (model, o = {}) => {
    const e = typeof model === 'string' ? await loadWasmEngine(model, { maxContext: 64, ...o }) : await createWasmEngine(model, { maxContext: 64, ...o });
    engines.push(e);
    return e;
  };
}
