import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { FormatError } from '../../errors.js';
import { hasSharedData, sharedData } from '../../../test/paths.js';
import { TokenType } from '../types.js';
import { loadSentencePieceModel, vocabFromSentencePieceModel } from './sentencepiece-model.js';

const LLAMA = sharedData('tokenizers', 'llama2', 'tokenizer.model');
const skip = hasSharedData('tokenizers', 'llama2', 'tokenizer.model') ? false : 'Llama 2 tokenizer.model absent';

function assertFormatError(fn: () => unknown, file: string, problem?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.equal(e.file, file);
    if (problem) assert.match(e.problem, problem);
    return true;
  });
}

/** Hand-written ModelProto bytes (field numbers of sentencepiece_model.proto). */
function modelBytes(opts: { modelType?: number; pieces?: [string, number, number?][]; bosId?: number; dummyPrefix?: boolean }): Uint8Array {
  const w = protobuf.Writer.create();
  for (const [piece, score, type] of opts.pieces ?? [['<unk>', 0, 2], ['<s>', 0, 3], ['</s>', 0, 3], ['\u2581a', -1]]) {
    const p = protobuf.Writer.create();
    p.uint32((1 << 3) | 2).string(piece);
    p.uint32((2 << 3) | 5).float(score);
    if (type !== undefined) p.uint32((3 << 3) | 0).int32(type);
    w.uint32((1 << 3) | 2).bytes(p.finish());
  }
  const t = protobuf.Writer.create();
  if (opts.modelType !== undefined) t.uint32((3 << 3) | 0).int32(opts.modelType);
  if (opts.bosId !== undefined) t.uint32((41 << 3) | 0).int32(opts.bosId);
  w.uint32((2 << 3) | 2).bytes(t.finish());
  if (opts.dummyPrefix !== undefined) {
    const n = protobuf.Writer.create();
    n.uint32((3 << 3) | 0).bool(opts.dummyPrefix);
    w.uint32((3 << 3) | 2).bytes(n.finish());
  }
  return w.finish();
}

test('Llama 2 tokenizer.model: pieces, types, special ids and flags', { skip }, () => {
  const tok = loadSentencePieceModel(LLAMA);
  const v = tok.vocab;
  assert.equal(tok.vocab_size, 32000);
  assert.deepEqual([v.bos_token_id, v.eos_token_id, v.unk_token_id, v.pad_token_id], [1, 2, 0, null]);
  assert.deepEqual(v.types.slice(0, 4), [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.BYTE]);
  assert.equal(v.tokens[259], '\u2581\u2581');
  assert.equal(v.scores[259], -1e9);
  assert.equal(v.add_space_prefix, true);
  assert.equal(v.add_bos_token, true);
  assert.equal(v.add_eos_token, false);
  assert.equal(v.chat_template, undefined);
});

test('proto defaults and explicit fields of a hand-written model', () => {
  const v = vocabFromSentencePieceModel(modelBytes({ modelType: 2 }), 'm.model');
  assert.deepEqual(v.tokens, ['<unk>', '<s>', '</s>', '\u2581a']);
  assert.deepEqual(v.types, [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.NORMAL]);
  assert.deepEqual([v.unk_token_id, v.bos_token_id, v.eos_token_id, v.pad_token_id], [0, 1, 2, null]);
  assert.equal(v.add_space_prefix, true, 'add_dummy_prefix defaults to true');
  const w = vocabFromSentencePieceModel(modelBytes({ modelType: 2, bosId: -1, dummyPrefix: false }), 'm.model');
  assert.equal(w.bos_token_id, null);
  assert.equal(w.add_space_prefix, false);
});

test('non-BPE and structurally wrong models give FormatError', () => {
  assertFormatError(() => vocabFromSentencePieceModel(modelBytes({}), 'u.model'), 'u.model', /UNIGRAM/);
  assertFormatError(() => vocabFromSentencePieceModel(modelBytes({ modelType: 1 }), 'u.model'), 'u.model', /unsupported SentencePiece model type UNIGRAM/);
  assertFormatError(() => vocabFromSentencePieceModel(modelBytes({ modelType: 2, bosId: 99 }), 'b.model'), 'b.model', /bos_id 99/);
  assertFormatError(() => vocabFromSentencePieceModel(modelBytes({ modelType: 2, pieces: [['x', 0, 6]] }), 'y.model'), 'y.model', /BYTE/);
  assertFormatError(() => vocabFromSentencePieceModel(modelBytes({ modelType: 2, pieces: [['x', 0, 9]] }), 'y.model'), 'y.model', /invalid type 9/);
  assertFormatError(() => vocabFromSentencePieceModel(modelBytes({ modelType: 2, pieces: [] }), 'e.model'), 'e.model', /no pieces/);
  assertFormatError(() => vocabFromSentencePieceModel(new Uint8Array([0x0f, 0x01]), 'w.model'), 'w.model', /protobuf/);
  assertFormatError(() => vocabFromSentencePieceModel(new TextEncoder().encode('{"model": 1}'), 'j.model'), 'j.model');
});

test('truncated and byte-flipped tokenizer.model files give FormatError naming the file', { skip }, () => {
  const good = readFileSync(LLAMA);
  const dir = mkdtempSync(join(tmpdir(), 'relufy-spm-'));
  try {
    const write = (name: string, bytes: Uint8Array): string => {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      return p;
    };
    const half = write('half.model', good.subarray(0, good.length >> 1));
    assertFormatError(() => loadSentencePieceModel(half), half);
    const tiny = write('tiny.model', good.subarray(0, 3));
    assertFormatError(() => loadSentencePieceModel(tiny), tiny);
    const empty = write('empty.model', new Uint8Array(0));
    assertFormatError(() => loadSentencePieceModel(empty), empty, /no pieces/);
    // The first piece's length varint made huge: must not allocate, must not crash.
    const flipped = Buffer.from(good);
    flipped[1] |= 0x80;
    flipped[2] = 0xff;
    flipped[3] = 0xff;
    const flippedPath = write('flipped.model', flipped);
    assertFormatError(() => loadSentencePieceModel(flippedPath), flippedPath);
    // The first tag turned into an invalid wire type.
    const tag = Buffer.from(good);
    tag[0] = 0x0f;
    const tagPath = write('tag.model', tag);
    assertFormatError(() => loadSentencePieceModel(tagPath), tagPath, /protobuf/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sampled single-byte corruptions of tokenizer.model load or give FormatError', { skip }, () => {
  const good = readFileSync(LLAMA);
  let seed = 7;
  let errors = 0;
  // Positions in the header region, the trainer/normalizer specs at the end, and random ones.
  const positions = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  for (let k = 1; k <= 60; k++) positions.push(good.length - k);
  for (let k = 0; k < 40; k++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    positions.push(seed % good.length);
  }
  for (const i of positions) {
    const bad = Buffer.from(good);
    bad[i] ^= 0xff;
    try {
      vocabFromSentencePieceModel(bad, 'x.model');
    } catch (e) {
      assert.ok(e instanceof FormatError, `offset ${i}: ${String(e)}`);
      errors++;
    }
  }
  assert.ok(errors > 10, `${errors} corruptions detected`);
});
