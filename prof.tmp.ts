import { loadWasmEngine } from './src/kernels/wasm/index.js';
const path = process.argv[2]!;
const threads = Number(process.argv[3] ?? 2);
const e = await loadWasmEngine(path, { threads, maxContext: 64, sparse: 'predictor', synthetic: { active: 0.1, predictorRank: 256, seed: 1 } });
const pool = e.pool as any;
const orig = pool.run.bind(pool);
const times = new Map<string, number>();
pool.run = (m: number, k: string, args: number[]) => { const t0 = performance.now(); const r = orig(m, k, args); times.set(k, (times.get(k) ?? 0) + performance.now() - t0); return r; };
for (const mode of ['off', 'predictor'] as const) {
  e.setSparse(mode);
  times.clear();
  const s = e.createSession({ capacity: 40 });
  s.forward([1]);
  times.clear();
  const t0 = performance.now();
  for (let i = 0; i < 32; i++) s.forward([5 + i]);
  const dt = (performance.now() - t0) / 32;
  console.log(mode, 'ms/token', dt.toFixed(2), [...times].map(([k, v]) => `${k} ${(v / 32).toFixed(2)}`).join(', '));
  s.dispose();
}
await e.close();
