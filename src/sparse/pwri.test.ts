// PowerInfer GGUF (PWRI) files: writing, reading back, running, and refusing malformed ones.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FormatError, UsageError } from '../errors.js';
import { writeGguf } from '../formats/gguf/index.js';
import { GGUFValueType } from '../formats/gguf/types.js';
import { GGMLType, quantize, typeName } from '../formats/quant/index.js';
import type { Tensor } from '../formats/quant/types.js';
import { asF32 } from '../kernels/ref/index.js';
import { generate, ggufMetadata, KernelEngine, loadEngine, loadModel, saveGguf } from '../model/index.js';
import type { LoadedModel } from '../model/types.js';
import { tinyModel, tinyPredictors, withPredictors } from '../../test/fixtures/tiny-model.js';
import { REPO_ROOT, withTempDir } from '../../test/paths.js';
import { predictorsOf, predictorThresholdOf, type LayerPredictor } from './predictor.js';
import { savePowerInferGguf } from './pwri.js';

const greedy = (m: LoadedModel | KernelEngine, opts: ConstructorParameters<typeof KernelEngine>[2] = { sparse: 'predictor' }): number[] => {
  const e = m instanceof KernelEngine ? m : new KernelEngine(m, undefined, opts);
  return generate(e, 'the cat sat on', { n_predict: 12, temp: 0, ignore_eos: true }).tokens;
};

const q8 = (t: Tensor): Tensor => ({ ...quantize(asF32(t), t.shape, GGMLType.Q8_0), name: t.name });

describe('savePowerInferGguf', () => {
  for (const activation of ['drelu', 'reglu'] as const) {
    test(`${activation}: F32 file reads back with PWRI magic, the same config and predictors, ffn_down_t instead of ffn_down, same greedy tokens`, () => {
      withTempDir('relufy-pwri-', (dir) => {
        const m = tinyModel({ activation, seed: 31, intermediate_size: 64 });
        const preds = tinyPredictors(m, { rank: 8, seed: 5 });
        const path = join(dir, 'tiny.pwri.gguf');
        savePowerInferGguf(path, m, preds, { threshold: 0.125 });
        assert.equal(readFileSync(path).subarray(0, 4).toString('latin1'), 'PWRI');
        const r = loadModel(path);
        assert.equal(r.format, 'pwri');
        assert.deepEqual(r.config, m.config);
        assert.equal(r.metadata['general.architecture'], activation === 'drelu' ? 'bamboo' : 'llama');
        assert.equal(predictorThresholdOf(r), 0.125);
        for (let l = 0; l < m.config.num_hidden_layers; l++) {
          assert.equal(r.tensors.has(`blk.${l}.ffn_down.weight`), false);
          const dt = r.tensors.get(`blk.${l}.ffn_down_t.weight`)!;
          assert.deepEqual(dt.shape, [m.config.intermediate_size, m.config.hidden_size]);
          const d = asF32(m.tensors.get(`blk.${l}.ffn_down.weight`)!);
          const t = asF32(dt);
          const [C, F] = [m.config.hidden_size, m.config.intermediate_size];
          for (let c = 0; c < C; c++) for (let i = 0; i < F; i++) assert.equal(t[i * C + c], d[c * F + i]);
        }
        const back = predictorsOf(r)!;
        back.forEach((p, l) => {
          assert.deepEqual(p.fc1.shape, preds[l]!.fc1.shape);
          assert.deepEqual(asF32(p.fc1), asF32(preds[l]!.fc1));
          assert.deepEqual(asF32(p.fc2), asF32(preds[l]!.fc2));
        });
        const mem = withPredictors(m, preds);
        const opts = { sparse: 'predictor' as const, sparseThreshold: 0.125 };
        assert.deepEqual(greedy(r, opts), greedy(mem, opts));
        // Dense and lossless modes run on the same file (down rebuilt from ffn_down_t on the ref path).
        assert.deepEqual(greedy(r, {}), greedy(m, {}));
        assert.deepEqual(greedy(r, { sparse: 'lossless' }), greedy(m, {}));
      });
    });
  }

  test('Q8_0: weights and predictors converted, general.file_type 7, same greedy tokens as the in-memory Q8_0 model', () => {
    withTempDir('relufy-pwri-', (dir) => {
      const m = tinyModel({ activation: 'drelu', seed: 32, intermediate_size: 64 });
      const preds = tinyPredictors(m, { rank: 32, seed: 6 });
      const path = join(dir, 'tiny.q8.pwri.gguf');
      savePowerInferGguf(path, m, preds, { weightType: GGMLType.Q8_0 });
      const r = loadModel(path);
      assert.equal(r.format, 'pwri');
      assert.deepEqual(r.config, m.config);
      assert.equal(r.metadata['general.file_type'], 7);
      assert.equal(predictorThresholdOf(r), 0);
      const back = predictorsOf(r)!;
      back.forEach((p, l) => {
        assert.equal(typeName(p.fc1.type), 'Q8_0');
        assert.deepEqual(p.fc1.data, q8(preds[l]!.fc1).data);
        assert.deepEqual(p.fc2.data, q8(preds[l]!.fc2).data);
      });
      assert.equal(typeName(r.tensors.get('blk.0.ffn_down_t.weight')!.type), 'Q8_0');
      // The in-memory twin: the same Q8_0 weights, with ffn_down from the transposed file tensor.
      withTempDir('relufy-gguf-', (d2) => {
        const g = join(d2, 'tiny.q8.gguf');
        saveGguf(g, m, { weightType: GGMLType.Q8_0 });
        const dense = loadModel(g);
        const twin = withPredictors(dense, back);
        for (let l = 0; l < m.config.num_hidden_layers; l++) twin.tensors.delete(`blk.${l}.ffn_down.weight`);
        for (let l = 0; l < m.config.num_hidden_layers; l++) twin.tensors.set(`blk.${l}.ffn_down_t.weight`, r.tensors.get(`blk.${l}.ffn_down_t.weight`)!);
        assert.deepEqual(greedy(r), greedy(twin));
        // Quantizing ffn_down_t over its own rows keeps greedy decoding of this tiny model unchanged.
        assert.deepEqual(greedy(r), greedy(withPredictors(dense, back)));
      });
    });
  });

  test('refuses wrong predictor counts and shapes, and SwiGLU models', () => {
    const m = tinyModel({ activation: 'reglu' });
    const preds = tinyPredictors(m, { rank: 8 });
    const bad = (p: LayerPredictor[], re: RegExp) =>
      assert.throws(() => savePowerInferGguf('/nonexistent/x.gguf', m, p), (e: unknown) => e instanceof UsageError && re.test(e.message));
    bad(preds.slice(1), /^predictors: 1 predictors given for a 2-layer model$/);
    const wrongF = tinyPredictors(tinyModel({ activation: 'reglu', intermediate_size: 32 }), { rank: 8 });
    bad(wrongF, /^predictors: tensor blk\.0\.fc2\.weight has shape \[32, 8\], expected \[64, 8\]/);
    assert.throws(() => savePowerInferGguf('/nonexistent/x.gguf', tinyModel({ activation: 'swiglu' }), preds), /PowerInfer files hold ReLU-family models/);
  });
});

