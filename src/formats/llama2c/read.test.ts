import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../errors.js';
import { GGMLType } from '../quant/types.js';
import { hasSharedData, sharedData, withTempDir } from '../../../test/paths.js';
import { openGguf, readTensor } from '../gguf/index.js';
import { readLlama2cCheckpoint } from './index.js';

const STORIES = sharedData('models', 'stories260K', 'stories260K.bin');
const STORIES_GGUF = sharedData('models', 'stories260K', 'stories260K.gguf');
const AIDREAMS = sharedData('models', 'aidreams260K', 'aidreams260K.bin');
const skipStories = hasSharedData('models', 'stories260K', 'stories260K.bin') ? false : 'shared data stories260K.bin absent';
const skipAidreams = hasSharedData('models', 'aidreams260K', 'aidreams260K.bin') ? false : 'shared data aidreams260K.bin absent';

function f32s(bytes: Uint8Array, offset: number, n: number): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  return Array.from({ length: n }, (_, i) => dv.getFloat32(offset + 4 * i, true));
}

test('stories260K: config, tensor set, shapes and values', { skip: skipStories }, () => {
  const { config, tensors } = readLlama2cCheckpoint(STORIES);
  assert.deepEqual(config, {
    architecture: 'llama', hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5,
    num_attention_heads: 8, num_key_value_heads: 4, head_dim: 8, vocab_size: 512,
    max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_theta: 10000, sliding_window: null,
    hidden_act: 'silu', ffn_activation: 'swiglu', tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2,
  });
  assert.equal(tensors.size, 2 + 5 * 9);
  assert.equal(tensors.has('output.weight'), false, 'shared classifier: no output.weight');
  const keys = [...tensors.keys()];
  assert.equal(keys[0], 'token_embd.weight');
  assert.equal(keys[1], 'blk.0.attn_norm.weight');
  assert.equal(keys.at(-1), 'output_norm.weight');
  assert.deepEqual(tensors.get('blk.4.attn_k.weight')!.shape, [32, 64]);
  assert.deepEqual(tensors.get('blk.0.attn_output.weight')!.shape, [64, 64]);
  assert.deepEqual(tensors.get('blk.0.ffn_down.weight')!.shape, [64, 172]);
  assert.deepEqual(tensors.get('blk.0.ffn_up.weight')!.shape, [172, 64]);
  for (const t of tensors.values()) {
    assert.equal(t.type, GGMLType.F32);
    assert.equal(t.data.length, 4 * t.shape.reduce((a, b) => a * b, 1));
    assert.equal(t.data.byteOffset % 4, 0);
  }

  const raw = readFileSync(STORIES);
  const emb = tensors.get('token_embd.weight')!;
  assert.deepEqual(f32s(emb.data, 0, 8), f32s(raw, 28, 8), 'token_embd starts at byte 28');
  // rms_att of layer 0 follows the 512x64 embedding; wq of layer 0 follows all 5 rms_att vectors.
  const attNorm0 = tensors.get('blk.0.attn_norm.weight')!;
  assert.deepEqual(f32s(attNorm0.data, 0, 4), f32s(raw, 28 + 4 * 512 * 64, 4));
  const wq0 = tensors.get('blk.0.attn_q.weight')!;
  assert.deepEqual(f32s(wq0.data, 0, 4), f32s(raw, 28 + 4 * (512 * 64 + 5 * 64), 4));
  // rms_final sits right before freq_cis (512 * 8 floats) at the end of the file.
  const norm = tensors.get('output_norm.weight')!;
  assert.deepEqual(f32s(norm.data, 0, 64), f32s(raw, raw.length - 4 * (512 * 8 + 64), 64));
  // trained RMSNorm gains are not all 1.0 and embeddings are finite
  assert.ok(f32s(norm.data, 0, 64).some((v) => Math.abs(v - 1) > 1e-3));
  assert.ok(f32s(emb.data, 0, 512 * 64).every(Number.isFinite));
});

test('aidreams260K: MHA config (4 layers, 4 heads, seq 128)', { skip: skipAidreams }, () => {
  const { config, tensors } = readLlama2cCheckpoint(AIDREAMS);
  assert.equal(config.num_hidden_layers, 4);
  assert.equal(config.num_attention_heads, 4);
  assert.equal(config.num_key_value_heads, 4);
  assert.equal(config.head_dim, 16);
  assert.equal(config.max_position_embeddings, 128);
  assert.equal(config.tie_word_embeddings, true);
  assert.equal(tensors.size, 2 + 4 * 9);
  assert.deepEqual(tensors.get('blk.3.attn_k.weight')!.shape, [64, 64]);
  const raw = readFileSync(AIDREAMS);
  assert.deepEqual(f32s(tensors.get('token_embd.weight')!.data, 0, 16), f32s(raw, 28, 16));
});

test('stories260K.bin tensors equal the llama.cpp-converted stories260K.gguf (names, shapes, bytes)', {
  skip: skipStories || (hasSharedData('models', 'stories260K', 'stories260K.gguf') ? false : 'stories260K.gguf absent'),
}, () => {
  const { tensors } = readLlama2cCheckpoint(STORIES);
  const gguf = openGguf(STORIES_GGUF);
  for (const [name, t] of tensors) {
    const g = gguf.tensors.find((x) => x.name === name);
    assert.ok(g, `${name} in GGUF`);
    assert.deepEqual(t.shape, g.shape, name);
    assert.equal(g.type, 0, name);
    assert.ok(Buffer.from(t.data).equals(readTensor(gguf, g).data), `${name} bytes`);
  }
});

