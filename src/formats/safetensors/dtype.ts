import { GGMLType } from '../quant/types.js';

/**
 * safetensors dtype names and element sizes in bytes (huggingface/safetensors `Dtype`).
 * Sub-byte float formats (F4, F6_*) of newer safetensors versions are not listed: a header
 * naming them is reported as an unknown dtype.
 */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

/** The dtypes relufy loads, and their ggml types. */
export type SupportedDtype = 'F32' | 'F16' | 'BF16';
export const DTYPE_TO_GGML: Readonly<Record<SupportedDtype, GGMLType>> = {
  F32: GGMLType.F32,
  F16: GGMLType.F16,
  BF16: GGMLType.BF16,
};

/** safetensors dtype of a ggml type, or undefined when safetensors cannot hold it as-is. */
export function ggmlToDtype(type: GGMLType): SupportedDtype | undefined {
  switch (type) {
    case GGMLType.F32: return 'F32';
    case GGMLType.F16: return 'F16';
    case GGMLType.BF16: return 'BF16';
    default: return undefined;
  }
}

export function isSupportedDtype(d: string): d is SupportedDtype {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}

/** Element size in bytes of F32 / F16 / BF16. */
export function elementBytes(type: GGMLType): number {
  if (type === GGMLType.F32) return 4;
  if (type === GGMLType.F16 || type === GGMLType.BF16) return 2;
  throw new Error(`elementBytes: ${GGMLType[type] ?? type} is not F32/F16/BF16`);
}
