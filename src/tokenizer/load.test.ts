import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../errors.js';
import { hasSharedData, sharedData } from '../../test/paths.js';
import { detectTokenizerFile, loadTokenizer } from './index.js';

const FILES = {
  gguf: ['tokenizers', 'llama.cpp-vocab', 'ggml-vocab-llama-spm.gguf'],
  model: ['tokenizers', 'llama2', 'tokenizer.model'],
  bin: ['models', 'stories260K', 'tok512.bin'],
  json: ['tokenizers', 'mistral', 'tokenizer.json'],
  modelV1: ['tokenizers', 'mistral', 'tokenizer.model.v1'],
} as const;
const missing = Object.values(FILES).filter((p) => !hasSharedData(...p));
const skip = missing.length > 0 ? `shared data absent: ${missing.map((p) => p.join('/')).join(', ')}` : false;

test('loadTokenizer picks the source by name and loads files and folders', { skip }, () => {
  const hello = 'Hello world';
  const llamaIds = [1, 15043, 3186];
  assert.deepEqual((loadTokenizer(sharedData(...FILES.gguf))).encode(hello), llamaIds);
  assert.deepEqual((loadTokenizer(sharedData(...FILES.model))).encode(hello), llamaIds);
  assert.deepEqual((loadTokenizer(sharedData('tokenizers', 'llama2'))).encode(hello), llamaIds, 'folder: tokenizer.model');
  const mistralJson = loadTokenizer(sharedData(...FILES.json));
  const mistralModel = loadTokenizer(sharedData(...FILES.modelV1));
  const mistralDir = loadTokenizer(sharedData('tokenizers', 'mistral'));
  assert.deepEqual(mistralJson.encode(hello), mistralModel.encode(hello));
  assert.deepEqual(mistralDir.encode(hello), mistralModel.encode(hello), 'folder: tokenizer.json');
  assert.equal((loadTokenizer(sharedData(...FILES.bin))).vocab_size, 512);
  assert.equal(detectTokenizerFile(sharedData(...FILES.modelV1)), 'sentencepiece');
});

test('files without a telling name are recognized by content', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'relufy-load-'));
  try {
    const expect = { gguf: 'gguf', model: 'sentencepiece', bin: 'llama2c', json: 'tokenizer.json' } as const;
    for (const [key, kind] of Object.entries(expect)) {
      const p = join(dir, `tok-${key}`);
      copyFileSync(sharedData(...FILES[key as keyof typeof expect]), p);
      assert.equal(detectTokenizerFile(p), kind, key);
      assert.ok((loadTokenizer(p)).vocab_size >= 512);
    }
    // The folder holds neither tokenizer.json nor tokenizer.model.
    assert.throws(() => loadTokenizer(dir), (e: unknown) => e instanceof FormatError && e.file === dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
