import { closeSync, existsSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from '../errors.js';
import { f32ToF16 } from '../formats/quant/float.js';
import { GGMLType } from '../formats/quant/types.js';
import { GGUFValueType } from '../formats/gguf/types.js';

/**
 * Shapes of the synthetic models `relufy bench --synthetic` writes (hyper-parameters of the
 * public checkpoints' config.json files). All are written as GGUF architecture `llama` so that
 * stock llama.cpp runs the very same file; bamboo-7b adds `llama.ffn_activation = drelu`, which
 * relufy honours and llama.cpp ignores (it computes SwiGLU there: same bytes and shapes, so the
 * same weight traffic, which is what a decode benchmark measures).
 */
export const SYNTHETIC_SHAPES = {
  /** SJTU-IPADS Bamboo-base-v0_1: Mistral-7B shape with dReLU. */
  'bamboo-7b': { hidden: 4096, ffn: 14336, layers: 32, heads: 32, kvHeads: 8, vocab: 32000, ctx: 32768, theta: 10000, activation: 'drelu' },
  /** mistralai/Mistral-7B-v0.1 (sliding window 4096). */
  'mistral-7b': { hidden: 4096, ffn: 14336, layers: 32, heads: 32, kvHeads: 8, vocab: 32000, ctx: 32768, theta: 10000, activation: 'swiglu', window: 4096 },
  /** meta-llama/Llama-2-7b-hf. */
  'llama-2-7b': { hidden: 4096, ffn: 11008, layers: 32, heads: 32, kvHeads: 32, vocab: 32000, ctx: 4096, theta: 10000, activation: 'swiglu' },
} as const;

export type SyntheticShape = keyof typeof SYNTHETIC_SHAPES;

/** A model shape (the fields of SYNTHETIC_SHAPES entries); custom ones are for tests. */
export interface SyntheticSpec {
  hidden: number;
  ffn: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  ctx: number;
  theta: number;
  activation: 'swiglu' | 'drelu';
  window?: number;
}

function specOf(shape: SyntheticShape | SyntheticSpec): SyntheticSpec {
  if (typeof shape !== 'string') return shape;
  const s = SYNTHETIC_SHAPES[shape];
  if (!s) throw new UsageError('--synthetic', `unknown shape ${JSON.stringify(shape)} (choose ${Object.keys(SYNTHETIC_SHAPES).join(', ')})`);
  return s;
}
export type SyntheticQuant = 'q8_0' | 'q4_0' | 'f16' | 'f32';

const QUANT_TYPES: Record<SyntheticQuant, { type: GGMLType; fileType: number }> = {
  q8_0: { type: GGMLType.Q8_0, fileType: 7 },
  q4_0: { type: GGMLType.Q4_0, fileType: 2 },
  f16: { type: GGMLType.F16, fileType: 1 },
  f32: { type: GGMLType.F32, fileType: 0 },
};

export interface SyntheticOptions {
  shape: SyntheticShape | SyntheticSpec;
  quant: SyntheticQuant;
  /** Fewer layers than the real model (quick runs); default: the real count. */
  layers?: number;
  seed?: number;
}

export interface TensorPlan {
  name: string;
  shape: number[]; // PyTorch order
  type: GGMLType;
  bytes: number;
  offset: number;
}

/** Bytes of a (rows, cols) tensor of `type`. */
function tensorBytes(type: GGMLType, rows: number, cols: number): number {
  if (type === GGMLType.Q8_0) return rows * (cols / 32) * 34;
  if (type === GGMLType.Q4_0) return rows * (cols / 32) * 18;
  if (type === GGMLType.F16) return rows * cols * 2;
  return rows * cols * 4;
}

/** Default file name for a synthetic model, e.g. `bamboo-7b-q8_0.gguf` or `bamboo-7b-L4-q8_0.gguf`. */
export function syntheticFileName(o: SyntheticOptions): string {
  const name = typeof o.shape === 'string' ? o.shape : `custom-${o.shape.hidden}x${o.shape.ffn}`;
  return `${name}${o.layers !== undefined ? `-L${o.layers}` : ''}-${o.quant}${o.seed !== undefined && o.seed !== 1 ? `-s${o.seed}` : ''}.gguf`;
}

/** The tensors (name, shape, type, bytes, offset in the data section) a synthetic file holds. */
export function syntheticPlan(o: SyntheticOptions): { tensors: TensorPlan[]; layers: number } {
  const s = specOf(o.shape);
  const layers = o.layers ?? s.layers;
  const qt = QUANT_TYPES[o.quant].type;
  const C = s.hidden, F = s.ffn, D = s.hidden / s.heads, kv = s.kvHeads * D;
  const list: [string, number[], GGMLType][] = [['token_embd.weight', [s.vocab, C], qt]];
  for (let l = 0; l < layers; l++) {
    const b = `blk.${l}.`;
    list.push([b + 'attn_norm.weight', [C], GGMLType.F32], [b + 'attn_q.weight', [C, C], qt], [b + 'attn_k.weight', [kv, C], qt],
      [b + 'attn_v.weight', [kv, C], qt], [b + 'attn_output.weight', [C, C], qt], [b + 'ffn_norm.weight', [C], GGMLType.F32],
      [b + 'ffn_gate.weight', [F, C], qt], [b + 'ffn_up.weight', [F, C], qt], [b + 'ffn_down.weight', [C, F], qt]);
  }
  list.push(['output_norm.weight', [C], GGMLType.F32], ['output.weight', [s.vocab, C], qt]);
  let off = 0;
  const tensors = list.map(([name, shape, type]) => {
    const bytes = tensorBytes(type, shape.length === 2 ? shape[0]! : 1, shape[shape.length - 1]!);
    const t = { name, shape, type, bytes, offset: off };
    off += Math.ceil(bytes / 32) * 32;
    return t;
  });
  return { tensors, layers };
}

/** A vocabulary llama.cpp's SentencePiece loader accepts: <unk> <s> </s>, 256 byte tokens, then made-up pieces. */
function syntheticVocab(n: number): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  for (let i = tokens.length; i < n; i++) {
    tokens.push(`\u2581w${i}`);
    types.push(1);
  }
  return { tokens, scores: tokens.map((_, i) => -i), types };
}

