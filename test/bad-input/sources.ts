/**
 * The valid files the mutation test starts from, how each mutant is loaded through the public
 * loaders, and which path its errors must name.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync as readBuffer, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeHfFolder } from '../../src/formats/hf/index.js';
import { GGMLType } from '../../src/formats/quant/index.js';
import { loadModel, saveGguf } from '../../src/model/index.js';
import type { LoadedModel } from '../../src/model/types.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { tinyModel } from '../fixtures/tiny-model.js';
import { sharedData } from '../paths.js';
import { ggufLayout } from './harness.js';
import type { Field, MutationCounts } from './mutants.js';

export const STORIES_GGUF = sharedData('models', 'stories260K', 'stories260K.gguf');
export const STORIES_BIN = sharedData('models', 'stories260K', 'stories260K.bin');
export const TOK512 = sharedData('models', 'stories260K', 'tok512.bin');
export const LLAMA2_TOKENIZER_MODEL = sharedData('tokenizers', 'llama2', 'tokenizer.model');
export const LLAMA2_TOKENIZER_BIN = sharedData('tokenizers', 'llama2', 'tokenizer.bin');
export const MISTRAL_TOKENIZER_JSON = sharedData('tokenizers', 'mistral', 'tokenizer.json');
export const GPT2_VOCAB_GGUF = sharedData('tokenizers', 'llama.cpp-vocab', 'ggml-vocab-gpt-2.gguf');

export type Loaded = { kind: 'model'; model: LoadedModel } | { kind: 'tokenizer'; tokenizer: Tokenizer };

export interface MutationSource {
  id: string;
  /** The valid file that is mutated. */
  original: Uint8Array;
  /** Bytes [0, headerEnd) are header / structure. */
  headerEnd: number;
  /** JSON text: also try structural-character edits. */
  text: boolean;
  counts: MutationCounts;
  /** Structural integer fields for targeted edits. */
  fields?: Field[];
  /** Where each mutant is written (overwritten case after case). */
  mutantPath: string;
  /** Every error must start with this path. */
  prefix: string;
  /** Loads the mutant through the public loader. */
  load(): Promise<Loaded>;
}

/** Shared-data files every source needs, for skipping when absent. */
export const SOURCE_NEEDS: Record<string, string[]> = {
  'gguf stories260K': [STORIES_GGUF],
  'gguf tiny Q8_0 (bamboo, dReLU)': [],
  'llama2.c stories260K.bin (tok512.bin beside it)': [STORIES_BIN, TOK512],
  'llama2.c tok512.bin (as --tokenizer of stories260K.bin)': [STORIES_BIN, TOK512],
  'SentencePiece llama2 tokenizer.model': [LLAMA2_TOKENIZER_MODEL],
  'HF folder model.safetensors (tiny ReGLU)': [],
  'HF folder config.json (tiny ReGLU)': [],
};
export const SOURCE_IDS = Object.keys(SOURCE_NEEDS);

/** The file's bytes as a plain Uint8Array (Buffer#slice would share memory). */
const readFileSync = (path: string): Uint8Array => new Uint8Array(readBuffer(path));

const asModel = async (m: LoadedModel | Promise<LoadedModel>): Promise<Loaded> => ({ kind: 'model', model: await m });
const asTokenizer = async (t: Tokenizer | Promise<Tokenizer>): Promise<Loaded> => ({ kind: 'tokenizer', tokenizer: await t });

/** Counts, lengths, value types, scalar values, array headers, dims, tensor types and offsets of a GGUF header. */
function ggufFields(b: Uint8Array): Field[] {
  const l = ggufLayout(b);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const f: Field[] = [[l.nTensorsAt, 8], [l.nKvAt, 8]];
  for (const kv of l.kvs) {
    f.push([kv.at, 8], [kv.typeAt, 4]);
    if (kv.type === 9) f.push([kv.valueAt, 4], [kv.valueAt + 4, 8]);
    else if (kv.type === 8) f.push([kv.valueAt, 8]);
    else if (kv.type === 4 || kv.type === 5 || kv.type === 6) f.push([kv.valueAt, 4]);
    else if (kv.type === 10 || kv.type === 11 || kv.type === 12) f.push([kv.valueAt, 8]);
    if (kv.type === 9 && dv.getUint32(kv.valueAt, true) === 8) {
      // the first few string lengths of a string array (token pieces)
      let p = kv.valueAt + 12;
      for (let i = 0; i < 4; i++) {
        f.push([p, 8]);
        p += 8 + Number(dv.getBigUint64(p, true));
      }
    }
  }
  for (const t of l.tensors) {
    f.push([t.at, 8], [t.nDimsAt, 4], [t.typeAt, 4], [t.offsetAt, 8]);
    for (const d of t.dimsAt) f.push([d, 8]);
  }
  return f;
}

