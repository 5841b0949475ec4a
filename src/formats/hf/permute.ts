import { UsageError } from '../../errors.js';
import type { Tensor } from '../quant/types.js';

/*
 * q/k row orders for RoPE.
 *
 * GGUF / Meta / llama2.c ("interleaved"): within each head of size d, RoPE rotates the adjacent
 * row pairs (2j, 2j+1), j < d/2, by angle pos * theta^(-2j/d).
 * HF transformers ("rotate_half"): it rotates the pairs (j, j + d/2) by the same angle.
 *
 * llama.cpp convert_hf_to_gguf.py `LlamaModel.permute` turns HF rows into GGUF rows by viewing
 * each head's d rows as (2, d/2), i.e. HF row s*(d/2) + j for s in {0,1}, and swapping the two
 * axes, so that
 *     GGUF row 2j + s  =  HF row s*(d/2) + j        (per head; k uses num_key_value_heads heads)
 * For d = 4: GGUF rows [g0, g1, g2, g3] are HF rows [g0, g2, g1, g3] (HF holds the even GGUF rows
 * first, then the odd ones). transformers' convert_llama_weights_to_hf.py `permute` is the same
 * map in the Meta -> HF direction. Only whole rows move, so every row-major encoding (F32, F16,
 * BF16, quantized blocks) permutes the same way.
 */

type SourceRow = (i: number, half: number) => number;

/** Output row i of a head (HF order) takes GGUF row 2j + s where i = s*half + j. */
const FROM_GGUF: SourceRow = (i, half) => (i < half ? 2 * i : 2 * (i - half) + 1);
/** Output row i of a head (GGUF order) = 2j + s takes HF row s*half + j. */
const FROM_HF: SourceRow = (i, half) => (i & 1) * half + (i >> 1);

function reorderHeads(t: Tensor, nHead: number, source: SourceRow): Tensor {
  const rows = t.shape[0];
  if (rows === undefined || !Number.isInteger(nHead) || nHead <= 0 || rows % nHead !== 0 || (rows / nHead) % 2 !== 0)
    throw new UsageError(t.name, `cannot permute rows for RoPE: shape [${t.shape.join(', ')}] with ${nHead} heads (need rows = heads x even head size)`);
  if (t.data.length % rows !== 0) throw new UsageError(t.name, `data (${t.data.length} bytes) is not ${rows} equal rows`);
  const rowBytes = t.data.length / rows;
  const d = rows / nHead;
  const half = d / 2;
  const out = new Uint8Array(t.data.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < d; i++) {
      const src = (h * d + source(i, half)) * rowBytes;
      out.set(t.data.subarray(src, src + rowBytes), (h * d + i) * rowBytes);
    }
  }
  return { ...t, shape: [...t.shape], data: out };
}

/**
 * HF rotate-half q/k rows -> GGUF interleaved rows (what llama.cpp's converter applies; see the
 * note above). `t`: `q_proj` (num_attention_heads * head_dim, hidden_size) with `nHead` =
 * num_attention_heads, or `k_proj` (num_key_value_heads * head_dim, hidden_size) with `nHead` =
 * num_key_value_heads. Any row-major type. Returns a new tensor (same name/type/shape).
 * @throws UsageError when rows are not nHead x an even head size.
 */
export function permuteQkHfToGguf(t: Tensor, nHead: number): Tensor {
  return reorderHeads(t, nHead, FROM_HF);
}

/** GGUF interleaved q/k rows -> HF rotate-half rows; exact inverse of `permuteQkHfToGguf`. */
export function permuteQkGgufToHf(t: Tensor, nHead: number): Tensor {
  return reorderHeads(t, nHead, FROM_GGUF);
}
