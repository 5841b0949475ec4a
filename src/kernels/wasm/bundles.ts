import { RelufyError } from '../../errors.js';
import { GGMLType, type Tensor } from '../../formats/quant/types.js';
import { dequantizeRows } from '../ref/dequant.js';
import type { WasmHeap } from './heap.js';
import { PackedType } from './layout.js';
import type { WasmExports } from './module.js';
import { packedTypeOf, type Staging } from './pack.js';
import type { TensorInfo } from './source.js';

/**
 * Neuron bundles: the FFN of one layer stored neuron-major for sparse execution (PowerInfer's
 * layout idea, shared/docs/powerinfer-and-gguf.md 1.4-1.5): neuron i is one contiguous run of
 * `stride` bytes [ffn_gate row i | ffn_up row i | ffn_down column i], each part 16-byte aligned, so
 * a skipped neuron costs no bytes and an active one is one sequential read. assembly/sparse.ts
 * `ffn_bundles` runs it.
 *
 * Row parts (gate, up; down of `ffn_down_t` files and float models) keep the file's encoding:
 *   F32   C float32 (F16 / BF16 / K-quants converted exactly to float32)
 *   Q8_0  the row's C/32 f16 scales (padded to 16 bytes), then its C int8 values
 *   Q4_0  the row's C/32 f16 scales (padded), then C/2 bytes of ggml nibbles
 * Column parts (down of models stored as `ffn_down` (C, F) in Q8_0 / Q4_0) keep the exact values:
 *   COL_Q8  C int8 = column i of ffn_down's quant values
 *   COL_Q4  C/2 bytes; per 32-row chunk t, byte j = nibble(32t + j) | nibble(32t + j + 16) << 4
 * with the scales in one table (F/32, C) f16 (row b = scales of ffn_down block b for every output),
 * applied once per run of listed neurons of the same block. So sparse execution reads exactly the
 * file's values: no second quantization.
 */
export enum DownKind {
  ROW = 0,
  COL_Q8 = 1,
  COL_Q4 = 2,
}

/** Partial outputs of the sparse down pass (assembly/sparse.ts PARTS): fixed, so results do not depend on the thread count. */
export const SPARSE_PARTS = 8;

/** Where each part of a neuron bundle is, for one layer. */
export interface BundleLayout {
  C: number;
  F: number;
  gateType: PackedType;
  upType: PackedType;
  downKind: DownKind;
  /** Encoding of a ROW down part. */
  downType: PackedType;
  gateOff: number;
  upOff: number;
  downOff: number;
  /** Bytes per neuron. */
  stride: number;
  /** Bytes of the (F/32, C) f16 down scale table (column kinds), else 0. */
  scaleBytes: number;
  /** Bytes each part streams per neuron: gate, up, down (down incl. its share of the scale table). */
  partBytes: { gate: number; up: number; down: number };
}

const a16 = (n: number) => Math.ceil(n / 16) * 16;

/** Bytes of one row part of C values in a packed type. */
export function rowPartBytes(type: PackedType, C: number): number {
  if (type === PackedType.F32) return 4 * C;
  const sb = a16(2 * (C / 32));
  return sb + (type === PackedType.Q8_0 ? C : C / 2);
}

/** The part encoding of a row weight: Q8_0 / Q4_0 as stored (when C % 32 == 0), anything else as F32. */
function rowType(t: GGMLType, C: number): PackedType {
  const p = packedTypeOf(t);
  return p !== PackedType.F32 && C % 32 === 0 ? p : PackedType.F32;
}

/**
 * Plans a layer's bundles from its tensors: `down` is `blk.N.ffn_down.weight` (C, F) or, when
 * `transposed`, PowerInfer's `blk.N.ffn_down_t.weight` (F, C).
 */
export function planBundles(C: number, F: number, gate: TensorInfo, up: TensorInfo, down: TensorInfo, transposed: boolean): BundleLayout {
  const gateType = rowType(gate.type, C);
  const upType = rowType(up.type, C);
  let downKind = DownKind.ROW;
  let downType = PackedType.F32;
  if (transposed) downType = rowType(down.type, C);
  else if (down.type === GGMLType.Q8_0 && F % 32 === 0) downKind = DownKind.COL_Q8;
  else if (down.type === GGMLType.Q4_0 && F % 32 === 0 && C % 32 === 0) downKind = DownKind.COL_Q4;
  const gateOff = 0;
  const upOff = a16(rowPartBytes(gateType, C));
  const downOff = upOff + a16(rowPartBytes(upType, C));
  const downBytes = downKind === DownKind.ROW ? rowPartBytes(downType, C) : downKind === DownKind.COL_Q8 ? C : C / 2;
  const stride = downOff + a16(downBytes);
  const scaleBytes = downKind === DownKind.ROW ? 0 : (F / 32) * C * 2;
  return {
    C, F, gateType, upType, downKind, downType, gateOff, upOff, downOff, stride, scaleBytes,
    partBytes: { gate: rowPartBytes(gateType, C), up: rowPartBytes(upType, C), down: downBytes + (downKind === DownKind.ROW ? 0 : (C * 2) / 32) },
  };
}

