// Conformance of the WASM engine's lossless sparse FFN (decode steps) against the reference engine
// (dense and lossless) and the WASM dense path, on 1 and 2 threads.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { GGMLType, dequantize, quantize } from '../formats/quant/index.js';
import { argmax, KernelEngine, loadModel } from '../model/index.js';
import type { LoadedModel } from '../model/types.js';
import { prefillThenDecode, relErr, wasmEngineFactory, type SessionFactory } from '../../test/conformance/helpers.js';
import { tinyModel } from '../../test/fixtures/tiny-model.js';
import { REPO_ROOT } from '../../test/paths.js';

const SHIPPED = `${REPO_ROOT}/models/stories260K-drelu.gguf`;
const PROMPT = [1, 270, 271, 260, 275];
const DECODE = [280, 265, 272, 257, 290, 261, 262, 263];


const run = (e: SessionFactory): Float32Array => prefillThenDecode(e, PROMPT, DECODE);


const wasm = wasmEngineFactory();

describe('WASM lossless sparse FFN: logits equal dense within 1e-4 relative', () => {
  for (const activation of ['drelu', 'reglu'] as const) {
    test(`tiny ${activation}: thresholds 1 / 0.4 / 0, 1 and 2 threads`, async () => {
      const model = tinyModel({ activation, seed: 21, intermediate_size: 96 });
      const refDense = run(new KernelEngine(model));
      const refSparse = run(new KernelEngine(model, undefined, { sparse: 'lossless', sparseCrossover: 1 }));
      const wasmDense = run(await wasm(model, { threads: 1 }));
      for (const sparseCrossover of [1, 0.4, 0]) {
        const byThreads: Float32Array[] = [];
        for (const threads of [1, 2]) {
          const e = await wasm(model, { threads, sparse: 'lossless', sparseCrossover, stats: true });
          const got = run(e);
          const label = `${activation} threshold ${sparseCrossover} ${threads}T`;
          assert.ok(relErr(got, refDense) <= 1e-4, `${label} vs ref dense: ${relErr(got, refDense)}`);
          assert.ok(relErr(got, refSparse) <= 1e-4, `${label} vs ref lossless: ${relErr(got, refSparse)}`);
          assert.ok(relErr(got, wasmDense) <= 1e-4, `${label} vs wasm dense: ${relErr(got, wasmDense)}`);
          const st = e.ffnStats!.layers();
          for (const s of st) {
            assert.equal(s.tokens, PROMPT.length + DECODE.length);
            if (sparseCrossover === 1) {
              // prefill runs dense; every decode step ran both passes sparsely
              assert.equal(s.sparseUpTokens, DECODE.length);
              assert.equal(s.sparseDownTokens, DECODE.length);
              assert.ok(s.bytesRead < s.bytesDense);
            }
            if (sparseCrossover === 0) assert.equal(s.bytesRead, s.bytesDense);
          }
          byThreads.push(got);
        }
        assert.deepEqual(byThreads[1], byThreads[0], `${activation} threshold ${sparseCrossover}: 1 and 2 threads differ`);
      }
    });
  }

  test('stats mode without sparsity runs the unfused dense FFN: same logits as the fused one', async () => {
    const model = tinyModel({ activation: 'drelu', seed: 5 });
    const fused = run(await wasm(model, { threads: 1 }));
    const e = await wasm(model, { threads: 1, stats: true });
    const unfused = run(e);
    assert.ok(relErr(unfused, fused) <= 1e-6, `${relErr(unfused, fused)}`);
    for (const s of e.ffnStats!.layers()) {
      assert.equal(s.bytesRead, s.bytesDense);
      assert.equal(s.sparseUpTokens + s.sparseDownTokens, 0);
    }
  });

  test('shipped stories260K-drelu: same greedy tokens as dense on 1 and 2 threads, logits within 1e-4, stats as the ref engine', { skip: !existsSync(SHIPPED) && 'model missing' }, async () => {
    const model = loadModel(SHIPPED);
    const refEngine = new KernelEngine(model, undefined, { stats: true });
    const refDense = run(refEngine);
    const greedy = (e: SessionFactory): number[] => {
      const s = e.createSession({ capacity: 48 });
      let logits = s.forward(PROMPT);
      const out: number[] = [];
      for (let i = 0; i < 40; i++) {
        const t = argmax(logits);
        out.push(t);
        logits = s.forward([t]);
      }
      return out;
    };
    const want = greedy(await wasm(SHIPPED, { threads: 1 }));
    for (const threads of [1, 2]) {
      const e = await wasm(SHIPPED, { threads, sparse: 'lossless', stats: true });
      const got = run(e);
      assert.ok(relErr(got, refDense) <= 1e-4, `${threads}T: ${relErr(got, refDense)}`);
      const ws = e.ffnStats!.layers();
      const rs = refEngine.ffnStats!.layers();
      for (let l = 0; l < ws.length; l++) {
        assert.ok(Math.abs(ws[l]!.active.mean - rs[l]!.active.mean) < 0.01, `layer ${l} active ${ws[l]!.active.mean} vs ${rs[l]!.active.mean}`);
        assert.ok(Math.abs(ws[l]!.gateActive.mean - rs[l]!.gateActive.mean) < 0.01);
      }
      assert.deepEqual(greedy(e), want, `${threads}T greedy tokens`);
    }
  });

  test('sharded over several memories: same logits as unsharded', { skip: !existsSync(SHIPPED) && 'model missing' }, async () => {
    const one = run(await wasm(SHIPPED, { threads: 1, sparse: 'lossless', sparseCrossover: 1 }));
    const sh = await wasm(SHIPPED, { threads: 2, sparse: 'lossless', sparseCrossover: 1, memoryLimit: 2 << 20, warmup: false });
    assert.ok(sh.info.memories >= 2, `expected >= 2 memories, got ${sh.info.memories}`);
    assert.deepEqual(run(sh), one);
  });

  for (const [type, C] of [[GGMLType.Q8_0, 160], [GGMLType.Q4_0, 96], [GGMLType.Q8_0, 64]] as const) {
    test(`${GGMLType[type]} FFN weights (hidden ${C}): lossless bundles equal dense on the same values, 1 and 2 threads`, async () => {
      // The bundles keep gate / up rows as stored and hold ffn_down as PowerInfer's ffn_down_t rows,
      // re-quantized along C (bundles.ts). The same values as a float ffn_down give the dense reference.
      // Every token is a decode step (prefill runs the dense matrices as stored).
      const decodeOnly = (e: SessionFactory) => prefillThenDecode(e, PROMPT.slice(0, 1), [...PROMPT.slice(1), ...DECODE]);
      const model = quantizedFfn(tinyModel({ activation: 'drelu', seed: 8, hidden_size: C, heads: 4, intermediate_size: 96 }), type);
      const want = decodeOnly(await wasm(requantizedDown(model, type), { threads: 1 }));
      for (const sparseCrossover of [1, 0.4]) {
        const byThreads: Float32Array[] = [];
        for (const threads of [1, 2]) {
          const e = await wasm(model, { threads, sparse: 'lossless', sparseCrossover, stats: true });
          const got = decodeOnly(e);
          assert.ok(relErr(got, want) <= 1e-4, `${threads}T crossover ${sparseCrossover}: ${relErr(got, want)}`);
          if (sparseCrossover === 1) for (const s of e.ffnStats!.layers()) assert.ok(s.bytesRead < s.bytesDense);
          byThreads.push(got);
        }
        assert.deepEqual(byThreads[1], byThreads[0], 'results differ between 1 and 2 threads');
      }
    });
  }
});

