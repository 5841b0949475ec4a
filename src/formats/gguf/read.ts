/**
 * GGUF reader (llama.cpp files, magic 'GGUF', and PowerInfer sparse files, magic 'PWRI'; same
 * layout). Parses the header (metadata + tensor infos) from a file through a descriptor in chunks,
 * never loading the whole file; tensor bytes are read on demand by `readTensor`.
 *
 * Layout and rules: ggml docs/gguf.md "File Structure", ggml src/gguf.cpp `gguf_init_from_reader`,
 * shared/docs/powerinfer-and-gguf.md 5.1-5.2 (GGUF) and 1.4 (PowerInfer).
 *
 * Every problem in a file is a `FormatError(path, problem)`: truncation at any point, counts and
 * lengths larger than the bytes left (checked before allocating), bad BOOL bytes, unknown value or
 * tensor types, duplicate keys or tensor names, bad dims, sizes that overflow 2^53, misaligned,
 * overlapping or out-of-file tensor data. Where llama.cpp is stricter without the data being read
 * wrongly we are lenient: tensor names of any length, gaps between tensors, any order of tensor
 * data, `general.alignment` of any unsigned integer type.
 */
import { FormatError } from '../../errors.js';
import { GGMLType } from '../quant/types.js';
import type { Tensor } from '../quant/types.js';
import { tensorBytes, typeLayout, typeName } from '../quant/traits.js';
import { fileSource, memorySource, readFully, type ByteSource } from './source.js';
import { closeSync, fstatSync, openSync } from 'node:fs';
import {
  GGUFValueType,
  type GGUFArrayValue,
  type GGUFFile,
  type GGUFKV,
  type GGUFMagic,
  type GGUFScalar,
  type GGUFTensorInfo,
} from './types.js';

/** Default data alignment when `general.alignment` is absent (ggml `GGUF_DEFAULT_ALIGNMENT`). */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** Key holding the data alignment. */
export const GGUF_ALIGNMENT_KEY = 'general.alignment';
/** Deepest array nesting accepted (guards the recursive parser; real files use at most 1). */
export const GGUF_MAX_ARRAY_DEPTH = 16;
/** Longest string accepted (JS strings cannot be much longer). */
export const GGUF_MAX_STRING_BYTES = 256 * 1024 * 1024;
/** Most items in one metadata array (JS arrays cannot be longer). */
export const GGUF_MAX_ARRAY_ITEMS = 2 ** 32 - 1;
/** Most tensor dims (ggml `GGML_MAX_DIMS`). */
export const GGUF_MAX_DIMS = 4;

/** Fixed byte size of scalar value types; STRING and ARRAY are variable. */
const SCALAR_BYTES: Partial<Record<GGUFValueType, number>> = {
  [GGUFValueType.UINT8]: 1,
  [GGUFValueType.INT8]: 1,
  [GGUFValueType.UINT16]: 2,
  [GGUFValueType.INT16]: 2,
  [GGUFValueType.UINT32]: 4,
  [GGUFValueType.INT32]: 4,
  [GGUFValueType.FLOAT32]: 4,
  [GGUFValueType.BOOL]: 1,
  [GGUFValueType.UINT64]: 8,
  [GGUFValueType.INT64]: 8,
  [GGUFValueType.FLOAT64]: 8,
};

/** Smallest encoding of one value of a type: used to bound counts before allocating. */
function minValueBytes(t: GGUFValueType): number {
  if (t === GGUFValueType.STRING) return 8; // u64 length
  if (t === GGUFValueType.ARRAY) return 12; // u32 item type + u64 count
  return SCALAR_BYTES[t]!;
}

/** 'UINT32', 'ARRAY', ...; `type#<id>` for unknown ids. */
export function valueTypeName(t: number): string {
  return GGUFValueType[t] ?? `type#${t}`;
}

