// The WASM engine's predictor mode (decode steps over neuron bundles, PowerInfer predictors) against
// the reference engine's PredictorFfn, on F32, Q8_0 and PWRI-file models, 1 and 2 threads.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { GGMLType, dequantize, quantize } from '../formats/quant/index.js';
import { createWasmEngine, hotNeuronOrder } from '../kernels/wasm/index.js';
import { KernelEngine, loadModel } from '../model/index.js';
import { prefillThenDecode, relErr, wasmEngineFactory, type SessionFactory } from '../../test/conformance/helpers.js';
import { tinyModel, tinyPredictors, withPredictors } from '../../test/fixtures/tiny-model.js';
import { savePowerInferGguf } from './pwri.js';

const TOKENS = [1, 270, 271, 260, 275, 280, 265, 272, 257, 290, 261, 262, 263];
/** Every token a decode step (T = 1), the only steps that run sparsely. */
const decodeOnly = (e: SessionFactory): Float32Array => prefillThenDecode(e, TOKENS.slice(0, 1), TOKENS.slice(1));

const wasm = wasmEngineFactory();

describe('WASM predictor mode', () => {
  for (const activation of ['drelu', 'reglu'] as const) {
    test(`tiny ${activation} F32: equals the reference PredictorFfn within 1e-4, same on 1 and 2 threads; an always-active predictor equals dense`, async () => {
      const base = tinyModel({ activation, seed: 31, intermediate_size: 96 });
      const model = withPredictors(base, tinyPredictors(base, { rank: 8, seed: 3 }));
      const want = decodeOnly(new KernelEngine(model, undefined, { sparse: 'predictor' }));
      const dense = decodeOnly(new KernelEngine(model));
      assert.ok(relErr(want, dense) > 1e-3, 'the random predictor should change the result');
      const byThreads: Float32Array[] = [];
      for (const threads of [1, 2]) {
        const e = await wasm(model, { threads, sparse: 'predictor', sparseCrossover: 1, stats: true });
        const got = decodeOnly(e);
        assert.ok(relErr(got, want) <= 1e-4, `${threads}T vs ref predictor: ${relErr(got, want)}`);
        for (const s of e.ffnStats!.layers()) {
          assert.ok(s.predicted && s.predicted.mean > 0.2 && s.predicted.mean < 0.8, `predicted ${JSON.stringify(s.predicted)}`);
          assert.ok(s.bytesRead < s.bytesDense);
        }
        byThreads.push(got);
      }
      assert.deepEqual(byThreads[1], byThreads[0]);
      // above the crossover (about half the neurons predicted) the layer runs densely with h masked: same result, same telemetry
      const refStats = new KernelEngine(model, undefined, { sparse: 'predictor', stats: true });
      decodeOnly(refStats);
      const fallback = await wasm(model, { threads: 2, sparse: 'predictor', sparseCrossover: 0.1, stats: true });
      assert.ok(relErr(decodeOnly(fallback), want) <= 1e-4);
      fallback.ffnStats!.layers().forEach((st, l) => {
        const r = refStats.ffnStats!.layers()[l]!;
        assert.ok(Math.abs(st.active.mean - r.active.mean) < 1e-6, `layer ${l} active ${st.active.mean} vs ${r.active.mean}`);
        assert.equal(st.sparseUpTokens, 0);
      });
      const all = withPredictors(base, tinyPredictors(base, { alwaysActive: true }));
      const got = decodeOnly(await wasm(all, { threads: 2, sparse: 'predictor', sparseCrossover: 1 }));
      assert.ok(relErr(got, dense) <= 1e-4, `always-active vs dense: ${relErr(got, dense)}`);
    });
  }

  test('threshold from the file and overridden: a higher threshold selects fewer neurons', async () => {
    const base = tinyModel({ activation: 'drelu', seed: 32, intermediate_size: 64 });
    const model = withPredictors(base, tinyPredictors(base, { rank: 8, seed: 4 }));
    const frac = async (t: number) => {
      const e = await wasm(model, { threads: 1, sparse: 'predictor', sparseCrossover: 1, sparseThreshold: t, stats: true });
      decodeOnly(e);
      return e.ffnStats!.layers()[0]!.predicted!.mean;
    };
    assert.ok((await frac(0.5)) < (await frac(0)));
    await assert.rejects(createWasmEngine(base, { sparse: 'predictor' }), (e: unknown) => e instanceof UsageError && /has none/.test(e.message));
  });

  test('Q8_0 model with Q8_0 predictors: deterministic over threads, close to the reference predictor mode', async () => {
    const base = tinyModel({ activation: 'drelu', seed: 33, hidden_size: 64, heads: 4, intermediate_size: 96 });
    for (const t of [...base.tensors.values()]) if (/ffn_(gate|up)\.weight$/.test(t.name)) base.tensors.set(t.name, { ...quantize(dequantize(t), t.shape, GGMLType.Q8_0), name: t.name });
    const preds = tinyPredictors(base, { rank: 32, seed: 5 }).map((p) => ({
      fc1: { ...quantize(dequantize(p.fc1), p.fc1.shape, GGMLType.Q8_0), name: p.fc1.name },
      fc2: { ...quantize(dequantize(p.fc2), p.fc2.shape, GGMLType.Q8_0), name: p.fc2.name },
    }));
    const model = withPredictors(base, preds);
    const a = decodeOnly(await wasm(model, { threads: 1, sparse: 'predictor', sparseCrossover: 1 }));
    const b = decodeOnly(await wasm(model, { threads: 2, sparse: 'predictor', sparseCrossover: 1 }));
    assert.deepEqual(a, b);
    const ref = decodeOnly(new KernelEngine(model, undefined, { sparse: 'predictor' }));
    // wasm quantizes the predictor and FFN inputs to int8 blocks (as ggml); the masks may differ on a few borderline neurons
    assert.ok(relErr(a, ref) <= 0.05, `vs ref predictor: ${relErr(a, ref)}`);
  });

  test('Q4_0 model on both kernel builds: lossless equals dense within 1e-4, dense is the same on 1 and 2 threads and across builds', async () => {
    // the relaxed build runs dense Q4_0 through its own column-quad tiles and paired row groups
    // (assembly/matmul.ts dotQ4pair), while the bundles keep the file's encoding. ffn_down stays F32:
    // a quantized one is re-quantized transposed for the bundles (bundles.ts), which moves the result.
    const base = tinyModel({ activation: 'drelu', seed: 36, hidden_size: 64, heads: 4, intermediate_size: 96 });
    for (const t of [...base.tensors.values()]) if (t.shape.length === 2 && !t.name.includes('ffn_down')) base.tensors.set(t.name, { ...quantize(dequantize(t), t.shape, GGMLType.Q4_0), name: t.name });
    const dense: Float32Array[] = [];
    for (const variant of ['simd', 'relaxed-flag'] as const) {
      const byThreads = [1, 2].map(async (threads) => decodeOnly(await wasm(base, { threads, variant })));
      const [d1, d2] = await Promise.all(byThreads);
      assert.deepEqual(d2, d1, `${variant}: dense differs between 1 and 2 threads`);
      const lossless = decodeOnly(await wasm(base, { threads: 2, variant, sparse: 'lossless', sparseCrossover: 1 }));
      assert.ok(relErr(lossless, d1!) <= 1e-4, `${variant} lossless vs dense: ${relErr(lossless, d1!)}`);
      dense.push(d1!);
    }
    assert.ok(relErr(dense[1]!, dense[0]!) <= 1e-4, `relaxed vs simd dense: ${relErr(dense[1]!, dense[0]!)}`);
  });

  test('a relufy-written PWRI file (ffn_down_t only) generates on the wasm engine dense and sparse like the reference', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relufy-pwri-'));
    try {
      const base = tinyModel({ activation: 'drelu', seed: 34, intermediate_size: 64 });
      const path = join(dir, 'tiny.pwri.gguf');
      savePowerInferGguf(path, base, tinyPredictors(base, { rank: 8, seed: 6 }), { threshold: 0.1 });
      const file = loadModel(path);
      assert.ok(!file.tensors.has('blk.0.ffn_down.weight'));
      for (const sparse of ['off', 'predictor'] as const) {
        const want = decodeOnly(new KernelEngine(file, undefined, { sparse }));
        for (const threads of [1, 2]) {
          const e = await wasm(path, { threads, sparse });
          assert.equal(e.predThreshold, sparse === 'predictor' ? Math.fround(0.1) : e.predThreshold);
          const got = decodeOnly(e);
          assert.ok(relErr(got, want) <= 1e-4, `${sparse} ${threads}T: ${relErr(got, want)}`);
          // prefill (T > 1): predictor masks over the batch; down through the bundles (no ffn_down in the file)
          const s = e.createSession({ capacity: 16 });
          const pre = s.forward(TOKENS.slice(0, 6), { allLogits: true });
          const refPre = new KernelEngine(file, undefined, { sparse }).createSession({ capacity: 16 }).forward(TOKENS.slice(0, 6), { allLogits: true });
          assert.ok(relErr(pre, refPre) <= 1e-4, `prefill ${sparse} ${threads}T: ${relErr(pre, refPre)}`);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('hot-neuron ordering', () => {
  test('a permuted bundle order gives the same logits (lossless and predictor), and a non-permutation is refused', async () => {
    const base = tinyModel({ activation: 'drelu', seed: 35, intermediate_size: 64 });
    const model = withPredictors(base, tinyPredictors(base, { rank: 8, seed: 7 }));
    const F = 64;
    const counts = Array.from({ length: F }, (_, i) => (i * 37) % 11);
    const order = Array.from({ length: model.config.num_hidden_layers }, () => hotNeuronOrder(counts));
    assert.notDeepEqual([...order[0]!], Array.from({ length: F }, (_, i) => i));
    for (const sparse of ['lossless', 'predictor'] as const) {
      const plain = decodeOnly(await wasm(model, { threads: 2, sparse, sparseCrossover: 1 }));
      const hot = decodeOnly(await wasm(model, { threads: 2, sparse, sparseCrossover: 1, neuronOrder: order }));
      assert.ok(relErr(hot, plain) <= 1e-5, `${sparse}: ${relErr(hot, plain)}`);
    }
    const bad = [Int32Array.from({ length: F }, () => 0), order[1]!];
    await assert.rejects(createWasmEngine(model, { sparse: 'lossless', neuronOrder: bad }), /not a permutation/);
  });
});
