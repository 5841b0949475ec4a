import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FormatError, UsageError } from '../errors.js';
import { GGUFValueType } from '../formats/gguf/types.js';
import { GGMLType, quantize } from '../formats/quant/index.js';
import { asF32, refKernels } from '../kernels/ref/index.js';
import { dequantizeRows } from '../kernels/ref/dequant.js';
import { KernelEngine } from '../model/index.js';
import { arrangeWeights, KernelSession, type FfnExecutor } from '../model/forward.js';
import type { LoadedModel } from '../model/types.js';
import { prefillThenDecode, type SessionFactory } from '../../test/conformance/helpers.js';
import { tinyModel, tinyPredictors, withPredictors } from '../../test/fixtures/tiny-model.js';
import { DEFAULT_PRED_THRESHOLD, predictorScores, predictorsOf, predictorThresholdOf, type LayerPredictor } from './predictor.js';

const PROMPT = [1, 270, 271, 260, 275, 290, 258, 269];
const DECODE = [280, 265, 272, 257];
const run = (e: SessionFactory): Float32Array => prefillThenDecode(e, PROMPT, DECODE);

/**
 * Independent masked-dense FFN for the test: the dense reference FFN (ref matmul + glu) with h zeroed
 * for neurons whose score, computed here with plain loops (float64 sums rounded to float32, as the
 * reference matmul rounds), is below the threshold.
 */
class MaskedDense implements FfnExecutor {
  constructor(private readonly model: LoadedModel, private readonly preds: LayerPredictor[], private readonly thr: number) {}

  run(l: number, out: Float32Array, n: Float32Array, T: number, _h?: Float32Array, _g?: Float32Array, input?: Float32Array): void {
    const c = this.model.config;
    const C = c.hidden_size;
    const F = c.intermediate_size;
    const w = (name: string) => this.model.tensors.get(`blk.${l}.${name}.weight`)!;
    const fc1 = asF32(this.preds[l]!.fc1);
    const fc2 = asF32(this.preds[l]!.fc2);
    const R = this.preds[l]!.fc1.shape[0]!;
    const gate = new Float32Array(T * F);
    const up = new Float32Array(T * F);
    const h = new Float32Array(T * F);
    refKernels.matmul(gate, n, w('ffn_gate'), T);
    refKernels.matmul(up, n, w('ffn_up'), T);
    refKernels.glu(h, gate, up, T * F, c.ffn_activation);
    for (let t = 0; t < T; t++) {
      const hid = new Float32Array(R);
      for (let r = 0; r < R; r++) {
        let s = 0;
        for (let k = 0; k < C; k++) s += fc1[r * C + k]! * input![t * C + k]!;
        hid[r] = Math.max(0, s);
      }
      for (let i = 0; i < F; i++) {
        let s = 0;
        for (let r = 0; r < R; r++) s += fc2[i * R + r]! * hid[r]!;
        if (!(Math.fround(s) >= this.thr)) h[t * F + i] = 0;
      }
    }
    refKernels.matmul(out, h, w('ffn_down'), T);
  }
}

function maskedDenseLogits(model: LoadedModel, preds: LayerPredictor[], thr: number): Float32Array {
  const factory: SessionFactory = {
    createSession: (o) => new KernelSession(model.config, arrangeWeights(model), refKernels, o.capacity, undefined, new MaskedDense(model, preds, thr)),
  };
  return run(factory);
}

