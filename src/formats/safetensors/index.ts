/** Hugging Face safetensors: single files, sharded checkpoints, and the F32/F16/BF16 dtype helpers. */
export { readSafetensors, readSafetensorsHeader, MAX_HEADER_BYTES } from './read.js';
export type { SafetensorsEntry, SafetensorsHeader, ReadSafetensorsOptions } from './read.js';
export { writeSafetensors } from './write.js';
export { readShardedSafetensors, readShardIndex, SAFETENSORS_INDEX } from './sharded.js';
export type { ShardIndex } from './sharded.js';
export { writeFileAtomic } from './atomic.js';
export { SAFETENSORS_DTYPE_BYTES, DTYPE_TO_GGML, ggmlToDtype, isSupportedDtype, elementBytes } from './dtype.js';
export type { SupportedDtype } from './dtype.js';
