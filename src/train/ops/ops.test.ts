import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gradCheck, lcg, type GradCheckCase } from './gradcheck.js';
import {
  attentionBackward, attentionForward, crossentropyBackward, crossentropyForward, klBackward, klForward, softmaxForward, encoderBackward, encoderForward,
  gluBackward, gluForward, linearBackward, linearForward, residualBackward, residualForward, rmsnormBackward,
  rmsnormForward, ropeBackward, ropeForward, ropeTable,
} from './index.js';

const TOL = 1e-2; // see gradcheck.ts for the derivation
const rand = lcg(1234);
const randn = (n: number, scale = 1): Float32Array => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
/** Values with |x| >= 0.1, so a +-h step (h = 1e-2) never crosses a ReLU kink. */
const awayFromZero = (n: number): Float32Array => Float32Array.from({ length: n }, () => (rand() < 0.5 ? -1 : 1) * (0.1 + rand()));

function expectPass(name: string, c: GradCheckCase): void {
  const r = gradCheck(c);
  assert.ok(r.accumulates, `${name}: backward must accumulate into gradients`);
  r.relErrors.forEach((e, i) => assert.ok(e <= TOL, `${name}: input ${i} relative error ${e.toExponential(2)} > ${TOL}`));
}

test('gradcheck catches a 3% gradient error (the check can fail)', () => {
  const N = 6, C = 5, OC = 4;
  const inp = randn(N * C), w = randn(OC * C), out = new Float32Array(N * OC);
  const r = gradCheck({
    inputs: [inp, w],
    forward: () => (linearForward(out, inp, w, N, C, OC), [out]),
    backward: ([d], [gi, gw]) => {
      const gw2 = new Float32Array(gw!.length);
      linearBackward(gi!, gw2, d!, inp, w, N, C, OC);
      for (let i = 0; i < gw2.length; i++) gw![i] += gw2[i]! * 1.03;
    },
  });
  assert.ok(r.relErrors[0]! <= TOL);
  assert.ok(r.relErrors[1]! > TOL, `a 3% error must be detected (got ${r.relErrors[1]})`);
});

test('linear: forward matches a plain dot product, backward passes gradcheck', () => {
  for (const N of [7, 8]) {
    const C = 9, OC = 5;
    const inp = randn(N * C), w = randn(OC * C), out = new Float32Array(N * OC);
    linearForward(out, inp, w, N, C, OC);
    for (let n = 0; n < N; n++) for (let o = 0; o < OC; o++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += inp[n * C + c]! * w[o * C + c]!;
      assert.ok(Math.abs(out[n * OC + o]! - s) < 1e-5);
    }
    expectPass(`linear N=${N}`, {
      inputs: [inp, w],
      forward: () => (linearForward(out, inp, w, N, C, OC), [out]),
      backward: ([d], [gi, gw]) => linearBackward(gi!, gw!, d!, inp, w, N, C, OC),
    });
  }
});

test('encoder: gradcheck on the embedding table (repeated tokens accumulate)', () => {
  const B = 2, T = 3, C = 4, V = 5;
  const ids = Int32Array.from([1, 3, 1, 4, 0, 1]);
  const wte = randn(V * C), out = new Float32Array(B * T * C);
  expectPass('encoder', {
    inputs: [wte],
    forward: () => (encoderForward(out, ids, wte, B, T, C), [out]),
    backward: ([d], [g]) => encoderBackward(g!, d!, ids, B, T, C),
  });
});

test('rmsnorm: gradcheck on input and weight', () => {
  const N = 5, C = 8;
  const inp = randn(N * C), w = randn(C), out = new Float32Array(N * C), rstd = new Float32Array(N);
  expectPass('rmsnorm', {
    inputs: [inp, w],
    forward: () => (rmsnormForward(out, rstd, inp, w, N, C, 1e-5), [out]),
    backward: ([d], [gi, gw]) => rmsnormBackward(gi!, gw!, d!, inp, w, rstd, N, C),
  });
});

test('rope: gradcheck, and position 0 is the identity', () => {
  const B = 2, T = 4, NH = 3, D = 6;
  const { cos, sin } = ropeTable(T, D, 10000);
  const inp = randn(B * T * NH * D), out = new Float32Array(inp.length);
  ropeForward(out, inp, cos, sin, B, T, NH, D);
  for (let i = 0; i < NH * D; i++) assert.ok(Math.abs(out[i]! - inp[i]!) < 1e-7);
  expectPass('rope', {
    inputs: [inp],
    forward: () => (ropeForward(out, inp, cos, sin, B, T, NH, D), [out]),
    backward: ([d], [g]) => ropeBackward(g!, d!, cos, sin, B, T, NH, D),
  });
});

