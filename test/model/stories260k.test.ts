import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { argmax, generate, loadEngine, type Engine } from '../../src/model/index.js';
import { hasSharedData, sharedData } from '../paths.js';

interface RefCase {
  prompt: string;
  prompt_tokens: number[];
  steps: number;
  tokens: number[];
  text: string;
  logits_first3_positions: number[][];
}

const available = hasSharedData('models', 'stories260K', 'reference_greedy.json');
const ref = available
  ? (JSON.parse(readFileSync(sharedData('models', 'stories260K', 'reference_greedy.json'), 'utf8')) as { cases: RefCase[] })
  : { cases: [] };

const files = [
  ['gguf', sharedData('models', 'stories260K', 'stories260K.gguf')],
  ['llama2c', sharedData('models', 'stories260K', 'stories260K.bin')],
] as const;

for (const [kind, file] of files) {
  describe(`stories260K ${kind} against reference_greedy.json (ref backend)`, { skip: !available && 'shared data missing' }, () => {
    let engine: Engine;

    test('loads', async () => {
      engine = await loadEngine(file, { backend: 'ref' });
      assert.equal(engine.config.hidden_size, 64);
      assert.equal(engine.config.num_key_value_heads, 4);
      assert.equal(engine.config.ffn_activation, 'swiglu');
    });

    for (const c of ref.cases) {
      test(`prompt ${JSON.stringify(c.prompt)}: prompt tokens, logits at positions 0-2 within 1e-4`, () => {
        assert.deepEqual(engine.tokenizer.encode(c.prompt, { add_bos: true }), c.prompt_tokens);
        const s = engine.createSession({ capacity: 16 });
        const logits = s.forward(c.tokens.slice(0, 3), { allLogits: true });
        const V = engine.config.vocab_size;
        let maxErr = 0;
        for (let p = 0; p < 3; p++) {
          const want = c.logits_first3_positions[p]!;
          assert.equal(want.length, V);
          for (let i = 0; i < V; i++) maxErr = Math.max(maxErr, Math.abs(logits[p * V + i]! - want[i]!));
        }
        assert.ok(maxErr <= 1e-4, `max abs logit error ${maxErr}`);
      });

      test(`prompt ${JSON.stringify(c.prompt)}: greedy tokens and text identical`, () => {
        const n = c.tokens.length - c.prompt_tokens.length;
        const r = generate(engine, c.prompt, { temp: 0, n_predict: n, add_bos: true, n_ctx: c.steps + 1 });
        assert.deepEqual([...r.prompt_tokens, ...r.tokens], c.tokens);
        assert.equal(c.prompt + r.text, c.text.startsWith(c.prompt) ? c.text : c.prompt + c.text);
      });
    }

    test('prefill as a batch equals token-by-token decoding', () => {
      const toks = ref.cases[2]!.tokens.slice(0, 12);
      const a = engine.createSession({ capacity: 16 });
      const batch = a.forward(toks, { allLogits: true });
      const b = engine.createSession({ capacity: 16 });
      const V = engine.config.vocab_size;
      for (let t = 0; t < toks.length; t++) {
        const one = b.forward([toks[t]!]);
        for (let i = 0; i < V; i++) assert.ok(Math.abs(one[i]! - batch[t * V + i]!) < 1e-5);
        assert.equal(argmax(one), argmax(batch.subarray(t * V, (t + 1) * V)));
      }
    });
  });
}
