// relufy generate --sparse / --stats through the CLI, on the shipped dReLU model.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../../test/paths.js';

function relufy(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/bin.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const SHIPPED = join(REPO_ROOT, 'models', 'stories260K-drelu.gguf');
const ROW = /^\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+) \|\s+([\d.]+)\s+([\d.]+)\s+([\d.]+) \|\s+(\d+)\/(\d+)\s+\| (.+) \/ (.+) \(([\d.]+)%\)$/;

describe('relufy generate --sparse / --stats (shipped stories260K-drelu)', { skip: !existsSync(SHIPPED) && 'model missing' }, () => {
  const args = ['generate', '-m', SHIPPED, '-p', 'Once upon a time', '-n', '24', '--temp', '0'];

  test('--sparse lossless prints the same text as dense on ref and wasm (1 and 2 threads); --stats prints a per-layer table', () => {
    const dense = relufy(...args);
    assert.equal(dense.code, 0, dense.stderr);
    const runs = [
      relufy(...args, '--backend', 'ref', '--sparse', 'lossless', '--stats'),
      relufy(...args, '--sparse', 'lossless', '--stats', '-t', '1'),
      relufy(...args, '--sparse', 'lossless', '--stats', '-t', '2'),
    ];
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, dense.stdout);
      assert.match(r.stderr, /sparse: lossless\n/);
      const rows = r.stderr.split('\n').map((l) => ROW.exec(l)).filter((m) => m !== null);
      assert.equal(rows.length, 5, r.stderr);
      for (const [i, m] of rows.entries()) {
        assert.equal(Number(m[1]), i);
        assert.equal(Number(m[2]), 5 + 23); // prompt (BOS + 4) + 23 decode steps
        const [mean, min, max] = [Number(m[3]), Number(m[4]), Number(m[5])];
        assert.ok(min <= mean && mean <= max && max < 100 && min > 0, m[0]);
        assert.ok(Number(m[13]) < 100, `no bytes saved: ${m[0]}`);
      }
      assert.match(r.stderr, /total: .* read of .* dense \(\d+\.\d%\)/);
    }
  });

  test('--stats with dense execution reads every byte; --json carries ffn_stats', () => {
    const r = relufy(...args, '--stats');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /sparse: off\n/);
    assert.match(r.stderr, /total: (.*) read of \1 dense \(100\.0%\)/);
    const j = relufy(...args, '--stats', '--sparse', 'lossless', '--json');
    assert.equal(j.code, 0, j.stderr);
    const o = JSON.parse(j.stdout) as { ffn_stats: { layer: number; active: { mean: number }; bytesRead: number; bytesDense: number }[] };
    assert.equal(o.ffn_stats.length, 5);
    for (const s of o.ffn_stats) assert.ok(s.active.mean > 0 && s.active.mean < 1 && s.bytesRead < s.bytesDense);
  });

  test('--sparse predictor and bad thresholds fail with one line', () => {
    const p = relufy(...args, '--sparse', 'predictor', '--backend', 'ref');
    assert.equal(p.code, 1);
    assert.match(p.stderr, /--sparse: predictor mode needs a model with activation predictors/);
    const t = relufy(...args, '--sparse', 'lossless', '--sparse-crossover', '2');
    assert.equal(t.code, 1);
    assert.match(t.stderr, /--sparse-crossover: expected a number in 0\.\.1/);
  });
});
