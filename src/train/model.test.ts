import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tinyModel } from '../../test/fixtures/tiny-model.js';
import { hasSharedData, sharedData } from '../../test/paths.js';
import { refKernels } from '../kernels/ref/index.js';
import { arrangeWeights, KernelSession, loadModel } from '../model/index.js';
import { paramLayout, paramsFromModel, TrainModel } from './model.js';

function tokens(n: number, V: number, seed: number): Int32Array {
  let s = seed;
  return Int32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % V);
}

test('stories260K: training forward gives the same logits as the inference forward (KernelSession)', { skip: hasSharedData('models', 'stories260K', 'stories260K.gguf') ? false : 'shared stories260K absent' }, () => {
  const model = loadModel(sharedData('models', 'stories260K', 'stories260K.gguf'));
  const T = 24;
  const ids = Int32Array.from(model.tokenizer!.encode('Once upon a time, there was a little girl named Lily.', { add_bos: true }).slice(0, T));
  const params = paramsFromModel(model);
  const tm = new TrainModel(model.config, params, new Float32Array(params.length), 1, ids.length);
  tm.forward(ids, null);
  const sess = new KernelSession(model.config, arrangeWeights(model), refKernels, 64);
  const ref = sess.forward([...ids], { allLogits: true });
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i]! - tm.logits[i]!));
  assert.ok(maxDiff < 1e-3, `max |logit difference| ${maxDiff}`);
});

for (const activation of ['swiglu', 'drelu'] as const) {
  test(`tiny ${activation} model, tied and grouped-query: whole-model gradient vs finite differences`, () => {
    const model = tinyModel({ activation, seed: 3, hidden_size: 16, intermediate_size: 24, layers: 2, heads: 4, kvHeads: 2, tie: true });
    const c = model.config;
    const params = paramsFromModel(model);
    const grads = new Float32Array(params.length);
    const B = 2, T = 5;
    const inp = tokens(B * T, c.vocab_size, 1), tgt = tokens(B * T, c.vocab_size, 2);
    tgt[3] = -1;
    const tm = new TrainModel(c, params, grads, B, T);
    const objective = (): number => tm.forward(inp, tgt).lossSum;
    const { count } = tm.forward(inp, tgt);
    tm.backward(1 / count, 0);
    const h = 1e-2;
    let maxErr = 0, maxG = 0;
    const layout = paramLayout(c);
    for (const e of layout.entries) {
      for (let k = 0; k < 3; k++) {
        const j = e.offset + ((k * 7919 + 13) % e.size);
        const orig = params[j]!;
        params[j] = orig + h;
        const lp = objective() / count;
        params[j] = orig - h;
        const lm = objective() / count;
        params[j] = orig;
        const num = (lp - lm) / (2 * h);
        maxErr = Math.max(maxErr, Math.abs(num - grads[j]!));
        maxG = Math.max(maxG, Math.abs(num));
      }
    }
    assert.ok(maxG > 1e-3, 'gradients are not all ~0');
    assert.ok(maxErr / maxG < 2e-2, `relative error ${maxErr / maxG}`);
  });
}

test('L1 penalty: its gradient is l1 * lossScale / F * sign(h) on the FFN activations', () => {
  const model = tinyModel({ activation: 'drelu', seed: 5, hidden_size: 16, intermediate_size: 24, layers: 1 });
  const params = paramsFromModel(model);
  const B = 1, T = 6;
  const inp = tokens(T, model.config.vocab_size, 3), tgt = tokens(T, model.config.vocab_size, 4);
  const g0 = new Float32Array(params.length), g1 = new Float32Array(params.length);
  const a = new TrainModel(model.config, params, g0, B, T), b = new TrainModel(model.config, params, g1, B, T);
  a.forward(inp, tgt); a.backward(1, 0);
  b.forward(inp, tgt); b.backward(1, 1);
  const e = paramLayout(model.config).entries.find((x) => x.name === 'blk.0.ffn_gate.weight')!;
  let diff = 0;
  for (let i = e.offset; i < e.offset + e.size; i++) diff += Math.abs(g1[i]! - g0[i]!);
  assert.ok(diff > 0, 'the L1 term changes ffn_gate gradients');
  const d = paramLayout(model.config).entries.find((x) => x.name === 'blk.0.ffn_down.weight')!;
  for (let i = d.offset; i < d.offset + d.size; i++) assert.equal(g1[i], g0[i], 'ffn_down is downstream of h: unchanged');
});
