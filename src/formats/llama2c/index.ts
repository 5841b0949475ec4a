/** llama2.c checkpoints (karpathy/llama2.c legacy v0 `.bin`). */
export { readLlama2cCheckpoint, parseLlama2cHeader, llama2cConfig, llama2cExpectedBytes } from './read.js';
export type { Llama2cHeader } from './read.js';
