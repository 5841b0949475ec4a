// Conformance of the WASM engine against the reference engine (KernelEngine over refKernels) and
// against stories260K's reference greedy outputs, on 1 and 2 threads, including layer sharding
// over several WebAssembly memories. Both kernel builds: SIMD128, and relaxed SIMD (what the CLI
// runs; its Q4_0 tiles, pair kernels and prefill form differ from the SIMD128 build's).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GGMLType, dequantize, quantize } from '../../src/formats/quant/index.js';
import type { Tensor } from '../../src/formats/quant/types.js';
import { createWasmEngine, loadWasmEngine, type WasmEngine } from '../../src/kernels/wasm/index.js';
import type { VariantChoice } from '../../src/kernels/wasm/module.js';
import { KernelEngine } from '../../src/model/engine.js';
import { argmax } from '../../src/model/sampler.js';
import type { LoadedModel } from '../../src/model/types.js';
import { tinyModel } from '../fixtures/tiny-model.js';
import { hasSharedData, sharedData } from '../paths.js';
import { nmse } from './helpers.js';

interface RefCase {
  prompt_tokens: number[];
  tokens: number[];
  logits_first3_positions: number[][];
}
const haveStories = hasSharedData('models', 'stories260K', 'reference_greedy.json');
const stories = haveStories
  ? (JSON.parse(readFileSync(sharedData('models', 'stories260K', 'reference_greedy.json'), 'utf8')) as { cases: RefCase[] }).cases
  : [];

/** The kernel builds every engine test runs on ('relaxed-flag' turns on V8's relaxed SIMD in Node 20). */
const VARIANTS: VariantChoice[] = ['simd', 'relaxed-flag'];

/** Greedy decoding of n tokens after the prompt, one token per forward. */
function greedy(e: WasmEngine, prompt: number[], n: number): number[] {
  const s = e.createSession({ capacity: prompt.length + n });
  let logits = s.forward(prompt);
  const out = [...prompt];
  for (let i = 0; i < n; i++) {
    const t = argmax(logits);
    out.push(t);
    if (i + 1 < n) logits = s.forward([t]);
  }
  s.dispose();
  return out;
}

for (const variant of VARIANTS) for (const threads of [1, 2]) {
  describe(`stories260K on the WASM engine (${variant}), ${threads} thread(s)`, { skip: !haveStories && 'shared data missing' }, () => {
    let e: WasmEngine;
    before(async () => {
      e = await loadWasmEngine(sharedData('models', 'stories260K', 'stories260K.gguf'), { threads, maxContext: 512, variant });
      if (variant !== 'simd') assert.equal(e.info.variant, 'relaxed');
    });
    after(async () => {
      await e?.close();
    });

    for (const [i, c] of stories.entries()) {
      it(`case ${i}: greedy tokens identical to reference_greedy.json (${c.tokens.length} tokens)`, () => {
        assert.deepEqual(greedy(e, c.prompt_tokens, c.tokens.length - c.prompt_tokens.length), c.tokens);
      });
      it(`case ${i}: logits at positions 0-2 within 1e-4 (prefill batch)`, () => {
        const s = e.createSession({ capacity: 8 });
        const logits = s.forward(c.tokens.slice(0, 3), { allLogits: true });
        const V = e.config.vocab_size;
        let maxErr = 0;
        for (let p = 0; p < 3; p++) for (let j = 0; j < V; j++) maxErr = Math.max(maxErr, Math.abs(logits[p * V + j]! - c.logits_first3_positions[p]![j]!));
        assert.ok(maxErr <= 1e-4, `max abs logit error ${maxErr}`);
        s.dispose();
      });
    }

    it('sharded over several memories gives the same greedy tokens', async () => {
      const sh = await loadWasmEngine(sharedData('models', 'stories260K', 'stories260K.gguf'), { threads, maxContext: 512, memoryLimit: 2 << 20, warmup: false, variant });
      try {
        assert.ok(sh.info.memories >= 3, `expected >= 3 memories, got ${sh.info.memories}`);
        const c = stories[1]!;
        assert.deepEqual(greedy(sh, c.prompt_tokens, 40), c.tokens.slice(0, c.prompt_tokens.length + 40));
      } finally {
        await sh.close();
      }
    });
  });
}