/** ffn_down (C, F) replaced by the float values of its transpose re-quantized to `type` along C. */
function requantizedDown(model: LoadedModel, type: GGMLType): LoadedModel {
  const tensors = new Map(model.tensors);
  for (const t of model.tensors.values()) {
    if (!t.name.endsWith('ffn_down.weight')) continue;
    const [C, F] = t.shape as [number, number];
    const d = dequantize(t);
    const rows = new Float32Array(F * C);
    for (let c = 0; c < C; c++) for (let i = 0; i < F; i++) rows[i * C + c] = d[c * F + i]!;
    const back = dequantize(quantize(rows, [F, C], type));
    const f = new Float32Array(C * F);
    for (let c = 0; c < C; c++) for (let i = 0; i < F; i++) f[c * F + i] = back[i * C + c]!;
    tensors.set(t.name, { name: t.name, type: GGMLType.F32, shape: [C, F], data: new Uint8Array(f.buffer) });
  }
  return { ...model, tensors };
}

/** The model with ffn_gate / ffn_up / ffn_down re-encoded as `type` (other weights stay F32). */
function quantizedFfn(model: LoadedModel, type: GGMLType): LoadedModel {
  for (const t of [...model.tensors.values()]) {
    if (/ffn_(gate|up|down)\.weight$/.test(t.name)) model.tensors.set(t.name, { ...quantize(dequantize(t), t.shape, type), name: t.name });
  }
  return model;
}
