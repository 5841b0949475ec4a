/**
 * Public surface of formats/gguf: read and write GGUF (and PowerInfer PWRI) files.
 * Spec: ggml docs/gguf.md; notes in shared/docs/powerinfer-and-gguf.md sections 1.4 and 5.
 */
export { GGUFValueType } from './types.js';
export type {
  GGUFArrayValue,
  GGUFFile,
  GGUFKV,
  GGUFMagic,
  GGUFScalar,
  GGUFTensorInfo,
  GGUFWriteInput,
} from './types.js';
export {
  GGUF_ALIGNMENT_KEY,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAX_ARRAY_DEPTH,
  GGUF_MAX_DIMS,
  MAX_TENSOR_BYTES,
  alignUp,
  findTensor,
  ggufArray,
  ggufBool,
  ggufNumber,
  ggufString,
  openGguf,
  parseGguf,
  readTensor,
  tensorTypeName,
  valueTypeName,
} from './read.js';
export { GGUF_MAX_TENSOR_NAME_BYTES, serializeGguf, writeGguf } from './write.js';
export * from './keys.js';
