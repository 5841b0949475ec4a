#!/usr/bin/env node
import { main } from './main.js';

// The CLI owns its process, so it turns on Node 20's relaxed SIMD (V8 --experimental-wasm-relaxed-simd)
// for the relaxed kernel build (fused multiply-add, the 7-bit int8 dot for Q4_0: ~25% faster Q4_0
// decode); RELUFY_WASM=simd keeps the plain SIMD128 build.
process.env['RELUFY_WASM'] ??= 'relaxed-flag';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 2;
  },
);
