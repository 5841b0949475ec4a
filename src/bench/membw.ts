import { WasmHeap } from '../kernels/wasm/heap.js';
import { instantiate, loadWasmModule } from '../kernels/wasm/module.js';
import { ThreadPool } from '../kernels/wasm/pool.js';

/**
 * The machine's read bandwidth as WebAssembly sees it: `threads` threads streaming 16-byte loads
 * over a buffer far larger than the caches (default 1 GiB), best of `passes`. Bytes per second.
 * (shared/docs/kernel-notes.md section 1 has the native AVX-512 figures for comparison.)
 */
export async function measureReadBandwidth(threads: number, bytes = 1 << 30, passes = 5): Promise<number> {
  const mod = loadWasmModule('simd');
  const heap = new WasmHeap(bytes + (16 << 20), bytes + (8 << 20));
  const ex = instantiate(mod, heap.memory);
  const pool = await ThreadPool.create(mod, [heap.memory], [ex], threads);
  try {
    const buf = heap.alloc(bytes);
    const out = heap.alloc(16 * threads);
    const u8 = heap.u8(buf, bytes);
    for (let i = 0; i < bytes; i += 4096) u8[i] = i & 0xff; // fault the pages in
    let best = 0;
    for (let p = 0; p < passes; p++) {
      const t0 = performance.now();
      pool.run(0, 'stream_read', [buf, bytes / 64, out]);
      const dt = (performance.now() - t0) / 1000;
      best = Math.max(best, bytes / dt);
    }
    return best;
  } finally {
    await pool.close();
  }
}
