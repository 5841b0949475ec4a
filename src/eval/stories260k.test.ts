/**
 * The eval code on the real stories260K model (../shared/data/models/stories260K): loglikelihood
 * against a plain forward pass, and small --limit slices of the tasks whose data is in
 * ../shared/data/eval. Skips (with the reason) when the shared data is absent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadEngine } from '../model/index.js';
import { hasSharedData, sharedData } from '../../test/paths.js';
import { evaluate } from './harness.js';
import { perplexity } from './perplexity.js';
import { EngineLM, logSoftmaxAt } from './requests.js';
import { harnessProfile } from './versions.js';
import { RequestCache } from './cache.js';
import { readFileSync } from 'node:fs';

const MODEL = sharedData('models', 'stories260K', 'stories260K.gguf');
const skip = hasSharedData('models', 'stories260K', 'stories260K.gguf') ? false : 'shared data: stories260K.gguf not found';

test('stories260K: loglikelihood = Σ log-softmax of a plain forward pass over the same tokens', { skip }, async () => {
  const engine = await loadEngine(MODEL);
  const V = engine.config.vocab_size;
  for (const addBos of [false, true] as const) {
    const lm = new EngineLM(engine, { addBos, prefixToken: 'bos', maxLength: 512, emptyContextReusesPrefix: false });
    const cases: [string, string][] = [
      ['Once upon a time, there was a little girl named', ' Lily'],
      ['Once upon a time, there was a little girl named', ' Tom and his dog'],
      ['The cat sat on the ', 'mat.'],
    ];
    for (const [ctx, cont] of cases) {
      const r = lm.loglikelihood(ctx, cont); // shares the KV cache with the previous case
      const pair = lm.encodePair(ctx, cont);
      const inp = [...pair.context, ...pair.continuation].slice(0, -1);
      const s = engine.createSession({ capacity: inp.length });
      const logits = s.forward(inp, { allLogits: true });
      let ref = 0;
      let greedy = true;
      pair.continuation.forEach((t, j) => {
        const row = inp.length - pair.continuation.length + j;
        const x = logSoftmaxAt(logits.subarray(row * V, (row + 1) * V), t);
        ref += x.logprob;
        greedy &&= x.greedy;
      });
      assert.ok(pair.continuation.length > 0);
      assert.ok(Math.abs(r.logprob - ref) < 1e-4, `${ctx}|${cont}: ${r.logprob} vs ${ref}`);
      assert.equal(r.is_greedy, greedy);
    }
  }
});

test('stories260K: a --limit 2 slice of every task with data in ../shared/data/eval runs and resumes from the cache', { skip: skip || (hasSharedData('eval') ? false : 'shared data: eval/ not found') }, async () => {
  const engine = await loadEngine(MODEL);
  const lm = new EngineLM(engine, { addBos: false, prefixToken: 'bos', maxLength: 512, emptyContextReusesPrefix: false });
  const cache = RequestCache.memory();
  const tasks = ['arc_easy', 'arc_challenge', 'hellaswag', 'winogrande', 'piqa', 'commonsense_qa', 'boolq', 'truthfulqa_mc1', 'truthfulqa_mc2', 'mmlu_abstract_algebra', 'mmlu_anatomy'];
  const opts = { tasks, lm, dataDirs: [sharedData('eval')], limit: 2, harness: harnessProfile('0.4.9.1'), cache };
  const out = await evaluate(opts);
  assert.equal(out.tasks.length, tasks.length);
  for (const t of out.tasks) {
    assert.equal(t.nEffective, 2, t.name);
    const acc = t.values['acc,none'];
    assert.ok(typeof acc === 'number' && acc >= 0 && acc <= 1, `${t.name} acc ${acc}`);
  }
  const again = await evaluate(opts);
  assert.equal(again.computed, 0);
  assert.deepEqual(again.tasks.map((t) => t.values), out.tasks.map((t) => t.values));
});

test('stories260K: llama.cpp-style perplexity on TinyStories text is low (the model was trained on it)', { skip: skip || (hasSharedData('corpora', 'tinystories', 'tinystories_val_subset.txt') ? false : 'shared data: tinystories not found') }, async () => {
  const engine = await loadEngine(MODEL);
  const text = readFileSync(sharedData('corpora', 'tinystories', 'tinystories_val_subset.txt'), 'utf8').slice(0, 6000);
  const r = perplexity(engine, text, { nCtx: 128, maxChunks: 4 });
  assert.equal(r.chunks, 4);
  assert.equal(r.scoredTokens, 4 * 63);
  assert.ok(Math.abs(Math.exp(r.nllPerToken) - r.ppl) < 1e-9);
  assert.ok(r.ppl > 1 && r.ppl < 30, `ppl ${r.ppl}`);
});
