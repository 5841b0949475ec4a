import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FormatError } from '../../errors.js';
import { hasSharedData, sharedData } from '../../../test/paths.js';
import { GGMLType, dequantize } from '../quant/index.js';
import {
  GENERAL,
  GGUFValueType,
  TOKENIZER,
  blockCountKey,
  embeddingLengthKey,
  findTensor,
  ggufArray,
  ggufBool,
  ggufNumber,
  ggufString,
  openGguf,
  parseGguf,
  readTensor,
  rmsNormEpsKey,
  serializeGguf,
} from './index.js';

const STORIES = ['models', 'stories260K', 'stories260K.gguf'];
const STORIES_BIN = ['models', 'stories260K', 'stories260K.bin'];
const TINY = ['models', 'gguf-fixtures', 'llama-2-tiny-random.gguf'];
const SPM = ['tokenizers', 'llama.cpp-vocab', 'ggml-vocab-llama-spm.gguf'];

const tmp = mkdtempSync(join(tmpdir(), 'relufy-gguf-read-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('real GGUF files', () => {
  it('stories260K.gguf: header, tensors, and data equal to the llama2.c checkpoint', (t) => {
    if (!hasSharedData(...STORIES)) return t.skip('shared data stories260K.gguf is absent');
    const f = openGguf(sharedData(...STORIES));
    assert.equal(f.magic, 'GGUF');
    assert.equal(f.version, 3);
    assert.equal(f.alignment, 32);
    assert.equal(f.dataOffset, 14176);
    assert.equal(f.fileSize, 1185376);
    assert.equal(f.tensors.length, 48);
    assert.ok(f.tensors.every((ti) => ti.type === GGMLType.F32));
    assert.equal(ggufString(f, GENERAL.ARCHITECTURE), 'llama');
    assert.equal(ggufNumber(f, embeddingLengthKey('llama')), 64);
    assert.equal(ggufNumber(f, blockCountKey('llama')), 5);
    assert.equal(ggufNumber(f, rmsNormEpsKey('llama')), Math.fround(1e-5));
    assert.equal(ggufNumber(f, TOKENIZER.SEP_ID), 4294967295);
    const tokens = ggufArray(f, TOKENIZER.TOKENS, GGUFValueType.STRING)!;
    assert.equal(tokens.length, 512);
    assert.equal(tokens[1], '<s>');
    assert.equal(ggufArray(f, TOKENIZER.SCORES, GGUFValueType.FLOAT32)!.length, 512);

    const emb = findTensor(f, 'token_embd.weight')!;
    assert.deepEqual(emb.shape, [512, 64]); // PyTorch order: (vocab, dim)
    assert.equal(emb.offset, 0);
    assert.equal(emb.byteLength, 512 * 64 * 4);
    assert.deepEqual(findTensor(f, 'output_norm.weight')!.shape, [64]);
    assert.deepEqual(findTensor(f, 'blk.0.attn_k.weight')!.shape, [32, 64]); // (kv_dim, dim)
    for (const ti of f.tensors) assert.equal(ti.offset % 32, 0);

    // llama2.c .bin: 7 int32 header, then token_embedding (vocab, dim) float32 — same bytes
    const tok = readTensor(f, 'token_embd.weight');
    if (hasSharedData(...STORIES_BIN)) {
      const bin = readFileSync(sharedData(...STORIES_BIN));
      assert.deepEqual(tok.data, new Uint8Array(bin.subarray(28, 28 + 131072)));
    }
    const values = dequantize(tok);
    assert.equal(values.length, 512 * 64);
    assert.ok(values.every(Number.isFinite));
    for (const ti of f.tensors) assert.equal(readTensor(f, ti).data.length, ti.byteLength);
  });

  it('llama-2-tiny-random.gguf: F16 tensors, 32000-token vocab', (t) => {
    if (!hasSharedData(...TINY)) return t.skip('shared data llama-2-tiny-random.gguf is absent');
    const f = openGguf(sharedData(...TINY));
    assert.equal(f.tensors.length, 12);
    assert.equal(ggufNumber(f, GENERAL.FILE_TYPE), 1);
    assert.equal(ggufArray(f, TOKENIZER.TOKENS)!.length, 32000);
    const f16 = f.tensors.filter((ti) => ti.type === GGMLType.F16).map((ti) => ti.name);
    assert.ok(f16.includes('token_embd.weight') && f16.includes('blk.0.ffn_down.weight'), f16.join());
    const emb = readTensor(f, 'token_embd.weight');
    assert.deepEqual(emb.shape, [32000, 8]);
    assert.equal(emb.data.length, 32000 * 8 * 2);
    const v = dequantize(emb);
    assert.ok(v.every(Number.isFinite));
    assert.ok(v.some((x) => x !== 0));
    const down = findTensor(f, 'blk.0.ffn_down.weight')!;
    assert.deepEqual(down.shape, [8, 32]); // (dim, ffn)
  });

  it('ggml-vocab-llama-spm.gguf: 0 tensors, header parses to exactly the file size', (t) => {
    if (!hasSharedData(...SPM)) return t.skip('shared data ggml-vocab-llama-spm.gguf is absent');
    const path = sharedData(...SPM);
    const f = openGguf(path);
    assert.equal(f.tensors.length, 0);
    assert.equal(f.dataOffset, f.fileSize);
    assert.equal(f.fileSize, readFileSync(path).length);
    const tokens = ggufArray(f, TOKENIZER.TOKENS, GGUFValueType.STRING)!;
    assert.equal(tokens.length, 32000);
    assert.ok(tokens.includes('\ufeff'), 'BOM token kept (TextDecoder must not strip it)');
    assert.equal(ggufString(f, TOKENIZER.MODEL), 'llama');
  });

  it('parseGguf on the bytes gives the same result as openGguf', (t) => {
    if (!hasSharedData(...STORIES)) return t.skip('shared data stories260K.gguf is absent');
    const path = sharedData(...STORIES);
    const a = openGguf(path);
    const b = parseGguf(new Uint8Array(readFileSync(path)), path);
    assert.deepEqual(b, a);
    assert.deepEqual(readTensor(b, 'blk.4.ffn_up.weight'), readTensor(a, 'blk.4.ffn_up.weight'));
  });
});

