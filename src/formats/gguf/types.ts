import type { GGMLType, Tensor } from '../quant/types.js';

/** GGUF metadata value type ids (ggml docs/gguf.md "File Structure", `enum gguf_type`). */
export enum GGUFValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/**
 * One metadata value with its stored type, so that a read/write round trip is byte-exact.
 * Scalars: 8/16/32-bit ints and floats are `number`, 64-bit ints are `bigint`, BOOL is `boolean`,
 * STRING is `string`. ARRAY: `value` is the list of element values and `itemType` their type
 * (nested arrays have `itemType: ARRAY` and each element is itself a `GGUFArrayValue`).
 */
export type GGUFScalar = number | bigint | boolean | string;
export interface GGUFArrayValue {
  itemType: GGUFValueType;
  items: (GGUFScalar | GGUFArrayValue)[];
}
export interface GGUFKV {
  type: GGUFValueType;
  value: GGUFScalar | GGUFArrayValue;
}

/** One tensor-info record of a GGUF file. */
export interface GGUFTensorInfo {
  name: string;
  type: GGMLType;
  /** PyTorch row-major order (outermost first) = reversed ggml `ne`. */
  shape: number[];
  /** Byte offset relative to the start of the tensor-data section. */
  offset: number;
  /** Bytes of the tensor's data (row bytes x rows). */
  byteLength: number;
}

/** 'GGUF' for llama.cpp files, 'PWRI' for PowerInfer's sparse-model files (same layout). */
export type GGUFMagic = 'GGUF' | 'PWRI';

/** What `openGguf` returns: the parsed header; tensor bytes are read on demand. */
export interface GGUFFile {
  path: string;
  magic: GGUFMagic;
  version: number;
  alignment: number;
  /** Absolute byte offset of the tensor-data section. */
  dataOffset: number;
  fileSize: number;
  metadata: Map<string, GGUFKV>;
  tensors: GGUFTensorInfo[];
}

/** Input of `writeGguf`. Tensors are written in order, packed and aligned. */
export interface GGUFWriteInput {
  magic?: GGUFMagic;
  version?: 2 | 3;
  alignment?: number;
  metadata: Map<string, GGUFKV>;
  tensors: Tensor[];
}
