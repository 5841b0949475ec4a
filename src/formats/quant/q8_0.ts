/**
 * Q8_0: blocks of 32 values, `f16 d; i8 qs[32]` (34 bytes), value = qs[j] * d.
 * Source: ggml src/ggml-common.h `block_q8_0`, src/ggml-quants.c `quantize_row_q8_0_ref` /
 * `dequantize_row_q8_0`; spec notes: shared/docs/powerinfer-and-gguf.md 5.3.
 */
import { f16LookupTable, f32ToF16, writeU16 } from './float.js';

export const QK8_0 = 32;
export const Q8_0_BYTES = 34;

/** Dequantize n values (n % 32 == 0) from the first n/32 blocks of src. */
export function q8_0ToFloat(src: Uint8Array, dst: Float32Array, n: number): void {
  const table = f16LookupTable();
  const nb = n / QK8_0;
  for (let b = 0; b < nb; b++) {
    const o = b * Q8_0_BYTES;
    const d = table[src[o]! | (src[o + 1]! << 8)]!;
    const y = b * QK8_0;
    for (let j = 0; j < QK8_0; j++) dst[y + j] = ((src[o + 2 + j]! << 24) >> 24) * d;
  }
}

/** C `roundf`: nearest, ties away from zero. */
export function roundAway(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/**
 * Reference quantizer (ggml `quantize_row_q8_0_ref`, float32 arithmetic): per block
 * d = amax / 127, q = roundf(x / d) (via x * (1/d)), d stored as f16. n % 32 == 0.
 */
export function q8_0FromFloat(src: Float32Array, dst: Uint8Array, n: number): void {
  const fr = Math.fround;
  const nb = n / QK8_0;
  for (let b = 0; b < nb; b++) {
    const x = b * QK8_0;
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(src[x + j]!));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    const o = b * Q8_0_BYTES;
    writeU16(dst, o, f32ToF16(d));
    for (let j = 0; j < QK8_0; j++) dst[o + 2 + j] = roundAway(fr(src[x + j]! * id)) & 0xff;
  }
}
