/**
 * Bad input, crafted llama2.c checkpoints and tokenizer files (engine-spine issue): truncated or
 * impossible llama2.c headers, dimensions whose byte count overflows or exceeds the file, a
 * tokenizer that does not match the model's vocab size (stories260K.bin with llama2's 32000-token
 * tokenizer.bin), missing / unreadable / foreign tokenizers — all clean one-line errors naming the
 * file at fault, through `loadModel` and `loadTokenizer`.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadModel } from '../../src/model/index.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';
import { assertCleanError, everyCheck, unsoundLoadReason } from './harness.js';
import { GPT2_VOCAB_GGUF, LLAMA2_TOKENIZER_BIN, LLAMA2_TOKENIZER_MODEL, MISTRAL_TOKENIZER_JSON, STORIES_BIN, TOK512 } from './sources.js';

const dir = mkdtempSync(join(tmpdir(), 'relufy-bad-l2c-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const haveStories = existsSync(STORIES_BIN) && existsSync(TOK512);
const skipStories = haveStories ? false : 'shared data stories260K.bin / tok512.bin absent';

let n = 0;
/** Writes `bytes` as `<fresh folder>/<name>` (with tok512.bin beside it when `withTok`) and returns the path. */
function file(name: string, bytes: Uint8Array, withTok = false): string {
  const d = join(dir, `case-${n++}`);
  mkdirSync(d);
  if (withTok) copyFileSync(TOK512, join(d, 'tok512.bin'));
  const p = join(d, name);
  writeFileSync(p, bytes);
  return p;
}
/** The stories260K.bin header fields (7 int32) replaced by `fields`, body unchanged. */
function withHeader(fields: Partial<Record<0 | 1 | 2 | 3 | 4 | 5 | 6, number>>): Uint8Array {
  const b = new Uint8Array(readFileSync(STORIES_BIN));
  const dv = new DataView(b.buffer);
  for (const [i, v] of Object.entries(fields)) dv.setInt32(4 * Number(i), v!, true);
  return b;
}

