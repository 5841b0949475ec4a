/**
 * The WebAssembly fast path: SIMD128 kernels (AssemblyScript, assembly/), load-time repacking into
 * interleaved tiles, a worker-thread pool over shared memory, and an Engine running whole decode
 * steps inside wasm memory, sharded over several memories for models over 4 GiB.
 */
export { WasmEngine, WasmSession, createWasmEngine, loadWasmEngine, type WasmEngineInfo, type WasmEngineOptions } from './engine.js';
export { WasmKernels } from './kernels.js';
export { loadWasmModule, wasmDir, type VariantChoice, type WasmVariant } from './module.js';
export { ThreadPool, SPIN_BUDGET } from './pool.js';
export { planShards, checkFits, type ShardPlan } from './shard.js';
export { sourceFromGguf, sourceFromModel, type TensorSource } from './source.js';
export { PackedType, groupBytes, packedBytes } from './layout.js';
export { hotNeuronOrder } from './bundles.js';