// ---- minimal streaming GGUF v3 writer (ggml docs/gguf.md "File Structure") -------------------

class Header {
  private parts: Buffer[] = [];
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
  }
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.parts.push(b);
  }
  kv(key: string, type: GGUFValueType, v: string | number): void {
    this.str(key);
    this.u32(type);
    if (type === GGUFValueType.STRING) this.str(v as string);
    else if (type === GGUFValueType.UINT32) this.u32(v as number);
    else if (type === GGUFValueType.FLOAT32) {
      const b = Buffer.alloc(4);
      b.writeFloatLE(v as number);
      this.parts.push(b);
    } else if (type === GGUFValueType.BOOL) this.parts.push(Buffer.from([v ? 1 : 0]));
    else throw new Error(`unsupported kv type ${type}`);
  }
  arr(key: string, itemType: GGUFValueType, items: (string | number)[]): void {
    this.str(key);
    this.u32(GGUFValueType.ARRAY);
    this.u32(itemType);
    this.u64(items.length);
    if (itemType === GGUFValueType.STRING) for (const s of items) this.str(s as string);
    else {
      const b = Buffer.alloc(items.length * 4);
      items.forEach((v, i) => (itemType === GGUFValueType.FLOAT32 ? b.writeFloatLE(v as number, i * 4) : b.writeInt32LE(v as number, i * 4)));
      this.parts.push(b);
    }
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** xorshift32 stream of 32-bit words (seeded, fast). */
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

function hashName(name: string, seed: number): number {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * Fills `buf` with random weight bytes of `type` (whole blocks): Q8_0 int8 uniform in [-127, 127]
 * with scale such that weights have std ~0.02/sqrt-ish (values stay finite through 32 layers),
 * Q4_0 random nibbles, F16 / F32 values uniform in about [-0.03, 0.03].
 */
function fillRandom(buf: Buffer, type: GGMLType, next: () => number): void {
  const u32 = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2);
  for (let i = 0; i < u32.length; i++) u32[i] = next();
  for (let i = u32.length * 4; i < buf.length; i++) buf[i] = next() & 0xff;
  if (type === GGMLType.Q8_0) {
    const d = f32ToF16(0.02 / 73);
    for (let o = 0; o < buf.length; o += 34) {
      buf[o] = d & 0xff;
      buf[o + 1] = d >> 8;
      for (let j = o + 2; j < o + 34; j++) if (buf[j] === 0x80) buf[j] = 0x81;
    }
  } else if (type === GGMLType.Q4_0) {
    const d = f32ToF16(0.02 / 4.6);
    for (let o = 0; o < buf.length; o += 18) {
      buf[o] = d & 0xff;
      buf[o + 1] = d >> 8;
    }
  } else if (type === GGMLType.F16) {
    const u16 = new Uint16Array(buf.buffer, buf.byteOffset, buf.byteLength >> 1);
    // sign | exponent 10..11 (2^-5 .. 2^-3) | random mantissa
    for (let i = 0; i < u16.length; i++) u16[i] = (u16[i]! & 0x83ff) | ((10 + (u16[i]! >> 10 & 1)) << 10);
  } else {
    const f = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2);
    for (let i = 0; i < f.length; i++) f[i] = ((u32[i]! / 4294967296) * 2 - 1) * 0.03;
  }
}

/**
 * Writes a seeded random-weight GGUF of a real model's exact shape (see SYNTHETIC_SHAPES), tensor
 * by tensor (peak memory: one 16 MiB chunk), with a 32000-token SentencePiece-style vocabulary.
 * Reuses `path` when it already exists with the expected size. Returns the file size in bytes.
 * @throws UsageError for an unknown shape or quant.
 */
