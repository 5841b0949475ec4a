import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GGMLType } from '../../src/formats/quant/index.js';
import { generate, KernelEngine, loadModel, saveGguf } from '../../src/model/index.js';
import { hasSharedData, sharedData } from '../paths.js';

/**
 * llama.cpp itself (through the optional peer package node-llama-cpp, prebuilt binaries from npm)
 * reads GGUF files written by relufy and decodes them like relufy does. Skipped, saying so, when the
 * package is not installed (`npm install --no-save node-llama-cpp`).
 */
/** The part of node-llama-cpp's API used here (typed locally: the package may be absent at type-check time). */
interface NodeLlamaCpp {
  LlamaLogLevel: { error: unknown };
  getLlama(o: object): Promise<{
    loadModel(o: { modelPath: string }): Promise<{
      createContext(o: object): Promise<{ getSequence(): { evaluate(t: number[], o: object): AsyncIterable<number> }; dispose(): Promise<void> }>;
      dispose(): Promise<void>;
    }>;
  }>;
}
let nlc: NodeLlamaCpp | null = null;
try {
  nlc = (await import('node-llama-cpp' as string)) as unknown as NodeLlamaCpp;
} catch {
  nlc = null;
}
const have = hasSharedData('models', 'stories260K', 'stories260K.bin');
const skip = !nlc ? 'node-llama-cpp is not installed (optional peer dependency)' : !have ? 'shared data missing' : false;

describe('llama.cpp reads GGUF files written by relufy', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'relufy-llamacpp-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const src = loadModel(sharedData('models', 'stories260K', 'stories260K.bin'));
  const prompt = 'Once upon a time';

  async function llamaCppGreedy(path: string, tokens: number[], n: number): Promise<number[]> {
    const llama = await nlc!.getLlama({ gpu: false, build: 'never', logLevel: nlc!.LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: path });
    const ctx = await model.createContext({ contextSize: 128, threads: 1 });
    const out: number[] = [];
    try {
      for await (const t of ctx.getSequence().evaluate(tokens, { temperature: 0 })) {
        out.push(t);
        if (out.length >= n) break;
      }
    } finally {
      await ctx.dispose();
      await model.dispose();
    }
    return out;
  }

  test('F32 llama2.c checkpoint written as GGUF: llama.cpp greedy tokens equal relufy greedy tokens', async () => {
    const p = join(dir, 'stories260K-f32.gguf');
    saveGguf(p, src, { name: 'stories260K' });
    const engine = new KernelEngine(loadModel(p));
    const ours = generate(engine, prompt, { temp: 0, n_predict: 24 });
    const theirs = await llamaCppGreedy(p, ours.prompt_tokens, 24);
    assert.deepEqual(theirs, ours.tokens);
  });

  test('Q8_0 file written by relufy loads in llama.cpp and agrees on most greedy tokens', async () => {
    const p = join(dir, 'stories260K-q8_0.gguf');
    // stories260K's rows (64, 172) are not all multiples of 32: those tensors stay F32, the rest become Q8_0.
    saveGguf(p, src, { weightType: GGMLType.Q8_0, name: 'stories260K q8_0' });
    const back = loadModel(p);
    assert.equal(back.tensors.get('blk.0.attn_q.weight')!.type, GGMLType.Q8_0);
    const ours = generate(new KernelEngine(back), prompt, { temp: 0, n_predict: 8 });
    const theirs = await llamaCppGreedy(p, ours.prompt_tokens, 8);
    assert.equal(theirs.length, 8);
    // llama.cpp also quantizes activations to 8 bits, so a tiny model may drift late; the first tokens agree.
    assert.deepEqual(theirs.slice(0, 4), ours.tokens.slice(0, 4));
  });
});
