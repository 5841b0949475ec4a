import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { writeHfFolder } from '../../src/formats/hf/index.js';
import { GGMLType } from '../../src/formats/quant/index.js';
import { KernelEngine, loadModel, saveGguf } from '../../src/model/index.js';
import type { LoadedModel } from '../../src/model/types.js';
import { maxAbsDiff, nmse } from '../conformance/helpers.js';
import { tinyModel } from '../fixtures/tiny-model.js';

const dir = mkdtempSync(join(tmpdir(), 'relufy-roundtrip-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TOKENS = [1, 290, 280, 262, 291, 270, 265, 295, 289, 260, 275];

function logitsOf(m: LoadedModel): Float32Array {
  const e = new KernelEngine(m);
  return e.createSession({ capacity: 32 }).forward(TOKENS, { allLogits: true });
}



for (const activation of ['swiglu', 'reglu', 'drelu'] as const) {
  describe(`generated tiny ${activation} model`, () => {
    const model = tinyModel({ activation, seed: 7, tie: activation === 'reglu' });
    const want = logitsOf(model);

    test('GGUF written by relufy loads back with identical config, tokenizer and logits', () => {
      const p = join(dir, `${activation}.gguf`);
      saveGguf(p, model);
      const back = loadModel(p);
      assert.deepEqual({ ...back.config, architecture: '' }, { ...model.config, architecture: '' });
      assert.equal(back.config.ffn_activation, activation);
      assert.deepEqual(back.tokenizer!.vocab.tokens, model.tokenizer!.vocab.tokens);
      assert.equal(maxAbsDiff(logitsOf(back), want), 0);
    });

    test('HF folder written by relufy (q/k permuted to HF order) loads back with identical logits', () => {
      const p = join(dir, `${activation}-hf`);
      writeHfFolder(p, model);
      const back = loadModel(p, { tokenizer: join(dir, `${activation}.gguf`) });
      assert.equal(back.config.ffn_activation, activation);
      assert.equal(maxAbsDiff(logitsOf(back), want), 0);
    });

    test('Q8_0 weights stay close to F32 (NMSE < 1e-3)', () => {
      const p = join(dir, `${activation}-q8.gguf`);
      saveGguf(p, model, { weightType: GGMLType.Q8_0 });
      const back = loadModel(p);
      assert.equal(back.tensors.get('blk.0.ffn_up.weight')!.type, GGMLType.Q8_0);
      const e = nmse(logitsOf(back), want);
      assert.ok(e < 1e-3 && e > 0, `nmse ${e}`);
    });
  });
}

test('dReLU and ReGLU FFN outputs contain exact zeros; SwiGLU ones do not', () => {
  for (const activation of ['swiglu', 'reglu', 'drelu'] as const) {
    const e = new KernelEngine(tinyModel({ activation, seed: 3 }));
    let zeros = 0;
    let total = 0;
    e.ffnObserver = (_l, h) => {
      for (const v of h) if (v === 0) zeros++;
      total += h.length;
    };
    e.createSession({ capacity: 32 }).forward(TOKENS);
    const frac = zeros / total;
    if (activation === 'swiglu') assert.equal(zeros, 0);
    else if (activation === 'reglu') assert.ok(frac > 0.3 && frac < 0.7, `reglu zero fraction ${frac}`);
    else assert.ok(frac > 0.6 && frac < 0.9, `drelu zero fraction ${frac}`); // both relu(gate) and relu(up) must be > 0
  }
});

test('sliding window: a window covering the whole sequence changes nothing, a short one changes later positions only', () => {
  const full = logitsOf(tinyModel({ seed: 5 }));
  const wide = logitsOf(tinyModel({ seed: 5, sliding_window: 64 }));
  assert.equal(maxAbsDiff(full, wide), 0);
  const narrow = logitsOf(tinyModel({ seed: 5, sliding_window: 3 }));
  const V = tinyModel().config.vocab_size;
  assert.equal(maxAbsDiff(full.subarray(0, 3 * V), narrow.subarray(0, 3 * V)), 0);
  assert.ok(maxAbsDiff(full.subarray(3 * V), narrow.subarray(3 * V)) > 1e-4);
});