describe('bad input: crafted llama2.c checkpoints', { skip: skipStories }, () => {
  test('stories260K.bin with tok512.bin beside it loads and runs (baseline)', () => {
    const p = file('stories260K.bin', readFileSync(STORIES_BIN), true);
    const m = loadModel(p);
    assert.equal(m.tokenizer?.vocab_size, 512);
    assert.equal(unsoundLoadReason(m), null);
  });

  test('tokenizer that does not match the vocab size: stories260K.bin + llama2 tokenizer.bin (32000 vs 512)', { skip: !existsSync(LLAMA2_TOKENIZER_BIN) }, async () => {
    await assertCleanError(
      () => loadModel(STORIES_BIN, { tokenizer: LLAMA2_TOKENIZER_BIN }),
      LLAMA2_TOKENIZER_BIN,
      /tokenizer has 32000 tokens but the model's vocab_size is 512/,
    );
    // the same tokenizer found beside the checkpoint
    const p = file('stories260K.bin', readFileSync(STORIES_BIN));
    copyFileSync(LLAMA2_TOKENIZER_BIN, join(p, '..', 'tokenizer.bin'));
    await assertCleanError(() => loadModel(p, { tokenizer: join(p, '..', 'tokenizer.bin') }), join(p, '..', 'tokenizer.bin'), /32000 tokens .* 512/);
  });

  test('truncated or extended checkpoint', async () => {
    const b = readFileSync(STORIES_BIN);
    for (const len of [0, 3, 27, 28, 29, 1000, b.length - 4, b.length - 1]) {
      const p = file('m.bin', b.subarray(0, len), true);
      await assertCleanError(() => loadModel(p), p, /shorter than the 28-byte|expected \d+ bytes/);
    }
    const longer = new Uint8Array(b.length + 4);
    longer.set(b);
    const p = file('m.bin', longer, true);
    await assertCleanError(() => loadModel(p), p, /expected 1056540 bytes .* got 1056544/);
  });

  test('header fields zero, negative, too large, or inconsistent', async () => {
    const cases: [Partial<Record<0 | 1 | 2 | 3 | 4 | 5 | 6, number>>, RegExp][] = [
      [{ 0: 0 }, /dim = 0 is out of range/],
      [{ 1: -172 }, /hidden_dim = -172 is out of range/],
      [{ 2: 0x7fffffff }, /n_layers = 2147483647 is out of range/],
      [{ 5: -0x80000000 }, /vocab_size = -2147483648 is out of range/],
      [{ 3: 7 }, /dim \(64\) is not a multiple of n_heads \(7\)/],
      [{ 4: 3 }, /n_heads \(8\) is not a multiple of n_kv_heads \(3\)/],
      [{ 0: 72, 3: 8 }, /head size .* must be even|expected \d+ bytes/],
      [{ 5: -512 }, /expected \d+ bytes .*separate classifier/],
    ];
    for (const [fields, problem] of cases) {
      const p = file('m.bin', withHeader(fields), true);
      await assertCleanError(() => loadModel(p), p, problem);
    }
  });

  test('dimensions whose byte count overflows or far exceeds the file are refused before allocating', async () => {
    const max = 1 << 24;
    for (const fields of [{ 0: max, 1: max, 2: max, 3: 1 << 8, 4: 1 << 8, 5: max, 6: max }, { 1: max, 2: max }, { 5: -max, 6: max }]) {
      const p = file('m.bin', withHeader(fields), true);
      const ab0 = process.memoryUsage().arrayBuffers;
      await assertCleanError(() => loadModel(p), p, /expected .* bytes/);
      assert.ok(process.memoryUsage().arrayBuffers - ab0 < 64 << 20, 'allocated more than 64 MiB');
    }
  });

  test('versioned llama2.c export (magic ak42) and other files named .bin', async () => {
    const b = withHeader({ 0: 0x616b3432, 1: 2 });
    const p = file('m.bin', b, true);
    await assertCleanError(() => loadModel(p), p, /versioned export/);
    const rnd = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
    const q = file('r.bin', rnd, true);
    await assertCleanError(() => loadModel(q), q, /out of range|not a multiple|expected/);
  });

  test('no tokenizer beside the checkpoint, or several', async () => {
    const p = file('stories260K.bin', readFileSync(STORIES_BIN));
    await assertCleanError(() => loadModel(p), p, /carries no tokenizer/);
    copyFileSync(TOK512, join(p, '..', 'tok512.bin'));
    copyFileSync(TOK512, join(p, '..', 'tok512b.bin'));
    await assertCleanError(() => loadModel(p), p, /several tokenizers/);
  });

  test('--tokenizer that does not exist, is a folder without a tokenizer, or is not a tokenizer', async () => {
    const missing = join(dir, 'no-such-tokenizer.bin');
    const emptyDir = join(dir, `empty-${n++}`);
    mkdirSync(emptyDir);
    await everyCheck({
      'missing file': () => assertCleanError(() => loadModel(STORIES_BIN, { tokenizer: missing }), missing),
      'missing file (loadTokenizer)': () => assertCleanError(() => loadTokenizer(missing), missing),
      'folder without tokenizer': () => assertCleanError(() => loadModel(STORIES_BIN, { tokenizer: emptyDir }), emptyDir, /no tokenizer/),
      'the checkpoint itself': () => assertCleanError(() => loadModel(STORIES_BIN, { tokenizer: STORIES_BIN }), STORIES_BIN),
      'GPT-2 (byte-level BPE) vocab GGUF': async () => {
        if (!existsSync(GPT2_VOCAB_GGUF)) return;
        await assertCleanError(() => loadModel(STORIES_BIN, { tokenizer: GPT2_VOCAB_GGUF }), GPT2_VOCAB_GGUF, /unsupported tokenizer model gpt2/);
      },
    });
  });
});

