import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FormatError } from '../../errors.js';
import { GGMLType, type Tensor } from '../quant/types.js';
import { configProblem, type ModelConfig } from '../../model/config.js';

/** Bytes of the legacy header: 7 little-endian int32. */
const HEADER_BYTES = 28;
/** `ak42` as a little-endian uint32: magic of llama2.c's versioned exports (export.py version >= 1). */
const VERSIONED_MAGIC = 0x616b3432;
/** Upper bound on any header dimension; keeps every byte count exact in a double. */
const MAX_DIM = 1 << 24;

/** The 7 header fields, llama2.c `Config` names. */
export interface Llama2cHeader {
  dim: number;
  hidden_dim: number;
  n_layers: number;
  n_heads: number;
  n_kv_heads: number;
  /** Always positive here; `shared_classifier` records the sign stored in the file. */
  vocab_size: number;
  seq_len: number;
  /** Positive stored vocab_size: the classifier is the token embedding (no `wcls` in the file). */
  shared_classifier: boolean;
}

/** One tensor of the v0 layout: GGUF name and PyTorch shape; `L` layers are stored back to back per kind. */
interface Segment {
  /** GGUF role without `blk.N.` / `.weight`, or a whole-model GGUF name. */
  name: string;
  perLayer: boolean;
  shape: number[];
}

function layout(h: Llama2cHeader): Segment[] {
  const headSize = h.dim / h.n_heads;
  const qDim = h.n_heads * headSize;
  const kvDim = h.n_kv_heads * headSize;
  // run.c memory_map_weights order.
  return [
    { name: 'token_embd.weight', perLayer: false, shape: [h.vocab_size, h.dim] },
    { name: 'attn_norm', perLayer: true, shape: [h.dim] },
    { name: 'attn_q', perLayer: true, shape: [qDim, h.dim] },
    { name: 'attn_k', perLayer: true, shape: [kvDim, h.dim] },
    { name: 'attn_v', perLayer: true, shape: [kvDim, h.dim] },
    { name: 'attn_output', perLayer: true, shape: [h.dim, qDim] },
    { name: 'ffn_norm', perLayer: true, shape: [h.dim] },
    { name: 'ffn_gate', perLayer: true, shape: [h.hidden_dim, h.dim] }, // w1
    { name: 'ffn_down', perLayer: true, shape: [h.dim, h.hidden_dim] }, // w2
    { name: 'ffn_up', perLayer: true, shape: [h.hidden_dim, h.dim] }, // w3
    { name: 'output_norm.weight', perLayer: false, shape: [h.dim] },
  ];
}

const product = (s: number[]): number => s.reduce((a, b) => a * b, 1);

/**
 * Expected file size in bytes for a header: header + weights + freq_cis (real and imaginary,
 * `seq_len * head_size / 2` floats each) + the classifier `[vocab_size, dim]` when not shared.
 */
export function llama2cExpectedBytes(h: Llama2cHeader): number {
  let floats = 0;
  for (const seg of layout(h)) floats += product(seg.shape) * (seg.perLayer ? h.n_layers : 1);
  floats += h.seq_len * (h.dim / h.n_heads); // freq_cis_real + freq_cis_imag
  if (!h.shared_classifier) floats += h.vocab_size * h.dim;
  return HEADER_BYTES + 4 * floats;
}

function describe(h: Llama2cHeader): string {
  return (
    `dim=${h.dim} hidden_dim=${h.hidden_dim} n_layers=${h.n_layers} n_heads=${h.n_heads} ` +
    `n_kv_heads=${h.n_kv_heads} vocab_size=${h.vocab_size} seq_len=${h.seq_len} ` +
    `(${h.shared_classifier ? 'shared' : 'separate'} classifier)`
  );
}

/**
 * Parses and sanity-checks the 28-byte header.
 * @throws FormatError(path, ...) for a short file, a versioned (`ak42`) export, or impossible dims.
 */
