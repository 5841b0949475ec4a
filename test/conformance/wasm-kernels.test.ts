// Conformance: every WebAssembly kernel against the scalar reference (src/kernels/ref) on seeded
// random cases, odd sizes included, with a normalized-error (NMSE) bound per weight type
// (ggml test-backend-ops habit). Runs the SIMD128 build on 1 and 2 threads, then the relaxed-SIMD build.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GGMLType, quantize } from '../../src/formats/quant/index.js';
import type { Tensor } from '../../src/formats/quant/types.js';
import { refKernels } from '../../src/kernels/ref/index.js';
import { WasmKernels } from '../../src/kernels/wasm/kernels.js';
import type { VariantChoice } from '../../src/kernels/wasm/module.js';
import { nmse, randn, rng } from './helpers.js';

/**
 * NMSE bounds. Float types differ from the float64 reference only by float32 summation order.
 * Q8_0 / Q4_0 also quantize x to int8 per 32-block (like ggml), which costs about 1e-5.
 */
const MATMUL_NMSE: Record<string, number> = { F32: 1e-10, F16: 1e-10, BF16: 1e-10, Q8_0: 1e-4, Q4_0: 1e-4, Q4_K: 1e-10, Q6_K: 1e-10 };
const OP_NMSE = 1e-10;

// (O, K, T): odd row counts (not multiples of 4), tiny and larger K, decode (T=1) and prefill.
const SHAPES_Q: [number, number, number][] = [[1, 32, 1], [5, 64, 1], [7, 96, 3], [33, 128, 2], [130, 256, 1], [67, 4096, 1], [19, 160, 5],
  [6, 64, 16], [13, 96, 17], [130, 64, 63], [9, 128, 65]];
// Token counts of the prefill kernel's edge cases: partial quads (T % 4), 4-quad passes (T % 16) and single-quad tails.
const PREFILL_T = [2, 3, 4, 5, 15, 16, 17, 63, 64, 65];
const SHAPES_F: [number, number, number][] = [[1, 3, 1], [5, 37, 2], [6, 64, 1], [33, 172, 3], [130, 256, 1], [9, 1030, 4]];

function weight(type: GGMLType, O: number, K: number, seed: number): { t: Tensor; name: string } {
  const r = rng(seed);
  const t = quantize(randn(r, O * K, 0.5), [O, K], type);
  t.name = `w_${GGMLType[type]}_${O}x${K}`;
  return { t, name: GGMLType[type] };
}

