import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../../test/paths.js';
import { saveGguf } from '../model/save.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rng, tinyModel } from '../../test/fixtures/tiny-model.js';
import { GGMLType } from '../formats/quant/index.js';
import { generate, loadEngine, loadModel } from '../model/index.js';
import type { LoadedModel } from '../model/types.js';
import { dequantizeRows } from '../kernels/ref/dequant.js';
import { maskBytes, predictorMetrics, scoreRows, thresholdForRecall, type LayerSamples } from './predictor-fit.js';
import { collectWindows, FOLDED_THRESHOLD, foldThreshold, formatPredictorReport, rankForBudget, trainPredictors, type TrainPredictorResult } from './predictor-train.js';
import { KernelEngine } from '../model/engine.js';
import { predictorsOf, predictorThresholdOf } from './predictor.js';
import { savePowerInferGguf } from './pwri.js';

/**
 * A ReGLU model whose gates are rank 3 (gate = A B, A (F, 3), B (3, C)): neuron i is active iff
 * A_i · B (g ∘ x) > 0 (x the FFN input; rmsnorm only rescales it), so the active set is a
 * function of a 3-dimensional projection of x, and a rank-6 predictor can represent the rule
 * exactly (fc1 = [B'; -B'], fc2 = [A, -A]).
 */
function lowRankGateModel(): LoadedModel {
  const m = tinyModel({ activation: 'reglu', seed: 11, hidden_size: 32, intermediate_size: 64, layers: 2 });
  const { hidden_size: C, intermediate_size: F } = m.config;
  const r = rng(99);
  for (let l = 0; l < 2; l++) {
    const A = Float32Array.from({ length: F * 3 }, () => r());
    const B = Float32Array.from({ length: 3 * C }, () => r() / Math.sqrt(C));
    const g = new Float32Array(F * C);
    for (let i = 0; i < F; i++) for (let c = 0; c < C; c++) g[i * C + c] = A[i * 3]! * B[c]! + A[i * 3 + 1]! * B[C + c]! + A[i * 3 + 2]! * B[2 * C + c]!;
    const name = `blk.${l}.ffn_gate.weight`;
    m.tensors.set(name, { name, type: GGMLType.F32, shape: [F, C], data: new Uint8Array(g.buffer) });
  }
  return m;
}

/** Async variant of test/paths.ts withTempDir (that one removes the folder when its callback returns). */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'relufy-pt-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function randomTokens(n: number, V: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, (_, i) => (i % 64 === 0 ? 1 : 3 + Math.floor(((r() + 1) / 2) * (V - 3))));
}

