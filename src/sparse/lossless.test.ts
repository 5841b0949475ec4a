import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { UsageError } from '../errors.js';
import { KernelEngine, loadEngine, loadModel } from '../model/index.js';
import type { LoadedModel } from '../model/types.js';
import { prefillThenDecode, relErr, type SessionFactory } from '../../test/conformance/helpers.js';
import { tinyModel } from '../../test/fixtures/tiny-model.js';
import { hasSharedData, REPO_ROOT, sharedData } from '../../test/paths.js';
import { DEFAULT_SPARSE_CROSSOVER } from './lossless.js';
import { formatFfnStats } from './stats.js';

const SHIPPED = `${REPO_ROOT}/models/stories260K-drelu.gguf`;
const PROMPT = [1, 270, 271, 260, 275, 290, 258, 269];
const DECODE = [280, 265, 272, 257];

const run = (e: SessionFactory): Float32Array => prefillThenDecode(e, PROMPT, DECODE);


function checkLossless(model: LoadedModel, label: string): void {
  const dense = new KernelEngine(model, undefined, { stats: true });
  const want = run(dense);
  for (const threshold of [1, DEFAULT_SPARSE_CROSSOVER, 0]) {
    const e = new KernelEngine(model, undefined, { sparse: 'lossless', sparseCrossover: threshold, stats: true });
    const got = run(e);
    const err = relErr(got, want);
    assert.ok(err <= 1e-4, `${label} threshold ${threshold}: relative logit error ${err}`);
    const st = e.ffnStats!.layers();
    const ds = dense.ffnStats!.layers();
    const tokens = PROMPT.length + DECODE.length;
    for (let l = 0; l < st.length; l++) {
      const s = st[l]!;
      assert.equal(s.tokens, tokens);
      // The same neurons are active whichever way the FFN ran.
      assert.deepEqual(s.active, ds[l]!.active, `${label} layer ${l} active fractions`);
      assert.deepEqual(s.gateActive, ds[l]!.gateActive, `${label} layer ${l} gate fractions`);
      assert.ok(s.active.min <= s.active.mean && s.active.mean <= s.active.max && s.active.max <= s.gateActive.max);
      assert.equal(ds[l]!.bytesRead, ds[l]!.bytesDense);
      assert.equal(s.bytesDense, ds[l]!.bytesDense);
      if (threshold === 1) {
        assert.equal(s.sparseUpTokens, tokens);
        assert.equal(s.sparseDownTokens, tokens);
        assert.ok(s.bytesRead < s.bytesDense, `${label} layer ${l}: sparse read ${s.bytesRead} of ${s.bytesDense}`);
      }
      if (threshold === 0) assert.equal(s.bytesRead, s.bytesDense);
    }
  }
}

describe('lossless sparse FFN (ref): logits equal dense within 1e-4 relative', () => {
  for (const activation of ['drelu', 'reglu'] as const) {
    test(`tiny ${activation} model, prefill + decode, thresholds 1 / 0.4 / 0`, () => {
      checkLossless(tinyModel({ activation, seed: 11, intermediate_size: 96 }), activation);
    });
  }

  test('shipped models/stories260K-drelu.gguf', { skip: !existsSync(SHIPPED) && 'model missing' }, () => {
    checkLossless(loadModel(SHIPPED), 'stories260K-drelu');
  });

  test('the lossless path is bit-identical to the dense reference (exact zeros skipped, same float64 sums)', () => {
    const m = tinyModel({ activation: 'drelu', seed: 4 });
    const a = run(new KernelEngine(m));
    const b = run(new KernelEngine(m, undefined, { sparse: 'lossless', sparseCrossover: 1 }));
    assert.deepEqual(b, a);
  });

  test('observers see the same h and gate on the sparse path as on the dense one', () => {
    const m = tinyModel({ activation: 'reglu', seed: 6 });
    const seen: string[][] = [[], []];
    [new KernelEngine(m), new KernelEngine(m, undefined, { sparse: 'lossless', sparseCrossover: 1 })].forEach((e, i) => {
      e.ffnObserver = (l, h, T, gate) => seen[i]!.push(`${l}:${T}:${h.join(',')}|${gate.join(',')}`);
      run(e);
    });
    assert.deepEqual(seen[1], seen[0]);
  });
});

describe('lossless sparsity refuses what it cannot do', () => {
  const msg = 'lossless sparsity needs a ReLU-family FFN (reglu or drelu); this model is swiglu';

  test('SwiGLU model: clear UsageError', () => {
    assert.throws(() => new KernelEngine(tinyModel({ activation: 'swiglu' }), undefined, { sparse: 'lossless' }), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, `--sparse: ${msg}`);
      return true;
    });
  });

  const GGUF = sharedData('models', 'stories260K', 'stories260K.gguf');
  test('loadEngine on the SwiGLU stories260K, ref and wasm', { skip: !hasSharedData('models', 'stories260K', 'stories260K.gguf') && 'shared data missing' }, async () => {
    for (const backend of ['ref', 'wasm'] as const) {
      await assert.rejects(loadEngine(GGUF, { backend, sparse: 'lossless' }), (e: unknown) => e instanceof UsageError && e.message === `--sparse: ${msg}`);
    }
  });

  test('predictor mode and bad thresholds', async () => {
    await assert.rejects(loadEngine(SHIPPED, { backend: 'ref', sparse: 'predictor' }), /--sparse: predictor mode needs a model with activation predictors/);
    assert.throws(() => new KernelEngine(tinyModel({ activation: 'drelu' }), undefined, { sparse: 'lossless', sparseCrossover: 1.5 }), /--sparse-crossover: must be a fraction/);
  });
});

test('formatFfnStats prints one row per layer and a total', () => {
  const e = new KernelEngine(tinyModel({ activation: 'drelu', seed: 2 }), undefined, { sparse: 'lossless', sparseCrossover: 1, stats: true });
  run(e);
  const text = formatFfnStats(e.ffnStats!.layers());
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 2 + 2 + 1);
  assert.match(lines[2]!, /^\s+0\s+12\s+/);
  assert.match(lines[4]!, /^total: .* read of .* dense \(\d+\.\d%\)$/);
  e.ffnStats!.reset();
  assert.equal(e.ffnStats!.layers()[0]!.tokens, 0);
});
