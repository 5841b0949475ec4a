/**
 * Byte layout of weights repacked for the WebAssembly kernels (assembly/pack.ts writes it,
 * assembly/matmul.ts streams it). A linear weight W (O, K) becomes ceil(O/4) row groups, each
 * one contiguous run of bytes, so a matvec reads a single sequential stream
 * (measurements: shared/docs/kernel-notes.md section 2, "il" rows).
 *
 * - Q8_0: per group, per 32-column block b, a 136-byte tile: f16 scales of rows 4g..4g+3 (8 B),
 *   then the 4 rows' 32 int8 values (4 x 32 B). Same bytes as ggml's 4 x 34.
 * - Q4_0: per group and block a 72-byte tile: 4 f16 scales, then the 4 rows' 16 bytes of ggml nibbles
 *   (low nibble = element j, high = element j+16, stored value q+8 unsigned). Same bytes as 4 x 18,
 *   in an order that depends on the build: SIMD128 row after row (4 x 16 bytes); relaxed SIMD by
 *   column quads, four 16-byte vectors where vector k holds bytes 4k..4k+3 of rows 0, 1, 2, 3
 *   (assembly/pack.ts pack_q4; read by matmul.ts blockQ4 without a horizontal reduction).
 * - F32: per group, for each 4-column chunk the 4 rows' 4 floats (64 B), then for each of the
 *   K % 4 tail columns the 4 rows' values (16 B): 16*K bytes per group.
 * Missing rows of the last group are zero (Q4_0: nibble 8). F16 / BF16 are converted to F32 at load;
 * other ggml types are dequantized to F32 at load.
 */
export enum PackedType {
  F32 = 0,
  Q8_0 = 1,
  Q4_0 = 2,
}

/** FFN activation codes of assembly/ops.ts. */
export const GLU_CODE = { swiglu: 0, reglu: 1, drelu: 2 } as const;

/** Bytes of one packed 4-row group with K columns. */
export function groupBytes(type: PackedType, K: number): number {
  if (type === PackedType.Q8_0) return (K / 32) * 136;
  if (type === PackedType.Q4_0) return (K / 32) * 72;
  return K * 16;
}

/** Bytes of a packed (O, K) matrix. */
export function packedBytes(type: PackedType, O: number, K: number): number {
  return Math.ceil(O / 4) * groupBytes(type, K);
}

/**
 * Bytes of the "token quad" activations the prefill kernels read (assembly/prefill.ts; written by
 * quantize_q8 when given a buffer, assembly/quantize.ts quadStore): T tokens rounded up to a multiple
 * of 4, K columns as i16 pairs (8K bytes per quad) and one f32 scale per token and 32-column block;
 * then, filled by the relaxed-SIMD build for its Q4_0 kernel, the same columns as int8 column quads
 * (4K bytes per quad) and one i32 sum per token and block.
 */
export function quadBytes(T: number, K: number): number {
  const quads = Math.ceil(T / 4);
  return quads * K * 12 + quads * (K / 32) * 32;
}

/**
 * Fills a prefill context (view: its 3 i32; assembly/prefill.ts ctxScratch): work counter, scratch
 * base, bytes per thread. `scratch` must hold one prefillScratchStride(maxK) area per thread (weights
 * of up to maxK columns, widened to i16). The counter must be zeroed again before each dispatch.
 */
export function writePrefillCtx(view: Int32Array, scratch: number, maxK: number): void {
  view[0] = 0;
  view[1] = scratch | 0;
  view[2] = prefillScratchStride(maxK);
}

/** Bytes per thread of the prefill kernels' weight scratch for up to maxK columns (64-byte multiple). */
export function prefillScratchStride(maxK: number): number {
  return Math.ceil((maxK * 8) / 64) * 64;
}

/** True for the int8-dot types (their activations are quantized to int8 blocks first). */
export function isQuantized(type: PackedType): boolean {
  return type !== PackedType.F32;
}
