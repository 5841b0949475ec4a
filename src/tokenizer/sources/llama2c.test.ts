import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../errors.js';
import { hasSharedData, sharedData } from '../../../test/paths.js';
import { TokenType } from '../types.js';
import { loadLlama2cTokenizer, vocabFromLlama2cTokenizer } from './llama2c.js';

const TOK512 = sharedData('models', 'stories260K', 'tok512.bin');
const skip = hasSharedData('models', 'stories260K', 'tok512.bin') ? false : 'shared data tok512.bin absent';
const skipRef = hasSharedData('models', 'stories260K', 'reference_greedy.json') ? skip : 'reference_greedy.json absent';

interface Reference {
  cases: { prompt: string; tokens: number[]; text: string }[];
  encode_tests: { text: string; tokens_bos: number[] }[];
}
const reference = (): Reference => JSON.parse(readFileSync(sharedData('models', 'stories260K', 'reference_greedy.json'), 'utf8')) as Reference;

test('tok512.bin: 512 tokens, llama2.c layout types, BOS/EOS renamed', { skip }, () => {
  const tok = loadLlama2cTokenizer(TOK512);
  assert.equal(tok.vocab_size, 512);
  const v = tok.vocab;
  assert.deepEqual(v.tokens.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>']);
  assert.deepEqual(v.types.slice(0, 4), [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.BYTE]);
  assert.equal(v.types[258], TokenType.BYTE);
  assert.equal(v.types[259], TokenType.NORMAL);
  assert.equal(v.tokens[259], '\u2581t', "llama2.c's ' t' is the piece '▁t'");
  assert.deepEqual([v.bos_token_id, v.eos_token_id, v.unk_token_id], [1, 2, 0]);
  assert.equal(loadLlama2cTokenizer(TOK512, { vocab_size: 512 }).vocab_size, 512);
});

test('stories260K reference: run.c encode() tests (with BOS)', { skip: skipRef }, () => {
  const tok = loadLlama2cTokenizer(TOK512);
  const ref = reference();
  assert.ok(ref.encode_tests.length >= 5);
  for (const c of ref.encode_tests) assert.deepEqual(tok.encode(c.text), c.tokens_bos, JSON.stringify(c.text));
});

test('stories260K reference: generated tokens decode to the reference text', { skip: skipRef }, () => {
  const tok = loadLlama2cTokenizer(TOK512);
  const ref = reference();
  assert.ok(ref.cases.length >= 3);
  for (const c of ref.cases) {
    assert.equal(tok.decode(c.tokens), c.text);
    const d = tok.createStreamDecoder();
    assert.equal(c.tokens.map((id) => d.push(id)).join('') + d.flush(), c.text);
  }
});

/** Asserts a FormatError whose file is `file`. */
function assertFormatError(fn: () => unknown, file: string, problem?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.ok(e.message.startsWith(`${file}: `));
    if (problem) assert.match(e.problem, problem);
    return true;
  });
}

test('malformed tok512.bin files give FormatError naming the file', { skip }, () => {
  const good = readFileSync(TOK512);
  const dir = mkdtempSync(join(tmpdir(), 'relufy-tok-'));
  try {
    const write = (name: string, bytes: Uint8Array): string => {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      return p;
    };
    const truncated = write('truncated.bin', good.subarray(0, good.length - 3));
    assertFormatError(() => loadLlama2cTokenizer(truncated), truncated, /truncated/);
    const header = write('header.bin', good.subarray(0, 2));
    assertFormatError(() => loadLlama2cTokenizer(header), header, /too short/);
    const midRecord = write('mid.bin', good.subarray(0, 4 + 5));
    assertFormatError(() => loadLlama2cTokenizer(midRecord), midRecord, /truncated/);

    // Token 0's length field (offset 8) with its high byte flipped: a huge length.
    const flipped = Buffer.from(good);
    flipped[11] ^= 0x7f;
    const flippedPath = write('flipped.bin', flipped);
    assertFormatError(() => loadLlama2cTokenizer(flippedPath), flippedPath, /length/);
    // max_token_length negative.
    const badMax = Buffer.from(good);
    badMax[3] ^= 0x80;
    const badMaxPath = write('badmax.bin', badMax);
    assertFormatError(() => loadLlama2cTokenizer(badMaxPath), badMaxPath, /max_token_length/);
    // Trailing garbage, and a vocab_size the file cannot hold.
    const trailing = write('trailing.bin', Buffer.concat([good, Buffer.from([1, 2, 3])]));
    assertFormatError(() => loadLlama2cTokenizer(trailing), trailing);
    assertFormatError(() => loadLlama2cTokenizer(TOK512, { vocab_size: 1_000_000_000 }), TOK512, /too short/);
    assertFormatError(() => loadLlama2cTokenizer(TOK512, { vocab_size: 100 }), TOK512, /unexpected bytes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every single-byte corruption of tok512.bin loads or gives FormatError (never a crash)', { skip }, () => {
  const good = readFileSync(TOK512);
  let errors = 0;
  for (let i = 0; i < good.length; i++) {
    const bad = Buffer.from(good);
    bad[i] ^= 0xa5;
    try {
      vocabFromLlama2cTokenizer(bad, 'x.bin');
    } catch (e) {
      assert.ok(e instanceof FormatError, `offset ${i}: ${String(e)}`);
      errors++;
    }
  }
  assert.ok(errors > 100, `${errors} corruptions detected`);
});
