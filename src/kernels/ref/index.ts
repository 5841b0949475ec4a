import type { Tensor } from '../../formats/quant/types.js';
import { GGMLType } from '../../formats/quant/types.js';
import { codecOf } from './dequant.js';
import type { KernelSet } from '../types.js';

/**
 * Scalar TypeScript reference kernels: straightforward loops, float64 accumulation where a sum is
 * formed (so they are at least as accurate as any fast path). Slow by design; the fast path must match.
 */
/**
 * One FFN activation value: swiglu silu(g) * u, reglu relu(g) * u, drelu relu(g) * relu(u).
 * Sources: Shazeer 2020 (GLU variants); TurboSparse (arXiv 2406.05955) section 3 for dReLU.
 */
export function gluValue(g: number, u: number, kind: 'swiglu' | 'reglu' | 'drelu'): number {
  if (kind === 'swiglu') return (g / (1 + Math.exp(-g))) * u;
  if (kind === 'reglu') return g > 0 ? g * u : 0;
  return g > 0 && u > 0 ? g * u : 0;
}

export const refKernels: KernelSet = {
  name: 'ref',

  matmul(out, x, w, T) {
    const [O, I] = matShape(w);
    const row = new Float32Array(I);
    const f32 = w.type === GGMLType.F32 ? asF32(w) : null;
    const traits = codecOf(w.type, w.name);
    const rowBytes = w.data.byteLength / O;
    for (let o = 0; o < O; o++) {
      let r: Float32Array;
      if (f32) r = f32.subarray(o * I, (o + 1) * I);
      else {
        traits.toFloat(w.data.subarray(o * rowBytes, (o + 1) * rowBytes), row, I);
        r = row;
      }
      for (let t = 0; t < T; t++) {
        const xo = t * I;
        let s = 0;
        for (let i = 0; i < I; i++) s += r[i]! * x[xo + i]!;
        out[t * O + o] = s;
      }
    }
  },

  rmsnorm(out, x, weight, T, C, eps) {
    for (let t = 0; t < T; t++) {
      const o = t * C;
      let ss = 0;
      for (let i = 0; i < C; i++) ss += x[o + i]! * x[o + i]!;
      const scale = 1 / Math.sqrt(ss / C + eps);
      for (let i = 0; i < C; i++) out[o + i] = x[o + i]! * scale * weight[i]!;
    }
  },

  rope(x, T, nHeads, D, pos0, theta) {
    for (let t = 0; t < T; t++) {
      const pos = pos0 + t;
      for (let i = 0; i < D; i += 2) {
        const freq = 1 / Math.pow(theta, i / D);
        const a = pos * freq;
        const c = Math.cos(a);
        const s = Math.sin(a);
        for (let h = 0; h < nHeads; h++) {
          const o = t * nHeads * D + h * D + i;
          const v0 = x[o]!;
          const v1 = x[o + 1]!;
          x[o] = v0 * c - v1 * s;
          x[o + 1] = v0 * s + v1 * c;
        }
      }
    }
  },

  attention(out, q, kCache, vCache, T, pos0, H, KVH, D, window) {
    const group = H / KVH;
    const kvStride = KVH * D;
    const scale = 1 / Math.sqrt(D);
    const scores = new Float64Array(pos0 + T);
    for (let t = 0; t < T; t++) {
      const p = pos0 + t;
      const lo = window === null ? 0 : Math.max(0, p - window + 1);
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / group);
        const qo = t * H * D + h * D;
        let max = -Infinity;
        for (let s = lo; s <= p; s++) {
          const ko = s * kvStride + kvh * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qo + d]! * kCache[ko + d]!;
          dot *= scale;
          scores[s] = dot;
          if (dot > max) max = dot;
        }
        let sum = 0;
        for (let s = lo; s <= p; s++) {
          const e = Math.exp(scores[s]! - max);
          scores[s] = e;
          sum += e;
        }
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let s = lo; s <= p; s++) acc += scores[s]! * vCache[s * kvStride + kvh * D + d]!;
          out[qo + d] = acc / sum;
        }
      }
    }
  },

  glu(out, gate, up, n, kind) {
    for (let i = 0; i < n; i++) out[i] = gluValue(gate[i]!, up[i]!, kind);
  },

  add(x, y, n) {
    for (let i = 0; i < n; i++) x[i] = x[i]! + y[i]!;
  },
};

function matShape(w: Tensor): [number, number] {
  if (w.shape.length !== 2) throw new Error(`${w.name}: expected a 2-D weight, got shape [${w.shape.join(', ')}]`);
  return [w.shape[0]!, w.shape[1]!];
}

/** A Float32Array view of an F32 tensor (copied once when its bytes are not 4-byte aligned). */
export function asF32(w: Tensor): Float32Array {
  const d = w.data;
  if (d.byteOffset % 4 === 0) return new Float32Array(d.buffer, d.byteOffset, d.byteLength / 4);
  return new Float32Array(d.slice().buffer);
}