function isValueType(t: number): t is GGUFValueType {
  return Number.isInteger(t) && t >= 0 && t <= GGUFValueType.FLOAT64;
}

function isPowerOfTwo(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 1 && 2 ** Math.round(Math.log2(v)) === v;
}

/** Round `x` up to a multiple of `a` (ggml `GGML_PAD`). */
export function alignUp(x: number, a: number): number {
  return x + ((a - (x % a)) % a);
}

const HEADER_CHUNK = 1 << 20;
// ignoreBOM: keep a leading U+FEFF (SentencePiece vocabularies have a BOM token)
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Sequential little-endian reader over a ByteSource with a read-ahead buffer. */
class HeaderCursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private dv = new DataView(this.buf.buffer);
  private bufStart = 0;

  constructor(
    private readonly src: ByteSource,
    private readonly file: string,
  ) {}

  get remaining(): number {
    return this.src.size - this.pos;
  }

  fail(problem: string): never {
    throw new FormatError(this.file, problem);
  }

  /** Make [pos, pos + n) available and advance; returns its offset in `buf` (which it may replace, so
   * read `buf`/`dv` only after calling it). */
  private take(n: number, what: string): number {
    if (n > this.remaining) {
      this.fail(`truncated: ${what} at byte ${this.pos} needs ${n} bytes but only ${this.remaining} remain`);
    }
    let off = this.pos - this.bufStart;
    if (off < 0 || off + n > this.buf.length) {
      const len = Math.min(Math.max(n, HEADER_CHUNK), this.remaining);
      this.buf = this.src.read(this.pos, len);
      this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
      this.bufStart = this.pos;
      off = 0;
    }
    this.pos += n;
    return off;
  }

  bytes(n: number, what: string): Uint8Array {
    const off = this.take(n, what);
    return this.buf.subarray(off, off + n);
  }
  u8(what: string): number {
    const at = this.take(1, what);
    return this.buf[at]!;
  }
  i8(what: string): number {
    const at = this.take(1, what);
    return this.dv.getInt8(at);
  }
  u16(what: string): number {
    const at = this.take(2, what);
    return this.dv.getUint16(at, true);
  }
  i16(what: string): number {
    const at = this.take(2, what);
    return this.dv.getInt16(at, true);
  }
  u32(what: string): number {
    const at = this.take(4, what);
    return this.dv.getUint32(at, true);
  }
  i32(what: string): number {
    const at = this.take(4, what);
    return this.dv.getInt32(at, true);
  }
  f32(what: string): number {
    const at = this.take(4, what);
    return this.dv.getFloat32(at, true);
  }
  f64(what: string): number {
    const at = this.take(8, what);
    return this.dv.getFloat64(at, true);
  }
  u64(what: string): bigint {
    const at = this.take(8, what);
    return this.dv.getBigUint64(at, true);
  }
  i64(what: string): bigint {
    const at = this.take(8, what);
    return this.dv.getBigInt64(at, true);
  }

  /** A u64 count/length of items of at least `minBytes` each that must fit in the bytes left. */
  count(what: string, minBytes: number): number {
    const at = this.pos;
    const n = this.u64(what);
    if (n * BigInt(minBytes) > BigInt(this.remaining)) {
      this.fail(`${what} ${n} at byte ${at} is larger than the ${this.remaining} bytes left in the file`);
    }
    return Number(n);
  }

  /** GGUF string: u64 byte length + UTF-8 bytes (invalid sequences become U+FFFD). */
  str(what: string): string {
    const at = this.pos;
    const n = this.count(`${what} length`, 1);
    if (n > GGUF_MAX_STRING_BYTES) this.fail(`${what} at byte ${at} is ${n} bytes long (limit ${GGUF_MAX_STRING_BYTES})`);
    return n === 0 ? '' : utf8.decode(this.bytes(n, what));
  }
}

