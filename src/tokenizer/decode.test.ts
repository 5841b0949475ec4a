import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../errors.js';
import { hasSharedData, sharedData } from '../../test/paths.js';
import { loadSentencePieceModel, type Tokenizer } from './index.js';

const skip = hasSharedData('tokenizers', 'llama2', 'tokenizer.model') ? false : 'Llama 2 tokenizer.model absent';
let cached: Tokenizer | undefined;
const llama = (): Tokenizer => (cached ??= loadSentencePieceModel(sharedData('tokenizers', 'llama2', 'tokenizer.model')));

/** Pushes ids one at a time; returns every chunk and the flush. */
function stream(tok: Tokenizer, ids: number[]): { chunks: string[]; tail: string } {
  const d = tok.createStreamDecoder();
  const chunks = ids.map((id) => d.push(id));
  return { chunks, tail: d.flush() };
}

test('decode skips BOS/EOS/control tokens and strips the dummy-prefix space once', { skip }, () => {
  const tok = llama();
  const ids = tok.encode('Hello world', { add_eos: true });
  assert.equal(ids[0], 1);
  assert.equal(ids.at(-1), 2);
  assert.equal(tok.decode(ids), 'Hello world');
  assert.equal(tok.decode(ids.slice(1, -1)), 'Hello world');
  // Only the first text piece loses its space: a later piece keeps it.
  const world = tok.encode(' world', { add_bos: false }).at(-1)!;
  assert.equal(tok.piece(world), ' world');
  assert.equal(tok.decode([1, world, world]), 'world world');
  assert.equal(tok.decode([]), '');
  assert.equal(tok.decode([0, 1, 2]), '', 'unknown and control tokens produce no text');
});

test('byte tokens are reassembled into UTF-8; a lone byte becomes U+FFFD', { skip }, () => {
  const tok = llama();
  const text = 'emoji 😀🇺🇸 and CJK 世界の人々 and ü';
  const ids = tok.encode(text, { add_bos: false });
  assert.ok(ids.some((id) => tok.vocab.types[id] === 6), 'the text needs byte tokens');
  assert.equal(tok.decode(ids), text);
  const f0 = tok.vocab.tokens.indexOf('<0xF0>');
  assert.equal(tok.decode([f0]), '\uFFFD');
});

test('piece(): U+2581 as space, ASCII byte tokens as their character, others raw', { skip }, () => {
  const tok = llama();
  assert.equal(tok.piece(1), '<s>');
  assert.equal(tok.piece(0), '<unk>');
  assert.equal(tok.piece(tok.vocab.tokens.indexOf('<0x0A>')), '\n');
  assert.equal(tok.piece(tok.vocab.tokens.indexOf('<0xE2>')), '<0xE2>');
  assert.equal(tok.piece(tok.vocab.tokens.indexOf('\u2581Hello')), ' Hello');
  assert.throws(() => tok.piece(32000), UsageError);
  assert.throws(() => tok.decode([-1]), UsageError);
});

test('streaming decode holds back split UTF-8 and equals decode of the whole', { skip }, () => {
  const tok = llama();
  for (const text of ['Hi 😀!', '世界 and 🇺🇸 flags', 'a\nb\tc  d', '   leading spaces', 'ünïcödé 🤖 ok', '日本語のテキスト😀😀']) {
    const ids = tok.encode(text);
    const { chunks, tail } = stream(tok, ids);
    assert.equal(chunks.join('') + tail, tok.decode(ids), JSON.stringify(text));
    assert.equal(chunks.join('') + tail, text);
    assert.ok(chunks.every((c) => !c.includes('\uFFFD')), 'no replacement characters mid-stream');
  }
  // The emoji's 4 byte tokens: nothing comes out until the last one.
  const ids = tok.encode('😀', { add_bos: false });
  const bytes = ids.filter((id) => tok.vocab.types[id] === 6);
  assert.equal(bytes.length, 4);
  const d = tok.createStreamDecoder();
  assert.deepEqual(ids.map((id) => d.push(id)), ['', '', '', '', '😀'].slice(5 - ids.length));
  assert.equal(d.flush(), '');
});

test('flush emits an incomplete sequence as U+FFFD', { skip }, () => {
  const tok = llama();
  const f0 = tok.vocab.tokens.indexOf('<0xF0>');
  const d = tok.createStreamDecoder();
  assert.equal(d.push(tok.encode('ok', { add_bos: false })[0]!), 'ok');
  assert.equal(d.push(f0), '');
  assert.equal(d.flush(), '\uFFFD');
});
