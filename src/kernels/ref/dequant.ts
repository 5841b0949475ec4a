import { RelufyError } from '../../errors.js';
import { quantTraits, typeName, type QuantTraits } from '../../formats/quant/index.js';
import type { Tensor } from '../../formats/quant/types.js';

/** Codec of a weight's type, or a RelufyError naming the tensor when relufy cannot decode it. */
export function codecOf(type: number, tensorName: string): QuantTraits {
  const t = quantTraits(type);
  if (!t) throw new RelufyError(`tensor ${tensorName}: type ${typeName(type)} cannot be computed with (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)`);
  return t;
}

/**
 * Rows row0 .. row0+nRows-1 of a 2-D (or 1-D, one row) tensor, dequantized to float32: (nRows, cols).
 * @throws RelufyError for undecodable types or rows out of range.
 */
export function dequantizeRows(t: Tensor, row0: number, nRows: number): Float32Array {
  const cols = t.shape[t.shape.length - 1]!;
  const rows = t.shape.length === 1 ? 1 : t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (row0 < 0 || row0 + nRows > rows) throw new RelufyError(`tensor ${t.name}: rows ${row0}..${row0 + nRows - 1} outside 0..${rows - 1}`);
  const traits = codecOf(t.type, t.name);
  const rb = t.data.byteLength / rows;
  const out = new Float32Array(nRows * cols);
  traits.toFloat(t.data.subarray(row0 * rb, (row0 + nRows) * rb), out, nRows * cols);
  return out;
}