export function writeSyntheticGguf(path: string, o: SyntheticOptions): number {
  const s = specOf(o.shape);
  if (!QUANT_TYPES[o.quant]) throw new UsageError('--quant', `unknown type ${JSON.stringify(o.quant)} (choose ${Object.keys(QUANT_TYPES).join(', ')})`);
  const { tensors, layers } = syntheticPlan(o);
  const h = new Header();
  const vocab = syntheticVocab(s.vocab);
  const kvs: (() => void)[] = [
    () => h.kv('general.architecture', GGUFValueType.STRING, 'llama'),
    () => h.kv('general.name', GGUFValueType.STRING, `relufy synthetic ${syntheticFileName(o).replace(/\.gguf$/, '')} (random weights)`),
    () => h.kv('general.file_type', GGUFValueType.UINT32, QUANT_TYPES[o.quant].fileType),
    () => h.kv('general.quantization_version', GGUFValueType.UINT32, 2),
    () => h.kv('llama.context_length', GGUFValueType.UINT32, s.ctx),
    () => h.kv('llama.embedding_length', GGUFValueType.UINT32, s.hidden),
    () => h.kv('llama.block_count', GGUFValueType.UINT32, layers),
    () => h.kv('llama.feed_forward_length', GGUFValueType.UINT32, s.ffn),
    () => h.kv('llama.rope.dimension_count', GGUFValueType.UINT32, s.hidden / s.heads),
    () => h.kv('llama.attention.head_count', GGUFValueType.UINT32, s.heads),
    () => h.kv('llama.attention.head_count_kv', GGUFValueType.UINT32, s.kvHeads),
    () => h.kv('llama.attention.layer_norm_rms_epsilon', GGUFValueType.FLOAT32, 1e-5),
    () => h.kv('llama.rope.freq_base', GGUFValueType.FLOAT32, s.theta),
    () => h.kv('llama.vocab_size', GGUFValueType.UINT32, s.vocab),
    ...(s.activation === 'drelu' ? [() => h.kv('llama.ffn_activation', GGUFValueType.STRING, 'drelu')] : []),
    ...(s.window !== undefined ? [() => h.kv('llama.attention.sliding_window', GGUFValueType.UINT32, s.window!)] : []),
    () => h.kv('tokenizer.ggml.model', GGUFValueType.STRING, 'llama'),
    () => h.arr('tokenizer.ggml.tokens', GGUFValueType.STRING, vocab.tokens),
    () => h.arr('tokenizer.ggml.scores', GGUFValueType.FLOAT32, vocab.scores),
    () => h.arr('tokenizer.ggml.token_type', GGUFValueType.INT32, vocab.types),
    () => h.kv('tokenizer.ggml.bos_token_id', GGUFValueType.UINT32, 1),
    () => h.kv('tokenizer.ggml.eos_token_id', GGUFValueType.UINT32, 2),
    () => h.kv('tokenizer.ggml.unknown_token_id', GGUFValueType.UINT32, 0),
    () => h.kv('tokenizer.ggml.add_bos_token', GGUFValueType.BOOL, 1),
  ];
  h.u32(0x46554747); // "GGUF"
  h.u32(3);
  h.u64(tensors.length);
  h.u64(kvs.length);
  for (const k of kvs) k();
  for (const t of tensors) {
    h.str(t.name);
    h.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) h.u64(d); // ggml ne order
    h.u32(t.type);
    h.u64(t.offset);
  }
  const head = h.bytes();
  const dataStart = Math.ceil(head.length / 32) * 32;
  const last = tensors[tensors.length - 1]!;
  const total = dataStart + last.offset + last.bytes;
  if (existsSync(path) && statSync(path).size === total) return total;

  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, head);
    writeSync(fd, Buffer.alloc(dataStart - head.length));
    let pos = dataStart;
    const CHUNK = 16 << 20;
    for (const t of tensors) {
      const at = dataStart + t.offset;
      if (at > pos) writeSync(fd, Buffer.alloc(at - pos));
      const next = xorshift(hashName(t.name, o.seed ?? 1));
      if (t.shape.length === 1) {
        const f = new Float32Array(t.shape[0]!).fill(1); // norm weights
        writeSync(fd, Buffer.from(f.buffer));
      } else {
        const rowBytes = t.bytes / t.shape[0]!;
        const rowsPerChunk = Math.max(1, Math.floor(CHUNK / rowBytes));
        const buf = Buffer.alloc(rowsPerChunk * rowBytes);
        for (let r = 0; r < t.shape[0]!; r += rowsPerChunk) {
          const n = Math.min(rowsPerChunk, t.shape[0]! - r) * rowBytes;
          const b = buf.subarray(0, n);
          fillRandom(b, t.type, next);
          writeSync(fd, b);
        }
      }
      pos = at + t.bytes;
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return total;
}
