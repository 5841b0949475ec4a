/**
 * Scalar float formats: IEEE binary16 (F16), bfloat16 (BF16) and float32 (F32) conversions and
 * their row codecs. Rounding follows ggml: F16 is IEEE round-to-nearest-even with subnormals
 * (what x86 F16C / ARM fcvt do, ggml `ggml_compute_fp32_to_fp16`), BF16 is ggml-impl.h
 * `ggml_compute_fp32_to_bf16` (nearest-even on the upper 16 bits, NaN forced quiet).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** True when typed-array views read little-endian data directly (every platform Node ships on). */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Bits of `x` rounded to float32 (ggml values are float32, so this is the first rounding). */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

/** The float32 whose bit pattern is `bits` (unsigned 32-bit). */
export function f32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

/**
 * float32 -> IEEE binary16 bits (0..65535), round to nearest, ties to even. `x` is first rounded to
 * float32. Overflow gives +-inf, tiny values become subnormals or signed zero, NaN stays a quiet NaN
 * keeping the top payload bits (as hardware F16C conversion does).
 */
export function f32ToF16(x: number): number {
  const u = f32Bits(x);
  const sign = (u >>> 16) & 0x8000;
  const e = (u >>> 23) & 0xff;
  const m = u & 0x7fffff;
  if (e === 0xff) return m === 0 ? sign | 0x7c00 : sign | 0x7e00 | (m >>> 13);
  const E = e - 127;
  if (E >= -14) {
    // normal range of f16 (may round up into the next binade or to infinity)
    if (E > 15) return sign | 0x7c00;
    let h = ((E + 15) << 10) | (m >>> 13);
    const rem = m & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h += 1;
    return h >= 0x7c00 ? sign | 0x7c00 : sign | h;
  }
  // subnormal f16: value = full * 2^(E-23), unit 2^-24 => q = full * 2^(E+1)
  const shift = -E - 1; // >= 14
  if (shift > 24) return sign; // < half of the smallest subnormal (also covers f32 zero/subnormals)
  const full = m | 0x800000;
  let q = full >>> shift;
  const rem = full & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (q & 1) === 1)) q += 1;
  return sign | q;
}

let f16Table: Float32Array | undefined;

/** Decode IEEE binary16 bits (0..65535) to a number (exact; subnormals, inf and NaN handled). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * (1024 + m) * 2 ** (e - 25);
}

/** All 65536 f16 values decoded, built on first use (256 KiB). */
export function f16LookupTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  return f16Table;
}

/** Decode bfloat16 bits (0..65535): the upper half of a float32. */
export function bf16ToF32(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}

/**
 * float32 -> bfloat16 bits as ggml does (`ggml_compute_fp32_to_bf16`, ggml-impl.h): NaN keeps its
 * sign and top payload and gets the quiet bit (`(u >> 16) | 64`); everything else rounds to nearest
 * even on the dropped 16 bits (so large finite values can round to inf).
 */
export function f32ToBf16(x: number): number {
  const u = f32Bits(x);
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return Math.floor((u + 0x7fff + ((u >>> 16) & 1)) / 65536) & 0xffff;
}

/** Little-endian u16 at `off`. */
export function readU16(src: Uint8Array, off: number): number {
  return src[off]! | (src[off + 1]! << 8);
}

/** Store little-endian u16 at `off`. */
export function writeU16(dst: Uint8Array, off: number, v: number): void {
  dst[off] = v & 0xff;
  dst[off + 1] = (v >>> 8) & 0xff;
}

// ---- row codecs (see traits.ts for the table that uses them) ----

/** F32 row: n little-endian float32 values. */
export function f32ToFloat(src: Uint8Array, dst: Float32Array, n: number): void {
  if (HOST_IS_LITTLE_ENDIAN && src.byteOffset % 4 === 0) {
    dst.set(new Float32Array(src.buffer, src.byteOffset, n));
    return;
  }
  const dv = new DataView(src.buffer, src.byteOffset, n * 4);
  for (let i = 0; i < n; i++) dst[i] = dv.getFloat32(i * 4, true);
}

export function f32FromFloat(src: Float32Array, dst: Uint8Array, n: number): void {
  if (HOST_IS_LITTLE_ENDIAN && dst.byteOffset % 4 === 0) {
    new Float32Array(dst.buffer, dst.byteOffset, n).set(src.subarray(0, n));
    return;
  }
  const dv = new DataView(dst.buffer, dst.byteOffset, n * 4);
  for (let i = 0; i < n; i++) dv.setFloat32(i * 4, src[i]!, true);
}

/** F16 row: n little-endian binary16 values. */
export function f16RowToFloat(src: Uint8Array, dst: Float32Array, n: number): void {
  const table = f16LookupTable();
  for (let i = 0; i < n; i++) dst[i] = table[src[2 * i]! | (src[2 * i + 1]! << 8)]!;
}

export function f16RowFromFloat(src: Float32Array, dst: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) writeU16(dst, 2 * i, f32ToF16(src[i]!));
}

/** BF16 row: n little-endian bfloat16 values. */
export function bf16RowToFloat(src: Uint8Array, dst: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) dst[i] = bf16ToF32(src[2 * i]! | (src[2 * i + 1]! << 8));
}

export function bf16RowFromFloat(src: Float32Array, dst: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) writeU16(dst, 2 * i, f32ToBf16(src[i]!));
}