function readValue(c: HeaderCursor, type: number, what: string, depth: number): GGUFScalar | GGUFArrayValue {
  switch (type) {
    case GGUFValueType.UINT8:
      return c.u8(what);
    case GGUFValueType.INT8:
      return c.i8(what);
    case GGUFValueType.UINT16:
      return c.u16(what);
    case GGUFValueType.INT16:
      return c.i16(what);
    case GGUFValueType.UINT32:
      return c.u32(what);
    case GGUFValueType.INT32:
      return c.i32(what);
    case GGUFValueType.FLOAT32:
      return c.f32(what);
    case GGUFValueType.UINT64:
      return c.u64(what);
    case GGUFValueType.INT64:
      return c.i64(what);
    case GGUFValueType.FLOAT64:
      return c.f64(what);
    case GGUFValueType.BOOL: {
      const at = c.pos;
      const b = c.u8(what);
      if (b > 1) c.fail(`${what}: invalid BOOL value ${b} at byte ${at} (must be 0 or 1)`);
      return b === 1;
    }
    case GGUFValueType.STRING:
      return c.str(what);
    case GGUFValueType.ARRAY: {
      if (depth >= GGUF_MAX_ARRAY_DEPTH) c.fail(`${what}: arrays nested deeper than ${GGUF_MAX_ARRAY_DEPTH} levels`);
      const at = c.pos;
      const itemType = c.u32(`${what} array item type`);
      if (!isValueType(itemType)) c.fail(`${what}: unknown array item type ${itemType} at byte ${at}`);
      const countAt = c.pos;
      const n = c.count(`${what} array count`, minValueBytes(itemType));
      if (n > GGUF_MAX_ARRAY_ITEMS) c.fail(`${what}: array count ${n} at byte ${countAt} is over ${GGUF_MAX_ARRAY_ITEMS}`);
      const items: (GGUFScalar | GGUFArrayValue)[] = new Array(n);
      const itemWhat = `${what} array item`;
      for (let i = 0; i < n; i++) items[i] = readValue(c, itemType, itemWhat, depth + 1);
      return { itemType, items };
    }
    default:
      return c.fail(`${what}: unknown metadata value type ${type} at byte ${c.pos - 4}`);
  }
}

/** A name from the file, quoted for a one-line message (control characters escaped, long names cut). */
export function quoteName(s: string): string {
  const cut = s.length > 80 ? `${s.slice(0, 77)}...` : s;
  return `'${cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029']/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`;
}

function printableMagic(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : `\\x${x.toString(16).padStart(2, '0')}`;
  return s;
}

