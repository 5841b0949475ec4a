import { RelufyError } from '../../errors.js';
import { typeLayout } from '../../formats/quant/index.js';
import { GGMLType, type Tensor } from '../../formats/quant/types.js';
import type { TensorInfo } from './source.js';
import { dequantizeRows } from '../ref/dequant.js';
import type { WasmHeap } from './heap.js';
import { PackedType, groupBytes, packedBytes } from './layout.js';
import type { WasmExports } from './module.js';

/** A linear weight (O, K) repacked into one wasm memory (layout.ts). */
export interface PackedMatrix {
  name: string;
  type: PackedType;
  /** Byte offset of group 0 in its memory. */
  ptr: number;
  O: number;
  K: number;
  /** Packed bytes (= bytes one matvec streams). */
  bytes: number;
  /** The ggml type it came from. */
  source: GGMLType;
}

/** The packed type a ggml weight type is stored as: Q8_0, Q4_0 natively, everything else as F32. */
export function packedTypeOf(t: GGMLType): PackedType {
  if (t === GGMLType.Q8_0) return PackedType.Q8_0;
  if (t === GGMLType.Q4_0) return PackedType.Q4_0;
  return PackedType.F32;
}

/** (O, K) of a 2-D weight. @throws RelufyError for other ranks. */
export function matrixShape(t: { name: string; shape: number[] }): [number, number] {
  if (t.shape.length !== 2) throw new RelufyError(`${t.name}: expected a 2-D weight, got shape [${t.shape.join(', ')}]`);
  return [t.shape[0]!, t.shape[1]!];
}

/** Packed bytes a tensor will take. */
export function packedSizeOf(t: { name: string; type: GGMLType; shape: number[] }): number {
  const [O, K] = matrixShape(t);
  return packedBytes(packedTypeOf(t.type), O, K);
}

/** A scratch region in the same memory used to stage source rows while packing. */
export interface Staging {
  ptr: number;
  bytes: number;
}

/** Bytes of staging that packing any (., K) row chunk needs at least (4 rows of f16 + f32). */
export function minStagingBytes(K: number): number {
  return 4 * K * 6;
}

/** Raw ggml bytes of rows [r0, r0 + n) of a weight, copied into dst (n * rowBytes bytes). */
export type RowReader = (r0: number, n: number, dst: Uint8Array) => void;

/** A RowReader over a tensor already in memory. */
export function tensorRows(t: Tensor): RowReader {
  const O = t.shape[0]!;
  const rb = O > 0 ? t.data.byteLength / O : 0;
  return (r0, n, dst) => dst.set(t.data.subarray(r0 * rb, (r0 + n) * rb));
}

/**
 * Repacks a 2-D weight (O, K) into `heap` (allocating its packed bytes): Q8_0 / Q4_0 kept as they
 * are, F32 copied, F16 / BF16 converted to F32 exactly, other types dequantized to F32 with the
 * reference dequantizer. Source rows are read by `read` straight into `staging` (in wasm memory),
 * in chunks of a multiple of 4 rows, so no JS copy of the whole tensor is needed.
 * @throws RelufyError when the memory is full or K is not a multiple of the block size.
 */
export function packMatrix(heap: WasmHeap, ex: WasmExports, staging: Staging, t: TensorInfo, read: RowReader): PackedMatrix {
  const [O, K] = matrixShape(t);
  const type = packedTypeOf(t.type);
  if (type !== PackedType.F32 && K % 32 !== 0) throw new RelufyError(`${t.name}: ${K} columns is not a multiple of 32`);
  const bytes = packedBytes(type, O, K);
  const ptr = heap.alloc(bytes);
  const gb = groupBytes(type, K);
  const srcRowBytes = rowBytesOf(t.type, K, t.name);
  // per row: staged source bytes (+ converted f32)
  const perRow = type === PackedType.F32 && t.type !== GGMLType.F32 ? srcRowBytes + K * 4 : srcRowBytes;
  const chunk = Math.max(4, Math.floor(staging.bytes / perRow / 4) * 4);
  if (chunk * perRow > staging.bytes) throw new RelufyError(`${t.name}: staging area too small`);
  for (let r0 = 0; r0 < O; r0 += chunk) {
    const rows = Math.min(chunk, O - r0);
    const dst = ptr + (r0 / 4) * gb;
    if (type === PackedType.Q8_0 || type === PackedType.Q4_0) {
      read(r0, rows, heap.u8(staging.ptr, rows * srcRowBytes));
      if (type === PackedType.Q8_0) ex.pack_q8(staging.ptr, dst, rows, K);
      else ex.pack_q4(staging.ptr, dst, rows, K);
    } else if (t.type === GGMLType.F32) {
      read(r0, rows, heap.u8(staging.ptr, rows * srcRowBytes));
      ex.pack_f32(staging.ptr, dst, rows, K);
    } else {
      const raw = staging.ptr + rows * K * 4;
      read(r0, rows, heap.u8(raw, rows * srcRowBytes));
      if (t.type === GGMLType.F16) ex.f16_to_f32(raw, staging.ptr, rows * K);
      else if (t.type === GGMLType.BF16) ex.bf16_to_f32(raw, staging.ptr, rows * K);
      else {
        const rawCopy = heap.u8(raw, rows * srcRowBytes).slice();
        heap.f32(staging.ptr, rows * K).set(dequantizeRows({ name: t.name, type: t.type, shape: [rows, K], data: rawCopy }, 0, rows));
      }
      ex.pack_f32(staging.ptr, dst, rows, K);
    }
  }
  return { name: t.name, type, ptr, O, K, bytes, source: t.type };
}

/** Bytes of one row of K values of a ggml type. @throws RelufyError for types without a known layout. */
function rowBytesOf(type: GGMLType, K: number, name: string): number {
  const l = typeLayout(type);
  if (!l) throw new RelufyError(`${name}: tensor type ${GGMLType[type] ?? type} is not supported`);
  if (K % l.blockSize !== 0) throw new RelufyError(`${name}: ${K} columns is not a multiple of the ${GGMLType[type]} block size ${l.blockSize}`);
  return (K / l.blockSize) * l.typeSize;
}

/** Copies a 1-D weight (norm scale) into `heap` as float32; returns its pointer. */
export function packVector(heap: WasmHeap, t: Tensor): number {
  const v = dequantizeRows({ ...t, shape: [t.shape.reduce((a, b) => a * b, 1)] }, 0, 1);
  const ptr = heap.alloc(v.byteLength);
  heap.f32(ptr, v.length).set(v);
  return ptr;
}
