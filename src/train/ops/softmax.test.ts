import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../../rng.js';
import { causalSoftmax, softmaxBackwardInPlace } from './attention.js';
import { crossentropyForward, klForward, softmaxForward } from './crossentropy.js';
import { TrainKernel } from './gemm.js';
import { loadWasmModule } from '../../kernels/wasm/module.js';
import { relErr } from './gradcheck.js';

// Both builds (simd, and relaxed when this runtime can run it; 'relaxed-flag' turns on V8's flag
// on Node 20, for this test process only): their results must be identical.
const kernels = [new TrainKernel(loadWasmModule('simd'))];
if (loadWasmModule('relaxed-flag').variant === 'relaxed') kernels.push(new TrainKernel(loadWasmModule('relaxed')));
const kernel = kernels[0]!;


/** max over rows of max_j |x - y| / max_j |y| (each row normalized by its own scale). */
function rowRelErr(x: Float32Array, y: Float32Array, rows: number, cols: number): number {
  let worst = 0;
  for (let r = 0; r < rows; r++) worst = Math.max(worst, relErr(x.subarray(r * cols, (r + 1) * cols), y.subarray(r * cols, (r + 1) * cols)));
  return worst;
}

test('both wasm builds are exercised when available', () => {
  assert.ok(kernels.length >= 1);
  if (kernels.length < 2) console.log('# relaxed SIMD build not available here: simd only');
});

test('wasm exp matches Math.exp within a few ulp, flushes very negative inputs to 0', () => {
  const xs: number[] = [];
  for (let x = -120; x <= 88; x += 0.01) xs.push(x);
  const rand = mulberry32(1);
  for (let i = 0; i < 20000; i++) xs.push(-rand() * 20); // the softmax range x - max <= 0
  xs.push(0, -0, -1e-30, 1e-30, -87.3, -87.33, -87.34, -88, -103, -104, -1e4, -1e30, -Infinity, Math.LN2 / 2, -Math.LN2 / 2, NaN);
  const src = kernel.f32(xs.length), dst = kernel.f32(xs.length);
  src.set(xs);
  let maxRel = 0;
  for (const k of kernels) {
    const d = k === kernel ? dst : k.f32(xs.length);
    const s = k === kernel ? src : k.f32(xs.length);
    s.set(src);
    k.exp(d, s);
    for (let i = 0; i < xs.length; i++) {
      const x = src[i]!, ref = Math.exp(x), got = d[i]!;
      if (Number.isNaN(x)) {
        assert.ok(Number.isNaN(got), 'exp(NaN) is NaN');
        continue;
      }
      if (ref >= 2 ** -126) { // normal range: relative error
        const rel = Math.abs(got - ref) / ref;
        maxRel = Math.max(maxRel, rel);
        assert.ok(rel < 3e-7, `exp(${x}) = ${got}, Math.exp ${ref}, relative error ${rel}`);
      } else {
        assert.ok(got >= 0 && got <= 2 ** -126, `exp(${x}) = ${got} (expected 0 or tiny)`);
        if (x < -87.34) assert.equal(got, 0, `exp(${x}) flushes to 0`);
      }
    }
    assert.deepEqual(d, dst, 'simd and relaxed builds give identical exps');
  }
  assert.ok(maxRel > 0 && maxRel < 3e-7, `max relative error ${maxRel}`);
});

test('wasm causal softmax forward / backward match the JS reference (windows, odd T)', () => {
  const rand = mulberry32(2);
  for (const T of [1, 2, 3, 5, 7, 8, 13, 31, 64, 127]) {
    for (const window of [null, 1, 3, 4, 9, T]) {
      const scale = 1 / Math.sqrt(T % 2 ? 6 : 8);
      const S = kernel.f32(T * T);
      for (let i = 0; i < S.length; i++) S[i] = (rand() * 2 - 1) * 12; // garbage above the diagonal too
      const ref = S.slice();
      causalSoftmax(ref, T, scale, window);
      const outs = kernels.map((k) => (k === kernel ? S : k.f32(T * T).fill(0)));
      for (let i = 1; i < outs.length; i++) outs[i]!.set(S);
      kernels.forEach((k, i) => k.causalSoftmax(outs[i]!, 0, T, scale, window));
      const P = outs[0]!;
      const e = rowRelErr(P, ref, T, T);
      assert.ok(e < 2e-6, `forward T=${T} window=${window}: row relative error ${e}`);
      for (let t = 0; t < T; t++) {
        const lo = window === null ? 0 : Math.max(0, t - window + 1);
        for (let s = 0; s < T; s++) if (s < lo || s > t) assert.equal(P[t * T + s], 0, `zero outside the window (${t},${s})`);
      }
      for (let i = 1; i < outs.length; i++) assert.deepEqual(outs[i], P, 'simd and relaxed builds agree');

      const dP = kernel.f32(T * T);
      for (let i = 0; i < dP.length; i++) dP[i] = rand() * 2 - 1;
      const dRef = dP.slice();
      softmaxBackwardInPlace(dRef, ref, T, scale, window);
      kernel.causalSoftmaxBackward(dP, 0, P, 0, T, scale, window);
      // dS = P (dP - dot) cancels when one probability dominates a row (JS sums in f64): the error
      // is measured against the input scale max|dP| * scale, not against max|dS|
      let eb = 0;
      for (let i = 0; i < dP.length; i++) eb = Math.max(eb, Math.abs(dP[i]! - dRef[i]!));
      eb /= scale;
      assert.ok(eb < 2e-6, `backward T=${T} window=${window}: error ${eb}`);
      for (let t = 0; t < T; t++) {
        const lo = window === null ? 0 : Math.max(0, t - window + 1);
        for (let s = 0; s < T; s++) if (s < lo || s > t) assert.equal(dP[t * T + s], 0);
      }
    }
  }
});