/** Parse a GGUF header from `src` (the whole of it: metadata and tensor infos, not tensor data). */
function parseHeader(src: ByteSource): GGUFFile {
  const file = src.name;
  const c: HeaderCursor = new HeaderCursor(src, file);

  const magicBytes = c.bytes(4, 'magic');
  const magicStr = printableMagic(magicBytes);
  if (magicStr !== 'GGUF' && magicStr !== 'PWRI') {
    c.fail(`not a GGUF file: magic '${magicStr}' (expected 'GGUF', or 'PWRI' for PowerInfer)`);
  }
  const magic = magicStr as GGUFMagic;

  const version = c.u32('version');
  if (version === 1) c.fail('GGUF version 1 is not supported (only versions 2 and 3); re-convert the model');
  if (version !== 2 && version !== 3) {
    if (version !== 0 && (version & 0xffff) === 0) {
      c.fail(`GGUF version ${version} (0x${version.toString(16)}) looks byte-swapped: big-endian files are not supported`);
    }
    c.fail(`unsupported GGUF version ${version} (only versions 2 and 3)`);
  }

  // every tensor info is at least name len (8) + n_dims (4) + one dim (8) + type (4) + offset (8)
  const nTensors = c.count('tensor count', 32);
  // every key-value is at least key len (8) + value type (4) + one byte
  const nKv = c.count('metadata key-value count', 13);

  const metadata = new Map<string, GGUFKV>();
  for (let i = 0; i < nKv; i++) {
    const key = c.str(`metadata key ${i}`);
    if (key.length === 0) c.fail(`metadata key ${i} is empty`);
    const qk = `key ${quoteName(key)}`;
    if (metadata.has(key)) c.fail(`duplicate metadata ${qk}`);
    const typeAt = c.pos;
    const type = c.u32(`type of ${qk}`);
    if (!isValueType(type)) c.fail(`${qk}: unknown metadata value type ${type} at byte ${typeAt}`);
    metadata.set(key, { type, value: readValue(c, type, qk, 0) });
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get(GGUF_ALIGNMENT_KEY);
  if (al) {
    const isInt = al.type <= GGUFValueType.INT32 || al.type === GGUFValueType.UINT64 || al.type === GGUFValueType.INT64;
    if (!isInt) {
      c.fail(`${GGUF_ALIGNMENT_KEY} must be an unsigned integer (UINT32), not ${valueTypeName(al.type)}`);
    }
    const v = Number(al.value as number | bigint);
    if (!isPowerOfTwo(v)) c.fail(`${GGUF_ALIGNMENT_KEY} is ${String(al.value)}, not a power of two`);
    alignment = v;
  }

  const tensors: GGUFTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.str(`tensor ${i} name`);
    if (names.has(name)) c.fail(`duplicate tensor name ${quoteName(name)}`);
    names.add(name);
    const what = `tensor ${quoteName(name)}`;
    const nDims = c.u32(`${what} n_dims`);
    if (nDims < 1 || nDims > GGUF_MAX_DIMS) c.fail(`${what} has ${nDims} dimensions (must be 1..${GGUF_MAX_DIMS})`);
    const ne: number[] = [];
    for (let j = 0; j < nDims; j++) {
      const d = c.i64(`${what} ne[${j}]`);
      if (d < 1n || d > BigInt(Number.MAX_SAFE_INTEGER)) c.fail(`${what} dimension ne[${j}] = ${d} (must be 1..2^53-1)`);
      ne.push(Number(d));
    }
    const typeAt = c.pos;
    const type = c.u32(`${what} type`);
    const layout = typeLayout(type);
    if (!layout) c.fail(`${what}: unknown tensor type id ${type} at byte ${typeAt}`);
    if (ne[0]! % layout.blockSize !== 0) {
      c.fail(`${what}: row length ne[0] = ${ne[0]} is not a multiple of the ${layout.name} block size ${layout.blockSize}`);
    }
    const shape = ne.reverse();
    const byteLength = tensorBytes(type as GGMLType, shape);
    if (byteLength === null) c.fail(`${what}: shape [${shape.join(', ')}] of ${layout.name} overflows 2^53 bytes`);
    const off = c.u64(`${what} offset`);
    if (off > BigInt(Number.MAX_SAFE_INTEGER)) c.fail(`${what}: data offset ${off} is beyond 2^53`);
    const offset = Number(off);
    if (offset % alignment !== 0) c.fail(`${what}: data offset ${offset} is not a multiple of the alignment ${alignment}`);
    tensors.push({ name, type: type as GGMLType, shape, offset, byteLength });
  }

  const headerEnd = c.pos;
  // ggml seeks to the aligned data start only when there are tensors; vocab-only files end here
  const dataOffset = nTensors > 0 ? alignUp(headerEnd, alignment) : headerEnd;
  if (dataOffset > src.size) {
    c.fail(`tensor data would start at byte ${dataOffset}, past the end of the file (${src.size} bytes)`);
  }
  const dataSize = src.size - dataOffset;
  for (const t of tensors) {
    if (t.offset > dataSize || t.byteLength > dataSize - t.offset) {
      c.fail(
        `tensor ${quoteName(t.name)} data [${dataOffset + t.offset}, ${dataOffset + t.offset + t.byteLength}) ` +
          `runs past the end of the file (${src.size} bytes)`,
      );
    }
  }
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const a = byOffset[i - 1]!;
    const b = byOffset[i]!;
    if (a.offset + a.byteLength > b.offset) {
      c.fail(`tensors ${quoteName(a.name)} and ${quoteName(b.name)} overlap (data offsets ${a.offset}+${a.byteLength} and ${b.offset})`);
    }
  }

  return { path: file, magic, version, alignment, dataOffset, fileSize: src.size, metadata, tensors };
}