describe('predictor training', () => {
  test('recovers a known low-rank active-set rule: recall >= 0.99 on held-out tokens, high precision (2 worker threads)', async () => {
    const m = lowRankGateModel();
    const tokens = randomTokens(64 * 80, m.config.vocab_size, 5);
    let r: TrainPredictorResult | undefined;
    await inTempDir(async (dir) => {
      r = await trainPredictors({ model: m, corpus: 'random', tokens, workDir: join(dir, 'w'), ctx: 64, rank: 8, recall: 0.995, epochs: 30, batch: 64, lr: 1e-2, threads: 2 });
    });
    assert.ok(r);
    process.stderr.write(formatPredictorReport(r, 0.995));
    for (const l of r.layers) {
      assert.ok(l.metrics.recall >= 0.99, `layer ${l.layer} recall ${l.metrics.recall}`);
      assert.ok(l.metrics.precision >= 0.9, `layer ${l.layer} precision ${l.metrics.precision}`);
      assert.ok(l.metrics.predictedSparsity > 0.8 * l.metrics.trueSparsity, `layer ${l.layer}: ${JSON.stringify(l.metrics)}`);
    }
  });

  test('threshold for recall and metrics on a hand-made case', () => {
    const F = 8;
    const s: LayerSamples = { n: 2, x: new Float32Array(0), mask: Uint8Array.from([0b00001111, 0b11110000]) };
    const scores = Float32Array.from([4, 3, 2, 1, -1, -2, -3, -4, -4, -3, -2, -1, 1, 2, 3, 4]);
    assert.equal(thresholdForRecall(scores, s, F, 1), 1);
    assert.equal(thresholdForRecall(scores, s, F, 0.75), 2);
    const m = predictorMetrics(scores, s, F, 1.5);
    assert.deepEqual(m, { recall: 6 / 8, precision: 1, predictedSparsity: 10 / 16, trueSparsity: 0.5, tokens: 2 });
    assert.equal(maskBytes(9), 2);
  });

  test('folding a negative threshold into fc2 keeps the selected neurons at the global threshold -1', () => {
    const C = 3, R = 2, F = 4;
    const fc1 = Float32Array.from([1, 0, -1, 0.5, 1, 0]);
    const fc2 = Float32Array.from([1, -1, 0.5, 2, -1, 0.25, 0.1, -0.3]);
    const x = Float32Array.from([0.3, -1, 2, 1, 1, -0.5]);
    const a = new Float32Array(2 * F), b = new Float32Array(2 * F);
    scoreRows(fc1, fc2, R, C, F, x, 2, a);
    const t = -0.4;
    scoreRows(fc1, foldThreshold(fc2, t), R, C, F, x, 2, b);
    for (let i = 0; i < 2 * F; i++) assert.equal(a[i]! >= t, b[i]! >= FOLDED_THRESHOLD, `${i}`);
    assert.throws(() => foldThreshold(fc2, 0), /not negative/);
  });

  test('rank for a byte budget', () => {
    // 15% of 12% x (3 x 64 x 172 x 4 bytes) / ((64 + 172) x 4 bytes) = 2.5 -> 2
    assert.equal(rankForBudget(0.15, 0.12 * 3 * 64 * 172 * 4, 64, 172), 2);
    assert.equal(rankForBudget(10, 1e9, 64, 172), 172);
    assert.equal(rankForBudget(1e-9, 100, 64, 172), 1);
  });

  test('an interrupted run resumes: collected parts and finished layers are reused, the result equals an uninterrupted run', async () => {
    const m = tinyModel({ activation: 'drelu', seed: 4, layers: 2 });
    const tokens = randomTokens(32 * 24, m.config.vocab_size, 8);
    const base = { model: m, corpus: 'random', tokens, ctx: 32, rank: 4, epochs: 2, batch: 32, threads: 1, partWindows: 4 };
    await inTempDir(async (dir) => {
      {
        const full = await trainPredictors({ ...base, workDir: join(dir, 'full') });
        const w = join(dir, 'w');
        // 1) killed during collection, after the first part
        await assert.rejects(trainPredictors({ ...base, workDir: w, onCollect: (d) => { if (d > 0) throw new Error('kill'); } }), /kill/);
        assert.deepEqual(readdirSync(w).filter((f) => f.startsWith('part-')), ['part-00000.bin']);
        // without --resume the folder is refused
        await assert.rejects(trainPredictors({ ...base, workDir: w }), /--resume/);
        // 2) killed during training of the second layer
        const notes: string[] = [];
        let layerSteps = -1;
        await assert.rejects(trainPredictors({
          ...base, workDir: w, resume: true, onNote: (s) => notes.push(s),
          onTrain: (d, total) => { if (layerSteps < 0) layerSteps = total / 2; if (d > layerSteps) throw new Error('kill'); },
        }), /kill/);
        assert.match(notes.join('\n'), /resumed: 1 of \d+ collected parts/);
        assert.ok(existsSync(join(w, 'layer-0.bin')) && !existsSync(join(w, 'layer-1.bin')));
        // 3) resumed to the end
        const notes2: string[] = [];
        const resumed = await trainPredictors({ ...base, workDir: w, resume: true, onNote: (s) => notes2.push(s) });
        assert.match(notes2.join('\n'), /resumed: 1 of 2 trained layers/);
        for (let l = 0; l < 2; l++) {
          assert.deepEqual(resumed.predictors[l]!.fc1.data, full.predictors[l]!.fc1.data);
          assert.deepEqual(resumed.predictors[l]!.fc2.data, full.predictors[l]!.fc2.data);
          assert.deepEqual(resumed.layers[l]!.metrics, full.layers[l]!.metrics);
        }
        // other data settings are refused
        await assert.rejects(trainPredictors({ ...base, ctx: 16, workDir: w, resume: true }), /other data settings/);
      }
    });
  });

  test('the written PWRI file loads in the sparse engine, selects the same neurons, and generates', async () => {
    const m = lowRankGateModel();
    const tokens = randomTokens(64 * 30, m.config.vocab_size, 6);
    await inTempDir(async (dir) => {
      {
        const r = await trainPredictors({ model: m, corpus: 'random', tokens, workDir: join(dir, 'w'), ctx: 64, rank: 8, epochs: 3, batch: 64, threads: 1 });
        const out = join(dir, 'm.pwri.gguf');
        savePowerInferGguf(out, m, r.predictors, { threshold: r.threshold });
        const loaded = loadModel(out);
        assert.equal(predictorThresholdOf(loaded), FOLDED_THRESHOLD);
        const preds = predictorsOf(loaded)!;
        // the file's predictor with threshold -1 selects what the unfolded one did at its own threshold
        const { hidden_size: C, intermediate_size: F } = m.config;
        const eng = new KernelEngine(m);
        const part = collectWindows(eng, tokens, 64, 0, 1);
        const x = part.layers[1]!.x;
        const n = part.n;
        const a = new Float32Array(n * F);
        const R = r.layers[1]!.rank;
        scoreRows(dequantizeRows(preds[1]!.fc1, 0, R), dequantizeRows(preds[1]!.fc2, 0, F), R, C, F, x, n, a);
        const b = new Float32Array(n * F);
        scoreRows(dequantizeRows(r.predictors[1]!.fc1, 0, R), dequantizeRows(r.predictors[1]!.fc2, 0, F).map((v) => v * -r.layers[1]!.threshold), R, C, F, x, n, b);
        let same = 0;
        for (let i = 0; i < n * F; i++) if ((a[i]! >= -1) === (b[i]! >= r.layers[1]!.threshold)) same++;
        assert.ok(same >= n * F - 2, `${same} of ${n * F}`); // float rounding at the boundary only
        const engine = await loadEngine(out, { sparse: 'predictor', backend: 'ref' });
        const g = generate(engine, 'the cat', { n_predict: 8, temp: 0, ignore_eos: true });
        assert.equal(g.tokens.length, 8);
      }
    });
  });
});

