import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError, UsageError } from '../errors.js';
import { saveGguf } from '../model/save.js';
import { tinyModel } from '../../test/fixtures/tiny-model.js';
import { formatBench, runBench, type BenchOptions } from './run.js';

const base: BenchOptions = { model: 'unused.gguf', threads: 1, nPrompt: 0, nGen: 4, repetitions: 1, backend: 'wasm', variant: 'auto', seed: 1, readBandwidth: 1e10 };

describe('relufy bench option checks (before anything is loaded)', () => {
  const cases: [Partial<BenchOptions>, RegExp][] = [
    [{ active: 0.1 }, /--active: needs --sparse lossless or predictor/],
    [{ sparse: 'lossless', active: 0.1, predictorRank: 256 }, /--predictor-rank: synthetic predictors need --sparse predictor and --active/],
    [{ sparse: 'predictor', predictorRank: 256 }, /--predictor-rank/],
    [{ sparse: 'predictor', active: 0.1, backend: 'ref' }, /--sparse: sparse benchmarks run on the wasm backend/],
    [{ nGen: 0 }, /nothing to measure/],
  ];
  for (const [o, re] of cases) {
    it(JSON.stringify(o), async () => {
      await assert.rejects(runBench({ ...base, ...o }), (e: unknown) => e instanceof UsageError && re.test(e.message));
    });
  }
  it('synthetic files: more layers than the real model, or nothing to measure, fail before a file is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relufy-bench-'));
    try {
      const syn = { ...base, model: undefined, synthetic: 'bamboo-7b' as const, cacheDir: dir };
      await assert.rejects(runBench({ ...syn, layers: 99 }), (e: unknown) => e instanceof UsageError && /--layers: bamboo-7b has 32 layers \(got 99\)/.test(e.message));
      await assert.rejects(runBench({ ...syn, layers: 1, nPrompt: 0, nGen: 0 }), (e: unknown) => e instanceof UsageError && /nothing to measure/.test(e.message));
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a missing model file is named before the bandwidth is measured', async () => {
    await assert.rejects(runBench({ ...base, model: join(tmpdir(), 'relufy-no-such.gguf'), readBandwidth: undefined }),
      (e: unknown) => e instanceof FormatError && /relufy-no-such\.gguf: no such file or folder$/.test(e.message));
  });
});

describe('relufy bench with a sparse mode', () => {
  it('measures dense and sparse decode on one load; synthetic active sets report their bytes per token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relufy-bench-'));
    try {
      const path = join(dir, 'tiny.gguf');
      saveGguf(path, tinyModel({ activation: 'drelu', seed: 3, intermediate_size: 128 }));
      const r = await runBench({ ...base, model: path, sparse: 'predictor', active: 0.25, predictorRank: 32 });
      assert.deepEqual(r.rows.map((x) => x.engine), ['relufy', 'relufy predictor']);
      const [dense, sparse] = r.rows;
      assert.ok(sparse!.bytesPerToken! < dense!.bytesPerToken!, `${sparse!.bytesPerToken} vs ${dense!.bytesPerToken}`);
      assert.deepEqual(r.ratios.map((q) => q.name), ['relufy predictor/relufy']);
      assert.deepEqual(r.sparse, { mode: 'predictor', active: 0.25, predictorRank: 32, synthetic: true });
      assert.match(formatBench(r), /SYNTHETIC active sets: 25\.0% .* rank 32/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