/** In-memory bytes of files made by `parseGguf`, so `readTensor` can serve them too. */
const memoryFiles = new WeakMap<GGUFFile, Uint8Array>();

/**
 * Parse the header of the GGUF (or PowerInfer PWRI) file at `path`. Reads the file in 1 MiB chunks
 * through a descriptor (works for files > 4 GiB); tensor data is not read.
 * Tensor shapes are PyTorch order (reversed ggml `ne`); offsets are relative to `dataOffset`.
 * @throws FormatError(path, problem) when the file cannot be opened or is not a valid GGUF v2/v3.
 * Source: ggml docs/gguf.md, src/gguf.cpp.
 */
export function openGguf(path: string): GGUFFile {
  const src = fileSource(path);
  try {
    return parseHeader(src);
  } finally {
    src.close();
  }
}

/**
 * Parse GGUF bytes held in memory; `name` stands in for the path in errors and in `file.path`.
 * `readTensor` on the result copies tensor bytes out of `bytes` (keep it unchanged).
 * @throws FormatError(name, problem) as `openGguf`.
 */
export function parseGguf(bytes: Uint8Array, name: string): GGUFFile {
  const file = parseHeader(memorySource(bytes, name));
  memoryFiles.set(file, bytes);
  return file;
}

/** Largest tensor `readTensor` returns in one buffer (Node's typed-array / Buffer limit). */
export const MAX_TENSOR_BYTES = 2 ** 32 - 1;

/**
 * Read one tensor's stored bytes (in its own, 8-byte aligned buffer).
 * `info` is a tensor info of `file` or a tensor name.
 * @returns a Tensor with the info's name, type and shape (PyTorch order).
 * @throws FormatError(file.path, problem) for an unknown name, data outside the file, a file that
 *   changed size since it was parsed, or a tensor larger than `MAX_TENSOR_BYTES`.
 */
