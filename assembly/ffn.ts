// Fused feed-forward first half: h = glu(x @ Wg^T, x @ Wu^T) for a row range, then (optionally) the
// int8 quantization of the finished 32-row blocks of h that the down projection reads, so that one
// dispatch covers gate, up, activation and the requantization (no barrier needed in between).
import { QK, splitStart, storeRows } from './common';
import { dotGroup } from './matmul';
import { gluOne } from './ops';
import { quantize_q8 } from './quantize';

/**
 * gate, up: packed (F, C) of types tg, tu. x (T, C) as float xf and quantized xq/xd/xs.
 * h (T, F) float; with quantOut (requires F % 32 == 0) also hq (T, F) i8, hd/hs (T, F/32).
 * Work is split in chunks of 32 rows (8 row groups) over the threads; this call does share ith.
 */
export function ffn_gate_up(
  tg: i32, wg: usize, tu: i32, wu: usize, F: i32, C: i32, kind: i32,
  xf: usize, xq: usize, xd: usize, xs: usize, T: i32,
  h: usize, hq: usize, hd: usize, hs: usize, quantOut: i32, ith: i32, nth: i32,
): void {
  const nChunks = (F + QK - 1) / QK;
  const c0 = splitStart(nChunks, ith, nth);
  const c1 = splitStart(nChunks, ith + 1, nth);
  const gbg = <usize>groupBytes(tg, C);
  const gbu = <usize>groupBytes(tu, C);
  const nbF = F / QK;
  for (let c = c0; c < c1; c++) {
    const gEnd = min((c + 1) * 8, (F + 3) >> 2);
    for (let g = c * 8; g < gEnd; g++) {
      const r0 = g << 2;
      const nrows = min(4, F - r0);
      for (let t = 0; t < T; t++) {
        const vg = dotGroup(tg, wg + <usize>g * gbg, C, xf, xq, xd, xs, t);
        const vu = dotGroup(tu, wu + <usize>g * gbu, C, xf, xq, xd, xs, t);
        let r: v128;
        if (kind == 2) {
          // drelu: relu(g) * relu(u)
          const z = f32x4.splat(0);
          r = f32x4.mul(f32x4.max(vg, z), f32x4.max(vu, z));
        } else if (kind == 1) {
          r = f32x4.mul(f32x4.max(vg, f32x4.splat(0)), vu);
        } else {
          r = f32x4.splat(0);
          r = f32x4.replace_lane(r, 0, gluOne(f32x4.extract_lane(vg, 0), f32x4.extract_lane(vu, 0), kind));
          r = f32x4.replace_lane(r, 1, gluOne(f32x4.extract_lane(vg, 1), f32x4.extract_lane(vu, 1), kind));
          r = f32x4.replace_lane(r, 2, gluOne(f32x4.extract_lane(vg, 2), f32x4.extract_lane(vu, 2), kind));
          r = f32x4.replace_lane(r, 3, gluOne(f32x4.extract_lane(vg, 3), f32x4.extract_lane(vu, 3), kind));
        }
        storeRows(h + ((<usize>t * <usize>F + <usize>r0) << 2), r, nrows, false);
      }
    }
    if (quantOut != 0) {
      for (let t = 0; t < T; t++) {
        const b = t * nbF + c;
        quantize_q8(h + (<usize>b << 7), hq + (<usize>b << 5), hd + (<usize>b << 2), hs + (<usize>b << 2), 1, 0, 1);
      }
    }
  }
}

@inline function groupBytes(type: i32, K: i32): i32 {
  if (type == 1) return (K / QK) * 136;
  if (type == 2) return (K / QK) * 72;
  return K << 4;
}
