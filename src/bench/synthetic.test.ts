import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGguf } from '../formats/gguf/index.js';
import { loadModel } from '../model/load.js';
import { loadWasmEngine } from '../kernels/wasm/index.js';
import { syntheticPlan, writeSyntheticGguf, type SyntheticSpec } from './synthetic.js';

describe('synthetic GGUF models', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relufy-syn-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('llama-2-7b Q8_0 has the public checkpoint size (TheBloke llama-2-7b.Q8_0.gguf: 7,161,089,728 bytes)', () => {
    const { tensors } = syntheticPlan({ shape: 'llama-2-7b', quant: 'q8_0' });
    const last = tensors[tensors.length - 1]!;
    const data = last.offset + last.bytes;
    assert.equal(tensors.length, 1 + 32 * 9 + 2);
    // the data section of the public file is 7,161,089,728 minus its header; allow the header difference
    assert.ok(Math.abs(data - 7_161_089_728) < 2_000_000, `data bytes ${data}`);
  });

  it('bamboo-7b is Mistral-7B shaped with GQA 32/8 and F = 14336', () => {
    const { tensors } = syntheticPlan({ shape: 'bamboo-7b', quant: 'q4_0' });
    const by = new Map(tensors.map((t) => [t.name, t]));
    assert.deepEqual(by.get('blk.31.ffn_gate.weight')!.shape, [14336, 4096]);
    assert.deepEqual(by.get('blk.0.attn_k.weight')!.shape, [1024, 4096]);
    assert.equal(by.get('blk.0.attn_k.weight')!.bytes, 1024 * 128 * 18);
  });

  const tiny: SyntheticSpec = { hidden: 64, ffn: 96, layers: 2, heads: 4, kvHeads: 2, vocab: 300, ctx: 128, theta: 10000, activation: 'drelu' };
  for (const quant of ['q8_0', 'q4_0', 'f16'] as const) {
    it(`a small ${quant} file reads back, is deterministic and runs on the WASM engine`, async () => {
      const p = join(dir, `tiny-${quant}.gguf`);
      const n = writeSyntheticGguf(p, { shape: tiny, quant, seed: 5 });
      assert.equal(statSync(p).size, n);
      const f = openGguf(p);
      assert.equal(f.tensors.length, 1 + 2 * 9 + 2);
      const m = loadModel(p);
      assert.equal(m.config.ffn_activation, 'drelu');
      assert.equal(m.config.vocab_size, 300);
      const q = join(dir, `tiny-${quant}-again.gguf`);
      writeSyntheticGguf(q, { shape: tiny, quant, seed: 5 });
      const a = loadModel(q).tensors.get('blk.1.ffn_up.weight')!.data;
      assert.deepEqual(a, m.tensors.get('blk.1.ffn_up.weight')!.data);
      const e = await loadWasmEngine(p, { threads: 1, maxContext: 16, warmup: false });
      try {
        const logits = e.createSession({ capacity: 8 }).forward([1, 5, 9]);
        assert.equal(logits.length, 300);
        assert.ok(logits.every((v) => Number.isFinite(v)));
      } finally {
        await e.close();
      }
    });
  }
});
