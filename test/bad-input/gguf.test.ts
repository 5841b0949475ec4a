/**
 * Bad input, crafted GGUF files (engine-spine issue): each problem of the list — wrong magic,
 * truncated header, truncated tensor data, offsets past the end, dimensions that overflow or
 * exceed the file, unknown tensor type, duplicate / missing tensors, config/tensor shape mismatch,
 * unknown architecture, tokenizer/vocab mismatch — must give a clean one-line error naming the
 * file through `loadModel` (and `openGguf` for header problems).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GGUFValueType, openGguf, serializeGguf, type GGUFKV } from '../../src/formats/gguf/index.js';
import { GGMLType, type Tensor } from '../../src/formats/quant/types.js';
import { ggufMetadata, KernelEngine, loadModel } from '../../src/model/index.js';
import { tinyModel } from '../fixtures/tiny-model.js';
import {
  assertCleanError,
  everyCheck,
  ggufLayout,
  kvAt,
  patched,
  tensorAt,
  unsoundLoadReason,
} from './harness.js';
import { LLAMA2_TOKENIZER_MODEL, STORIES_GGUF } from './sources.js';

const dir = mkdtempSync(join(tmpdir(), 'relufy-bad-gguf-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const base = tinyModel({ seed: 5 }); // swiglu, untied, F32, vocab 298, C 32, F 64, 2 layers

/** GGUF bytes of the tiny model, after `edit` changed its metadata / tensors. */
function ggufBytes(edit?: (meta: Map<string, GGUFKV>, tensors: Tensor[]) => void): Uint8Array {
  const meta = ggufMetadata(base.config, base.tokenizer!.vocab, 'bad-input');
  const tensors = [...base.tensors.values()];
  edit?.(meta, tensors);
  return serializeGguf({ metadata: meta, tensors });
}

let n = 0;
/** Writes `bytes` to a fresh .gguf file and returns its path. */
function file(bytes: Uint8Array, name = 'case'): string {
  const p = join(dir, `${name}-${n++}.gguf`);
  writeFileSync(p, bytes);
  return p;
}

const good = ggufBytes();
const layout = ggufLayout(good);
const u32 = (v: number): GGUFKV => ({ type: GGUFValueType.UINT32, value: v });

/** loadModel(p) must fail cleanly naming p, with `problem` in the message. */
const refuses = (p: string, problem: RegExp): Promise<string> => assertCleanError(() => loadModel(p), p, problem);