export function parseLlama2cHeader(path: string, bytes: Uint8Array): Llama2cHeader {
  if (bytes.length < HEADER_BYTES)
    throw new FormatError(path, `file is ${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte llama2.c header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (dv.getUint32(0, true) === VERSIONED_MAGIC)
    throw new FormatError(
      path,
      `llama2.c versioned export (magic "ak42", version ${dv.getInt32(4, true)}) is not supported; only the legacy v0 .bin (export.py --version 0)`,
    );
  const f = (i: number): number => dv.getInt32(4 * i, true);
  const raw = { dim: f(0), hidden_dim: f(1), n_layers: f(2), n_heads: f(3), n_kv_heads: f(4), vocab_size: f(5), seq_len: f(6) };
  for (const [k, v] of Object.entries(raw)) {
    const abs = k === 'vocab_size' ? Math.abs(v) : v;
    if (abs <= 0 || abs > MAX_DIM)
      throw new FormatError(path, `llama2.c header field ${k} = ${v} is out of range (1..${MAX_DIM}); not a llama2.c v0 checkpoint?`);
  }
  const h: Llama2cHeader = { ...raw, vocab_size: Math.abs(raw.vocab_size), shared_classifier: raw.vocab_size > 0 };
  if (h.dim % h.n_heads !== 0)
    throw new FormatError(path, `llama2.c header: dim (${h.dim}) is not a multiple of n_heads (${h.n_heads})`);
  if (h.n_heads % h.n_kv_heads !== 0)
    throw new FormatError(path, `llama2.c header: n_heads (${h.n_heads}) is not a multiple of n_kv_heads (${h.n_kv_heads})`);
  if ((h.dim / h.n_heads) % 2 !== 0)
    throw new FormatError(path, `llama2.c header: head size dim/n_heads = ${h.dim / h.n_heads} must be even for RoPE`);
  return h;
}

/** The ModelConfig llama2.c run.c implies for a header (its constants: RMS eps 1e-5, RoPE theta 10000, BOS 1, EOS 2). */
export function llama2cConfig(h: Llama2cHeader): ModelConfig {
  return {
    architecture: 'llama',
    hidden_size: h.dim,
    intermediate_size: h.hidden_dim,
    num_hidden_layers: h.n_layers,
    num_attention_heads: h.n_heads,
    num_key_value_heads: h.n_kv_heads,
    head_dim: h.dim / h.n_heads,
    vocab_size: h.vocab_size,
    max_position_embeddings: h.seq_len,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    sliding_window: null,
    hidden_act: 'silu',
    ffn_activation: 'swiglu',
    tie_word_embeddings: h.shared_classifier,
    bos_token_id: 1,
    eos_token_id: 2,
  };
}

/** Per-block order of every relufy loader (model/weights.ts `expectedTensorShapes`). */
const ROLE_ORDER = ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'];

/** Re-inserts tensors as token_embd, blk.0.* (ROLE_ORDER), blk.1.*, ..., output_norm, output. */
function inModelOrder(byFileOrder: Map<string, Tensor>, nLayers: number): Map<string, Tensor> {
  const rank = (name: string): [number, number] => {
    if (name === 'token_embd.weight') return [-1, 0];
    const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name);
    if (m === null) return [nLayers, name === 'output.weight' ? 1 : 0];
    return [Number(m[1]), ROLE_ORDER.indexOf(m[2]!)];
  };
  const order = [...byFileOrder.keys()].map((n) => ({ n, r: rank(n) }));
  order.sort((a, b) => a.r[0] - b.r[0] || a.r[1] - b.r[1]);
  return new Map(order.map(({ n }) => [n, byFileOrder.get(n)!]));
}

/** Fills `buf` from `fd` starting at file offset 0 (loops: readSync may return short counts). */
function readAll(fd: number, buf: Uint8Array): number {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, Math.min(buf.length - done, 1 << 30), done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * Reads a llama2.c legacy (version 0) checkpoint `.bin` as written by karpathy/llama2.c
 * `export.py --version 0` / `legacy_export` and read by `run.c`.
 *
 * Layout: 7 little-endian int32 `dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
 * seq_len` (negative vocab_size = separate classifier), then float32 tensors, each kind for all
 * layers back to back: token_embedding (vocab, dim), rms_att (L, dim), wq (L, dim, dim),
 * wk/wv (L, kv_dim, dim), wo (L, dim, dim), rms_ffn (L, dim), w1 (L, hidden, dim),
 * w2 (L, dim, hidden), w3 (L, hidden, dim), rms_final (dim), freq_cis real + imag
 * (seq_len * head_size / 2 each; skipped), then wcls (vocab, dim) if not shared.
 *
 * Returns tensors under GGUF names (`token_embd.weight`, `blk.N.attn_q.weight`, ...,
 * `output_norm.weight`, `output.weight` only for a separate classifier), all `GGMLType.F32`,
 * shapes in PyTorch order (`[out, in]`), `data` views into one freshly allocated buffer (each
 * 4-byte aligned, so `new Float32Array(t.data.buffer, t.data.byteOffset, n)` works). q/k rows
 * are already in GGUF/Meta interleaved-RoPE order (llama2.c's RoPE rotates pairs 2i, 2i+1).
 * Config: architecture 'llama', SwiGLU, rms_norm_eps 1e-5, rope_theta 10000, head_dim dim/n_heads,
 * tie_word_embeddings = shared classifier, BOS 1 / EOS 2.
 *
 * @throws FormatError(path, ...) on a bad header, or when the file size is not exactly
 *   the size the header implies (`expected N bytes for dim=... got M`), checked before allocating.
 */
export function readLlama2cCheckpoint(path: string): { config: ModelConfig; tensors: Map<string, Tensor> } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new FormatError(path, `cannot open llama2.c checkpoint (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let bytes: Uint8Array;
  let header: Llama2cHeader;
  try {
    const size = fstatSync(fd).size;
    const head = new Uint8Array(HEADER_BYTES);
    const got = readSync(fd, head, 0, HEADER_BYTES, 0);
    header = parseLlama2cHeader(path, head.subarray(0, got));
    const expected = llama2cExpectedBytes(header);
    if (size !== expected)
      throw new FormatError(path, `llama2.c v0 checkpoint: expected ${expected} bytes for ${describe(header)}, got ${size}`);
    bytes = new Uint8Array(size); // byteOffset 0: every tensor below starts at a multiple of 4
    const n = readAll(fd, bytes);
    if (n !== size) throw new FormatError(path, `short read: got ${n} of ${size} bytes`);
  } finally {
    closeSync(fd);
  }

  const config = llama2cConfig(header);
  const problem = configProblem(config);
  if (problem !== null) throw new FormatError(path, `llama2.c header gives an invalid config: ${problem}`);

  const tensors = new Map<string, Tensor>();
  let offset = HEADER_BYTES;
  const take = (name: string, shape: number[]): void => {
    const n = product(shape) * 4;
    tensors.set(name, { name, type: GGMLType.F32, shape: [...shape], data: bytes.subarray(offset, offset + n) });
    offset += n;
  };
  for (const seg of layout(header)) {
    if (!seg.perLayer) take(seg.name, seg.shape);
    else for (let l = 0; l < header.n_layers; l++) take(`blk.${l}.${seg.name}.weight`, seg.shape);
  }
  offset += 4 * header.seq_len * (header.dim / header.n_heads); // freq_cis_real, freq_cis_imag
  if (!header.shared_classifier) take('output.weight', [header.vocab_size, header.dim]);
  if (offset !== bytes.length) throw new Error(`llama2c layout bug: ended at ${offset} of ${bytes.length}`);
  return { config, tensors: inModelOrder(tensors, header.n_layers) };
}