describe('malformed PWRI files are refused with one line naming the file', () => {
  /** Writes the tiny model as PWRI with `edit` applied to its tensor list. */
  function writeEdited(dir: string, edit: (t: Map<string, Tensor>) => void): string {
    const m = tinyModel({ activation: 'drelu', seed: 3 });
    const tensors = new Map(withPredictors(m, tinyPredictors(m, { rank: 8 })).tensors);
    edit(tensors);
    const path = join(dir, 'bad.pwri.gguf');
    const metadata = ggufMetadata(m.config, m.tokenizer!.vocab, 'bad');
    metadata.set('powerinfer.sparse_threshold', { type: GGUFValueType.FLOAT32, value: 0 });
    writeGguf(path, { magic: 'PWRI', metadata, tensors: [...tensors.values()] });
    return path;
  }
  const f32 = (name: string, shape: number[]): Tensor => ({ name, type: GGMLType.F32, shape, data: new Uint8Array(4 * shape[0]! * shape[1]!) });
  const cases: [string, (t: Map<string, Tensor>) => void, RegExp][] = [
    ['predictor shapes that do not match intermediate_size', (t) => t.set('blk.1.fc2.weight', f32('blk.1.fc2.weight', [65, 8])),
      /tensor blk\.1\.fc2\.weight has shape \[65, 8\], expected \[64, 8\]/],
    ['a missing fc2', (t) => t.delete('blk.0.fc2.weight'), /blk\.0\.fc2\.weight is missing/],
    ['ffn_down_t of the wrong shape', (t) => {
      t.delete('blk.0.ffn_down.weight');
      t.set('blk.0.ffn_down_t.weight', f32('blk.0.ffn_down_t.weight', [32, 64]));
    }, /tensor blk\.0\.ffn_down_t\.weight has shape \[32, 64\], config expects \[64, 32\]/],
    ['ffn_down_t of the wrong shape beside ffn_down', (t) => t.set('blk.1.ffn_down_t.weight', f32('blk.1.ffn_down_t.weight', [64, 31])),
      /tensor blk\.1\.ffn_down_t\.weight has shape \[64, 31\], config expects \[64, 32\]/],
    ['fc1 / fc2 rank mismatch', (t) => t.set('blk.0.fc2.weight', f32('blk.0.fc2.weight', [64, 4])),
      /tensor blk\.0\.fc2\.weight has shape \[64, 4\], expected \[64, 8\]/],
    ['fc1 with the wrong width', (t) => t.set('blk.0.fc1.weight', f32('blk.0.fc1.weight', [8, 16])),
      /tensor blk\.0\.fc1\.weight has shape \[8, 16\], expected \[R, 32\]/],
  ];
  for (const [what, edit, re] of cases) {
    test(what, () => {
      withTempDir('relufy-badpwri-', (dir) => {
        const path = writeEdited(dir, edit);
        assert.throws(() => loadModel(path), (e: unknown) => {
          assert.ok(e instanceof FormatError, String(e));
          assert.ok(e.message.startsWith(`${path}: `), e.message);
          assert.ok(!e.message.includes('\n'));
          assert.match(e.message, re);
          return true;
        });
      });
    });
  }
});