describe('bad input: crafted GGUF files', () => {
  test('the unmodified fixture loads and runs (baseline)', () => {
    const m = loadModel(file(good));
    assert.equal(unsoundLoadReason(m), null);
  });

  test('wrong magic', async () => {
    const p = file(patched(good, [{ at: 0, bytes: 'GGUX' }]));
    await refuses(p, /not a GGUF file/);
    await assertCleanError(() => openGguf(p), p, /magic 'GGUX'/);
    await refuses(file(new Uint8Array(0)), /not a GGUF file/);
    await refuses(file(new Uint8Array(3).fill(0x47)), /not a GGUF file/);
  });

  test('unsupported or byte-swapped version', async () => {
    for (const v of [1, 4, 0x03000000, 0xffffffff]) await refuses(file(patched(good, [{ at: 4, u32: v }])), /version/);
  });

  test('truncated header at many points', async () => {
    const kvTokens = kvAt(layout, 'tokenizer.ggml.tokens');
    const t0 = layout.tensors[0]!;
    for (const cut of [4, 6, 8, 15, 20, 24, 30, kvTokens.valueAt + 5, kvTokens.valueAt + 200, t0.at + 3, t0.dimsAt[0]! + 4, t0.offsetAt + 2, layout.headerEnd - 1]) {
      const p = file(good.subarray(0, cut));
      await refuses(p, /truncated|larger than the \d+ bytes left|past the end/);
      await assertCleanError(() => openGguf(p), p);
    }
  });

  test('truncated tensor data', async () => {
    for (const drop of [1, 33, 1000, good.length - layout.headerEnd - 8]) {
      const p = file(good.subarray(0, good.length - drop));
      await refuses(p, /runs past the end of the file|past the end/);
    }
  });

  test('tensor data offset past the end of the file, or beyond 2^53', async () => {
    const t = tensorAt(layout, 'blk.0.attn_q.weight');
    await refuses(file(patched(good, [{ at: t.offsetAt, u64: 1n << 40n }])), /runs past the end of the file/);
    await refuses(file(patched(good, [{ at: t.offsetAt, u64: BigInt(good.length) * 32n }])), /runs past the end of the file/);
    await refuses(file(patched(good, [{ at: t.offsetAt, u64: 1n << 63n }])), /beyond 2\^53/);
    await refuses(file(patched(good, [{ at: t.offsetAt, u64: 0xffffffffffffffe0n }])), /beyond 2\^53/);
    await refuses(file(patched(good, [{ at: t.offsetAt, u64: 4n }])), /alignment/);
  });

  test('tensors overlapping', async () => {
    const a = tensorAt(layout, 'blk.0.attn_q.weight');
    const b = tensorAt(layout, 'blk.0.attn_k.weight');
    const aOff = new DataView(good.buffer, good.byteOffset).getBigUint64(a.offsetAt, true);
    await refuses(file(patched(good, [{ at: b.offsetAt, u64: aOff }])), /overlap/);
  });

  test('dimensions whose product overflows 2^53 or exceeds the file', async () => {
    const t = tensorAt(layout, 'token_embd.weight');
    // ne = [2^32, 2^32] F32: 2^66 bytes
    await refuses(file(patched(good, [{ at: t.dimsAt[0]!, i64: 1n << 32n }, { at: t.dimsAt[1]!, i64: 1n << 32n }])), /overflows 2\^53/);
    // each dim < 2^53 but the byte count is not
    await refuses(file(patched(good, [{ at: t.dimsAt[1]!, i64: (1n << 53n) - 1n }])), /overflows 2\^53/);
    // fits in 2^53 but not in the file
    await refuses(file(patched(good, [{ at: t.dimsAt[1]!, i64: 1n << 30n }])), /runs past the end of the file/);
    await refuses(file(patched(good, [{ at: t.dimsAt[1]!, i64: 0n }])), /ne\[1\] = 0/);
    await refuses(file(patched(good, [{ at: t.dimsAt[1]!, i64: -298n }])), /ne\[1\] = -298/);
    await refuses(file(patched(good, [{ at: t.dimsAt[0]!, i64: 1n << 62n }])), /must be 1\.\.2\^53-1/);
    await refuses(file(patched(good, [{ at: t.nDimsAt, u32: 5 }])), /5 dimensions/);
    await refuses(file(patched(good, [{ at: t.nDimsAt, u32: 0 }])), /0 dimensions/);
    await refuses(file(patched(good, [{ at: t.nDimsAt, u32: 0xffffffff }])), /dimensions/);
  });

  test('unknown tensor type', async () => {
    const t = tensorAt(layout, 'blk.1.ffn_gate.weight');
    for (const id of [4, 5, 31, 36, 40, 1000, 0xffffffff]) await refuses(file(patched(good, [{ at: t.typeAt, u32: id }])), /unknown tensor type id/);
    // a known type whose block size does not divide the row
    await refuses(file(patched(good, [{ at: t.typeAt, u32: GGMLType.Q4_K }])), /block size/);
  });

  test('a weight of a type relufy cannot compute with is refused, naming the file', async () => {
    // F32 -> I32 keeps the byte size: the file is well-formed but the weights are not computable
    const p = file(patched(good, [{ at: tensorAt(layout, 'blk.0.attn_q.weight').typeAt, u32: GGMLType.I32 }]));
    await assertCleanError(() => {
      const m = loadModel(p);
      new KernelEngine(m).createSession({ capacity: 4 }).forward([1]);
    }, p, /I32/);
  });

  test('duplicate tensor name', async () => {
    const k = tensorAt(layout, 'blk.0.attn_k.weight');
    await refuses(file(patched(good, [{ at: k.nameBytesAt, bytes: 'blk.0.attn_q.weight' }])), /duplicate tensor name 'blk\.0\.attn_q\.weight'/);
  });

  test('duplicate metadata key', async () => {
    const a = kvAt(layout, 'tokenizer.ggml.add_bos_token');
    const b = kvAt(layout, 'tokenizer.ggml.add_eos_token');
    await refuses(file(patched(good, [{ at: b.at + 8, bytes: a.key }])), /duplicate metadata key 'tokenizer\.ggml\.add_bos_token'/);
  });

  test('missing tensors', async () => {
    for (const name of ['blk.1.ffn_up.weight', 'token_embd.weight', 'output_norm.weight', 'blk.0.attn_v.weight']) {
      const p = file(ggufBytes((_, ts) => ts.splice(ts.findIndex((t) => t.name === name), 1)));
      await refuses(p, new RegExp(`missing tensor ${name.replace(/\./g, '\\.')}`));
    }
  });

  test('a stored tensor the model does not use is refused (a renamed output.weight must not turn into tied embeddings)', async () => {
    const out = tensorAt(layout, 'output.weight');
    await everyCheck({
      'output.weight renamed outpux.weight (loads as tied embeddings)': () => refuses(file(patched(good, [{ at: out.nameBytesAt, bytes: 'outpux.weight' }])), /outpux\.weight/),
      'block_count 1 in a 2-layer file (blk.1.* ignored)': () => refuses(file(ggufBytes((m) => m.set('llama.block_count', u32(1)))), /blk\.1\.|block_count/),
      'an extra blk.0.attn_q.bias': () =>
        refuses(file(ggufBytes((_, ts) => ts.push({ name: 'blk.0.attn_q.bias', type: GGMLType.F32, shape: [32], data: new Uint8Array(128) }))), /blk\.0\.attn_q\.bias/),
    });
  });

  test('config/tensor shape mismatch', async () => {
    const reshaped = (name: string, shape: number[]) =>
      file(
        ggufBytes((_, ts) => {
          const i = ts.findIndex((t) => t.name === name);
          const bytes = shape.reduce((a, b) => a * b, 1) * 4;
          ts[i] = { name, type: GGMLType.F32, shape, data: new Uint8Array(bytes) };
        }),
      );
    await refuses(reshaped('blk.0.ffn_up.weight', [48, 32]), /tensor blk\.0\.ffn_up\.weight has shape \[48, 32\], config expects \[64, 32\]/);
    await refuses(reshaped('blk.1.attn_k.weight', [32, 32]), /tensor blk\.1\.attn_k\.weight has shape \[32, 32\], config expects \[16, 32\]/);
    await refuses(reshaped('output_norm.weight', [64]), /output_norm\.weight has shape \[64\]/);
    await refuses(reshaped('blk.1.attn_q.weight', [32, 32, 1]), /blk\.1\.attn_q\.weight has shape/);
    // config side: feed_forward_length / head_count_kv / vocab_size that the tensors do not have
    await refuses(file(ggufBytes((m) => m.set('llama.feed_forward_length', u32(48)))), /has shape \[64, 32\], config expects \[48, 32\]/);
    await refuses(file(ggufBytes((m) => m.set('llama.attention.head_count_kv', u32(4)))), /config expects \[32, 32\]/);
    await refuses(file(ggufBytes((m) => m.set('llama.vocab_size', u32(300)))), /token_embd\.weight has shape \[298, 32\], config expects \[300, 32\]/);
    await refuses(file(ggufBytes((m) => m.set('llama.block_count', u32(3)))), /missing tensor blk\.2\./);
    await refuses(file(ggufBytes((m) => m.set('llama.rope.dimension_count', u32(4)))), /partial RoPE/);
  });

  test('a layer count far beyond the tensors in the file fails fast without allocating for it', async () => {
    // block_count 100000 in a 2-layer file: validateTensors builds the expected-tensor map of all
    // 900000 tensors first (4 s, 125 MiB here; 2^22 layers: 94 s, 1.9 GiB, then a RangeError)
    const p = file(ggufBytes((m) => m.set('llama.block_count', u32(100_000))));
    const h0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    await refuses(p, /blk\.2\.|block_count|layers/);
    const ms = performance.now() - t0;
    const grew = process.memoryUsage().heapUsed - h0;
    assert.ok(grew < 32 << 20, `the heap grew by ${(grew / 2 ** 20).toFixed(0)} MiB (${ms.toFixed(0)} ms) to refuse a 2-layer file`);
  });

  test('unknown or missing architecture', async () => {
    const renamedArch = (arch: string) =>
      ggufBytes((m) => {
        for (const [k, v] of [...m]) {
          if (!k.startsWith('llama.')) continue;
          m.delete(k);
          m.set(`${arch}.${k.slice(6)}`, v);
        }
        m.set('general.architecture', { type: GGUFValueType.STRING, value: arch });
      });
    await refuses(file(renamedArch('gpt2')), /unknown architecture "gpt2"/);
    await refuses(file(renamedArch('falcon')), /unknown architecture "falcon"/);
    await refuses(file(ggufBytes((m) => m.delete('general.architecture'))), /missing metadata key general\.architecture/);
    await refuses(file(ggufBytes((m) => m.set('general.architecture', u32(7)))), /general\.architecture is not a string/);
  });

  test('hyper-parameters of the wrong type or out of range', async () => {
    const str = (v: string): GGUFKV => ({ type: GGUFValueType.STRING, value: v });
    await refuses(file(ggufBytes((m) => m.set('llama.embedding_length', str('32')))), /llama\.embedding_length is not a number/);
    await refuses(file(ggufBytes((m) => m.set('llama.attention.head_count', u32(0)))), /num_attention_heads must be a positive integer/);
    await refuses(file(ggufBytes((m) => m.set('llama.block_count', { type: GGUFValueType.UINT64, value: 1n << 40n }))), /positive integer/);
    await refuses(file(ggufBytes((m) => m.set('llama.block_count', { type: GGUFValueType.UINT64, value: (1n << 64n) - 1n }))), /not a number/);
    await refuses(file(ggufBytes((m) => m.set('llama.feed_forward_length', { type: GGUFValueType.FLOAT32, value: 64.5 }))), /intermediate_size must be a positive integer/);
    await refuses(file(ggufBytes((m) => m.set('llama.attention.layer_norm_rms_epsilon', { type: GGUFValueType.FLOAT32, value: Number.NaN }))), /rms_norm_eps/);
    await refuses(file(ggufBytes((m) => m.delete('llama.embedding_length'))), /missing metadata key llama\.embedding_length/);
  });

  test('counts and lengths larger than the file, bad values', async () => {
    await refuses(file(patched(good, [{ at: layout.nTensorsAt, u64: 1n << 62n }])), /tensor count .* larger than/);
    await refuses(file(patched(good, [{ at: layout.nKvAt, u64: (1n << 64n) - 1n }])), /key-value count .* larger than/);
    const name = kvAt(layout, 'general.name');
    await refuses(file(patched(good, [{ at: name.at, u64: (1n << 64n) - 1n }])), /length .* larger than/);
    await refuses(file(patched(good, [{ at: name.valueAt, u64: 1n << 40n }])), /larger than/);
    const tokens = kvAt(layout, 'tokenizer.ggml.tokens');
    await refuses(file(patched(good, [{ at: tokens.valueAt + 4, u64: 1n << 61n }])), /array count .* larger than/);
    await refuses(file(patched(good, [{ at: tokens.valueAt, u32: 13 }])), /unknown array item type 13/);
    await refuses(file(patched(good, [{ at: tokens.typeAt, u32: 99 }])), /unknown metadata value type 99/);
    const bos = kvAt(layout, 'tokenizer.ggml.add_bos_token');
    await refuses(file(patched(good, [{ at: bos.valueAt, bytes: new Uint8Array([2]) }])), /invalid BOOL value 2/);
  });

  test('general.alignment that is zero, not a power of two, negative or a float', async () => {
    const meta = ggufMetadata(base.config, null, 'x');
    const bytes = serializeGguf({ metadata: meta, tensors: [...base.tensors.values()], alignment: 64 });
    const al = kvAt(ggufLayout(bytes), 'general.alignment');
    const f32 = new Uint8Array(new Float32Array([32]).buffer);
    const cases = [
      [{ at: al.valueAt, u32: 0 }],
      [{ at: al.valueAt, u32: 3 }],
      [{ at: al.valueAt, u32: 48 }],
      [{ at: al.typeAt, u32: GGUFValueType.INT32 }, { at: al.valueAt, u32: 0xffffffc0 }],
      [{ at: al.typeAt, u32: GGUFValueType.FLOAT32 }, { at: al.valueAt, bytes: f32 }],
    ];
    for (const edits of cases) await refuses(file(patched(bytes, edits)), /general\.alignment/);
  });

  test('arrays nested deeper than the reader accepts', async () => {
    // key 'x.deep' = ARRAY(ARRAY(...(UINT8)...)) nested 40 deep, one item each
    const parts: number[] = [];
    const le = (v: bigint, bytes: number) => {
      for (let i = 0; i < bytes; i++) parts.push(Number((v >> BigInt(8 * i)) & 0xffn));
    };
    parts.push(...new TextEncoder().encode('GGUF'));
    le(3n, 4);
    le(0n, 8);
    le(1n, 8);
    le(6n, 8);
    parts.push(...new TextEncoder().encode('x.deep'));
    le(9n, 4);
    for (let d = 0; d < 40; d++) {
      le(d === 39 ? 0n : 9n, 4);
      le(1n, 8);
    }
    parts.push(7);
    await refuses(file(new Uint8Array(parts)), /nested deeper/);
  });

  test('metadata strings with line breaks do not break the one-line message', async () => {
    const str = (v: string): GGUFKV => ({ type: GGUFValueType.STRING, value: v });
    await everyCheck({
      'tokenizer.ggml.model': () => refuses(file(ggufBytes((m) => m.set('tokenizer.ggml.model', str('gpt2\nFATAL: injected')))), /tokenizer model/),
      '{arch}.ffn_activation': () => refuses(file(ggufBytes((m) => m.set('llama.ffn_activation', str('gelu\r\nx')))), /ffn_activation/),
      'general.architecture': () => refuses(file(ggufBytes((m) => m.set('general.architecture', str('gpt\u2028j')))), /unknown architecture/),
    });
  });

  test('tokenizer in the file does not match the vocab size', async () => {
    const shrink = (m: Map<string, GGUFKV>) => {
      for (const k of ['tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type']) {
        const v = m.get(k)!.value as { itemType: GGUFValueType; items: unknown[] };
        m.set(k, { type: GGUFValueType.ARRAY, value: { itemType: v.itemType, items: v.items.slice(0, 297) } as never });
      }
    };
    await refuses(file(ggufBytes(shrink)), /tokenizer has 297 tokens but the model's vocab_size is 298/);
    // scores / token types of another length than the tokens
    await refuses(
      file(ggufBytes((m) => {
        const v = m.get('tokenizer.ggml.scores')!.value as { itemType: GGUFValueType; items: unknown[] };
        m.set('tokenizer.ggml.scores', { type: GGUFValueType.ARRAY, value: { itemType: v.itemType, items: v.items.slice(1) } as never });
      })),
      /tokenizer\.ggml\.scores has 297 entries for 298 tokens/,
    );
  });

  test('--tokenizer with another vocab size than the model (stories260K.gguf + llama2 tokenizer.model)', { skip: !existsSync(STORIES_GGUF) || !existsSync(LLAMA2_TOKENIZER_MODEL) }, async () => {
    await assertCleanError(
      () => loadModel(STORIES_GGUF, { tokenizer: LLAMA2_TOKENIZER_MODEL }),
      LLAMA2_TOKENIZER_MODEL,
      /tokenizer has 32000 tokens but the model's vocab_size is 512/,
    );
  });

});
