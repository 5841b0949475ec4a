import { RelufyError } from '../../errors.js';
import { quantize } from '../../formats/quant/index.js';
import { GGMLType, type Tensor } from '../../formats/quant/types.js';
import { dequantizeRows } from '../ref/dequant.js';
import type { WasmHeap } from './heap.js';
import { PackedType } from './layout.js';
import type { WasmExports } from './module.js';
import { packedTypeOf, type Staging } from './pack.js';
import type { TensorInfo } from './source.js';

/**
 * Neuron bundles: the FFN of one layer stored neuron-major for sparse execution (PowerInfer's
 * layout, shared/docs/powerinfer-and-gguf.md 1.4-1.5): neuron i is one contiguous run of `stride`
 * bytes [ffn_gate row i | ffn_up row i | ffn_down column i], each part 16-byte aligned, so a skipped
 * neuron costs no bytes and an active one is one sequential read. assembly/sparse.ts `ffn_bundles`
 * runs it. Each part is a row of C values in one encoding:
 *   F32   C float32 (F16 / BF16 / K-quants converted exactly to float32)
 *   Q8_0  the row's C/32 f16 scales (padded to 16 bytes), then its C int8 values
 *   Q4_0  the row's C/32 f16 scales (padded), then C/2 bytes of ggml nibbles
 * gate and up rows keep the file's values. The down part is PowerInfer's `ffn_down_t` row: taken as
 * stored from PowerInfer files; for files with `ffn_down` (C, F) in Q8_0 / Q4_0 it is transposed and
 * re-quantized to the same type along C at load, as PowerInfer's converter does (so sparse down
 * products differ from dense ones by that second rounding); float `ffn_down` is transposed exactly.
 */
/** Partial outputs of the sparse down pass (assembly/sparse.ts PARTS): fixed, so results do not depend on the thread count. */
export const SPARSE_PARTS = 8;