describe('files over 4 GiB', () => {
  it('a sparse 5 GiB file: header parses, tensor bytes at offset 5 GiB are read', (t) => {
    // hand-built header: GGUF v3, 1 tensor, 0 kv; tensor 'far' I8 [16] at data offset 5 GiB
    const far = 5 * 2 ** 30;
    const name = new TextEncoder().encode('far');
    const h = new DataView(new ArrayBuffer(64));
    let o = 0;
    new Uint8Array(h.buffer).set(new TextEncoder().encode('GGUF'), 0);
    o = 4;
    h.setUint32(o, 3, true);
    h.setBigUint64((o += 4), 1n, true);
    h.setBigUint64((o += 8), 0n, true);
    h.setBigUint64((o += 8), BigInt(name.length), true);
    new Uint8Array(h.buffer).set(name, (o += 8));
    h.setUint32((o += name.length), 1, true);
    h.setBigInt64((o += 4), 16n, true);
    h.setUint32((o += 8), GGMLType.I8, true);
    h.setBigUint64((o += 4), BigInt(far), true);
    o += 8; // header ends at 59 -> data at 64
    const path = join(tmp, 'sparse.gguf');
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, new Uint8Array(h.buffer));
      try {
        ftruncateSync(fd, 64 + far + 16);
      } catch {
        return t.skip('file system cannot hold a 5 GiB sparse file');
      }
      writeSync(fd, Uint8Array.from({ length: 16 }, (_, i) => i + 1), 0, 16, 64 + far);
    } finally {
      closeSync(fd);
    }
    const f = openGguf(path);
    assert.equal(o, 59);
    assert.equal(f.dataOffset, 64);
    assert.equal(f.fileSize, 64 + far + 16);
    assert.deepEqual(f.tensors[0], { name: 'far', type: GGMLType.I8, shape: [16], offset: far, byteLength: 16 });
    assert.deepEqual([...readTensor(f, 'far').data], Array.from({ length: 16 }, (_, i) => i + 1));
    rmSync(path);
  });
});