/** The 7 int32 header fields, then the score and length of the first tokens of a llama2.c tokenizer. */
function llama2cTokenizerFields(b: Uint8Array): Field[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const f: Field[] = [[0, 4]];
  let p = 4;
  for (let i = 0; i < 600 && p + 8 <= b.length; i++) {
    f.push([p, 4], [p + 4, 4]);
    p += 8 + dv.getInt32(p + 4, true);
  }
  return f;
}

function safetensorsHeaderEnd(b: Uint8Array): number {
  return 8 + Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
}

/** Builds source `id` in `dir` (its own sub-folder). */
export function makeSource(id: string, dir: string): MutationSource {
  const sub = join(dir, id.replace(/[^a-zA-Z0-9.]+/g, '-'));
  mkdirSync(sub, { recursive: true });
  switch (id) {
    case 'gguf stories260K': {
      const original = readFileSync(STORIES_GGUF);
      const mutantPath = join(sub, 'stories260K.gguf');
      return {
        id, original, headerEnd: ggufLayout(original).headerEnd, text: false,
        counts: { truncEvery: 256, truncHeader: 100, truncFile: 100, edits: 200, fieldEdits: 200 },
        fields: ggufFields(original),
        mutantPath, prefix: mutantPath,
        load: () => asModel(loadModel(mutantPath)),
      };
    }
    case 'gguf tiny Q8_0 (bamboo, dReLU)': {
      const orig = join(sub, 'orig.gguf');
      saveGguf(orig, tinyModel({ activation: 'drelu', seed: 11 }), { weightType: GGMLType.Q8_0 });
      const original = readFileSync(orig);
      const mutantPath = join(sub, 'tiny-q8.gguf');
      return {
        id, original, headerEnd: ggufLayout(original).headerEnd, text: false,
        counts: { truncEvery: 512, truncHeader: 100, truncFile: 100, edits: 300, fieldEdits: 250 },
        fields: ggufFields(original),
        mutantPath, prefix: mutantPath,
        load: () => asModel(loadModel(mutantPath)),
      };
    }
    case 'llama2.c stories260K.bin (tok512.bin beside it)': {
      copyFileSync(TOK512, join(sub, 'tok512.bin'));
      const mutantPath = join(sub, 'stories260K.bin');
      return {
        id, original: readFileSync(STORIES_BIN), headerEnd: 28, text: false,
        counts: { truncEvery: 64, truncHeader: 0, truncFile: 100, edits: 200, fieldEdits: 60 },
        fields: [0, 4, 8, 12, 16, 20, 24].map((at): Field => [at, 4]),
        mutantPath, prefix: mutantPath,
        load: () => asModel(loadModel(mutantPath)),
      };
    }
    case 'llama2.c tok512.bin (as --tokenizer of stories260K.bin)': {
      const original = readFileSync(TOK512);
      const mutantPath = join(sub, 'tok512.bin');
      return {
        id, original, headerEnd: original.length, text: false,
        counts: { truncEvery: 32, truncHeader: 0, truncFile: 100, edits: 250, fieldEdits: 150 },
        fields: llama2cTokenizerFields(original),
        mutantPath, prefix: mutantPath,
        load: () => asModel(loadModel(STORIES_BIN, { tokenizer: mutantPath })),
      };
    }
    case 'SentencePiece llama2 tokenizer.model': {
      const original = readFileSync(LLAMA2_TOKENIZER_MODEL);
      const mutantPath = join(sub, 'tokenizer.model');
      return {
        id, original, headerEnd: original.length, text: false,
        counts: { truncEvery: 8, truncHeader: 0, truncFile: 20, edits: 40 },
        mutantPath, prefix: mutantPath,
        load: () => asTokenizer(loadTokenizer(mutantPath)),
      };
    }
    case 'HF folder model.safetensors (tiny ReGLU)':
    case 'HF folder config.json (tiny ReGLU)': {
      const folder = join(sub, 'hf');
      if (!existsSync(join(folder, 'config.json'))) writeHfFolder(folder, tinyModel({ activation: 'reglu', seed: 12 }));
      const isConfig = id.includes('config.json');
      const mutantPath = join(folder, isConfig ? 'config.json' : 'model.safetensors');
      const original = readFileSync(mutantPath);
      return {
        id, original, headerEnd: isConfig ? original.length : safetensorsHeaderEnd(original), text: isConfig,
        counts: isConfig ? { truncEvery: original.length, truncHeader: 0, truncFile: 0, edits: 400 } : { truncEvery: 512, truncHeader: 100, truncFile: 100, edits: 400, fieldEdits: 30 },
        fields: isConfig ? [] : [[0, 8]],
        mutantPath, prefix: folder,
        load: () => asModel(loadModel(folder)),
      };
    }
    default:
      throw new Error(`unknown mutation source ${id}`);
  }
}

/** Writes `bytes` as the source's mutant. */
export function writeMutant(src: MutationSource, bytes: Uint8Array): void {
  writeFileSync(src.mutantPath, bytes);
}
