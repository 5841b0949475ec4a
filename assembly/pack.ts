// Load-time conversion of ggml row-major weights into the interleaved 4-row tile layout the
// matmul kernels stream (byte layout documented in src/kernels/wasm/layout.ts), plus the reverse
// for a single row (embedding lookup).
import { PT_Q8_0, PT_Q4_0, Q8_TILE, Q4_TILE, QK, f16ToF32 } from './common';

/**
 * ggml Q8_0 rows (rows, K) at src (34-byte blocks `f16 d; i8 qs[32]`) -> ceil(rows/4) packed groups at dst.
 * Group g, block b is one 136-byte tile: 4 f16 scales (rows 4g..4g+3), then 4 x 32 int8. Missing rows are zero.
 */
export function pack_q8(src: usize, dst: usize, rows: i32, K: i32): void {
  const nb = K / QK;
  const rowBytes = <usize>nb * 34;
  const groups = (rows + 3) >> 2;
  for (let g = 0; g < groups; g++) {
    for (let b = 0; b < nb; b++) {
      const tile = dst + (<usize>(g * nb + b)) * Q8_TILE;
      for (let r = 0; r < 4; r++) {
        const row = (g << 2) + r;
        if (row < rows) {
          const blk = src + <usize>row * rowBytes + <usize>b * 34;
          store<u16>(tile + (<usize>r << 1), load<u16>(blk));
          memory.copy(tile + 8 + (<usize>r << 5), blk + 2, 32);
        } else {
          store<u16>(tile + (<usize>r << 1), 0);
          memory.fill(tile + 8 + (<usize>r << 5), 0, 32);
        }
      }
    }
  }
}

/**
 * ggml Q4_0 rows (18-byte blocks `f16 d; u8 qs[16]`) -> packed groups of 72-byte tiles: 4 f16 scales,
 * then the 4 rows' 16 nibble bytes. SIMD128 build: row after row (4 x 16 bytes). Relaxed build:
 * "column quads", for k = 0..3 one 16-byte vector with bytes 4k..4k+3 of rows 0, 1, 2, 3, so that one
 * i16x8.relaxed_dot against 4 broadcast activations gives all 4 rows' partial sums (matmul.ts dotQ4).
 */
export function pack_q4(src: usize, dst: usize, rows: i32, K: i32): void {
  const nb = K / QK;
  const rowBytes = <usize>nb * 18;
  const groups = (rows + 3) >> 2;
  for (let g = 0; g < groups; g++) {
    for (let b = 0; b < nb; b++) {
      const tile = dst + (<usize>(g * nb + b)) * Q4_TILE;
      for (let r = 0; r < 4; r++) {
        const row = (g << 2) + r;
        const blk = src + <usize>row * rowBytes + <usize>b * 18;
        store<u16>(tile + (<usize>r << 1), row < rows ? load<u16>(blk) : 0);
        for (let k = 0; k < 4; k++) {
          // nibble 8 = weight 0 in missing rows
          const q = row < rows ? load<u32>(blk + 2 + (<usize>k << 2)) : 0x88888888;
          store<u32>(tile + q4Offset(r, k), q);
        }
      }
    }
  }
}

/** Byte offset in a Q4_0 tile of bytes 4k..4k+3 of row r (layout of pack_q4 for this build). */
@inline export function q4Offset(r: i32, k: i32): usize {
  if (ASC_FEATURE_RELAXED_SIMD) return 8 + (<usize>k << 4) + (<usize>r << 2);
  return 8 + (<usize>r << 4) + (<usize>k << 2);
}

/**
 * f32 rows (rows, K) -> packed groups of 16*K bytes: for each 4-column chunk the 4 rows' 4 floats
 * (64 bytes), then for each of the K%4 tail columns the 4 rows' values (16 bytes).
 */
export function pack_f32(src: usize, dst: usize, rows: i32, K: i32): void {
  const groups = (rows + 3) >> 2;
  const K4 = K >> 2;
  const rowBytes = <usize>K << 2;
  for (let g = 0; g < groups; g++) {
    const gd = dst + <usize>g * (<usize>K << 4);
    for (let r = 0; r < 4; r++) {
      const row = (g << 2) + r;
      const rs = src + <usize>row * rowBytes;
      const valid = row < rows;
      for (let c = 0; c < K4; c++) {
        const d = gd + (<usize>c << 6) + (<usize>r << 4);
        if (valid) v128.store(d, v128.load(rs + (<usize>c << 4)));
        else v128.store(d, i32x4.splat(0));
      }
      for (let k = K4 << 2; k < K; k++) {
        const d = gd + (<usize>K4 << 6) + (<usize>(k - (K4 << 2)) << 4) + (<usize>r << 2);
        store<f32>(d, valid ? load<f32>(rs + (<usize>k << 2)) : 0);
      }
    }
  }
}

/** n IEEE half floats at src -> f32 at dst. */
export function f16_to_f32(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), f16ToF32(load<u16>(src + (<usize>i << 1))));
}

/** n bfloat16 at src -> f32 at dst (upper half of the float32 bits). */
export function bf16_to_f32(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u32>(dst + (<usize>i << 2), (<u32>load<u16>(src + (<usize>i << 1))) << 16);
}

/** Row `row` of a packed (O, K) matrix of type `type` dequantized to K floats at out. */
export function unpack_row(type: i32, w: usize, row: i32, K: i32, out: usize): void {
  const g = row >> 2;
  const r = row & 3;
  if (type == PT_Q8_0 || type == PT_Q4_0) {
    const nb = K / QK;
    const q8 = type == PT_Q8_0;
    const tb = <usize>(q8 ? Q8_TILE : Q4_TILE);
    for (let b = 0; b < nb; b++) {
      const tile = w + <usize>(g * nb + b) * tb;
      const d = f16ToF32(load<u16>(tile + (<usize>r << 1)));
      const o = out + (<usize>(b * QK) << 2);
      if (q8) {
        const q = tile + 8 + (<usize>r << 5);
        for (let j = 0; j < QK; j++) store<f32>(o + (<usize>j << 2), <f32>load<i8>(q + j) * d);
      } else {
        for (let j = 0; j < 16; j++) {
          const v = load<u8>(tile + q4Offset(r, j >> 2) + <usize>(j & 3));
          store<f32>(o + (<usize>j << 2), <f32>(<i32>(v & 15) - 8) * d);
          store<f32>(o + (<usize>(j + 16) << 2), <f32>(<i32>(v >> 4) - 8) * d);
        }
      }
    }
    return;
  }
  const gd = w + <usize>g * (<usize>K << 4);
  const K4 = K >> 2;
  for (let c = 0; c < K4; c++) v128.store(out + (<usize>c << 4), v128.load(gd + (<usize>c << 6) + (<usize>r << 4)));
  for (let k = K4 << 2; k < K; k++) {
    store<f32>(out + (<usize>k << 2), load<f32>(gd + (<usize>K4 << 6) + (<usize>(k - (K4 << 2)) << 4) + (<usize>r << 2)));
  }
}