describe('relufy profile / train-predictor (CLI, tiny dReLU model)', () => {
  const relufy = (...args: string[]): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/bin.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  test('profile writes JSON and HTML; train-predictor writes a PWRI file, refuses a used work folder, resumes', async () => {
    await inTempDir(async (dir) => {
      const model = join(dir, 'tiny.gguf');
      saveGguf(model, tinyModel({ activation: 'drelu', seed: 7 }));
      const corpus = join(dir, 'corpus.txt');
      writeFileSync(corpus, Array.from({ length: 60 }, (_, i) => `the cat ${i % 7} sat on the mat and ate ${i % 5} hats.`).join('\n'));
      const p = relufy('profile', '-m', model, '-f', corpus, '-c', '32', '--topk', '100,50', '--topk-chunks', '2', '-o', join(dir, 'p.json'), '--report', join(dir, 'r.html'));
      assert.equal(p.code, 0, p.stderr);
      assert.match(p.stdout, /inactive% mean/);
      assert.match(readFileSync(join(dir, 'r.html'), 'utf8'), /<svg/);
      const out = join(dir, 'm.pwri.gguf');
      const args = ['train-predictor', '-m', model, '-f', corpus, '-o', out, '-c', '32', '--rank', '4', '--epochs', '1', '-t', '1'];
      const t = relufy(...args);
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, /recall%  precision%/);
      assert.equal(readFileSync(out).subarray(0, 4).toString('latin1'), 'PWRI');
      const again = relufy(...args);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /^relufy: --work-dir: .* pass --resume/);
      const resumed = relufy(...args, '--resume');
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stderr, /resumed: \d+ of \d+ collected parts/);
      const bad = relufy('train-predictor', '-m', model, '-f', corpus, '-o', out, '--rank', '4', '--budget', '0.1');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--rank: give --rank or --budget, not both/);
    });
  });
});
