/**
 * GGUF writer. Output follows llama.cpp's writers byte for byte (ggml src/gguf.cpp
 * `gguf_write_out`, gguf-py `GGUFWriter`): header, key-values in Map order, tensor infos with
 * offsets = running sum of each tensor's size padded to the alignment, zero padding to the
 * alignment, then each tensor's bytes followed by zero padding to the alignment (the last one too).
 * A file with no tensors ends right after the header, as gguf-py writes vocab-only files.
 *
 * Input rules (violations throw UsageError naming the key or tensor): values must fit their
 * declared type; tensor names unique and < 64 bytes (ggml `GGML_MAX_NAME`, so llama.cpp can read
 * the file); shapes of 1..4 positive dims (PyTorch order, written reversed as ggml `ne`) whose row
 * length is a multiple of the type's block size; `data.length` equal to the shape's byte size;
 * alignment a power of two. A non-default alignment is recorded as `general.alignment` (UINT32,
 * appended when missing), because readers take it only from there.
 */
import { closeSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import type { Tensor } from '../quant/types.js';
import { tensorBytes, typeLayout } from '../quant/traits.js';
import { GGUF_ALIGNMENT_KEY, GGUF_DEFAULT_ALIGNMENT, GGUF_MAX_DIMS, alignUp, quoteName, valueTypeName } from './read.js';
import { GGUFValueType, type GGUFArrayValue, type GGUFKV, type GGUFScalar, type GGUFWriteInput } from './types.js';

/** Longest tensor name llama.cpp accepts, in UTF-8 bytes (ggml `GGML_MAX_NAME` - 1). */
export const GGUF_MAX_TENSOR_NAME_BYTES = 63;

const utf8 = new TextEncoder();

/** Growable little-endian byte buffer. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  /** Reserve n more bytes (may replace buf/dv: call before reading them); returns where they start. */
  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < this.length + n) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.dv = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  u8(v: number): void {
    const at = this.room(1);
    this.dv.setUint8(at, v);
  }
  i8(v: number): void {
    const at = this.room(1);
    this.dv.setInt8(at, v);
  }
  u16(v: number): void {
    const at = this.room(2);
    this.dv.setUint16(at, v, true);
  }
  i16(v: number): void {
    const at = this.room(2);
    this.dv.setInt16(at, v, true);
  }
  u32(v: number): void {
    const at = this.room(4);
    this.dv.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.room(4);
    this.dv.setInt32(at, v, true);
  }
  f32(v: number): void {
    const at = this.room(4);
    this.dv.setFloat32(at, v, true);
  }
  f64(v: number): void {
    const at = this.room(8);
    this.dv.setFloat64(at, v, true);
  }
  u64(v: bigint): void {
    const at = this.room(8);
    this.dv.setBigUint64(at, v, true);
  }
  i64(v: bigint): void {
    const at = this.room(8);
    this.dv.setBigInt64(at, v, true);
  }
  bytes(b: Uint8Array): void {
    const at = this.room(b.length);
    this.buf.set(b, at);
  }
  str(s: string): void {
    const b = utf8.encode(s);
    this.u64(BigInt(b.length));
    this.bytes(b);
  }
  zeros(n: number): void {
    const at = this.room(n);
    this.buf.fill(0, at, this.length);
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const INT_RANGES: Partial<Record<GGUFValueType, [number, number]>> = {
  [GGUFValueType.UINT8]: [0, 0xff],
  [GGUFValueType.INT8]: [-0x80, 0x7f],
  [GGUFValueType.UINT16]: [0, 0xffff],
  [GGUFValueType.INT16]: [-0x8000, 0x7fff],
  [GGUFValueType.UINT32]: [0, 0xffffffff],
  [GGUFValueType.INT32]: [-0x80000000, 0x7fffffff],
};

function writeValue(w: ByteWriter, type: GGUFValueType, v: GGUFScalar | GGUFArrayValue, where: string): void {
  const bad = (want: string): never => {
    const shown = typeof v === 'object' ? 'an array value' : `${typeof v} ${String(v).slice(0, 40)}`;
    throw new UsageError(where, `${valueTypeName(type)} value must be ${want}, got ${shown}`);
  };
  switch (type) {
    case GGUFValueType.UINT8:
    case GGUFValueType.INT8:
    case GGUFValueType.UINT16:
    case GGUFValueType.INT16:
    case GGUFValueType.UINT32:
    case GGUFValueType.INT32: {
      const [lo, hi] = INT_RANGES[type]!;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(`an integer in [${lo}, ${hi}]`);
      const n = v as number;
      if (type === GGUFValueType.UINT8) w.u8(n);
      else if (type === GGUFValueType.INT8) w.i8(n);
      else if (type === GGUFValueType.UINT16) w.u16(n);
      else if (type === GGUFValueType.INT16) w.i16(n);
      else if (type === GGUFValueType.UINT32) w.u32(n);
      else w.i32(n);
      return;
    }
    case GGUFValueType.UINT64:
    case GGUFValueType.INT64: {
      const unsigned = type === GGUFValueType.UINT64;
      let b: bigint;
      if (typeof v === 'bigint') b = v;
      else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
      else return bad('a bigint (or safe integer number)');
      const lo = unsigned ? 0n : -(2n ** 63n);
      const hi = unsigned ? 2n ** 64n - 1n : 2n ** 63n - 1n;
      if (b < lo || b > hi) bad(`in [${lo}, ${hi}]`);
      if (unsigned) w.u64(b);
      else w.i64(b);
      return;
    }
    case GGUFValueType.FLOAT32:
    case GGUFValueType.FLOAT64:
      if (typeof v !== 'number') bad('a number');
      if (type === GGUFValueType.FLOAT32) w.f32(v as number);
      else w.f64(v as number);
      return;
    case GGUFValueType.BOOL:
      if (typeof v !== 'boolean') bad('a boolean');
      w.u8(v ? 1 : 0);
      return;
    case GGUFValueType.STRING:
      if (typeof v !== 'string') bad('a string');
      w.str(v as string);
      return;
    case GGUFValueType.ARRAY: {
      if (typeof v !== 'object' || v === null || !Array.isArray((v as GGUFArrayValue).items)) {
        bad('{ itemType, items }');
      }
      const arr = v as GGUFArrayValue;
      if (!(arr.itemType in GGUFValueType) || typeof arr.itemType !== 'number') {
        throw new UsageError(where, `unknown array item type ${String(arr.itemType)}`);
      }
      w.u32(arr.itemType);
      w.u64(BigInt(arr.items.length));
      for (const item of arr.items) writeValue(w, arr.itemType, item, where);
      return;
    }
    default:
      throw new UsageError(where, `unknown metadata value type ${String(type)}`);
  }
}

interface Plan {
  header: Uint8Array;
  alignment: number;
  tensors: Tensor[];
  /** Padded size of each tensor in the data section. */
  padded: number[];
}

/** Validate the input and build the header bytes (everything before the tensor data). */
function plan(input: GGUFWriteInput): Plan {
  const magic = input.magic ?? 'GGUF';
  if (magic !== 'GGUF' && magic !== 'PWRI') throw new UsageError('magic', `must be 'GGUF' or 'PWRI', got ${String(magic)}`);
  const version = input.version ?? 3;
  if (version !== 2 && version !== 3) throw new UsageError('version', `must be 2 or 3, got ${String(version)}`);

  const metadata: [string, GGUFKV][] = [...input.metadata];
  const alKv = input.metadata.get(GGUF_ALIGNMENT_KEY);
  let alignment = input.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (alKv) {
    if (alKv.type !== GGUFValueType.UINT32 || typeof alKv.value !== 'number') {
      throw new UsageError(GGUF_ALIGNMENT_KEY, `must be a UINT32 value (llama.cpp requires it), got ${valueTypeName(alKv.type)}`);
    }
    if (input.alignment !== undefined && input.alignment !== alKv.value) {
      throw new UsageError('alignment', `${input.alignment} disagrees with metadata ${GGUF_ALIGNMENT_KEY} = ${alKv.value}`);
    }
    alignment = alKv.value;
  }
  if (!Number.isSafeInteger(alignment) || alignment < 1 || alignment > 2 ** 31 || (alignment & (alignment - 1)) !== 0) {
    throw new UsageError('alignment', `must be a power of two, got ${alignment}`);
  }
  if (!alKv && alignment !== GGUF_DEFAULT_ALIGNMENT) {
    metadata.push([GGUF_ALIGNMENT_KEY, { type: GGUFValueType.UINT32, value: alignment }]);
  }

  const w = new ByteWriter();
  w.bytes(utf8.encode(magic));
  w.u32(version);
  w.u64(BigInt(input.tensors.length));
  w.u64(BigInt(metadata.length));
  for (const [key, kv] of metadata) {
    const where = `metadata key ${quoteName(key)}`;
    if (key.length === 0) throw new UsageError('metadata', 'keys must not be empty');
    w.str(key);
    if (typeof kv.type !== 'number' || !(kv.type in GGUFValueType)) {
      throw new UsageError(where, `unknown metadata value type ${String(kv.type)}`);
    }
    w.u32(kv.type);
    writeValue(w, kv.type, kv.value, where);
  }

  const names = new Set<string>();
  const padded: number[] = [];
  let offset = 0;
  for (const t of input.tensors) {
    const where = `tensor ${quoteName(t.name)}`;
    if (names.has(t.name)) throw new UsageError(where, 'duplicate tensor name');
    names.add(t.name);
    const nameBytes = utf8.encode(t.name).length;
    if (nameBytes > GGUF_MAX_TENSOR_NAME_BYTES) {
      throw new UsageError(where, `name is ${nameBytes} bytes; llama.cpp reads at most ${GGUF_MAX_TENSOR_NAME_BYTES}`);
    }
    const layout = typeLayout(t.type);
    if (!layout) throw new UsageError(where, `unknown tensor type id ${String(t.type)}`);
    if (t.shape.length < 1 || t.shape.length > GGUF_MAX_DIMS) {
      throw new UsageError(where, `shape has ${t.shape.length} dimensions (must be 1..${GGUF_MAX_DIMS})`);
    }
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 1) throw new UsageError(where, `dimension ${d} is not a positive integer`);
    }
    const row = t.shape[t.shape.length - 1]!;
    if (row % layout.blockSize !== 0) {
      throw new UsageError(where, `row length ${row} is not a multiple of the ${layout.name} block size ${layout.blockSize}`);
    }
    const bytes = tensorBytes(t.type, t.shape);
    if (bytes === null) throw new UsageError(where, `shape [${t.shape.join(', ')}] is too large`);
    if (t.data.length !== bytes) {
      throw new UsageError(where, `data is ${t.data.length} bytes; ${layout.name} shape [${t.shape.join(', ')}] needs ${bytes}`);
    }
    w.str(t.name);
    w.u32(t.shape.length);
    for (let j = t.shape.length - 1; j >= 0; j--) w.i64(BigInt(t.shape[j]!));
    w.u32(t.type);
    w.u64(BigInt(offset));
    const p = alignUp(bytes, alignment);
    padded.push(p);
    offset += p;
  }
  if (input.tensors.length > 0) w.zeros(alignUp(w.length, alignment) - w.length);
  return { header: w.result(), alignment, tensors: input.tensors, padded };
}

