import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RelufyError } from '../../errors.js';
import { WasmHeap } from './heap.js';
import { instantiate, loadWasmModule } from './module.js';
import { ThreadPool } from './pool.js';
import { planShards, checkFits } from './shard.js';

describe('ThreadPool', () => {
  it('splits a kernel over 2 threads, reports a trap in a worker, and keeps working afterwards', async () => {
    const mod = loadWasmModule('simd');
    const heap = new WasmHeap(16 << 20, 4 << 20);
    const ex = instantiate(mod, heap.memory);
    const pool = await ThreadPool.create(mod, [heap.memory], [ex], 2);
    try {
      const nb = 64;
      const x = heap.alloc(nb * 128), q = heap.alloc(nb * 32), d = heap.alloc(nb * 4), s = heap.alloc(nb * 4);
      const xf = heap.f32(x, nb * 32);
      for (let i = 0; i < xf.length; i++) xf[i] = Math.sin(i);
      pool.run(0, 'quantize_q8', [x, q, d, s, nb, 0, 0]);
      const scales = heap.f32(d, nb);
      for (let b = 0; b < nb; b++) assert.ok(scales[b]! > 0, `block ${b} (both halves written)`);
      // blocks of the second half point past the end of memory: only the worker's share traps
      const bad = 16 << 20;
      assert.throws(() => pool.run(0, 'quantize_q8', [x, bad - (nb / 2) * 32, d, s, nb, 0, 0]), (e: Error) => {
        assert.ok(e instanceof RelufyError || e.name === 'RuntimeError', e.message);
        return true;
      });
      scales.fill(0);
      pool.run(0, 'quantize_q8', [x, q, d, s, nb, 0, 0]);
      assert.ok(heap.f32(d, nb).every((v) => v > 0));
    } finally {
      await pool.close();
    }
  });
});

describe('planShards', () => {
  it('puts whole layers in order into memories of at most the limit, and fails for a piece larger than one memory', () => {
    const p = planShards({ embd: 100, output: 100, layers: [300, 300, 300, 300], kvPerLayer: 50, perMemory: 10, outputBuffers: 5 }, 1000);
    assert.deepEqual(p.layerMem, [0, 0, 1, 1]);
    assert.equal(p.outputMem, 1);
    assert.equal(p.memories, 2);
    assert.ok(p.bytes.every((b) => b <= 1000));
    assert.throws(() => planShards({ embd: 2000, output: 0, layers: [], kvPerLayer: 0, perMemory: 10, outputBuffers: 0 }, 1000), /more than one WebAssembly memory/);
    assert.throws(() => checkFits(p, 'm.gguf', 10), /needs .* available/);
  });
});