test('wasm causal softmax at an offset (one head of a (B,NH,T,T) buffer) leaves the rest alone', () => {
  const T = 9, heads = 3;
  const att = kernel.f32(heads * T * T);
  const rand = mulberry32(4);
  for (let i = 0; i < att.length; i++) att[i] = rand() * 4 - 2;
  const ref = att.slice();
  causalSoftmax(ref.subarray(T * T, 2 * T * T), T, 0.5, null);
  kernel.causalSoftmax(att, T * T, T, 0.5, null);
  assert.deepEqual(att.subarray(0, T * T), ref.subarray(0, T * T));
  assert.deepEqual(att.subarray(2 * T * T), ref.subarray(2 * T * T));
  assert.ok(relErr(att, ref) < 2e-6);
});

test('wasm row softmax: cross-entropy, teacher softmax and KL match the JS reference', () => {
  const rand = mulberry32(3);
  for (const [N, V] of [[1, 1], [3, 5], [7, 512], [5, 1001], [2, 32000]] as const) {
    const logits = kernel.f32(N * V);
    for (let i = 0; i < logits.length; i++) logits[i] = (rand() * 2 - 1) * 15;
    if (N > 1) logits[V] = -1e4; // a very negative logit: its probability underflows to 0
    const targets = Int32Array.from({ length: N }, (_, n) => (n === 1 ? -1 : Math.floor(rand() * V)));
    const lossW = kernel.f32(N), probsW = kernel.f32(N * V), lossJ = new Float32Array(N), probsJ = new Float32Array(N * V);
    crossentropyForward(lossW, probsW, logits, targets, N, V, kernel);
    crossentropyForward(lossJ, probsJ, logits, targets, N, V);
    // the wasm row sum is f32 (4 lanes), so its rounding grows with V (the JS reference sums in f64)
    const tol = 2e-6 * Math.max(1, Math.sqrt(V / 1000));
    assert.ok(rowRelErr(probsW, probsJ, N, V) < tol, `probs N=${N} V=${V}: ${rowRelErr(probsW, probsJ, N, V)}`);
    for (let n = 0; n < N; n++) assert.ok(Math.abs(lossW[n]! - lossJ[n]!) <= 1e-6 * Math.max(1, Math.abs(lossJ[n]!)), `loss ${lossW[n]} vs ${lossJ[n]}`);

    const teacherW = kernel.f32(N * V), teacherJ = new Float32Array(N * V);
    softmaxForward(teacherW, logits, N, V, kernel);
    softmaxForward(teacherJ, logits, N, V);
    assert.deepEqual(teacherW, probsW, 'softmaxForward = crossentropy probs');
    // KL of a different distribution against the logits (teacher in a plain array: wasm log-sum-exp only)
    const other = new Float32Array(N * V);
    for (let i = 0; i < other.length; i++) other[i] = logits[i]! * 0.5;
    softmaxForward(other, other, N, V);
    const klW = new Float32Array(N), klJ = new Float32Array(N);
    klForward(klW, logits, other, targets, N, V, kernel);
    klForward(klJ, logits, other, targets, N, V);
    for (let n = 0; n < N; n++) assert.ok(Math.abs(klW[n]! - klJ[n]!) <= tol * Math.max(1, Math.abs(klJ[n]!)), `kl ${klW[n]} vs ${klJ[n]} (V=${V})`);
  }
});
