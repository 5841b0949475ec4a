import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RelufyError } from '../errors.js';
import { hasSharedData, sharedData } from '../../test/paths.js';
import { loadSentencePieceModel, tokenizerFromVocab, TokenType, type SpmVocab, type Tokenizer } from './index.js';

const S = '\u2581';

/** A small vocab: <unk> <s> </s>, optional 256 byte tokens, then the given [piece, score, type?]. */
function makeVocab(pieces: [string, number, TokenType?][], opts: { bytes?: boolean; unk?: boolean } = {}): SpmVocab {
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  const scores: number[] = [0, 0, 0];
  const types: TokenType[] = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL];
  if (opts.bytes ?? true) {
    for (let b = 0; b < 256; b++) {
      tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      scores.push(0);
      types.push(TokenType.BYTE);
    }
  }
  for (const [p, s, t] of pieces) {
    tokens.push(p);
    scores.push(s);
    types.push(t ?? TokenType.NORMAL);
  }
  return {
    tokens,
    scores: Float32Array.from(scores),
    types,
    bos_token_id: 1,
    eos_token_id: 2,
    unk_token_id: (opts.unk ?? true) ? 0 : null,
    pad_token_id: null,
    add_bos_token: true,
    add_eos_token: false,
    add_space_prefix: true,
  };
}

/** Encodes without BOS and returns the pieces, for readable assertions. */
function pieces(tok: Tokenizer, text: string, parse_special = false): string[] {
  return tok.encode(text, { add_bos: false, parse_special }).map((id) => tok.vocab.tokens[id]!);
}

const BASE: [string, number][] = [
  [S, -10], ['a', -11], ['b', -12], ['c', -13], ['x', -14], ['y', -15], ['z', -16],
  [S + 'a', -1], ['ab', -2], ['bc', -2], [S + 'ab', -3],
];

test('merges the highest-scoring pair first', () => {
  const tok = tokenizerFromVocab(makeVocab(BASE));
  // ▁a (-1) beats ab (-2); then ▁a+b = ▁ab (-3).
  assert.deepEqual(pieces(tok, 'ab'), [S + 'ab']);
  // ▁a, then b+c = bc; ▁a+bc is no piece.
  assert.deepEqual(pieces(tok, 'abc'), [S + 'a', 'bc']);
});

test('equal scores: the leftmost pair merges first', () => {
  const tok = tokenizerFromVocab({ ...makeVocab(BASE), add_space_prefix: false });
  // ab and bc both score -2: ab (left) wins, leaving c.
  assert.deepEqual(pieces(tok, 'abc'), ['ab', 'c']);
  const v = makeVocab(BASE.map(([p, s]) => [p, p === 'bc' ? -1.5 : s] as [string, number]));
  assert.deepEqual(pieces(tokenizerFromVocab({ ...v, add_space_prefix: false }), 'abc'), ['a', 'bc']);
});

test('dummy prefix and spaces become U+2581', () => {
  const tok = tokenizerFromVocab(makeVocab(BASE));
  assert.deepEqual(pieces(tok, 'a a'), [S + 'a', S + 'a']);
  assert.deepEqual(pieces(tok, ' a'), [S, S + 'a']);
  const noPrefix = tokenizerFromVocab({ ...makeVocab(BASE), add_space_prefix: false });
  assert.deepEqual(pieces(noPrefix, 'a a'), ['a', S + 'a']);
});

test('unknown characters fall back to byte tokens, else UNK, else an error', () => {
  const tok = tokenizerFromVocab(makeVocab(BASE));
  assert.deepEqual(pieces(tok, 'aé'), [S + 'a', '<0xC3>', '<0xA9>']);
  assert.deepEqual(pieces(tok, '😀'), [S, '<0xF0>', '<0x9F>', '<0x98>', '<0x80>']);
  const noBytes = tokenizerFromVocab(makeVocab(BASE, { bytes: false }));
  assert.deepEqual(pieces(noBytes, 'aéé'), [S + 'a', '<unk>', '<unk>']);
  const nothing = tokenizerFromVocab(makeVocab(BASE, { bytes: false, unk: false }));
  assert.throws(() => nothing.encode('é'), (e: unknown) => e instanceof RelufyError && /U\+00E9/.test(e.message));
});

test('BOS/EOS follow the options, then the vocab defaults', () => {
  const v = makeVocab(BASE);
  const tok = tokenizerFromVocab(v);
  const a = v.tokens.indexOf(S + 'a');
  assert.deepEqual(tok.encode('a'), [1, a]);
  assert.deepEqual(tok.encode('a', { add_bos: false, add_eos: true }), [a, 2]);
  assert.deepEqual(tok.encode(''), [1]);
  assert.deepEqual(tok.encode('', { add_bos: false }), []);
  assert.deepEqual(tokenizerFromVocab({ ...v, add_eos_token: true }).encode('a'), [1, a, 2]);
  assert.throws(() => tokenizerFromVocab({ ...v, bos_token_id: null }).encode('a'), RelufyError);
});