export function readTensor(file: GGUFFile, info: GGUFTensorInfo | string): Tensor {
  let ti: GGUFTensorInfo;
  if (typeof info === 'string') {
    const found = file.tensors.find((t) => t.name === info);
    if (!found) throw new FormatError(file.path, `no tensor named ${quoteName(info)}`);
    ti = found;
  } else {
    ti = info;
  }
  const start = file.dataOffset + ti.offset;
  if (start + ti.byteLength > file.fileSize) {
    throw new FormatError(file.path, `tensor ${quoteName(ti.name)} data runs past the end of the file`);
  }
  if (ti.byteLength > MAX_TENSOR_BYTES) {
    throw new FormatError(
      file.path,
      `tensor ${quoteName(ti.name)} is ${ti.byteLength} bytes; tensors over ${MAX_TENSOR_BYTES} bytes cannot be read into one buffer`,
    );
  }
  const mem = memoryFiles.get(file);
  let data: Uint8Array;
  if (mem) {
    data = mem.slice(start, start + ti.byteLength);
  } else {
    let fd: number;
    try {
      fd = openSync(file.path, 'r');
    } catch (e) {
      throw new FormatError(file.path, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      const size = fstatSync(fd).size;
      if (size !== file.fileSize) {
        throw new FormatError(file.path, `file changed since its header was read (${size} bytes, was ${file.fileSize})`);
      }
      try {
        data = new Uint8Array(ti.byteLength);
      } catch (e) {
        throw new FormatError(file.path, `tensor ${quoteName(ti.name)}: cannot allocate ${ti.byteLength} bytes (${(e as Error).message})`);
      }
      readFully(fd, file.path, data, start);
    } finally {
      closeSync(fd);
    }
  }
  return { name: ti.name, type: ti.type, shape: [...ti.shape], data };
}

/** Tensor info by name, or undefined. */
export function findTensor(file: GGUFFile, name: string): GGUFTensorInfo | undefined {
  return file.tensors.find((t) => t.name === name);
}

// ---- typed metadata accessors ----

type MetaSource = GGUFFile | Map<string, GGUFKV>;

function kvOf(src: MetaSource, key: string): [GGUFKV | undefined, string] {
  return src instanceof Map ? [src.get(key), 'metadata'] : [src.metadata.get(key), src.path];
}

function wrongType(where: string, key: string, kv: GGUFKV, want: string): never {
  throw new FormatError(where, `metadata key '${key}' is ${valueTypeName(kv.type)}, expected ${want}`);
}

/**
 * STRING metadata value, or undefined when the key is absent.
 * @throws FormatError(file.path, ...) naming the key when the value is not a STRING.
 */
export function ggufString(src: MetaSource, key: string): string | undefined {
  const [kv, where] = kvOf(src, key);
  if (!kv) return undefined;
  if (kv.type !== GGUFValueType.STRING) wrongType(where, key, kv, 'STRING');
  return kv.value as string;
}

/**
 * Numeric metadata value of any integer or float type (64-bit ints converted when they are
 * within +-(2^53 - 1)), or undefined when absent.
 * @throws FormatError naming the key when the value is not numeric or a 64-bit int is too large.
 */
export function ggufNumber(src: MetaSource, key: string): number | undefined {
  const [kv, where] = kvOf(src, key);
  if (!kv) return undefined;
  if (kv.type === GGUFValueType.BOOL || kv.type === GGUFValueType.STRING || kv.type === GGUFValueType.ARRAY) {
    wrongType(where, key, kv, 'a number');
  }
  if (typeof kv.value === 'bigint') {
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    if (kv.value > max || kv.value < -max) {
      throw new FormatError(where, `metadata key '${key}' value ${kv.value} is too large for an exact number`);
    }
    return Number(kv.value);
  }
  return kv.value as number;
}

/**
 * BOOL metadata value, or undefined when absent.
 * @throws FormatError naming the key when the value is not a BOOL.
 */
export function ggufBool(src: MetaSource, key: string): boolean | undefined {
  const [kv, where] = kvOf(src, key);
  if (!kv) return undefined;
  if (kv.type !== GGUFValueType.BOOL) wrongType(where, key, kv, 'BOOL');
  return kv.value as boolean;
}

/**
 * Items of an ARRAY metadata value, or undefined when absent. With `itemType`, the array's items
 * must be of that type (e.g. STRING for `tokenizer.ggml.tokens`).
 * @throws FormatError naming the key when the value is not an ARRAY (of `itemType`).
 */
export function ggufArray(
  src: MetaSource,
  key: string,
  itemType?: GGUFValueType,
): (GGUFScalar | GGUFArrayValue)[] | undefined {
  const [kv, where] = kvOf(src, key);
  if (!kv) return undefined;
  if (kv.type !== GGUFValueType.ARRAY) wrongType(where, key, kv, 'ARRAY');
  const arr = kv.value as GGUFArrayValue;
  if (itemType !== undefined && arr.itemType !== itemType) {
    throw new FormatError(
      where,
      `metadata key '${key}' is an ARRAY of ${valueTypeName(arr.itemType)}, expected ARRAY of ${valueTypeName(itemType)}`,
    );
  }
  return arr.items;
}

/** Human-readable type of a tensor ('F16', 'Q4_K', ...). */
export function tensorTypeName(info: GGUFTensorInfo): string {
  return typeName(info.type);
}
