// Reference token ids from sentencepiece / llama.cpp (shared/data tokenizer test vectors).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hasSharedData, sharedData } from '../../test/paths.js';
import { openGguf } from '../formats/gguf/index.js';
import {
  loadLlama2cTokenizer,
  loadSentencePieceModel,
  loadTokenizerJson,
  tokenizerFromGgufMetadata,
  type Tokenizer,
} from './index.js';

interface Case {
  text: string;
  ids: number[];
}

/** llama.cpp `X.inp` / `X.out`: inputs separated by "\n__ggml_vocab_test__\n" (also after the last). */
function readVectors(inp: string, out: string): Case[] {
  const texts = readFileSync(inp, 'utf8').split('\n__ggml_vocab_test__\n');
  assert.equal(texts.pop(), '', 'the .inp file ends with the separator');
  const lines = readFileSync(out, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  assert.equal(lines.length, texts.length, 'one .out line per input');
  return texts.map((text, i) => ({ text, ids: lines[i]!.trim() === '' ? [] : lines[i]!.trim().split(/\s+/).map(Number) }));
}

function checkVectors(tok: Tokenizer, cases: Case[]): void {
  assert.ok(cases.length >= 40, `${cases.length} cases`);
  for (const { text, ids } of cases) {
    assert.deepEqual(tok.encode(text, { add_bos: false }), ids, `encode ${JSON.stringify(text)}`);
    // Every vector round-trips exactly: the dummy-prefix space is stripped from the first piece
    // only, so leading spaces of the input survive (" Hello" -> "▁▁Hello" -> " Hello").
    assert.equal(tok.decode(ids), text, `decode ${JSON.stringify(text)}`);
    assert.deepEqual(tok.encode(text).slice(1), ids, 'default add_bos prepends only BOS');
    assert.equal(tok.encode(text)[0], tok.vocab.bos_token_id);
  }
}

const MISTRAL = ['tokenizers', 'mistral'];
const mistralCases = (): Case[] =>
  readVectors(sharedData(...MISTRAL, 'mistral-spm.inp'), sharedData(...MISTRAL, 'mistral-spm.out'));
const VOCAB = ['tokenizers', 'llama.cpp-vocab'];
const llamaCases = (): Case[] =>
  readVectors(sharedData(...VOCAB, 'ggml-vocab-llama-spm.gguf.inp'), sharedData(...VOCAB, 'ggml-vocab-llama-spm.gguf.out'));
const skipIfAbsent = (...parts: string[]): false | string => (hasSharedData(...parts) ? false : `shared data ${parts.join('/')} absent`);

test('Mistral tokenizer.model.v1 reproduces mistral-spm.out', { skip: skipIfAbsent(...MISTRAL, 'tokenizer.model.v1') }, () => {
  checkVectors(loadSentencePieceModel(sharedData(...MISTRAL, 'tokenizer.model.v1')), mistralCases());
});

test('Mistral tokenizer.json (merge ranks as scores) reproduces mistral-spm.out', { skip: skipIfAbsent(...MISTRAL, 'tokenizer.json') }, () => {
  const tok = loadTokenizerJson(sharedData(...MISTRAL, 'tokenizer.json'));
  checkVectors(tok, mistralCases());
  if (hasSharedData(...MISTRAL, 'tokenizer.model.v1')) {
    const model = loadSentencePieceModel(sharedData(...MISTRAL, 'tokenizer.model.v1'));
    assert.deepEqual(tok.vocab.tokens, model.vocab.tokens, 'same pieces id for id');
    assert.deepEqual(tok.vocab.types, model.vocab.types, 'same token types');
  }
});

test('Llama 2 tokenizer.model reproduces ggml-vocab-llama-spm.gguf.out', { skip: skipIfAbsent('tokenizers', 'llama2', 'tokenizer.model') }, () => {
  checkVectors(loadSentencePieceModel(sharedData('tokenizers', 'llama2', 'tokenizer.model')), llamaCases());
});

test('Llama 2 llama.cpp GGUF vocab reproduces its .out', { skip: skipIfAbsent(...VOCAB, 'ggml-vocab-llama-spm.gguf') }, () => {
  const path = sharedData(...VOCAB, 'ggml-vocab-llama-spm.gguf');
  const tok = tokenizerFromGgufMetadata(openGguf(path).metadata, path);
  checkVectors(tok, llamaCases());
  if (hasSharedData('tokenizers', 'llama2', 'tokenizer.model')) {
    const model = loadSentencePieceModel(sharedData('tokenizers', 'llama2', 'tokenizer.model'));
    assert.deepEqual(tok.vocab.tokens, model.vocab.tokens);
    assert.deepEqual(tok.vocab.scores, model.vocab.scores);
    assert.deepEqual(tok.vocab.types, model.vocab.types);
  }
});

test('Phi-3 llama.cpp GGUF vocab (SPM + added control tokens) reproduces its .out', { skip: skipIfAbsent(...VOCAB, 'ggml-vocab-phi-3.gguf') }, () => {
  const path = sharedData(...VOCAB, 'ggml-vocab-phi-3.gguf');
  const tok = tokenizerFromGgufMetadata(openGguf(path).metadata, path);
  checkVectors(tok, readVectors(`${path}.inp`, `${path}.out`));
  const end = tok.vocab.tokens.indexOf('<|end|>');
  assert.deepEqual(tok.encode('<|end|>', { add_bos: false, parse_special: true }), [end]);
  assert.notDeepEqual(tok.encode('<|end|>', { add_bos: false }), [end], 'control text is plain text without parse_special');
});

test('Llama 2 llama2.c tokenizer.bin encodes as tokenizer.model on the vectors', { skip: skipIfAbsent('tokenizers', 'llama2', 'tokenizer.bin') }, () => {
  const tok = loadLlama2cTokenizer(sharedData('tokenizers', 'llama2', 'tokenizer.bin'));
  assert.equal(tok.vocab_size, 32000);
  assert.equal(tok.vocab.tokens[1], '<s>', "'\\n<s>\\n' is renamed <s>");
  checkVectors(tok, llamaCases());
  if (hasSharedData('tokenizers', 'llama2', 'tokenizer.model')) {
    const model = loadSentencePieceModel(sharedData('tokenizers', 'llama2', 'tokenizer.model'));
    assert.deepEqual(tok.vocab.tokens, model.vocab.tokens, 'spaces restored to U+2581');
    assert.deepEqual(tok.vocab.scores, model.vocab.scores);
    assert.deepEqual(tok.vocab.types, model.vocab.types, 'types inferred from the llama2.c layout');
  }
});