/** The model with every 2-D weight re-encoded as `type` (norms stay F32). */
function requantized(m: LoadedModel, type: GGMLType): LoadedModel {
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of m.tensors) {
    tensors.set(name, t.shape.length === 2 ? { ...quantize(dequantize(t), t.shape, type), name } : t);
  }
  return { ...m, tensors };
}

/** NMSE bound of engine logits against the reference engine, per weight type (Q types quantize activations). */
const ENGINE_NMSE: Record<string, number> = { F32: 1e-9, F16: 1e-9, Q8_0: 1e-3, Q4_0: 1e-3 };

describe('WASM engine prefill kernels (assembly/prefill.ts)', () => {
  // The prefill kernels keep the matvec kernels' integer sums and float epilogue order, and every
  // other op works per token, so a batched prompt must give exactly the logits of token-by-token
  // decoding: chunks of 64 + 6 tokens cover full and partial token quads, and the head (odd vocab).
  for (const variant of VARIANTS) for (const type of [GGMLType.Q8_0, GGMLType.Q4_0]) {
    for (const activation of ['swiglu', 'drelu'] as const) {
      it(`${variant} ${GGMLType[type]} ${activation}: 70-token prefill logits equal token-by-token decode bit for bit, on 1 and 2 threads`, async () => {
        const model = requantized(tinyModel({ activation, hidden_size: 64, intermediate_size: 96, layers: 2, heads: 4, seed: 21 + type }), type);
        const toks = Array.from({ length: 70 }, (_, i) => (i * 37 + 5) % 290);
        const prefills: Float32Array[] = [];
        for (const threads of [1, 2]) {
          const wasm = await createWasmEngine(model, { threads, maxContext: 128, batch: 64, warmup: false, variant });
          try {
            const p = wasm.createSession({ capacity: 80 }).forward(toks, { allLogits: true });
            const d = wasm.createSession({ capacity: 80 });
            const V = wasm.config.vocab_size;
            toks.forEach((t, i) => {
              const y = d.forward([t]);
              assert.deepEqual(p.subarray(i * V, (i + 1) * V), y, `${threads}T token ${i}`);
            });
            prefills.push(p);
          } finally {
            await wasm.close();
          }
        }
        assert.deepEqual(prefills[0], prefills[1]);
      });
    }
  }
});

describe('WASM engine against the reference engine on tiny random models', () => {
  const variants = [
    { activation: 'swiglu' as const },
    { activation: 'drelu' as const, tie: true },
    { activation: 'reglu' as const, sliding_window: 5, kvHeads: 1 },
  ];
  for (const variant of VARIANTS) for (const type of [GGMLType.F32, GGMLType.F16, GGMLType.Q8_0, GGMLType.Q4_0]) {
    for (const v of variants) {
      for (const threads of [1, 2]) {
        it(`${variant} ${GGMLType[type]} ${JSON.stringify(v)} ${threads}T: logits (prefill and decode) match`, async () => {
          const base = tinyModel({ ...v, hidden_size: 64, intermediate_size: 96, layers: 3, heads: 4, seed: 3 + type });
          const model = requantized(base, type);
          const ref = new KernelEngine(model);
          const wasm = await createWasmEngine(model, { threads, maxContext: 64, batch: 4, warmup: false, variant });
          try {
            const toks = [1, 40, 41, 290, 7, 8, 9, 100, 200, 33, 2];
            const rs = ref.createSession({ capacity: 32 });
            const ws = wasm.createSession({ capacity: 32 });
            const a = rs.forward(toks.slice(0, 7), { allLogits: true });
            const b = ws.forward(toks.slice(0, 7), { allLogits: true });
            assert.ok(nmse(b, a) <= ENGINE_NMSE[GGMLType[type]]!, `prefill nmse ${nmse(b, a)}`);
            for (const t of toks.slice(7)) {
              const x = rs.forward([t]);
              const y = ws.forward([t]);
              assert.ok(nmse(y, x) <= ENGINE_NMSE[GGMLType[type]]!, `decode nmse ${nmse(y, x)}`);
            }
          } finally {
            await wasm.close();
          }
        });
      }
    }
  }

  it('a model that does not fit fails before loading, naming bytes needed and available', async () => {
    await assert.rejects(createWasmEngine(tinyModel(), { threads: 1, availableBytes: 1000, warmup: false }), (e: Error) => {
      assert.match(e.message, /does not fit in memory: needs .*\(\d+ bytes.*available/);
      return true;
    });
  });
});
