import { loadWasmEngine } from './src/kernels/wasm/index.js';
const path = process.argv[2]!;
const threads = Number(process.argv[3] ?? 2);
const active = Number(process.argv[4] ?? 0.1);
const e = await loadWasmEngine(path, { threads, maxContext: 64, variant: (process.argv[5] ?? 'auto') as any, sparse: 'predictor', synthetic: { active, predictorRank: 256, seed: 1 } });
const pool = e.pool as any;
const orig = pool.run.bind(pool);
const times = new Map<string, number>();
pool.run = (m: number, k: string, args: number[]) => { const t0 = performance.now(); const r = orig(m, k, args); times.set(k, (times.get(k) ?? 0) + performance.now() - t0); return r; };
const best = new Map<string, number>();
for (let round = 0; round < 6; round++) for (const mode of ['off', 'predictor'] as const) {
  e.setSparse(mode);
  const s = e.createSession({ capacity: 40 });
  s.forward([1]);
  times.clear();
  const t0 = performance.now();
  for (let i = 0; i < 16; i++) s.forward([5 + i]);
  times.set('token', performance.now() - t0);
  for (const [k, v] of times) best.set(`${mode} ${k}`, Math.min(best.get(`${mode} ${k}`) ?? Infinity, v / 16));
  s.dispose();
}
console.log([...best].map(([k, v]) => `${k} ${v.toFixed(2)}`).join('\n'));
await e.close();