/** Total bytes of a layer's bundles (+ scale table + descriptor). */
export function bundleBytes(l: BundleLayout): number {
  return l.F * l.stride + l.scaleBytes + 64 + 64;
}

/** Reads tensors for bundle building (the engine's TensorSource). */
export interface BundleSource {
  info(name: string): TensorInfo | undefined;
  read(name: string): Tensor;
  readRows(name: string, r0: number, n: number, dst: Uint8Array): void;
}

/** A built layer: bundles, scale table and the 12-i32 descriptor `ffn_bundles` reads. */
export interface LayerBundles {
  layout: BundleLayout;
  ptr: number;
  scales: number;
  desc: number;
}

/**
 * Allocates and fills a layer's bundles in `heap` from the source tensors (`prefix` = 'blk.N.').
 * Quantized parts are copied byte for byte (assembly `bundle_rows` / `bundle_cols`); float parts
 * are dequantized with the reference dequantizer.
 * @throws RelufyError when the memory is full.
 */
export function buildBundles(heap: WasmHeap, ex: WasmExports, staging: Staging, src: BundleSource, prefix: string, layout: BundleLayout): LayerBundles {
  const { C, F, stride } = layout;
  const ptr = heap.alloc(F * stride);
  heap.u8(ptr, F * stride).fill(0);
  const scales = layout.scaleBytes ? heap.alloc(layout.scaleBytes) : 0;
  const rowPart = (name: string, type: PackedType, off: number) => {
    const info = src.info(name)!;
    if (type === PackedType.F32) {
      const t = src.read(name);
      const step = Math.max(1, Math.floor((1 << 22) / (C * 4)));
      for (let r0 = 0; r0 < F; r0 += step) {
        const n = Math.min(step, F - r0);
        const rows = dequantizeRows(t, r0, n);
        for (let r = 0; r < n; r++) heap.f32(ptr + (r0 + r) * stride + off, C).set(rows.subarray(r * C, (r + 1) * C));
      }
      return;
    }
    const rb = (C / 32) * (type === PackedType.Q8_0 ? 34 : 18);
    const step = Math.max(1, Math.floor(staging.bytes / rb));
    for (let r0 = 0; r0 < F; r0 += step) {
      const n = Math.min(step, F - r0);
      src.readRows(info.name, r0, n, heap.u8(staging.ptr, n * rb));
      ex.bundle_rows(type, staging.ptr, n, C, ptr + r0 * stride + off, stride);
    }
  };
  rowPart(prefix + 'ffn_gate.weight', layout.gateType, layout.gateOff);
  rowPart(prefix + 'ffn_up.weight', layout.upType, layout.upOff);
  const downT = prefix + 'ffn_down_t.weight';
  const down = prefix + 'ffn_down.weight';
  if (layout.downKind !== DownKind.ROW) {
    const type = layout.downKind === DownKind.COL_Q8 ? PackedType.Q8_0 : PackedType.Q4_0;
    const rb = (F / 32) * (type === PackedType.Q8_0 ? 34 : 18);
    const step = Math.max(1, Math.floor(staging.bytes / rb));
    for (let c0 = 0; c0 < C; c0 += step) {
      const n = Math.min(step, C - c0);
      src.readRows(down, c0, n, heap.u8(staging.ptr, n * rb));
      ex.bundle_cols(type, staging.ptr, c0, n, C, F, ptr + layout.downOff, stride, scales);
    }
  } else if (src.info(down)) {
    // (C, F) float: transpose into rows
    const t = src.read(down);
    const d = dequantizeRows(t, 0, C);
    const row = new Float32Array(C);
    for (let i = 0; i < F; i++) {
      for (let c = 0; c < C; c++) row[c] = d[c * F + i]!;
      heap.f32(ptr + i * stride + layout.downOff, C).set(row);
    }
  } else if (src.info(downT)) {
    rowPart(downT, layout.downType, layout.downOff);
  } else throw new RelufyError(`${prefix}ffn_down.weight is missing`);
  const desc = heap.alloc(64);
  const d = heap.i32(desc, 12);
  d[0] = ptr | 0;
  d[1] = stride;
  d[2] = layout.gateType;
  d[3] = layout.gateOff;
  d[4] = layout.upType;
  d[5] = layout.upOff;
  d[6] = layout.downKind;
  d[7] = layout.downType;
  d[8] = layout.downOff;
  d[9] = scales | 0;
  d[10] = C;
  d[11] = F;
  return { layout, ptr, scales, desc };
}