function suite(variant: VariantChoice, threads: number): void {
  describe(`wasm kernels (${variant}, ${threads} thread${threads > 1 ? 's' : ''})`, () => {
    let k: WasmKernels;
    before(async () => {
      k = await WasmKernels.create({ threads, variant });
    });
    after(async () => {
      await k.close();
    });

    const types: [GGMLType, [number, number, number][]][] = [
      [GGMLType.F32, SHAPES_F], [GGMLType.F16, SHAPES_F], [GGMLType.BF16, SHAPES_F],
      [GGMLType.Q8_0, SHAPES_Q], [GGMLType.Q4_0, SHAPES_Q],
      [GGMLType.Q4_K, [[5, 256, 2], [9, 512, 1]]], [GGMLType.Q6_K, [[7, 256, 1], [3, 512, 3]]],
    ];
    for (const [type, shapes] of types) {
      it(`matmul ${GGMLType[type]} matches the reference`, () => {
        let seed = 1000 + type;
        for (const [O, K, T] of shapes) {
          const { t, name } = weight(type, O, K, seed++);
          const x = randn(rng(seed++), T * K, 1);
          const want = new Float32Array(T * O);
          const got = new Float32Array(T * O);
          refKernels.matmul(want, x, t, T);
          k.matmul(got, x, t, T);
          const e = nmse(got, want);
          assert.ok(e <= MATMUL_NMSE[name]!, `${name} (${O}, ${K}) x T=${T}: nmse ${e.toExponential(2)} > ${MATMUL_NMSE[name]}`);
        }
      });
    }

    for (const type of [GGMLType.Q8_0, GGMLType.Q4_0]) {
      it(`matmul ${GGMLType[type]} prefill (T > 1) equals the per-token matvec bit for bit`, () => {
        let seed = 2000 + type;
        for (const [O, K] of [[1, 32], [7, 96], [33, 64], [130, 256]] as [number, number][]) {
          const { t } = weight(type, O, K, seed++);
          for (const T of PREFILL_T) {
            const x = randn(rng(seed++), T * K, 1);
            const got = new Float32Array(T * O);
            k.matmul(got, x, t, T);
            const one = new Float32Array(O);
            for (let i = 0; i < T; i++) {
              k.matmul(one, x.subarray(i * K, (i + 1) * K), t, 1);
              assert.deepEqual(got.subarray(i * O, (i + 1) * O), one, `(${O}, ${K}) T=${T} token ${i}`);
            }
          }
        }
      });
    }

    it('matmul Q8_0 with extreme blocks (zeros, one spike) stays within bound', () => {
      const O = 6, K = 128, T = 2;
      const f = randn(rng(7), O * K, 1);
      f.fill(0, 0, 32); // an all-zero block (scale 0)
      f[40] = 1000; // a spike
      const w = quantize(f, [O, K], GGMLType.Q8_0);
      const x = randn(rng(8), T * K, 1);
      x.fill(0, 32, 64); // an all-zero activation block
      const want = new Float32Array(T * O);
      const got = new Float32Array(T * O);
      refKernels.matmul(want, x, w, T);
      k.matmul(got, x, w, T);
      assert.ok(nmse(got, want) <= MATMUL_NMSE['Q8_0']!);
    });

    it('rmsnorm matches the reference', () => {
      for (const [T, C] of [[1, 64], [3, 37], [2, 4096], [1, 5]] as const) {
        const r = rng(T * 100 + C);
        const x = randn(r, T * C, 3);
        const w = randn(r, C, 1);
        const want = new Float32Array(T * C);
        const got = new Float32Array(T * C);
        refKernels.rmsnorm(want, x, w, T, C, 1e-5);
        k.rmsnorm(got, x, w, T, C, 1e-5);
        assert.ok(nmse(got, want) <= OP_NMSE, `rmsnorm (${T}, ${C})`);
      }
    });

    it('rope matches the reference', () => {
      for (const [T, nH, D, pos0, theta] of [[1, 8, 8, 0, 10000], [3, 4, 128, 17, 10000], [2, 3, 6, 1000, 1e6]] as const) {
        const x = randn(rng(T + nH + D), T * nH * D, 1);
        const want = x.slice();
        const got = x.slice();
        refKernels.rope(want, T, nH, D, pos0, theta);
        k.rope(got, T, nH, D, pos0, theta);
        assert.ok(nmse(got, want) <= OP_NMSE, `rope T=${T} H=${nH} D=${D}`);
      }
    });

    it('attention (GQA, sliding window, odd sizes) matches the reference', () => {
      const cases: [number, number, number, number, number, number | null][] = [
        // T, pos0, H, KVH, D, window
        [1, 0, 8, 4, 8, null], [1, 40, 8, 2, 16, null], [5, 3, 4, 4, 6, null], [4, 20, 6, 3, 32, 7], [1, 100, 2, 1, 128, 16], [7, 0, 3, 1, 5, 3],
      ];
      let seed = 50;
      for (const [T, pos0, H, KVH, D, win] of cases) {
        const r = rng(seed++);
        const S = pos0 + T;
        const q = randn(r, T * H * D, 1);
        const kc = randn(r, S * KVH * D, 1);
        const vc = randn(r, S * KVH * D, 1);
        const want = new Float32Array(T * H * D);
        const got = new Float32Array(T * H * D);
        refKernels.attention(want, q, kc, vc, T, pos0, H, KVH, D, win);
        k.attention(got, q, kc, vc, T, pos0, H, KVH, D, win);
        assert.ok(nmse(got, want) <= OP_NMSE, `attention T=${T} pos0=${pos0} H=${H} KVH=${KVH} D=${D} window=${win}`);
      }
    });

    it('glu (swiglu, reglu, drelu) and add match the reference', () => {
      for (const kind of ['swiglu', 'reglu', 'drelu'] as const) {
        for (const n of [1, 7, 172, 1000]) {
          const r = rng(n);
          const g = randn(r, n, 4);
          const u = randn(r, n, 4);
          const want = new Float32Array(n);
          const got = new Float32Array(n);
          refKernels.glu(want, g, u, n, kind);
          k.glu(got, g, u, n, kind);
          assert.ok(nmse(got, want) <= OP_NMSE, `${kind} n=${n}`);
        }
      }
      const a = randn(rng(3), 13, 1);
      const b = randn(rng(4), 13, 1);
      const want = a.slice();
      const got = a.slice();
      refKernels.add(want, b, 13);
      k.add(got, b, 13);
      assert.deepEqual(got, want);
    });
  });
}

suite('simd', 1);
suite('simd', 2);
suite('relaxed-flag', 1);
