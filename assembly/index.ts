// relufy WebAssembly kernels: entry point. Built by scripts/build-wasm.mjs into dist-wasm/ as
// relufy-simd.wasm (SIMD128) and relufy-relaxed.wasm (+ relaxed SIMD). Memory is imported (shared).
export { quantize_q8, quantize_block_scalar } from './quantize';
export { group_bytes, matmul_groups, matmul_multi } from './matmul';
export { rmsnorm, rope, copy_rows, attention, glu, add, argmax, stream_read } from './ops';
export { ffn_gate_up } from './ffn';
export { ffn_bundles, add_partials, extend_i8, relu_inplace, bundle_rows } from './sparse';
export { pack_q8, pack_q4, pack_f32, f16_to_f32, bf16_to_f32, unpack_row } from './pack';
export { gemm_f32, transpose_f32, exp_f32, causal_softmax_f32, causal_softmax_bwd_f32, softmax_rows_f32 } from './train';

/** First byte after the module's static data; the JS allocator starts above it. */
export function heap_base(): usize {
  return __heap_base;
}

/** 1 in the relaxed-SIMD build, 0 otherwise. */
export function relaxed(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}