describe('accessors and readTensor errors', () => {
  const metadata = new Map([
    ['s', { type: GGUFValueType.STRING, value: 'x' }],
    ['u8', { type: GGUFValueType.UINT8, value: 7 }],
    ['f64', { type: GGUFValueType.FLOAT64, value: 0.25 }],
    ['u64', { type: GGUFValueType.UINT64, value: 2n ** 53n - 1n }],
    ['big', { type: GGUFValueType.UINT64, value: 2n ** 53n }],
    ['i64', { type: GGUFValueType.INT64, value: -5n }],
    ['b', { type: GGUFValueType.BOOL, value: true }],
    ['a', { type: GGUFValueType.ARRAY, value: { itemType: GGUFValueType.INT32, items: [1, 2] } }],
  ]);
  const f = parseGguf(serializeGguf({ metadata, tensors: [] }), 'mem.gguf');

  it('return typed values, undefined when missing, FormatError naming the key otherwise', () => {
    assert.equal(ggufString(f, 's'), 'x');
    assert.equal(ggufNumber(f, 'u8'), 7);
    assert.equal(ggufNumber(f, 'f64'), 0.25);
    assert.equal(ggufNumber(f, 'u64'), 2 ** 53 - 1);
    assert.equal(ggufNumber(f, 'i64'), -5);
    assert.equal(ggufBool(f, 'b'), true);
    assert.deepEqual(ggufArray(f, 'a'), [1, 2]);
    assert.deepEqual(ggufArray(f.metadata, 'a', GGUFValueType.INT32), [1, 2]);
    for (const get of [ggufString, ggufNumber, ggufBool, ggufArray]) assert.equal(get(f, 'missing'), undefined);
    const bad: [() => unknown, RegExp][] = [
      [() => ggufString(f, 'u8'), /^mem\.gguf: metadata key 'u8' is UINT8, expected STRING$/],
      [() => ggufNumber(f, 's'), /key 's' is STRING, expected a number/],
      [() => ggufNumber(f, 'b'), /key 'b' is BOOL/],
      [() => ggufNumber(f, 'big'), /key 'big' value 9007199254740992 is too large/],
      [() => ggufBool(f, 'u8'), /key 'u8' is UINT8, expected BOOL/],
      [() => ggufArray(f, 's'), /key 's' is STRING, expected ARRAY/],
      [() => ggufArray(f, 'a', GGUFValueType.STRING), /ARRAY of INT32, expected ARRAY of STRING/],
    ];
    for (const [fn, re] of bad) assert.throws(fn, (e: unknown) => e instanceof FormatError && re.test(e.message));
  });

  it('readTensor / openGguf failures are FormatErrors naming the file', () => {
    assert.throws(() => readTensor(f, 'nope'), (e: unknown) => e instanceof FormatError && e.message === "mem.gguf: no tensor named 'nope'");
    const missing = join(tmp, 'missing.gguf');
    assert.throws(() => openGguf(missing), (e: unknown) => e instanceof FormatError && e.message.startsWith(`${missing}: cannot open`));
    assert.throws(() => openGguf(tmp), (e: unknown) => e instanceof FormatError && e.message.startsWith(`${tmp}: `));

    // a file that changes after its header was read
    const path = join(tmp, 'changing.gguf');
    const bytes = serializeGguf({
      metadata: new Map(),
      tensors: [{ name: 't', type: GGMLType.F32, shape: [8], data: new Uint8Array(32) }],
    });
    writeFileSync(path, bytes);
    const g = openGguf(path);
    assert.equal(readTensor(g, 't').data.length, 32);
    writeFileSync(path, bytes.subarray(0, bytes.length - 8));
    assert.throws(() => readTensor(g, 't'), (e: unknown) => e instanceof FormatError && /file changed/.test(e.message));
  });
});
