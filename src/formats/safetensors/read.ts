import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FormatError } from '../../errors.js';
import type { Tensor } from '../quant/types.js';
import { DTYPE_TO_GGML, SAFETENSORS_DTYPE_BYTES, isSupportedDtype, type SupportedDtype } from './dtype.js';

/**
 * Largest JSON header accepted, in bytes (the reference implementation's `MAX_HEADER_SIZE`,
 * huggingface/safetensors safetensors/src/tensor.rs).
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor entry of a safetensors header. */
export interface SafetensorsEntry {
  name: string;
  /** safetensors dtype string as stored ('F32', 'BF16', 'I64', ...). */
  dtype: string;
  /** PyTorch order (outermost first), as stored. */
  shape: number[];
  /** [begin, end) byte offsets relative to the start of the data section. */
  data_offsets: [number, number];
}

/** A parsed safetensors header. */
export interface SafetensorsHeader {
  /** `__metadata__` (string to string), {} when absent. */
  metadata: Record<string, string>;
  /** Entries in header (JSON key) order. */
  tensors: SafetensorsEntry[];
  /** Absolute byte offset of the data section = 8 + header length. */
  dataStart: number;
  /** Bytes from dataStart to the end of the file. */
  dataBytes: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Fills `buf` from the file at `position` (loops over short reads). */
function readAt(fd: number, buf: Uint8Array, position: number): number {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, Math.min(buf.length - done, 1 << 30), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Parses and validates the header of an open file. */
function parseHeader(path: string, fd: number, fileSize: number): SafetensorsHeader {
  if (fileSize < 8) throw new FormatError(path, `file is ${fileSize} bytes, too short for the 8-byte safetensors header length`);
  const lenBytes = new Uint8Array(8);
  readAt(fd, lenBytes, 0);
  const big = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (big > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8)))
    throw new FormatError(
      path,
      `safetensors header length ${big} exceeds ${big > BigInt(MAX_HEADER_BYTES) ? `the ${MAX_HEADER_BYTES}-byte limit` : `the ${fileSize - 8} bytes after the length field`}; not a safetensors file?`,
    );
  const headerLen = Number(big);
  if (headerLen < 2) throw new FormatError(path, `safetensors header length ${headerLen} is too small for a JSON object`);
  const raw = new Uint8Array(headerLen);
  if (readAt(fd, raw, 8) !== headerLen) throw new FormatError(path, 'short read in safetensors header');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (e) {
    throw new FormatError(path, `safetensors header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isObject(json)) throw new FormatError(path, 'safetensors header is not a JSON object');

  const dataStart = 8 + headerLen;
  const dataBytes = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsEntry[] = [];
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isObject(v)) throw new FormatError(path, 'safetensors __metadata__ is not an object');
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw new FormatError(path, `safetensors __metadata__.${k} is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    const bad = (what: string): FormatError => new FormatError(path, `tensor ${name}: ${what}`);
    if (!isObject(v)) throw bad('header entry is not an object');
    const { dtype, shape, data_offsets } = v;
    if (typeof dtype !== 'string') throw bad('dtype is missing');
    const size = SAFETENSORS_DTYPE_BYTES[dtype];
    if (size === undefined) throw bad(`unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every(isCount))
      throw bad(`data_offsets ${JSON.stringify(data_offsets)} is not [begin, end]`);
    const [begin, end] = data_offsets as [number, number];
    if (begin > end) throw bad(`data_offsets [${begin}, ${end}] has begin > end`);
    if (end > dataBytes)
      throw bad(`data_offsets [${begin}, ${end}] run past the end of the data section (${dataBytes} bytes; file truncated?)`);
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    if (elements * size !== end - begin)
      throw bad(`shape [${(shape as number[]).join(',')}] of ${dtype} needs ${elements * size} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
    tensors.push({ name, dtype, shape: [...(shape as number[])], data_offsets: [begin, end] });
  }
  // Overlap check against the non-empty tensor reaching furthest so far (empty tensors occupy nothing).
  const byStart = tensors.filter((t) => t.data_offsets[1] > t.data_offsets[0]);
  byStart.sort((a, b) => a.data_offsets[0] - b.data_offsets[0]);
  let reach: SafetensorsEntry | undefined;
  for (const cur of byStart) {
    if (reach !== undefined && cur.data_offsets[0] < reach.data_offsets[1])
      throw new FormatError(
        path,
        `tensors ${reach.name} [${reach.data_offsets.join(', ')}] and ${cur.name} [${cur.data_offsets.join(', ')}] overlap in the data section`,
      );
    // As the reference reader (safetensors `validate`): tensors tile the data section with no gap, so a
    // duplicated key (JSON.parse keeps only its last entry) or a hole cannot pass unnoticed.
    const expectedStart = reach === undefined ? 0 : reach.data_offsets[1];
    if (cur.data_offsets[0] !== expectedStart)
      throw new FormatError(path, `gap in the data section before tensor ${cur.name} (bytes ${expectedStart}..${cur.data_offsets[0]} belong to no tensor; duplicated tensor name?)`);
    if (reach === undefined || cur.data_offsets[1] > reach.data_offsets[1]) reach = cur;
  }
  const covered = reach === undefined ? 0 : reach.data_offsets[1];
  if (covered !== dataBytes) throw new FormatError(path, `data section has ${dataBytes} bytes but the tensors cover ${covered}`);
  return { metadata, tensors, dataStart, dataBytes };
}

function open(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new FormatError(path, `cannot open safetensors file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return { fd, size: fstatSync(fd).size };
}

/**
 * Reads only the header of a `.safetensors` file (format: huggingface/safetensors README —
 * u64 little-endian header length N, N bytes of UTF-8 JSON `{name: {dtype, shape, data_offsets},
 * "__metadata__": {str: str}}`, then the data section).
 *
 * Validates: header length within the file and <= 100 MB, JSON object, known dtype, shape and
 * offsets well-formed, offsets inside the data section, `prod(shape) * dtype size == end - begin`,
 * no two tensors overlapping, no gap between them or after the last (as the reference reader
 * requires). Any dtype is accepted here (see `readSafetensors`).
 * @throws FormatError(path, ...) for any of the above.
 */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const { fd, size } = open(path);
  try {
    return parseHeader(path, fd, size);
  } finally {
    closeSync(fd);
  }
}

/** Options of `readSafetensors`. */
export interface ReadSafetensorsOptions {
  /** Read only these tensors (names absent from the file are ignored here; callers check). */
  names?: ReadonlySet<string>;
}

/**
 * Reads a `.safetensors` file: header (validated as in `readSafetensorsHeader`) and the tensors'
 * bytes, each into its own buffer (so F32 data is 4-byte aligned), one read per tensor.
 * Tensors come back in header order, keyed by their stored names; `type` is GGMLType F32 / F16 /
 * BF16 for safetensors F32 / F16 / BF16; `shape` is the stored PyTorch-order shape.
 * @throws FormatError(path, 'tensor X: dtype I64 is not supported (F32, F16, BF16)') for any other
 *   dtype, and FormatError for every header problem.
 */
export function readSafetensors(
  path: string,
  options: ReadSafetensorsOptions = {},
): { metadata: Record<string, string>; tensors: Map<string, Tensor> } {
  const { fd, size } = open(path);
  try {
    const header = parseHeader(path, fd, size);
    const wanted = header.tensors.filter((e) => options.names === undefined || options.names.has(e.name));
    for (const e of wanted)
      if (!isSupportedDtype(e.dtype))
        throw new FormatError(path, `tensor ${e.name}: dtype ${e.dtype} is not supported (F32, F16, BF16)`);
    const tensors = new Map<string, Tensor>();
    for (const e of wanted) {
      const [begin, end] = e.data_offsets;
      const data = new Uint8Array(end - begin);
      if (readAt(fd, data, header.dataStart + begin) !== data.length)
        throw new FormatError(path, `tensor ${e.name}: short read`);
      tensors.set(e.name, { name: e.name, type: DTYPE_TO_GGML[e.dtype as SupportedDtype], shape: e.shape, data });
    }
    return { metadata: header.metadata, tensors };
  } finally {
    closeSync(fd);
  }
}