describe('predictor mode (ref)', () => {
  for (const activation of ['drelu', 'reglu', 'swiglu'] as const) {
    test(`${activation}: an always-active predictor gives the dense logits exactly`, () => {
      const m = tinyModel({ activation, seed: 21, intermediate_size: 96 });
      const pm = withPredictors(m, tinyPredictors(m, { rank: 4, alwaysActive: true }));
      const dense = run(new KernelEngine(m));
      const e = new KernelEngine(pm, undefined, { sparse: 'predictor', stats: true });
      assert.deepEqual(run(e), dense);
      for (const s of e.ffnStats!.layers()) {
        assert.deepEqual(s.predicted, { mean: 1, min: 1, max: 1 });
        assert.ok(s.predictorBytes > 0);
      }
    });
  }

  for (const activation of ['drelu', 'reglu'] as const) {
    test(`${activation}: a random predictor changes the logits and equals an independent masked-dense FFN`, () => {
      const m = tinyModel({ activation, seed: 5, intermediate_size: 96 });
      const preds = tinyPredictors(m, { rank: 8, seed: 3 });
      const pm = withPredictors(m, preds);
      const dense = run(new KernelEngine(m));
      const e = new KernelEngine(pm, undefined, { sparse: 'predictor', stats: true });
      const got = run(e);
      assert.notDeepEqual(got, dense);
      assert.deepEqual(got, maskedDenseLogits(m, preds, 0));
      const tokens = PROMPT.length + DECODE.length;
      for (const s of e.ffnStats!.layers()) {
        assert.equal(s.tokens, tokens);
        assert.ok(s.predicted.min > 0 && s.predicted.max < 1, `predicted fraction ${JSON.stringify(s.predicted)}`);
        assert.ok(s.active.max <= s.predicted.max);
        assert.ok(s.bytesRead < s.bytesDense, `${s.bytesRead} of ${s.bytesDense}`);
        const fcBytes = preds[s.layer]!.fc1.data.byteLength + preds[s.layer]!.fc2.data.byteLength;
        assert.equal(s.predictorBytes, tokens * fcBytes);
      }
      // A threshold override: far below every score is dense, and it matches the masked reference.
      assert.deepEqual(run(new KernelEngine(pm, undefined, { sparse: 'predictor', sparseThreshold: -1e30 })), dense);
      assert.deepEqual(run(new KernelEngine(pm, undefined, { sparse: 'predictor', sparseThreshold: 0.05 })), maskedDenseLogits(m, preds, 0.05));
    });
  }

  test('observers see h with zeros for unpredicted neurons and the FFN input', () => {
    const m = tinyModel({ activation: 'reglu', seed: 8 });
    const pm = withPredictors(m, tinyPredictors(m, { seed: 2 }));
    const e = new KernelEngine(pm, undefined, { sparse: 'predictor' });
    const F = m.config.intermediate_size;
    let calls = 0;
    e.ffnObserver = (l, h, T, _gate, input) => {
      calls++;
      const score = new Float32Array(T * F);
      predictorScores(predictorsOf(pm)![l]!, input, T, score);
      for (let i = 0; i < T * F; i++) if (score[i]! < 0) assert.equal(h[i], 0);
    };
    run(e);
    assert.equal(calls, 2 * (1 + DECODE.length));
  });

  test('predictorScores works on quantized predictors (Q8_0 equals its dequantized F32 copy)', () => {
    const m = tinyModel({ activation: 'drelu', seed: 9 });
    const p = tinyPredictors(m, { rank: 32, seed: 4 })[0]!;
    const q = (t: LayerPredictor['fc1']) => quantize(asF32(t), t.shape, GGMLType.Q8_0);
    const qp = { fc1: q(p.fc1), fc2: q(p.fc2) };
    const deq = (t: LayerPredictor['fc1']) => ({ ...t, type: GGMLType.F32, data: new Uint8Array(dequantizeRows(t, 0, t.shape[0]!).buffer) });
    const x = new Float32Array(3 * 32).map((_, i) => Math.sin(i));
    const a = new Float32Array(3 * 64);
    const b = new Float32Array(3 * 64);
    predictorScores(qp, x, 3, a);
    predictorScores({ fc1: deq(qp.fc1), fc2: deq(qp.fc2) }, x, 3, b);
    assert.deepEqual(a, b);
  });
});

describe('predictors of a model', () => {
  test('none: predictorsOf is null and predictor mode is refused with one line', () => {
    const m = tinyModel({ activation: 'drelu' });
    assert.equal(predictorsOf(m), null);
    assert.throws(() => new KernelEngine(m, undefined, { sparse: 'predictor' }), (e: unknown) =>
      e instanceof UsageError && e.message === '--sparse: predictor mode needs a model with activation predictors (blk.N.fc1/fc2, a PowerInfer PWRI file); this model has none');
  });

  test('only some layers, or fc1 without fc2: FormatError naming the file and tensor', () => {
    const m = tinyModel({ activation: 'drelu' });
    const preds = tinyPredictors(m);
    const partial = withPredictors(m, preds);
    partial.tensors.delete('blk.1.fc1.weight');
    partial.tensors.delete('blk.1.fc2.weight');
    assert.throws(() => predictorsOf(partial), (e: unknown) => e instanceof FormatError && /^<tiny drelu>: blk\.1\.fc1\.weight is missing/.test(e.message));
    const noFc2 = withPredictors(m, preds);
    noFc2.tensors.delete('blk.0.fc2.weight');
    assert.throws(() => predictorsOf(noFc2), (e: unknown) => e instanceof FormatError && /^<tiny drelu>: blk\.0\.fc2\.weight is missing/.test(e.message));
  });

  test('threshold: powerinfer.sparse_threshold, else 0; bad overrides refused', () => {
    const m = tinyModel({ activation: 'drelu' });
    assert.equal(predictorThresholdOf(m), DEFAULT_PRED_THRESHOLD);
    assert.equal(predictorThresholdOf({ ...m, metadata: { 'powerinfer.sparse_threshold': 0.25 } }), 0.25);
    const gguf = { path: 'x', magic: 'PWRI', metadata: new Map([['powerinfer.sparse_threshold', { type: GGUFValueType.FLOAT32, value: -0.5 }]]) };
    assert.equal(predictorThresholdOf({ ...m, gguf } as unknown as LoadedModel), -0.5);
    assert.throws(() => predictorThresholdOf({ ...m, metadata: { 'powerinfer.sparse_threshold': 'high' } }), FormatError);
    const pm = withPredictors(m, tinyPredictors(m));
    assert.throws(() => new KernelEngine(pm, undefined, { sparse: 'predictor', sparseThreshold: NaN }), /--sparse-threshold: must be a finite number/);
  });
});