for (const window of [null, 2]) {
  test(`attention (grouped-query, causal, window ${window}): gradcheck on q, k, v`, () => {
    const B = 2, T = 5, NH = 4, KVH = 2, D = 3;
    const q = randn(B * T * NH * D), k = randn(B * T * KVH * D), v = randn(B * T * KVH * D);
    const out = new Float32Array(B * T * NH * D), att = new Float32Array(B * NH * T * T);
    expectPass('attention', {
      inputs: [q, k, v],
      forward: () => (attentionForward(out, att, q, k, v, B, T, NH, KVH, D, window), [out]),
      backward: ([d], [gq, gk, gv]) => attentionBackward(gq!, gk!, gv!, d!, att, q, k, v, B, T, NH, KVH, D, window),
    });
  });
}

test('attention is causal: changing a later token leaves earlier outputs unchanged', () => {
  const B = 1, T = 4, NH = 2, KVH = 1, D = 2;
  const q = randn(T * NH * D), k = randn(T * KVH * D), v = randn(T * KVH * D);
  const out1 = new Float32Array(T * NH * D), out2 = new Float32Array(T * NH * D), att = new Float32Array(NH * T * T);
  attentionForward(out1, att, q, k, v, B, T, NH, KVH, D);
  k[3 * KVH * D] += 1; v[3 * KVH * D] += 1;
  attentionForward(out2, att, q, k, v, B, T, NH, KVH, D);
  for (let i = 0; i < 3 * NH * D; i++) assert.equal(out1[i], out2[i]);
  assert.notEqual(out1[3 * NH * D], out2[3 * NH * D]);
});

for (const kind of ['swiglu', 'reglu', 'drelu'] as const) {
  test(`glu ${kind}: gradcheck on gate and up (inputs away from the ReLU kink)`, () => {
    const N = 40;
    const gate = awayFromZero(N), up = awayFromZero(N), out = new Float32Array(N);
    expectPass(kind, {
      inputs: [gate, up],
      forward: () => (gluForward(out, gate, up, N, kind), [out]),
      backward: ([d], [gg, gu]) => gluBackward(gg!, gu!, d!, gate, up, N, kind),
    });
  });
}

test('residual: gradcheck', () => {
  const N = 10;
  const a = randn(N), b = randn(N), out = new Float32Array(N);
  expectPass('residual', {
    inputs: [a, b],
    forward: () => (residualForward(out, a, b, N), [out]),
    backward: ([d], [ga, gb]) => residualBackward(ga!, gb!, d!, N),
  });
});

test('crossentropy: loss = -log softmax[target], gradcheck on logits, ignored targets give no gradient', () => {
  const N = 4, V = 6;
  const logits = randn(N * V, 3), targets = Int32Array.from([2, 0, -1, 5]);
  const losses = new Float32Array(N), probs = new Float32Array(N * V);
  crossentropyForward(losses, probs, logits, targets, N, V);
  let lse = 0;
  for (let v = 0; v < V; v++) lse += Math.exp(logits[v]!);
  assert.ok(Math.abs(losses[0]! - (Math.log(lse) - logits[2]!)) < 1e-5);
  assert.equal(losses[2], 0);
  expectPass('crossentropy', {
    inputs: [logits],
    forward: () => (crossentropyForward(losses, probs, logits, targets, N, V), [losses]),
    backward: ([d], [g]) => crossentropyBackward(g!, d!, probs, targets, N, V),
  });
  const g = new Float32Array(N * V);
  crossentropyBackward(g, new Float32Array(N).fill(1), probs, targets, N, V);
  for (let v = 0; v < V; v++) assert.equal(g[2 * V + v], 0);
});

test('kl (distillation): KL(teacher || softmax(logits)), zero when equal, gradcheck on logits, ignored targets give none', () => {
  const N = 4, V = 6;
  const logits = randn(N * V, 3), targets = Int32Array.from([2, 0, -1, 5]);
  const teacher = new Float32Array(N * V), probs = new Float32Array(N * V), losses = new Float32Array(N), kl = new Float32Array(N);
  softmaxForward(teacher, randn(N * V, 2), N, V);
  // equal distributions: KL = 0
  const same = new Float32Array(N * V);
  softmaxForward(same, logits, N, V);
  klForward(kl, logits, same, targets, N, V);
  for (let n = 0; n < N; n++) assert.ok(Math.abs(kl[n]!) < 1e-5, `kl[${n}] = ${kl[n]}`);
  klForward(kl, logits, teacher, targets, N, V);
  assert.ok(kl[0]! > 0);
  assert.equal(kl[2], 0);
  expectPass('kl', {
    inputs: [logits],
    forward: () => (crossentropyForward(losses, probs, logits, targets, N, V), klForward(kl, logits, teacher, targets, N, V), [kl]),
    backward: ([d], [g]) => klBackward(g!, d!, probs, teacher, targets, N, V),
  });
});
