#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own test runner (tsx loads TypeScript).
// Usage: node scripts/run-tests.mjs [substring-filter ...]
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
// Each pass prints the spec report and writes a TAP copy whose summary lines feed the overall total.
const totals = { tests: 0, pass: 0, fail: 0, skipped: 0, todo: 0 };
const tapDir = mkdtempSync(join(tmpdir(), 'relufy-tests-'));
let passes = 0;
const run = (v8flags, list) => {
  const tap = join(tapDir, `pass${++passes}.tap`);
  const r = spawnSync(process.execPath, [
    ...v8flags, '--import', 'tsx', '--test',
    '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...list,
  ], { cwd: root, stdio: 'inherit' });
  if (existsSync(tap)) {
    for (const m of readFileSync(tap, 'utf8').matchAll(/^# (tests|pass|fail|skipped|todo) (\d+)$/gm)) totals[m[1]] += Number(m[2]);
  }
  return r.status ?? 1;
};
const t0 = Date.now();
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
rmSync(tapDir, { recursive: true, force: true });
console.log(`\nrun-tests: ${passes} pass(es), ${totals.tests} tests: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped` +
  `${totals.todo ? `, ${totals.todo} todo` : ''} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
process.exit(status);