test('control/unknown text is only parsed with parse_special; a dummy prefix follows it', () => {
  const v = makeVocab([...BASE, ['<', -20], ['s', -21], ['>', -22]]);
  const tok = tokenizerFromVocab(v);
  assert.deepEqual(pieces(tok, 'a<s>a'), [S + 'a', '<', 's', '>', 'a']);
  assert.deepEqual(pieces(tok, 'a<s>a', true), [S + 'a', '<s>', S + 'a']);
  assert.deepEqual(pieces(tok, '<unk></s>', true), ['<unk>', '</s>']);
});

test('user-defined pieces are always matched whole, longest first', () => {
  const v = makeVocab([...BASE, ['<u>', 0, TokenType.USER_DEFINED], ['<u><u>', 0, TokenType.USER_DEFINED], ['<', -20], ['u', -21], ['>', -22]]);
  const tok = tokenizerFromVocab(v);
  assert.deepEqual(pieces(tok, 'a<u>a'), [S + 'a', '<u>', S + 'a']);
  assert.deepEqual(pieces(tok, '<u><u><u>'), ['<u><u>', '<u>']);
});

test('merges never form CONTROL/BYTE pieces; a merged UNUSED piece is split back', () => {
  const v = makeVocab([...BASE, ['<', -20], ['s', -21], ['>', -22], ['<s', -1], ['xy', -1, TokenType.UNUSED], ['xyz', -2]]);
  const tok = tokenizerFromVocab({ ...v, add_space_prefix: false });
  // '<s' + '>' would spell the CONTROL piece <s>: not merged.
  assert.deepEqual(pieces(tok, '<s>'), ['<s', '>']);
  assert.deepEqual(pieces(tok, 'xy'), ['x', 'y']);
  assert.deepEqual(pieces(tok, 'xyz'), ['xyz']);
});

/** The merge rule spelled out naively (O(n^2) rescans), as a reference for the heap/chunk/memo encoder. */
function naiveEncoder(v: SpmVocab): (text: string) => number[] {
  const mergeable = new Map<string, number>();
  const any = new Map<string, number>();
  v.tokens.forEach((t, id) => {
    if (!any.has(t)) any.set(t, id);
    const ty = v.types[id];
    if (ty !== TokenType.CONTROL && ty !== TokenType.UNKNOWN && ty !== TokenType.BYTE && !mergeable.has(t)) mergeable.set(t, id);
  });
  return (text) => {
    const sym = [...((v.add_space_prefix ? ' ' : '') + text).replaceAll(' ', S)];
    for (;;) {
      let best = -1;
      let bestScore = -Infinity;
      for (let i = 0; i + 1 < sym.length; i++) {
        const id = mergeable.get(sym[i]! + sym[i + 1]!);
        if (id !== undefined && v.scores[id]! > bestScore) {
          best = i;
          bestScore = v.scores[id]!;
        }
      }
      if (best < 0) break;
      sym.splice(best, 2, sym[best]! + sym[best + 1]!);
    }
    return sym.flatMap((p) => {
      const id = any.get(p);
      if (id !== undefined) return [id];
      return [...Buffer.from(p, 'utf8')].map((b) => any.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!);
    });
  };
}

test('agrees with a naive reference encoder on random texts (Llama 2 vocab)', { skip: !hasSharedData('tokenizers', 'llama2', 'tokenizer.model') && 'Llama 2 tokenizer.model absent' }, () => {
  const tok = loadSentencePieceModel(sharedData('tokenizers', 'llama2', 'tokenizer.model'));
  const naive = naiveEncoder(tok.vocab);
  const alphabet = [...'aeiou tnrslhdm  \n\n\t.,!?\'"-0123456789ABCZ', 'é', 'ß', 'ñ', '—', '😀', '🇺🇸', '世', '界', 'ü', 'Ω', '\u00a0', '▁'];
  const words = ['the ', 'and ', 'Hello', ' world', 'ing', 'tion', '  ', '\n\n', 'http://', 'x=1;', 'ünïcödé', '日本語'];
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let k = 0; k < 300; k++) {
    let text = '';
    const n = 1 + rand(60);
    for (let i = 0; i < n; i++) text += rand(3) === 0 ? words[rand(words.length)] : alphabet[rand(alphabet.length)];
    assert.deepEqual(tok.encode(text, { add_bos: false }), naive(text), JSON.stringify(text));
  }
});

test('long text (~100 KB) encodes quickly and round-trips', { skip: !hasSharedData('tokenizers', 'llama2', 'tokenizer.model') && 'Llama 2 tokenizer.model absent' }, () => {
  const tok = loadSentencePieceModel(sharedData('tokenizers', 'llama2', 'tokenizer.model'));
  const base = hasSharedData('corpora', 'tinyshakespeare', 'input.txt')
    ? readFileSync(sharedData('corpora', 'tinyshakespeare', 'input.txt'), 'utf8').slice(0, 100_000)
    : 'The quick brown fox jumps over the lazy dog. '.repeat(2300);
  for (const text of [base, ' '.repeat(100_000), 'a'.repeat(100_000)]) {
    const t0 = performance.now();
    const ids = tok.encode(text, { add_bos: false });
    const ms = performance.now() - t0;
    // An O(n^2) rescan takes minutes here; the heap-based encoder takes well under a second.
    assert.ok(ms < 5000, `encoding ${text.length} chars took ${ms.toFixed(0)} ms`);
    assert.equal(tok.decode(ids), text);
  }
});
