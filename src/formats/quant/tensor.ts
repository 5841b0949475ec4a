/**
 * Whole-tensor conversion between float32 and a stored ggml encoding, using the codec table.
 */
import { UsageError } from '../../errors.js';
import type { Tensor } from './types.js';
import { GGMLType } from './types.js';
import { quantTraits, tensorBytes, typeName } from './traits.js';

/** Number of values of a tensor with PyTorch-order `shape` (empty shape = scalar = 1). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Decode a tensor to float32 values in row-major (PyTorch) order: result length = product of
 * `tensor.shape`. Source: ggml `type_traits[type].to_float` applied to the whole data.
 * @throws UsageError when the type has no decoder in relufy (e.g. Q5_K, I32), or when
 *   `tensor.data` is shorter than the shape requires.
 */
export function dequantize(tensor: Tensor): Float32Array {
  const traits = quantTraits(tensor.type);
  if (!traits) throw new UsageError(tensor.name, `cannot dequantize tensor type ${typeName(tensor.type)}`);
  const bytes = tensorBytes(tensor.type, tensor.shape);
  if (bytes === null) throw new UsageError(tensor.name, `shape [${tensor.shape.join(', ')}] is too large`);
  if (tensor.data.length < bytes) {
    throw new UsageError(tensor.name, `data is ${tensor.data.length} bytes, shape needs ${bytes}`);
  }
  const n = elementCount(tensor.shape);
  const out = new Float32Array(n);
  traits.toFloat(tensor.data, out, n);
  return out;
}

/**
 * Encode float32 values (row-major, length = product of `shape`, PyTorch order) as `type` with the
 * reference quantizer (ggml `from_float_ref`; deterministic). Returns a Tensor named ''.
 * @throws UsageError when the type has no encoder, `data.length` does not match `shape`, or the
 *   row length (last dim) is not a multiple of the type's block size.
 */
export function quantize(data: Float32Array, shape: readonly number[], type: GGMLType): Tensor {
  const traits = quantTraits(type);
  if (!traits) throw new UsageError('type', `cannot quantize to tensor type ${typeName(type)}`);
  const bytes = tensorBytes(type, shape);
  if (bytes === null) throw new UsageError('shape', `shape [${shape.join(', ')}] is too large`);
  const n = elementCount(shape);
  if (data.length !== n) throw new UsageError('data', `has ${data.length} values, shape [${shape.join(', ')}] needs ${n}`);
  const out = new Uint8Array(bytes);
  traits.fromFloatRef(data, out, n);
  return { name: '', type, shape: [...shape], data: out };
}
