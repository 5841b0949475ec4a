import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../errors.js';
import { GGUFValueType, type GGUFKV } from '../../formats/gguf/types.js';
import { openGguf } from '../../formats/gguf/index.js';
import { hasSharedData, sharedData } from '../../../test/paths.js';
import { TokenType } from '../types.js';
import { vocabFromGgufMetadata } from './gguf.js';
import { vocabFromLlama2cTokenizer } from './llama2c.js';

const str = (value: string): GGUFKV => ({ type: GGUFValueType.STRING, value });
const u32 = (value: number): GGUFKV => ({ type: GGUFValueType.UINT32, value });
const bool = (value: boolean): GGUFKV => ({ type: GGUFValueType.BOOL, value });
const arr = (itemType: GGUFValueType, items: (string | number)[]): GGUFKV => ({ type: GGUFValueType.ARRAY, value: { itemType, items } });

const TOKENS = ['<unk>', '<s>', '</s>', '<0x0A>', '\u2581a'];
function meta(extra: [string, GGUFKV][] = [], drop: string[] = []): Map<string, GGUFKV> {
  const m = new Map<string, GGUFKV>([
    ['tokenizer.ggml.model', str('llama')],
    ['tokenizer.ggml.tokens', arr(GGUFValueType.STRING, TOKENS)],
    ['tokenizer.ggml.scores', arr(GGUFValueType.FLOAT32, [0, 0, 0, 0, -1])],
    ['tokenizer.ggml.token_type', arr(GGUFValueType.INT32, [2, 3, 3, 6, 1])],
    ...extra,
  ]);
  for (const k of drop) m.delete(k);
  return m;
}

function fails(m: Map<string, GGUFKV>, re: RegExp): void {
  assert.throws(() => vocabFromGgufMetadata(m, 'f.gguf'), (e: unknown) => e instanceof FormatError && e.file === 'f.gguf' && re.test(e.problem));
}

test('metadata with defaults', () => {
  const v = vocabFromGgufMetadata(meta(), 'f.gguf');
  assert.deepEqual(v.tokens, TOKENS);
  assert.deepEqual(v.types, [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.BYTE, TokenType.NORMAL]);
  assert.deepEqual([v.bos_token_id, v.eos_token_id, v.unk_token_id, v.pad_token_id], [1, 2, 0, null]);
  assert.deepEqual([v.add_bos_token, v.add_eos_token, v.add_space_prefix], [true, false, true]);
  assert.equal(v.chat_template, undefined);
});

test('metadata with explicit keys; out-of-range ids are ignored as llama.cpp does', () => {
  const v = vocabFromGgufMetadata(
    meta([
      ['tokenizer.ggml.bos_token_id', u32(2)],
      ['tokenizer.ggml.eos_token_id', { type: GGUFValueType.INT64, value: 1n }],
      ['tokenizer.ggml.padding_token_id', u32(0xffffffff)],
      ['tokenizer.ggml.unknown_token_id', u32(5)],
      ['tokenizer.ggml.add_bos_token', bool(false)],
      ['tokenizer.ggml.add_eos_token', bool(true)],
      ['tokenizer.ggml.add_space_prefix', bool(false)],
      ['tokenizer.chat_template', str('{{ bos_token }}')],
    ]),
    'f.gguf',
  );
  assert.deepEqual([v.bos_token_id, v.eos_token_id, v.unk_token_id, v.pad_token_id], [2, 1, 0, null]);
  assert.deepEqual([v.add_bos_token, v.add_eos_token, v.add_space_prefix], [false, true, false]);
  assert.equal(v.chat_template, '{{ bos_token }}');
});

test('without token_type, types are inferred; without scores, scores are 0', () => {
  const v = vocabFromGgufMetadata(meta([], ['tokenizer.ggml.token_type', 'tokenizer.ggml.scores']), 'f.gguf');
  assert.deepEqual(v.types, [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.BYTE, TokenType.NORMAL]);
  assert.deepEqual([...v.scores], [0, 0, 0, 0, 0]);
});

test('bad metadata gives FormatError naming the file', () => {
  fails(meta([['tokenizer.ggml.model', str('gpt2')]]), /^unsupported tokenizer model gpt2$/);
  fails(meta([], ['tokenizer.ggml.model']), /tokenizer.ggml.model is missing/);
  fails(meta([], ['tokenizer.ggml.tokens']), /tokenizer.ggml.tokens is missing/);
  fails(meta([['tokenizer.ggml.model', u32(1)]]), /is not a string/);
  fails(meta([['tokenizer.ggml.tokens', arr(GGUFValueType.INT32, [1])]]), /array of strings/);
  fails(meta([['tokenizer.ggml.scores', arr(GGUFValueType.FLOAT32, [0])]]), /1 entries for 5 tokens/);
  fails(meta([['tokenizer.ggml.token_type', arr(GGUFValueType.INT32, [1, 1, 1, 1, 9])]]), /entry 4 is 9/);
  fails(meta([['tokenizer.ggml.token_type', arr(GGUFValueType.INT32, [1, 1, 1, 1, 6])]]), /BYTE/);
  fails(meta([['tokenizer.ggml.add_bos_token', u32(1)]]), /not a bool/);
  fails(meta([['tokenizer.ggml.bos_token_id', str('1')]]), /not an integer/);
});

test('real GGUFs: llama.cpp GPT-2 vocab is refused, stories260K vocab equals tok512.bin', () => {
  const gpt2 = sharedData('tokenizers', 'llama.cpp-vocab', 'ggml-vocab-gpt-2.gguf');
  if (hasSharedData('tokenizers', 'llama.cpp-vocab', 'ggml-vocab-gpt-2.gguf')) {
    assert.throws(() => vocabFromGgufMetadata(openGguf(gpt2).metadata, gpt2), (e: unknown) => e instanceof FormatError && e.message === `${gpt2}: unsupported tokenizer model gpt2`);
  }
  const stories = sharedData('models', 'stories260K', 'stories260K.gguf');
  if (hasSharedData('models', 'stories260K', 'stories260K.gguf')) {
    const v = vocabFromGgufMetadata(openGguf(stories).metadata, stories);
    assert.equal(v.tokens.length, 512);
    assert.deepEqual(v.tokens.slice(0, 3), ['<unk>', '<s>', '</s>']);
    assert.equal(v.pad_token_id, null, 'padding id 0xFFFFFFFF means none');
    if (hasSharedData('models', 'stories260K', 'tok512.bin')) {
      const bin = vocabFromLlama2cTokenizer(readFileSync(sharedData('models', 'stories260K', 'tok512.bin')), 'tok512.bin');
      assert.deepEqual(v.tokens, bin.tokens);
      assert.deepEqual(v.scores, bin.scores);
      assert.deepEqual(v.types, bin.types);
    }
  }
});
