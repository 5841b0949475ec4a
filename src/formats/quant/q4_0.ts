/**
 * Q4_0: blocks of 32 values, `f16 d; u8 qs[16]` (18 bytes). Byte j holds element j in its low
 * nibble and element j+16 in its high nibble; value = (nibble - 8) * d.
 * Source: ggml src/ggml-common.h `block_q4_0`, src/ggml-quants.c `quantize_row_q4_0_ref` /
 * `dequantize_row_q4_0`; spec notes: shared/docs/powerinfer-and-gguf.md 5.3.
 */
import { f16LookupTable, f32ToF16, writeU16 } from './float.js';

export const QK4_0 = 32;
export const Q4_0_BYTES = 18;

/** Dequantize n values (n % 32 == 0) from the first n/32 blocks of src. */
export function q4_0ToFloat(src: Uint8Array, dst: Float32Array, n: number): void {
  const table = f16LookupTable();
  const nb = n / QK4_0;
  for (let b = 0; b < nb; b++) {
    const o = b * Q4_0_BYTES;
    const d = table[src[o]! | (src[o + 1]! << 8)]!;
    const y = b * QK4_0;
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j]!;
      dst[y + j] = ((q & 0xf) - 8) * d;
      dst[y + j + 16] = ((q >>> 4) - 8) * d;
    }
  }
}

/**
 * Reference quantizer (ggml `quantize_row_q4_0_ref`, float32 arithmetic): per block take the
 * value m with the largest |x| (first one on ties), d = m / -8, q = min(15, trunc(x/d + 8.5)).
 * n % 32 == 0.
 */
export function q4_0FromFloat(src: Float32Array, dst: Uint8Array, n: number): void {
  const fr = Math.fround;
  const nb = n / QK4_0;
  for (let b = 0; b < nb; b++) {
    const x = b * QK4_0;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK4_0; j++) {
      const v = src[x + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    const o = b * Q4_0_BYTES;
    writeU16(dst, o, f32ToF16(d));
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(fr(fr(src[x + j]! * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(src[x + 16 + j]! * id) + 8.5)));
      dst[o + 2 + j] = q0 | (q1 << 4);
    }
  }
}