const withTemp = (fn: (dir: string) => void): void => withTempDir('relufy-llama2c-', fn);

/** A valid synthetic checkpoint: header then (expected - 28) bytes of small floats. */
function synthetic(header: number[], extraFloats = 0): Buffer {
  const [dim, hidden, L, nh, nkv, vocab, seq] = header as [number, number, number, number, number, number, number];
  const hs = dim / nh;
  const kv = nkv * hs;
  const v = Math.abs(vocab);
  let floats = v * dim + L * dim + L * dim * dim + 2 * L * kv * dim + L * dim * dim + L * dim + 3 * L * hidden * dim + dim + seq * hs;
  if (vocab < 0) floats += v * dim;
  floats += extraFloats;
  const b = Buffer.alloc(28 + 4 * floats);
  header.forEach((x, i) => b.writeInt32LE(x, 4 * i));
  for (let i = 0; i < floats; i++) b.writeFloatLE((i % 7) * 0.125, 28 + 4 * i);
  return b;
}

test('separate classifier (negative vocab_size) gives output.weight = wcls', () => {
  withTemp((dir) => {
    const p = join(dir, 'sep.bin');
    const b = synthetic([8, 12, 2, 2, 1, -10, 6]);
    writeFileSync(p, b);
    const { config, tensors } = readLlama2cCheckpoint(p);
    assert.equal(config.tie_word_embeddings, false);
    assert.equal(config.vocab_size, 10);
    assert.equal(config.num_key_value_heads, 1);
    const out = tensors.get('output.weight')!;
    assert.deepEqual(out.shape, [10, 8]);
    assert.ok(Buffer.from(out.data).equals(b.subarray(b.length - 4 * 80)), 'wcls is the last vocab*dim floats');
    assert.equal([...tensors.keys()].at(-1), 'output.weight');
  });
});

function assertFormatError(fn: () => unknown, path: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${path}: `), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

test('bad llama2.c files are FormatErrors naming the file', { skip: skipStories }, () => {
  withTemp((dir) => {
    const raw = readFileSync(STORIES);
    const p = join(dir, 'bad.bin');

    writeFileSync(p, raw.subarray(0, raw.length - 4)); // truncated
    assertFormatError(() => readLlama2cCheckpoint(p), p, /expected 1056540 bytes for dim=64 .*n_layers=5.*got 1056536/);

    writeFileSync(p, Buffer.concat([raw, Buffer.alloc(16)])); // trailing garbage
    assertFormatError(() => readLlama2cCheckpoint(p), p, /expected 1056540 bytes .* got 1056556/);

    const flipped = Buffer.from(raw);
    flipped[8] = 0x07; // n_layers 5 -> 7: size no longer matches
    writeFileSync(p, flipped);
    assertFormatError(() => readLlama2cCheckpoint(p), p, /expected \d+ bytes for .*n_layers=7/);

    const flippedSign = Buffer.from(raw);
    flippedSign.writeInt32LE(-512, 20); // claims a separate classifier that is not in the file
    writeFileSync(p, flippedSign);
    assertFormatError(() => readLlama2cCheckpoint(p), p, /separate classifier.*got 1056540/);

    const badHeads = Buffer.from(raw);
    badHeads.writeInt32LE(3, 16); // n_kv_heads 3 does not divide 8
    writeFileSync(p, badHeads);
    assertFormatError(() => readLlama2cCheckpoint(p), p, /n_heads \(8\) is not a multiple of n_kv_heads \(3\)/);

    const zeroDim = Buffer.from(raw);
    zeroDim.writeInt32LE(0, 0);
    writeFileSync(p, zeroDim);
    assertFormatError(() => readLlama2cCheckpoint(p), p, /dim = 0 is out of range/);

    const hugeDim = Buffer.from(raw);
    hugeDim[3] = 0x7f; // dim becomes ~2^31
    writeFileSync(p, hugeDim);
    assertFormatError(() => readLlama2cCheckpoint(p), p, /out of range/);

    writeFileSync(p, raw.subarray(0, 20));
    assertFormatError(() => readLlama2cCheckpoint(p), p, /shorter than the 28-byte llama2.c header/);

    const v1 = Buffer.from(raw);
    v1.writeUInt32LE(0x616b3432, 0);
    v1.writeInt32LE(1, 4);
    writeFileSync(p, v1);
    assertFormatError(() => readLlama2cCheckpoint(p), p, /versioned export.*version 1/);

    assertFormatError(() => readLlama2cCheckpoint(join(dir, 'missing.bin')), join(dir, 'missing.bin'), /cannot open.*ENOENT/);
  });
});

test('odd head size is rejected (RoPE needs pairs)', () => {
  withTemp((dir) => {
    const p = join(dir, 'odd.bin');
    writeFileSync(p, synthetic([6, 12, 1, 2, 2, 10, 4]));
    assertFormatError(() => readLlama2cCheckpoint(p), p, /head size dim\/n_heads = 3 must be even/);
  });
});
