import { UsageError } from '../../errors.js';
import { GGMLType, type Tensor } from '../quant/types.js';
import { elementBytes, ggmlToDtype } from './dtype.js';
import { writeFileAtomic } from './atomic.js';

/**
 * Writes a `.safetensors` file the way huggingface/safetensors `serialize` lays it out:
 * tensors ordered by element size (largest first, so every tensor stays aligned to its element
 * size) then by name, the JSON header (`__metadata__` first) padded with spaces to a multiple of
 * 8 bytes, then the tensors' bytes back to back. The write is atomic (temp file + rename).
 *
 * @param tensors F32 / F16 / BF16 tensors; `shape` in PyTorch order, `data` little-endian with
 *   exactly prod(shape) elements. Stored under `tensor.name`.
 * @param metadata `__metadata__` strings; `format: 'pt'` is added unless given (transformers
 *   refuses safetensors files without a known `format`).
 * @throws UsageError('tensors', ...) for another type, a size mismatch, or a duplicate name.
 */
export function writeSafetensors(path: string, tensors: readonly Tensor[], metadata: Record<string, string> = {}): void {
  const seen = new Set<string>();
  for (const t of tensors) {
    const dtype = ggmlToDtype(t.type);
    if (dtype === undefined) throw new UsageError('tensors', `${t.name}: type ${GGMLType[t.type] ?? t.type} cannot be stored in safetensors (F32, F16, BF16 only)`);
    if (t.name === '__metadata__' || seen.has(t.name)) throw new UsageError('tensors', `duplicate or reserved tensor name ${t.name}`);
    seen.add(t.name);
    const need = t.shape.reduce((a, b) => a * b, 1) * elementBytes(t.type);
    if (t.data.length !== need)
      throw new UsageError('tensors', `${t.name}: shape [${t.shape.join(',')}] needs ${need} bytes of ${dtype}, data has ${t.data.length}`);
  }
  const ordered = [...tensors].sort(
    (a, b) => elementBytes(b.type) - elementBytes(a.type) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...metadata } };
  let offset = 0;
  for (const t of ordered) {
    header[t.name] = { dtype: ggmlToDtype(t.type), shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(padded.length), true);
  writeFileAtomic(path, [len, padded, ...ordered.map((t) => t.data)]);
}