/** Where each part of a neuron bundle is, for one layer. */
export interface BundleLayout {
  C: number;
  F: number;
  gateType: PackedType;
  upType: PackedType;
  downType: PackedType;
  gateOff: number;
  upOff: number;
  downOff: number;
  /** Bytes per neuron. */
  stride: number;
  /** Bytes each part streams per neuron. */
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
 * Plans a layer's bundles from its tensors: `down` is `blk.N.ffn_down.weight` (C, F) or PowerInfer's
 * `blk.N.ffn_down_t.weight` (F, C) (whichever the file has; the down part takes its type).
 */
export function planBundles(C: number, F: number, gate: TensorInfo, up: TensorInfo, down: TensorInfo): BundleLayout {
  const gateType = rowType(gate.type, C);
  const upType = rowType(up.type, C);
  const downType = rowType(down.type, C);
  const gateOff = 0;
  const upOff = a16(rowPartBytes(gateType, C));
  const downOff = upOff + a16(rowPartBytes(upType, C));
  const stride = downOff + a16(rowPartBytes(downType, C));
  return {
    C, F, gateType, upType, downType, gateOff, upOff, downOff, stride,
    partBytes: { gate: rowPartBytes(gateType, C), up: rowPartBytes(upType, C), down: rowPartBytes(downType, C) },
  };
}

/** Total bytes of a layer's bundles (+ descriptor). */
export function bundleBytes(l: BundleLayout): number {
  return l.F * l.stride + l.F * 4 + 64 + 64 + 64;
}

/** Reads tensors for bundle building (the engine's TensorSource). */
export interface BundleSource {
  info(name: string): TensorInfo | undefined;
  read(name: string): Tensor;
  readRows(name: string, r0: number, n: number, dst: Uint8Array): void;
}

/** A built layer: bundles and the 11-i32 descriptor `ffn_bundles` reads. */
export interface LayerBundles {
  layout: BundleLayout;
  ptr: number;
  desc: number;
  /** Slot k of the bundles holds neuron order[k] (hot-neuron ordering); identity when none was given. */
  order: Int32Array;
  /** Identity order (no reordering table in wasm memory). */
  identity: boolean;
}

/**
 * Hot-neuron order for one layer (PowerInfer's neuron placement by activation frequency): neurons
 * sorted by descending count, ties by index, so frequently active neurons sit together at the front
 * of the bundles. `counts` (F) = activations per neuron from a profile (`relufy profile`).
 */
export function hotNeuronOrder(counts: ArrayLike<number>): Int32Array {
  const order = Int32Array.from({ length: counts.length }, (_, i) => i);
  return order.sort((a, b) => counts[b]! - counts[a]! || a - b);
}

/**
 * Allocates and fills a layer's bundles in `heap` from the source tensors (`prefix` = 'blk.N.').
 * Quantized rows are copied byte for byte (assembly `bundle_rows`); float rows are dequantized with
 * the reference dequantizer; a quantized `ffn_down` is transposed and re-quantized (ggml's rounding).
 * @throws RelufyError when the memory is full or the down projection is missing.
 */
export function buildBundles(
  heap: WasmHeap, ex: WasmExports, staging: Staging, src: BundleSource, prefix: string, layout: BundleLayout, order?: Int32Array,
): LayerBundles {
  const { C, F, stride } = layout;
  if (order && (order.length !== F || new Set(order).size !== F || order.some((i) => i < 0 || i >= F)))
    throw new RelufyError(`${prefix}: the hot-neuron order is not a permutation of ${F} neurons`);
  const identity = !order || order.every((v, k) => v === k);
  const ord = order ?? Int32Array.from({ length: F }, (_, i) => i);
  const slotOf = new Int32Array(F);
  ord.forEach((i, k) => (slotOf[i] = k));
  const ptr = heap.alloc(F * stride);
  heap.u8(ptr, F * stride).fill(0);
  const at = (neuron: number, off: number) => ptr + slotOf[neuron]! * stride + off;
  // quantized ggml rows of neurons r0..r0+n (staged) into their slots
  const placeRows = (type: PackedType, off: number, r0: number, n: number, rowBytes: number) => {
    if (identity) ex.bundle_rows(type, staging.ptr, n, C, at(r0, off), stride);
    else for (let r = 0; r < n; r++) ex.bundle_rows(type, staging.ptr + r * rowBytes, 1, C, at(r0 + r, off), stride);
  };
  // rows r0..r0+n of a part from float values (n x C)
  const putFloatRows = (type: PackedType, off: number, r0: number, n: number, rows: Float32Array) => {
    if (type === PackedType.F32) {
      for (let r = 0; r < n; r++) heap.f32(at(r0 + r, off), C).set(rows.subarray(r * C, (r + 1) * C));
      return;
    }
    const q = quantize(rows, [n, C], type === PackedType.Q8_0 ? GGMLType.Q8_0 : GGMLType.Q4_0).data;
    if (q.byteLength > staging.bytes) throw new RelufyError(`${prefix}: staging area too small for ${n} rows`);
    heap.u8(staging.ptr, q.byteLength).set(q);
    placeRows(type, off, r0, n, q.byteLength / n);
  };
  const rowPart = (name: string, type: PackedType, off: number) => {
    const info = src.info(name)!;
    if (type === PackedType.F32) {
      const t = src.read(name);
      const step = Math.max(1, Math.floor((1 << 22) / (C * 4)));
      for (let r0 = 0; r0 < F; r0 += step) {
        const n = Math.min(step, F - r0);
        putFloatRows(type, off, r0, n, dequantizeRows(t, r0, n));
      }
      return;
    }
    const rb = (C / 32) * (type === PackedType.Q8_0 ? 34 : 18);
    const step = Math.max(1, Math.floor(staging.bytes / rb));
    for (let r0 = 0; r0 < F; r0 += step) {
      const n = Math.min(step, F - r0);
      src.readRows(info.name, r0, n, heap.u8(staging.ptr, n * rb));
      placeRows(type, off, r0, n, rb);
    }
  };
  rowPart(prefix + 'ffn_gate.weight', layout.gateType, layout.gateOff);
  rowPart(prefix + 'ffn_up.weight', layout.upType, layout.upOff);
  const downT = prefix + 'ffn_down_t.weight';
  const down = prefix + 'ffn_down.weight';
  if (src.info(down)) {
    // (C, F): transpose into neuron rows (F, C), in slabs of neurons
    const d = dequantizeRows(src.read(down), 0, C);
    const slab = Math.max(1, Math.min(F, Math.floor(staging.bytes / (C * 1.25)), 256));
    for (let i0 = 0; i0 < F; i0 += slab) {
      const n = Math.min(slab, F - i0);
      const rows = new Float32Array(n * C);
      for (let c = 0; c < C; c++) {
        const o = c * F + i0;
        for (let r = 0; r < n; r++) rows[r * C + c] = d[o + r]!;
      }
      putFloatRows(layout.downType, layout.downOff, i0, n, rows);
    }
  } else if (src.info(downT)) {
    rowPart(downT, layout.downType, layout.downOff);
  } else throw new RelufyError(`${prefix}ffn_down.weight is missing`);
  let orderPtr = 0;
  if (!identity) {
    orderPtr = heap.alloc(F * 4);
    heap.i32(orderPtr, F).set(ord);
  }
  const desc = heap.alloc(64);
  const dd = heap.i32(desc, 11);
  dd[0] = ptr | 0;
  dd[1] = stride;
  dd[2] = layout.gateType;
  dd[3] = layout.gateOff;
  dd[4] = layout.upType;
  dd[5] = layout.upOff;
  dd[6] = layout.downType;
  dd[7] = layout.downOff;
  dd[8] = C;
  dd[9] = F;
  dd[10] = orderPtr;
  return { layout, ptr, desc, order: ord, identity };
}
