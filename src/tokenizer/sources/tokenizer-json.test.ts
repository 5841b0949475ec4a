import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../errors.js';
import { hasSharedData, sharedData } from '../../../test/paths.js';
import { TokenType } from '../types.js';
import { loadTokenizerJson, vocabFromTokenizerJson } from './tokenizer-json.js';
import { parseTokenizerConfig } from './hf-config.js';

const S = '\u2581';
const MISTRAL = sharedData('tokenizers', 'mistral', 'tokenizer.json');
const skip = hasSharedData('tokenizers', 'mistral', 'tokenizer.json') ? false : 'Mistral tokenizer.json absent';

/** A tiny SentencePiece-style tokenizer.json. */
function tinyJson(over: Record<string, unknown> = {}, model: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: '1.0',
    added_tokens: [
      { id: 0, content: '<unk>', special: true },
      { id: 1, content: '<s>', special: true },
      { id: 2, content: '</s>', special: true },
      { id: 9, content: '<|tool|>', special: false },
    ],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: S }, { type: 'Replace', pattern: { String: ' ' }, content: S }] },
    pre_tokenizer: null,
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }] },
    model: {
      type: 'BPE',
      unk_token: '<unk>',
      byte_fallback: true,
      vocab: { '<unk>': 0, '<s>': 1, '</s>': 2, '<0x0A>': 3, [S]: 4, a: 5, b: 6, [S + 'a']: 7, [S + 'ab']: 8 },
      merges: [`${S} a`, [`${S}a`, 'b']],
      ...model,
    },
    ...over,
  });
}

test('tiny tokenizer.json: types, scores from merge ranks, specials, prefix', () => {
  const v = vocabFromTokenizerJson(tinyJson(), 't.json');
  assert.deepEqual(v.tokens, ['<unk>', '<s>', '</s>', '<0x0A>', S, 'a', 'b', S + 'a', S + 'ab', '<|tool|>']);
  assert.deepEqual(v.types, [
    TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.BYTE, TokenType.NORMAL,
    TokenType.NORMAL, TokenType.NORMAL, TokenType.NORMAL, TokenType.NORMAL, TokenType.USER_DEFINED,
  ]);
  assert.equal(v.scores[7], -0);
  assert.equal(v.scores[8], -1);
  assert.equal(v.scores[5], -3, 'pieces no merge produces rank below every merge');
  assert.deepEqual([v.bos_token_id, v.eos_token_id, v.unk_token_id], [1, 2, 0]);
  assert.equal(v.add_bos_token, true);
  assert.equal(v.add_eos_token, false);
  assert.equal(v.add_space_prefix, true);
  const meta = vocabFromTokenizerJson(
    tinyJson({ normalizer: null, pre_tokenizer: { type: 'Metaspace', replacement: S, prepend_scheme: 'never' }, post_processor: null }),
    't.json',
  );
  assert.equal(meta.add_space_prefix, false);
  assert.equal(meta.add_bos_token, true);
});

test('malformed or unsupported tokenizer.json gives FormatError', () => {
  const bad = (text: string, re: RegExp): void =>
    assert.throws(() => vocabFromTokenizerJson(text, 'bad.json'), (e: unknown) => e instanceof FormatError && e.file === 'bad.json' && re.test(e.problem));
  bad('{"model": ', /invalid JSON/);
  bad('[]', /JSON object/);
  bad(tinyJson({}, { type: 'Unigram' }), /only BPE/);
  bad(tinyJson({ pre_tokenizer: { type: 'ByteLevel' }, normalizer: null }), /byte-level/);
  bad(tinyJson({ normalizer: null }), /SentencePiece-style/);
  bad(tinyJson({}, { merges: ['a c'] }), /not in the vocabulary/);
  bad(tinyJson({}, { merges: ['a b'] }), /produces "ab"/);
  bad(tinyJson({}, { merges: ['ab'] }), /not "a b"/);
  bad(tinyJson({}, { vocab: { '<unk>': 0, x: 5 } }), /not contiguous/);
  bad(tinyJson({ added_tokens: [{ id: 0, content: '<pad>', special: true }] }), /id 0 is both/);
});

test('Mistral tokenizer.json + tokenizer_config.json', { skip }, () => {
  const tok = loadTokenizerJson(MISTRAL);
  assert.equal(tok.vocab_size, 32000);
  assert.deepEqual([tok.vocab.bos_token_id, tok.vocab.eos_token_id, tok.vocab.unk_token_id], [1, 2, 0]);
  assert.equal(tok.vocab.add_bos_token, true);
  assert.equal(tok.vocab.add_space_prefix, true);
  assert.deepEqual(tok.encode('Hello'), [1, ...tok.encode('Hello', { add_bos: false })]);
});

test('a sibling tokenizer_config.json overrides flags, special tokens and the template', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relufy-tj-'));
  try {
    const json = join(dir, 'tokenizer.json');
    writeFileSync(json, tinyJson());
    writeFileSync(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify({ add_bos_token: false, add_eos_token: true, eos_token: { content: '<|tool|>' }, chat_template: [{ name: 'x', template: 'X' }, { name: 'default', template: 'D' }] }),
    );
    const tok = loadTokenizerJson(json);
    assert.equal(tok.vocab.add_bos_token, false);
    assert.equal(tok.vocab.eos_token_id, 9);
    assert.equal(tok.vocab.chat_template, 'D');
    assert.deepEqual(tok.encode('ab'), [8, 9]);
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<nope>' }));
    assert.throws(() => loadTokenizerJson(json), (e: unknown) => e instanceof FormatError && e.file === join(dir, 'tokenizer_config.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), '{ broken');
    assert.throws(() => loadTokenizerJson(json), (e: unknown) => e instanceof FormatError && /invalid JSON/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseTokenizerConfig rejects wrongly typed fields', () => {
  assert.throws(() => parseTokenizerConfig('{"add_bos_token": "yes"}', 'c.json'), /add_bos_token is not a boolean/);
  assert.throws(() => parseTokenizerConfig('{"bos_token": 3}', 'c.json'), /bos_token/);
  assert.throws(() => parseTokenizerConfig('{"chat_template": 3}', 'c.json'), /chat_template/);
  assert.deepEqual(parseTokenizerConfig('{"pad_token": null, "unknown": 1}', 'c.json'), { pad_token: null });
});
