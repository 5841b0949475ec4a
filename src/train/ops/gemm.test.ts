import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tinyModel } from '../../../test/fixtures/tiny-model.js';
import { paramsFromModel, TrainModel } from '../model.js';
import { mulberry32 } from '../../rng.js';
import { attentionBackward, attentionForward } from './attention.js';
import { TrainKernel } from './gemm.js';
import { relErr } from './gradcheck.js';
import { linearBackward, linearForward, matmulNT, transpose, type Triangle } from './linear.js';

const kernel = new TrainKernel();

function fill(a: Float32Array, rand: () => number): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = rand() * 2 - 1;
  return a;
}


const SIZES = [1, 3, 7, 13, 64, 172, 257];

test('gemm_f32 matches matmulNT on odd and even sizes, store and accumulate, both A layouts', () => {
  const rand = mulberry32(7);
  let cases = 0;
  for (const M of SIZES) {
    for (const K of SIZES) {
      for (const P of SIZES) {
        if (M * K * P > 3e6) continue;
        const acc = (M + K + P) % 2 === 0;
        const a = fill(kernel.f32(M * K), rand), bT = fill(new Float32Array(P * K), rand); // b as (P,K) for matmulNT
        const bm = kernel.f32(K * P);
        transpose(bm, bT, P, K); // (K,P)
        const init = fill(new Float32Array(M * P), rand);
        const ref = init.slice();
        matmulNT(ref, a, bT, M, K, P, acc);
        const out = kernel.f32(M * P);
        out.set(init);
        kernel.gemm(out, 0, P, a, 0, K, 1, bm, 0, P, M, K, P, acc);
        const e = relErr(out, ref);
        assert.ok(e < 1e-5 * Math.sqrt(K), `M=${M} K=${K} P=${P} acc=${acc}: relative error ${e}`);
        // A given transposed: aT (K,M) with sam = 1, sak = M
        const aT = kernel.f32(K * M);
        transpose(aT, a, M, K);
        out.set(init);
        kernel.gemm(out, 0, P, aT, 0, 1, M, bm, 0, P, M, K, P, acc);
        assert.ok(relErr(out, ref) < 1e-5 * Math.sqrt(K), `transposed A, M=${M} K=${K} P=${P}`);
        cases++;
      }
    }
  }
  assert.ok(cases > 300);
});

test('gemm_f32 triangular shortcuts agree with matmulNT on the entries they define', () => {
  const rand = mulberry32(11);
  for (const T of [1, 5, 13, 64]) {
    for (const tri of ['p<=m', 'k<=m', 'k>=m'] as Triangle[]) {
      const D = tri === 'p<=m' ? 8 : T, P = tri === 'p<=m' ? T : 7; // (T,D)@(D,T) or (T,T)@(T,P)
      const K = tri === 'p<=m' ? D : T;
      const a = fill(kernel.f32(T * K), rand);
      if (tri !== 'p<=m') for (let m = 0; m < T; m++) for (let k = 0; k < K; k++) if (tri === 'k<=m' ? k > m : k < m) a[m * K + k] = 0;
      const bT = fill(new Float32Array(P * K), rand);
      const bm = transpose(kernel.f32(K * P), bT, P, K);
      const ref = new Float32Array(T * P);
      matmulNT(ref, a, bT, T, K, P, false);
      const out = kernel.f32(T * P);
      kernel.gemm(out, 0, P, a, 0, K, 1, bm, 0, P, T, K, P, false, tri);
      if (tri === 'p<=m') for (let m = 0; m < T; m++) for (let p = m + 1; p < P; p++) out[m * P + p] = ref[m * P + p]!;
      assert.ok(relErr(out, ref) < 1e-5, `${tri} T=${T}`);
    }
  }
});

