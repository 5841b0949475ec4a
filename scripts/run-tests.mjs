#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own test runner (tsx loads TypeScript).
// Usage: node scripts/run-tests.mjs [substring-filter ...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(relative(root, p));
  }
}
for (const d of ['src', 'test']) walk(join(root, d));
const filters = process.argv.slice(2);
const selected = files.sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (selected.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
const run = (v8flags, list) =>
  spawnSync(process.execPath, [...v8flags, '--import', 'tsx', '--test', '--test-reporter=spec', ...list], { cwd: root, stdio: 'inherit' }).status ?? 1;
let status = run([], selected);
// The wasm kernels must give the same results in each of V8's wasm tiers: Liftoff (the baseline
// compiler a function starts in) and TurboFan (after tier-up). A normal run mixes them, and a
// Liftoff-only fault hides there (Node 20's Liftoff returns 2 x dot for
// i32x4.relaxed_dot_i8x16_i7x16_add_s, dropping the accumulator). So the files that compare wasm
// kernels with the reference run again in each tier alone.
const TIER_FILES = [
  'test/conformance/wasm-kernels.test.ts', 'test/conformance/wasm-engine.test.ts', 'src/sparse/wasm-predictor.test.ts',
  'src/train/ops/gemm.test.ts', 'src/train/ops/softmax.test.ts',
];
const tiered = selected.filter((f) => TIER_FILES.includes(f));
for (const flag of ['--liftoff-only', '--no-liftoff']) {
  if (tiered.length === 0) break;
  console.log(`\nrun-tests: ${tiered.length} wasm conformance file(s) again with ${flag}`);
  status = run([flag], tiered) || status;
}
process.exit(status);
