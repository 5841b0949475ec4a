import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GGMLType, type Tensor } from '../quant/types.js';
import { permuteQkGgufToHf, permuteQkHfToGguf } from './index.js';

/** A tensor whose row r is filled with the byte value `tag(r)` (rowBytes bytes per row). */
function tagged(rows: number, rowBytes: number, type: GGMLType, shape: number[]): Tensor {
  const data = new Uint8Array(rows * rowBytes);
  for (let r = 0; r < rows; r++) data.fill(r + 10, r * rowBytes, (r + 1) * rowBytes);
  return { name: 't', type, shape, data };
}

function rowTags(t: Tensor, rows: number): number[] {
  const rb = t.data.length / rows;
  return Array.from({ length: rows }, (_, r) => {
    const row = t.data.subarray(r * rb, (r + 1) * rb);
    assert.ok(row.every((b) => b === row[0]), 'rows move whole');
    return row[0]! - 10;
  });
}

test('hand-computed convention: 1 head of size 4, GGUF [r0,r1,r2,r3] is HF [r0,r2,r1,r3]', () => {
  // llama.cpp convert_hf_to_gguf.py permute: reshape(n_head, 2, d/2, ...).swapaxes(1, 2), i.e.
  // GGUF row 2j+s = HF row s*d/2 + j. With d = 4: GGUF 0<-HF 0, 1<-HF 2, 2<-HF 1, 3<-HF 3.
  const gguf = tagged(4, 4, GGMLType.F32, [4, 1]);
  assert.deepEqual(rowTags(permuteQkGgufToHf(gguf, 1), 4), [0, 2, 1, 3]);
  assert.deepEqual(rowTags(permuteQkHfToGguf(gguf, 1), 4), [0, 2, 1, 3]); // d = 4 is its own inverse
});

test('head size 8, 2 heads: HF holds each head\'s even GGUF rows then its odd rows', () => {
  const gguf = tagged(16, 6, GGMLType.F16, [16, 3]);
  assert.deepEqual(rowTags(permuteQkGgufToHf(gguf, 2), 16), [0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15]);
  assert.deepEqual(rowTags(permuteQkHfToGguf(gguf, 2), 16), [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15]);
  // BF16 and a 1-D (bias-like) tensor permute the same way; inverse pairs round-trip.
  for (const t of [tagged(16, 2, GGMLType.BF16, [16]), tagged(16, 8, GGMLType.F32, [16, 2])]) {
    assert.deepEqual(permuteQkHfToGguf(permuteQkGgufToHf(t, 2), 2), t);
    assert.deepEqual(permuteQkGgufToHf(permuteQkHfToGguf(t, 4), 4), t);
  }
});

test('rejects shapes that are not heads x even head size', () => {
  assert.throws(() => permuteQkHfToGguf(tagged(6, 4, GGMLType.F32, [6, 1]), 4), /cannot permute rows/);
  assert.throws(() => permuteQkHfToGguf(tagged(6, 4, GGMLType.F32, [6, 1]), 2), /cannot permute rows/); // head size 3
});

// Semantic check of the convention, independent of llama.cpp: interleaved RoPE applied to
// W_gguf x equals (after the same row reordering) rotate-half RoPE applied to W_hf x.
test('interleaved RoPE on GGUF rows == rotate-half RoPE on HF rows (per head, any position)', () => {
  const d = 8;
  const nHead = 2;
  const inDim = 5;
  const rows = d * nHead;
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const W = new Float32Array(rows * inDim).map(rnd);
  const x = Array.from({ length: inDim }, rnd);
  const wG: Tensor = { name: 'q', type: GGMLType.F32, shape: [rows, inDim], data: new Uint8Array(W.buffer) };
  const wH = permuteQkGgufToHf(wG, nHead);
  const matvec = (t: Tensor): number[] => {
    const w = new Float32Array(t.data.buffer, t.data.byteOffset, rows * inDim);
    return Array.from({ length: rows }, (_, r) => x.reduce((s, xi, i) => s + w[r * inDim + i]! * xi, 0));
  };
  const pos = 3;
  const angle = (j: number): number => pos * Math.pow(10000, (-2 * j) / d);
  const ropeInterleaved = (q: number[]): number[] => {
    const o = [...q];
    for (let h = 0; h < nHead; h++)
      for (let j = 0; j < d / 2; j++) {
        const a = h * d + 2 * j, b = a + 1, c = Math.cos(angle(j)), s = Math.sin(angle(j));
        o[a] = q[a]! * c - q[b]! * s;
        o[b] = q[a]! * s + q[b]! * c;
      }
    return o;
  };
  const ropeRotateHalf = (q: number[]): number[] => {
    const o = [...q];
    for (let h = 0; h < nHead; h++)
      for (let j = 0; j < d / 2; j++) {
        const a = h * d + j, b = a + d / 2, c = Math.cos(angle(j)), s = Math.sin(angle(j));
        o[a] = q[a]! * c - q[b]! * s;
        o[b] = q[a]! * s + q[b]! * c;
      }
    return o;
  };
  const g = ropeInterleaved(matvec(wG));
  const hRot = ropeRotateHalf(matvec(wH));
  // Map the HF result back into GGUF order with the same permutation and compare.
  const back = permuteQkHfToGguf({ name: 'v', type: GGMLType.F32, shape: [rows], data: new Uint8Array(new Float32Array(hRot).buffer) }, nHead);
  const backVals = Array.from(new Float32Array(back.data.buffer));
  for (let i = 0; i < rows; i++) assert.ok(Math.abs(backVals[i]! - g[i]!) < 1e-5, `row ${i}: ${backVals[i]} vs ${g[i]}`);
});
