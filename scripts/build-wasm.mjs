#!/usr/bin/env node
// Compiles the AssemblyScript kernels in assembly/ into dist/wasm/:
//   relufy-simd.wasm     SIMD128 + threads (runs on every Node >= 20)
//   relufy-relaxed.wasm  + relaxed SIMD (chosen at run time when WebAssembly.validate accepts it)
// Both import a shared memory (env.memory, up to 65536 pages = 4 GiB). Nothing is fetched at run time.
// Usage: node scripts/build-wasm.mjs [--quiet]
import { mkdirSync, renameSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import asc from 'assemblyscript/asc';

const root = new URL('..', import.meta.url).pathname;
const outDir = join(root, 'dist', 'wasm');
const quiet = process.argv.includes('--quiet');
mkdirSync(outDir, { recursive: true });

const VARIANTS = [
  { name: 'simd', features: 'simd,threads' },
  { name: 'relaxed', features: 'simd,relaxed-simd,threads' },
];

const common = [
  join(root, 'assembly', 'index.ts'),
  '-O3', '--noAssert', '--runtime', 'stub', '--use', 'abort=',
  '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
];

for (const v of VARIANTS) {
  const out = join(outDir, `relufy-${v.name}.wasm`);
  // Written under a temporary name, then renamed: a concurrent reader never sees a half-written file.
  const tmp = `${out}.${process.pid}.tmp`;
  const { error, stderr } = await asc.main([...common, '--enable', v.features, '-o', tmp], {});
  if (!error) renameSync(tmp, out);
  if (error) {
    console.error(stderr.toString());
    console.error(`build-wasm: ${v.name} failed: ${error.message}`);
    process.exit(1);
  }
  if (!quiet) console.log(`build-wasm: ${out} (${statSync(out).size} bytes)`);
}
// Sanity: the sources exist (keeps a stale build from hiding a missing folder).
if (!readdirSync(join(root, 'assembly')).includes('index.ts')) process.exit(1);