test('wasm linear and attention ops match the JS ops', () => {
  const rand = mulberry32(3);
  const N = 13, C = 24, OC = 17;
  const inp = fill(kernel.f32(N * C), rand), w = fill(kernel.f32(OC * C), rand), dout = fill(kernel.f32(N * OC), rand);
  const outW = kernel.f32(N * OC), outJ = new Float32Array(N * OC);
  linearForward(outW, inp, w, N, C, OC, kernel);
  linearForward(outJ, inp, w, N, C, OC);
  assert.ok(relErr(outW, outJ) < 1e-5);
  const dinpW = fill(kernel.f32(N * C), rand), dwW = fill(kernel.f32(OC * C), rand);
  const dinpJ = dinpW.slice(), dwJ = dwW.slice();
  linearBackward(dinpW, dwW, dout, inp, w, N, C, OC, kernel);
  linearBackward(dinpJ, dwJ, dout, inp, w, N, C, OC);
  assert.ok(relErr(dinpW, dinpJ) < 1e-5 && relErr(dwW, dwJ) < 1e-5);

  for (const window of [null, 4]) {
    const B = 2, T = 11, NH = 4, KVH = 2, D = 6;
    const q = fill(kernel.f32(B * T * NH * D), rand), k = fill(kernel.f32(B * T * KVH * D), rand), v = fill(kernel.f32(B * T * KVH * D), rand);
    const o = fill(kernel.f32(B * T * NH * D), rand);
    const oW = kernel.f32(B * T * NH * D), attW = kernel.f32(B * NH * T * T);
    const oJ = new Float32Array(oW.length), attJ = new Float32Array(attW.length);
    attentionForward(oW, attW, q, k, v, B, T, NH, KVH, D, window, kernel);
    attentionForward(oJ, attJ, q, k, v, B, T, NH, KVH, D, window);
    assert.ok(relErr(oW, oJ) < 1e-5 && relErr(attW, attJ) < 1e-5, `attention forward, window ${window}`);
    const dqW = fill(kernel.f32(q.length), rand), dkW = fill(kernel.f32(k.length), rand), dvW = fill(kernel.f32(v.length), rand);
    const dqJ = dqW.slice(), dkJ = dkW.slice(), dvJ = dvW.slice();
    attentionBackward(dqW, dkW, dvW, o, attW, q, k, v, B, T, NH, KVH, D, window, kernel);
    attentionBackward(dqJ, dkJ, dvJ, o, attJ, q, k, v, B, T, NH, KVH, D, window);
    assert.ok(relErr(dqW, dqJ) < 1e-5 && relErr(dkW, dkJ) < 1e-5 && relErr(dvW, dvJ) < 1e-5, `attention backward, window ${window}`);
  }
});

for (const activation of ['swiglu', 'drelu'] as const) {
  test(`TrainModel (${activation}): wasm path gives the JS path's loss and gradients`, () => {
    const model = tinyModel({ activation, seed: 9, hidden_size: 32, intermediate_size: 44, layers: 2, heads: 4, kvHeads: 2, tie: activation === 'drelu' });
    const c = model.config;
    const params = paramsFromModel(model);
    const B = 2, T = 9, V = c.vocab_size;
    const rand = mulberry32(5);
    const inp = Int32Array.from({ length: B * T }, () => Math.floor(rand() * V));
    const tgt = Int32Array.from({ length: B * T }, () => Math.floor(rand() * V));
    tgt[4] = -1;
    const gJ = new Float32Array(params.length);
    const js = new TrainModel(c, params, gJ, B, T);
    const pW = kernel.f32(params.length), gW = kernel.f32(params.length);
    pW.set(params);
    const wasm = new TrainModel(c, pW, gW, B, T, kernel);
    for (let rep = 0; rep < 2; rep++) { // twice: reused buffers must be reset
      gJ.fill(0);
      gW.fill(0);
      const rJ = js.forward(inp, tgt), rW = wasm.forward(inp, tgt);
      assert.equal(rW.count, rJ.count);
      assert.ok(Math.abs(rW.lossSum - rJ.lossSum) < 1e-5 * Math.abs(rJ.lossSum), `loss ${rW.lossSum} vs ${rJ.lossSum}`);
      js.backward(1 / rJ.count, 0.1);
      wasm.backward(1 / rW.count, 0.1);
      const e = relErr(gW, gJ);
      assert.ok(e < 1e-5, `gradient relative error ${e}`);
    }
  });
}
