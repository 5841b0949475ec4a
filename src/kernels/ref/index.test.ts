import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GGMLType, quantize } from '../../formats/quant/index.js';
import type { Tensor } from '../../formats/quant/types.js';
import { refKernels as k } from './index.js';

const f32 = (name: string, shape: number[], v: number[]): Tensor => ({
  name, type: GGMLType.F32, shape, data: new Uint8Array(new Float32Array(v).buffer),
});
const close = (a: ArrayLike<number>, b: number[], tol = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

test('glu: swiglu, reglu and drelu on a hand-computed case', () => {
  const gate = new Float32Array([2, -1, 0.5, 3]);
  const up = new Float32Array([3, 4, -2, -1]);
  const out = new Float32Array(4);
  // swiglu: silu(g) * u, silu(g) = g / (1 + e^-g)
  k.glu(out, gate, up, 4, 'swiglu');
  close(out, [(2 / (1 + Math.exp(-2))) * 3, (-1 / (1 + Math.exp(1))) * 4, (0.5 / (1 + Math.exp(-0.5))) * -2, (3 / (1 + Math.exp(-3))) * -1], 1e-6);
  // reglu: relu(g) * u  -> [6, 0, -1, -3]
  k.glu(out, gate, up, 4, 'reglu');
  close(out, [6, 0, -1, -3]);
  // drelu: relu(g) * relu(u) -> [6, 0, 0, 0]  (TurboSparse dReLU: zero unless both are positive)
  k.glu(out, gate, up, 4, 'drelu');
  close(out, [6, 0, 0, 0]);
});

test('rmsnorm on a hand-computed row', () => {
  const x = new Float32Array([3, 4]);
  const out = new Float32Array(2);
  k.rmsnorm(out, x, new Float32Array([1, 2]), 1, 2, 0);
  const r = Math.sqrt((9 + 16) / 2);
  close(out, [3 / r, (4 / r) * 2], 1e-6);
});

test('matmul: F32 and Q8_0 weights against hand sums', () => {
  const w = f32('w', [2, 3], [1, 2, 3, 4, 5, 6]);
  const x = new Float32Array([1, 0, -1, 2, 1, 0]); // T=2 rows of 3
  const out = new Float32Array(4);
  k.matmul(out, x, w, 2);
  close(out, [1 - 3, 4 - 6, 2 + 2, 8 + 5]);
  // Q8_0 row of 32 identical values 1.0 -> q = 127, d = 1/127
  const ones = new Float32Array(32).fill(1);
  const wq = quantize(ones, [1, 32], GGMLType.Q8_0);
  const out1 = new Float32Array(1);
  k.matmul(out1, new Float32Array(32).fill(0.5), { ...wq, name: 'wq' }, 1);
  close(out1, [16], 16 * 2 ** -10); // d = 1/127 is stored as f16 (10-bit mantissa)
});

test('rope rotates adjacent pairs by pos * theta^(-i/D)', () => {
  const D = 4;
  const x = new Float32Array([1, 0, 1, 0]);
  k.rope(x, 1, 1, D, 3, 10000);
  // pair 0: angle 3 * 1; pair 1: angle 3 * 10000^(-2/4) = 0.03
  close(x, [Math.cos(3), Math.sin(3), Math.cos(0.03), Math.sin(0.03)], 1e-6);
  const y = new Float32Array([1, 2, 3, 4]);
  k.rope(y, 1, 1, D, 0, 10000);
  close(y, [1, 2, 3, 4]); // position 0 is the identity
});

test('attention: causal, grouped-query, sliding window', () => {
  // H=2 query heads share KVH=1, D=1; three cached positions with keys 0 and values 1, 2, 3.
  const kc = new Float32Array([0, 0, 0]);
  const vc = new Float32Array([1, 2, 3]);
  const q = new Float32Array([5, -5]);
  const out = new Float32Array(2);
  // last position (pos0=2, T=1): keys all 0 -> uniform weights -> mean of values = 2 for both heads
  k.attention(out, q, kc, vc, 1, 2, 2, 1, 1, null);
  close(out, [2, 2], 1e-6);
  // window 2: sees positions 1..2 -> mean 2.5
  k.attention(out, q, kc, vc, 1, 2, 2, 1, 1, 2);
  close(out, [2.5, 2.5], 1e-6);
  // causal batch: T=3 from pos0=0, position t sees values 1..t+1
  const out3 = new Float32Array(6);
  k.attention(out3, new Float32Array(6), kc, vc, 3, 0, 2, 1, 1, null);
  close(out3, [1, 1, 1.5, 1.5, 2, 2], 1e-6);
  // non-uniform: q=1, keys [0, ln 3] with D=1 -> weights 1:3 -> value 0.25*1 + 0.75*2
  const kc2 = new Float32Array([0, Math.log(3)]);
  const out2 = new Float32Array(1);
  k.attention(out2, new Float32Array([1]), kc2, new Float32Array([1, 2]), 1, 1, 1, 1, 1, null);
  close(out2, [1.75], 1e-6);
});
