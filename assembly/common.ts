// Shared helpers for the relufy WebAssembly kernels (AssemblyScript, SIMD128).
// Memory is raw: every pointer is a byte offset into the (shared, imported) linear memory that
// the JS side manages; nothing here allocates.

/** Weight encodings of packed matrices (must match src/kernels/wasm/layout.ts `PackedType`). */
export const PT_F32: i32 = 0;
export const PT_Q8_0: i32 = 1;
export const PT_Q4_0: i32 = 2;

/** Rows per interleaved tile. */
export const TILE_ROWS: i32 = 4;
/** Elements per quantization block (Q8_0, Q4_0 and the int8 activations). */
export const QK: i32 = 32;

/** Bytes of one 4-row tile per 32-column block: 4 f16 scales + 4 x 32 int8. */
export const Q8_TILE: i32 = 136;
/** Bytes of one 4-row tile per 32-column block: 4 f16 scales + 4 x 16 bytes of nibbles. */
export const Q4_TILE: i32 = 72;

/** Start of this thread's share of n items split into nth nearly equal parts. */
@inline export function splitStart(n: i32, ith: i32, nth: i32): i32 {
  return <i32>((<i64>n * <i64>ith) / <i64>nth);
}

/** Four IEEE half floats at p (little-endian u16) as an f32x4. Inf/NaN are not handled (scales only). */
@inline export function f16x4(p: usize): v128 {
  // sign-extended to i32 and shifted left by 13: exponent and mantissa land in f32 bits 27..13 and the
  // sign in bits 31..28; the mask keeps bit 31 as the sign. Reinterpreted as f32 the exponent bias
  // (127 vs 15) is too small by 112: multiply by 2^112 (exact, and correct for f16 subnormals too).
  const h = v128.and(i32x4.shl(v128.load16x4_s(p), 13), i32x4.splat(0x8fffe000));
  return f32x4.mul(h, f32x4.splat(<f32>5.192296858534828e33));
}

/** One IEEE half float (u16 bits) to f32, exact including subnormals, inf and NaN. */
export function f16ToF32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e == 0) {
    const v = <f32>m * <f32>5.960464477539063e-8; // m * 2^-24
    return reinterpret<f32>(reinterpret<u32>(v) | sign);
  }
  if (e == 31) return reinterpret<f32>(sign | 0x7f800000 | (m << 13));
  return reinterpret<f32>(sign | ((e + 112) << 23) | (m << 13));
}

/** [sum a, sum b, sum c, sum d] for four i32x4 vectors (a transpose-and-add). */
@inline export function hsum4i(a: v128, b: v128, c: v128, d: v128): v128 {
  // unpack-lo/hi then 64-bit interleaves: patterns V8 lowers to single punpck* instructions
  const ab = i32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(ab, cd, 0, 1, 4, 5), i32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

/** [sum a, sum b, sum c, sum d] for four f32x4 vectors. */
@inline export function hsum4f(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(f32x4.shuffle(a, b, 0, 4, 1, 5), f32x4.shuffle(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(f32x4.shuffle(c, d, 0, 4, 1, 5), f32x4.shuffle(c, d, 2, 6, 3, 7));
  return f32x4.add(f32x4.shuffle(ab, cd, 0, 1, 4, 5), f32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

/** Sum of the four lanes of an f32x4. */
@inline export function hsumf(a: v128): f32 {
  const b = f32x4.add(a, f32x4.shuffle(a, a, 2, 3, 0, 1));
  return f32x4.extract_lane(b, 0) + f32x4.extract_lane(b, 1);
}

/** acc + a * b on f32x4 (fused where relaxed SIMD is enabled). */
@inline export function madd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

/**
 * Stores the four lanes of v (outputs of rows r0..r0+3 for one token) at out[0..nrows): out points at
 * element r0 of that token's output row; with accumulate the values are added to what is there.
 */
@inline export function storeRows(out: usize, v: v128, nrows: i32, accumulate: bool): void {
  if (nrows >= 4) {
    if (accumulate) v = f32x4.add(v, v128.load(out));
    v128.store(out, v);
    return;
  }
  for (let r = 0; r < nrows; r++) {
    let y = f32x4.extract_lane(v, 0);
    if (r == 1) y = f32x4.extract_lane(v, 1);
    else if (r == 2) y = f32x4.extract_lane(v, 2);
    const p = out + (<usize>r << 2);
    store<f32>(p, accumulate ? load<f32>(p) + y : y);
  }
}
