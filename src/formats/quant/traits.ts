/**
 * Type-traits tables for ggml tensor types (ggml src/ggml.c `type_traits[]`).
 *
 * - `GGML_TYPE_LAYOUT`: name, block size and block bytes of EVERY type id in `GGMLType`, so a
 *   GGUF reader can size tensors it cannot decode (block sizes: ggml src/ggml-common.h
 *   static_asserts; llama.cpp gguf-py `GGML_QUANT_SIZES`).
 * - `QUANT_TRAITS`: the types relufy can decode/encode, with row codecs `toFloat` (ggml
 *   `to_float` / `dequantize_row_*`) and `fromFloatRef` (ggml `from_float_ref` /
 *   `quantize_row_*_ref`). A new codec gets test coverage by being added here
 *   (quant.test.ts loops over this table).
 *
 * Sizes are in bytes; element counts are numbers of scalar values.
 */
import { UsageError } from '../../errors.js';
import { GGMLType } from './types.js';
import { bf16RowFromFloat, bf16RowToFloat, f16RowFromFloat, f16RowToFloat, f32FromFloat, f32ToFloat } from './float.js';
import { q4_0FromFloat, q4_0ToFloat } from './q4_0.js';
import { q8_0FromFloat, q8_0ToFloat } from './q8_0.js';
import { q4_KFromFloat, q4_KToFloat, q6_KFromFloat, q6_KToFloat } from './k_quants.js';

/** Storage layout of one ggml type: `typeSize` bytes hold `blockSize` consecutive values of a row. */
export interface TypeLayout {
  /** Name as in the `GGMLType` enum (and gguf-py `GGMLQuantizationType`), e.g. 'Q4_K'. */
  name: string;
  blockSize: number;
  typeSize: number;
  isQuantized: boolean;
}

/** Dequantize the first n values (n % blockSize == 0) of `src` into dst[0..n). */
export type ToFloat = (src: Uint8Array, dst: Float32Array, n: number) => void;
/** Encode src[0..n) (n % blockSize == 0) into the first n / blockSize * typeSize bytes of `dst`. */
export type FromFloat = (src: Float32Array, dst: Uint8Array, n: number) => void;

export interface QuantTraits extends TypeLayout {
  toFloat: ToFloat;
  fromFloatRef: FromFloat;
}

const L = (name: string, blockSize: number, typeSize: number, isQuantized = blockSize > 1): TypeLayout => ({
  name,
  blockSize,
  typeSize,
  isQuantized,
});

/** Layout of every ggml type id relufy knows (removed ids 4, 5, 31-33, 36-38 are absent). */
export const GGML_TYPE_LAYOUT = {
  [GGMLType.F32]: L('F32', 1, 4),
  [GGMLType.F16]: L('F16', 1, 2),
  [GGMLType.Q4_0]: L('Q4_0', 32, 18),
  [GGMLType.Q4_1]: L('Q4_1', 32, 20),
  [GGMLType.Q5_0]: L('Q5_0', 32, 22),
  [GGMLType.Q5_1]: L('Q5_1', 32, 24),
  [GGMLType.Q8_0]: L('Q8_0', 32, 34),
  [GGMLType.Q8_1]: L('Q8_1', 32, 36),
  [GGMLType.Q2_K]: L('Q2_K', 256, 84),
  [GGMLType.Q3_K]: L('Q3_K', 256, 110),
  [GGMLType.Q4_K]: L('Q4_K', 256, 144),
  [GGMLType.Q5_K]: L('Q5_K', 256, 176),
  [GGMLType.Q6_K]: L('Q6_K', 256, 210),
  [GGMLType.Q8_K]: L('Q8_K', 256, 292),
  [GGMLType.IQ2_XXS]: L('IQ2_XXS', 256, 66),
  [GGMLType.IQ2_XS]: L('IQ2_XS', 256, 74),
  [GGMLType.IQ3_XXS]: L('IQ3_XXS', 256, 98),
  [GGMLType.IQ1_S]: L('IQ1_S', 256, 50),
  [GGMLType.IQ4_NL]: L('IQ4_NL', 32, 18),
  [GGMLType.IQ3_S]: L('IQ3_S', 256, 110),
  [GGMLType.IQ2_S]: L('IQ2_S', 256, 82),
  [GGMLType.IQ4_XS]: L('IQ4_XS', 256, 136),
  [GGMLType.I8]: L('I8', 1, 1),
  [GGMLType.I16]: L('I16', 1, 2),
  [GGMLType.I32]: L('I32', 1, 4),
  [GGMLType.I64]: L('I64', 1, 8),
  [GGMLType.F64]: L('F64', 1, 8),
  [GGMLType.IQ1_M]: L('IQ1_M', 256, 56),
  [GGMLType.BF16]: L('BF16', 1, 2),
  [GGMLType.TQ1_0]: L('TQ1_0', 256, 54),
  [GGMLType.TQ2_0]: L('TQ2_0', 256, 66),
  [GGMLType.MXFP4]: L('MXFP4', 32, 17),
} satisfies Record<GGMLType, TypeLayout>;

