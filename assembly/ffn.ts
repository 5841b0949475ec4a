// Fused feed-forward first half: h = glu(x @ Wg^T, x @ Wu^T) for a row range, then (optionally) the
// int8 quantization of the finished 32-row blocks of h that the down projection reads, so that one
// dispatch covers gate, up, activation and the requantization (no barrier needed in between).
import { PT_Q4_0, QK, splitStart, storeRows } from './common';
import { PAIR_GLU, dotGroup, dotQ4pair, group_bytes } from './matmul';
import { gluVec } from './ops';
import { MODE_GLU, MODE_STORE, ctxScratch, prefill_groups, prefillType } from './prefill';
import { quadStore, quantize_q8 } from './quantize';

/**
 * gate, up: packed (F, C) of types tg, tu. x (T, C) as float xf and quantized xq/xd/xs.
 * h (T, F) float; with quantOut (requires F % 32 == 0) also hq (T, F) i8, hd/hs (T, F/32).
 * x16: x as token-quad activations (quantize_q8 with K = C), or 0; with it and ctx, T > 1 runs the prefill
 * kernels (prefill.ts), and quantOut also writes h16, the token-quad form of h for the down projection.
 * Work is split in chunks of 32 rows (8 row groups) over the threads (this call does share ith), or
 * with a prefill context ctx != 0 (prefill.ts ctxScratch; counter zeroed by the caller) claimed chunk
 * by chunk by whichever thread is free.
 */
export function ffn_gate_up(
  tg: i32, wg: usize, tu: i32, wu: usize, F: i32, C: i32, kind: i32,
  xf: usize, xq: usize, xd: usize, xs: usize, T: i32,
  h: usize, hq: usize, hd: usize, hs: usize, quantOut: i32, x16: usize, h16: usize, ctx: usize, ith: i32, nth: i32,
): void {
  const nChunks = (F + QK - 1) / QK;
  if (ctx == 0) {
    const c0 = splitStart(nChunks, ith, nth);
    const c1 = splitStart(nChunks, ith + 1, nth);
    for (let c = c0; c < c1; c++) gateUpChunk(tg, wg, tu, wu, F, C, kind, xf, xq, xd, xs, T, h, hq, hd, hs, quantOut, 0, 0, 0, c);
    return;
  }
  const ws = ctxScratch(ctx, ith);
  for (;;) {
    const c = atomic.add<i32>(ctx, 1);
    if (c >= nChunks) break;
    gateUpChunk(tg, wg, tu, wu, F, C, kind, xf, xq, xd, xs, T, h, hq, hd, hs, quantOut, x16, h16, ws, c);
  }
}

/** Rows [32c, 32c + 32) of ffn_gate_up. */
function gateUpChunk(
  tg: i32, wg: usize, tu: i32, wu: usize, F: i32, C: i32, kind: i32,
  xf: usize, xq: usize, xd: usize, xs: usize, T: i32,
  h: usize, hq: usize, hd: usize, hs: usize, quantOut: i32, x16: usize, h16: usize, ws: usize, c: i32,
): void {
  const gbg = <usize>group_bytes(tg, C);
  const gbu = <usize>group_bytes(tu, C);
  const nbF = F / QK;
  const gEnd = min((c + 1) * 8, (F + 3) >> 2);
  if (T > 1 && x16 != 0 && ws != 0 && prefillType(tg) && prefillType(tu)) {
    // prefill: each row group against all tokens in blocks of 4; gate stored into h, then up combined with it
    for (let g = c * 8; g < gEnd; g++) {
      prefill_groups(tg, wg, F, C, h, F, MODE_STORE, 0, g, g + 1, x16, T, ws);
      prefill_groups(tu, wu, F, C, h, F, MODE_GLU, kind, g, g + 1, x16, T, ws);
    }
  } else for (let g = c * 8; g < gEnd; g++) {
    const r0 = g << 2;
    const nrows = min(4, F - r0);
    for (let t = 0; t < T; t++) {
      if (ASC_FEATURE_RELAXED_SIMD && tg == PT_Q4_0 && tu == PT_Q4_0) {
        // gate and up rows of the group in one pass over the activations
        const nb = C / QK;
        dotQ4pair(wg + <usize>g * gbg, wu + <usize>g * gbu, xq + <usize>t * <usize>C, xd + (<usize>(t * nb) << 2), xs + (<usize>(t * nb) << 2),
          nb, h + ((<usize>t * <usize>F + <usize>r0) << 2), nrows, 0, 0, PAIR_GLU, kind);
        continue;
      }
      const vg = dotGroup(tg, wg + <usize>g * gbg, C, xf, xq, xd, xs, t);
      const vu = dotGroup(tu, wu + <usize>g * gbu, C, xf, xq, xd, xs, t);
      const r = gluVec(vg, vu, kind);
      storeRows(h + ((<usize>t * <usize>F + <usize>r0) << 2), r, nrows, false);
    }
  }
  if (quantOut != 0) {
    for (let t = 0; t < T; t++) {
      const b = t * nbF + c;
      quantize_q8(h + (<usize>b << 7), hq + (<usize>b << 5), hd + (<usize>b << 2), hs + (<usize>b << 2), 1, 0, 0, 0, 1);
      if (h16 != 0) quadStore(hq + (<usize>b << 5), load<f32>(hd + (<usize>b << 2)), load<i32>(hs + (<usize>b << 2)), h16, t, c, F, T);
    }
  }
}
