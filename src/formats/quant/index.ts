/**
 * Public surface of formats/quant: ggml tensor types, their layouts and codecs.
 * Shapes are PyTorch order (last dim contiguous); see ./types.ts.
 */
export { GGMLType } from './types.js';
export type { Tensor } from './types.js';
export {
  GGML_TYPE_LAYOUT,
  QUANT_TRAITS,
  quantTraits,
  rowBytes,
  tensorBytes,
  typeLayout,
  typeName,
} from './traits.js';
export type { CodecType, FromFloat, QuantTraits, ToFloat, TypeLayout } from './traits.js';
export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './float.js';
export { dequantize, elementCount, quantize } from './tensor.js';