/**
 * The whole GGUF file as bytes (for small files and tests; use `writeGguf` for models).
 * @throws UsageError for invalid input (see the module comment).
 */
export function serializeGguf(input: GGUFWriteInput): Uint8Array {
  const p = plan(input);
  let total = p.header.length;
  for (const n of p.padded) total += n;
  const out = new Uint8Array(total);
  out.set(p.header, 0);
  let pos = p.header.length;
  p.tensors.forEach((t, i) => {
    out.set(t.data, pos);
    pos += p.padded[i]!;
  });
  return out;
}

/**
 * Write a GGUF (or PowerInfer PWRI) file atomically: to `path + '.tmp-<pid>'`, then rename over
 * `path`. Tensors are streamed, so the file may be larger than memory allows for one buffer.
 * @throws UsageError for invalid input (nothing is written); file-system errors propagate (the
 *   temporary file is removed).
 */
export function writeGguf(path: string, input: GGUFWriteInput): void {
  const p = plan(input);
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  let ok = false;
  try {
    writeAll(fd, p.header);
    const zeros = new Uint8Array(p.alignment);
    p.tensors.forEach((t, i) => {
      writeAll(fd, t.data);
      const pad = p.padded[i]! - t.data.length;
      if (pad > 0) writeAll(fd, zeros.subarray(0, pad));
    });
    ok = true;
  } finally {
    closeSync(fd);
    if (!ok) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
    }
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
  }
}