describe('bad input: crafted tokenizer files', () => {
  test('llama2.c tokenizer: truncated, trailing bytes, implausible lengths', { skip: skipStories }, async () => {
    const tok = readFileSync(TOK512);
    const dv = new DataView(tok.buffer, tok.byteOffset);
    const cases: [Uint8Array, RegExp][] = [
      [tok.subarray(0, 0), /too short/],
      [tok.subarray(0, 3), /too short/],
      [tok.subarray(0, 10), /truncated/],
      [tok.subarray(0, tok.length - 1), /truncated/],
      [new Uint8Array([...tok, 0]), /truncated|unexpected bytes|tokenizer has 513/],
    ];
    const maxLen = new Uint8Array(tok);
    new DataView(maxLen.buffer).setInt32(0, 0x7fffffff, true);
    cases.push([maxLen, /max_token_length/]);
    const len0 = new Uint8Array(tok);
    new DataView(len0.buffer).setInt32(8, -5, true);
    cases.push([len0, /length -5/]);
    const nan = new Uint8Array(tok);
    new DataView(nan.buffer).setUint32(4, 0x7fc00000, true);
    cases.push([nan, /non-finite score/]);
    assert.ok(dv.getInt32(0, true) > 0);
    for (const [bytes, problem] of cases) {
      const p = file('tok.bin', bytes);
      await assertCleanError(() => loadModel(STORIES_BIN, { tokenizer: p }), p, problem);
      await assertCleanError(() => loadTokenizer(p), p, /./);
    }
  });

  test('SentencePiece tokenizer.model: not protobuf, truncated, empty', { skip: !existsSync(LLAMA2_TOKENIZER_MODEL) }, async () => {
    const b = readFileSync(LLAMA2_TOKENIZER_MODEL);
    for (const bytes of [new Uint8Array(0), b.subarray(0, 1000), new Uint8Array(64).fill(0xff), new TextEncoder().encode('{"not": "protobuf"}')]) {
      const p = file('tokenizer.model', bytes);
      await assertCleanError(() => loadTokenizer(p), p, /SentencePiece/);
    }
  });

  test('tokenizer.json: invalid JSON (one line), unsupported model types, broken tokenizer_config.json', { skip: !existsSync(MISTRAL_TOKENIZER_JSON) }, async () => {
    const text = readFileSync(MISTRAL_TOKENIZER_JSON, 'utf8');
    const json = JSON.parse(text) as { model: Record<string, unknown>; pre_tokenizer: unknown; decoder: unknown };
    const variant = (edit: (j: typeof json) => void): string => {
      const j = structuredClone(json);
      edit(j);
      return JSON.stringify(j);
    };
    await everyCheck({
      'invalid JSON, V8 quotes the text around the error': async () => {
        const p = file('tokenizer.json', new TextEncoder().encode(text.replace('"normalized": false', '"normalized": falsg')));
        await assertCleanError(() => loadTokenizer(p), p, /JSON/);
      },
      'WordPiece model': async () => {
        const p = file('tokenizer.json', new TextEncoder().encode(variant((j) => (j.model.type = 'WordPiece'))));
        await assertCleanError(() => loadTokenizer(p), p, /unsupported tokenizer model type "WordPiece"/);
      },
      'byte-level BPE': async () => {
        const p = file('tokenizer.json', new TextEncoder().encode(variant((j) => ((j.pre_tokenizer = { type: 'ByteLevel' }), (j.decoder = { type: 'ByteLevel' })))));
        await assertCleanError(() => loadTokenizer(p), p, /byte-level/);
      },
      'vocab not an object': async () => {
        const p = file('tokenizer.json', new TextEncoder().encode(variant((j) => (j.model.vocab = [1, 2]))));
        await assertCleanError(() => loadTokenizer(p), p, /model\.vocab/);
      },
      'tokenizer_config.json beside it is not JSON': async () => {
        const p = file('tokenizer.json', new TextEncoder().encode(text));
        const cfg = join(p, '..', 'tokenizer_config.json');
        writeFileSync(cfg, '{"add_bos_token": tru}');
        await assertCleanError(() => loadTokenizer(p), cfg, /JSON/);
      },
      'tokenizer_config.json names a token not in the vocab': async () => {
        const p = file('tokenizer.json', new TextEncoder().encode(text));
        const cfg = join(p, '..', 'tokenizer_config.json');
        writeFileSync(cfg, '{"bos_token": "<|begin_of_text|>"}');
        await assertCleanError(() => loadTokenizer(p), cfg, /bos_token/);
      },
    });
  });
});