function relufy(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/bin.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('relufy CLI on PWRI files', () => {
  test('generate --sparse predictor runs; info shows predictor ranks; a model without predictors fails with one line', () => {
    withTempDir('relufy-pwri-cli-', (dir) => {
      const m = tinyModel({ activation: 'drelu', seed: 41 });
      const path = join(dir, 'tiny.pwri.gguf');
      savePowerInferGguf(path, m, tinyPredictors(m, { rank: 8, seed: 2 }), { threshold: -0.25 });
      const args = ['generate', '-m', path, '-p', 'the cat', '--sparse', 'predictor', '--backend', 'ref', '-n', '8', '--temp', '0', '--ignore-eos'];
      const g = relufy(...args, '--stats');
      assert.equal(g.code, 0, g.stderr);
      assert.ok(g.stdout.startsWith('the cat'), g.stdout);
      assert.match(g.stderr, /sparse: predictor\n/);
      const rows = g.stderr.split('\n').filter((l) => /^\s+\d+\s+\d+\s/.test(l));
      assert.equal(rows.length, 2, g.stderr);
      for (const row of rows) assert.match(row, /\| +[\d.]+ +[\d.]+ +[\d.]+ \| [\d.]+ (B|KiB)$/);
      const same = relufy(...args, '--sparse-threshold', '-0.25');
      assert.equal(same.stdout, g.stdout);
      const info = relufy('info', path);
      assert.equal(info.code, 0, info.stderr);
      assert.match(info.stdout, /format: {7}pwri \(PowerInfer sparse GGUF\)/);
      assert.match(info.stdout, /predictors: {3}ranks 8 x 2 layers, threshold -0\.25 \(powerinfer\.sparse_threshold\)/);
      const plain = join(dir, 'tiny.gguf');
      saveGguf(plain, m);
      const bad = relufy('generate', '-m', plain, '--sparse', 'predictor', '--backend', 'ref', '-n', '2');
      assert.notEqual(bad.code, 0);
      assert.equal(bad.stderr.trim(), 'relufy: --sparse: predictor mode needs a model with activation predictors (blk.N.fc1/fc2, a PowerInfer PWRI file); this model has none');
      const thr = relufy(...args, '--sparse-threshold', 'abc');
      assert.notEqual(thr.code, 0);
      assert.match(thr.stderr, /--sparse-threshold: expected a number/);
    });
  });

  test('loadEngine(ref): predictor mode on a PWRI file, refused without predictors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relufy-pwri-le-'));
    try {
      const m = tinyModel({ activation: 'reglu' });
      const plain = join(dir, 'tiny.gguf');
      saveGguf(plain, m);
      await assert.rejects(loadEngine(plain, { backend: 'ref', sparse: 'predictor' }),
        (e: unknown) => e instanceof UsageError && /^--sparse: predictor mode needs a model with activation predictors/.test(e.message));
      const pwri = join(dir, 'tiny.pwri.gguf');
      savePowerInferGguf(pwri, m, tinyPredictors(m));
      const e = await loadEngine(pwri, { backend: 'ref', sparse: 'predictor', sparseThreshold: 1e30 });
      assert.equal(generate(e, 'a', { n_predict: 2, temp: 0 }).tokens.length, 2);
      await assert.rejects(loadEngine(pwri, { backend: 'ref', sparse: 'predictor', sparseThreshold: Infinity }), /--sparse-threshold: must be a finite number/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