/** Types with a decoder and reference encoder in relufy. */
export type CodecType =
  | GGMLType.F32
  | GGMLType.F16
  | GGMLType.BF16
  | GGMLType.Q8_0
  | GGMLType.Q4_0
  | GGMLType.Q4_K
  | GGMLType.Q6_K;

const T = (t: CodecType, toFloat: ToFloat, fromFloatRef: FromFloat): QuantTraits => ({
  ...GGML_TYPE_LAYOUT[t],
  toFloat,
  fromFloatRef,
});

/** Codec table (ggml `type_traits` `to_float` / `from_float_ref`). */
export const QUANT_TRAITS = {
  [GGMLType.F32]: T(GGMLType.F32, f32ToFloat, f32FromFloat),
  [GGMLType.F16]: T(GGMLType.F16, f16RowToFloat, f16RowFromFloat),
  [GGMLType.BF16]: T(GGMLType.BF16, bf16RowToFloat, bf16RowFromFloat),
  [GGMLType.Q8_0]: T(GGMLType.Q8_0, q8_0ToFloat, q8_0FromFloat),
  [GGMLType.Q4_0]: T(GGMLType.Q4_0, q4_0ToFloat, q4_0FromFloat),
  [GGMLType.Q4_K]: T(GGMLType.Q4_K, q4_KToFloat, q4_KFromFloat),
  [GGMLType.Q6_K]: T(GGMLType.Q6_K, q6_KToFloat, q6_KFromFloat),
} satisfies Record<CodecType, QuantTraits>;

/** Layout of type id `t`, or undefined for ids that are not (or no longer) ggml types. */
export function typeLayout(t: number): TypeLayout | undefined {
  return Object.prototype.hasOwnProperty.call(GGML_TYPE_LAYOUT, t)
    ? GGML_TYPE_LAYOUT[t as GGMLType]
    : undefined;
}

/**
 * Codec traits of type id `t`, or undefined when relufy cannot decode it (other quant types, and
 * the raw integer/F64 types, which PowerInfer files use for I32 index tensors: read their bytes
 * directly).
 */
export function quantTraits(t: number): QuantTraits | undefined {
  return Object.prototype.hasOwnProperty.call(QUANT_TRAITS, t) ? QUANT_TRAITS[t as CodecType] : undefined;
}

/** 'Q4_K', 'F32', ...; `type#<id>` for unknown ids. */
export function typeName(t: number): string {
  return typeLayout(t)?.name ?? `type#${t}`;
}

function requireLayout(t: number): TypeLayout {
  const layout = typeLayout(t);
  if (!layout) throw new UsageError('type', `unknown ggml type id ${t}`);
  return layout;
}

/**
 * Bytes of one row of n values of type t (ggml `ggml_row_size`).
 * @throws UsageError when t is unknown, n is not a non-negative safe integer, or n is not a
 *   multiple of the type's block size.
 */
export function rowBytes(t: GGMLType, n: number): number {
  const layout = requireLayout(t);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError('n', `row length ${n} is not a non-negative integer`);
  if (n % layout.blockSize !== 0) {
    throw new UsageError('n', `row length ${n} is not a multiple of ${layout.name} block size ${layout.blockSize}`);
  }
  const bytes = (n / layout.blockSize) * layout.typeSize;
  if (!Number.isSafeInteger(bytes)) throw new UsageError('n', `row of ${n} ${layout.name} values overflows 2^53 bytes`);
  return bytes;
}

/**
 * Bytes of a whole tensor: `shape` in PyTorch order (last dim = row, contiguous); the row length
 * must be a multiple of the block size. Exact integer arithmetic.
 * @returns the byte count, or null when it (or the element count) exceeds 2^53 - 1.
 * @throws UsageError for an unknown type, a non-integer or negative dim, or a row length that is not
 *   a multiple of the block size. An empty shape is a scalar (1 value).
 */
export function tensorBytes(t: GGMLType, shape: readonly number[]): number | null {
  const layout = requireLayout(t);
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new UsageError('shape', `dimension ${d} is not a non-negative integer`);
  }
  const row = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  if (row % layout.blockSize !== 0) {
    throw new UsageError('shape', `row length ${row} is not a multiple of ${layout.name} block size ${layout.blockSize}`);
  }
  // exact: BigInt products, compared against 2^53 - 1
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  let bytes = BigInt(row / layout.blockSize) * BigInt(layout.typeSize);
  let elements = BigInt(row);
  for (let i = 0; i < shape.length - 1; i++) {
    bytes *= BigInt(shape[i]!);
    elements *= BigInt(shape[i]!);
  }
  if (bytes > max || elements > max) return null;
  return Number(bytes);
}

