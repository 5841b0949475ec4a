import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineLM, logSoftmaxAt, type LMSettings } from './requests.js';
import { ToyEngine } from './testing.js';

const V04: LMSettings = { addBos: false, prefixToken: 'bos', maxLength: 256, emptyContextReusesPrefix: false };

/** Reference: one plain forward pass over `inp` in a fresh session, summing log-softmax of `targets` at the last positions. */
function plainScore(engine: ToyEngine, inp: number[], targets: number[]): { logprob: number; greedy: boolean } {
  const s = engine.createSession({ capacity: inp.length });
  const logits = s.forward(inp, { allLogits: true });
  const V = engine.config.vocab_size;
  let logprob = 0;
  let greedy = true;
  targets.forEach((t, j) => {
    const row = inp.length - targets.length + j;
    const r = logSoftmaxAt(logits.subarray(row * V, (row + 1) * V), t);
    logprob += r.logprob;
    greedy &&= r.greedy;
  });
  return { logprob, greedy };
}

test('encodePair moves trailing whitespace to the continuation and splits the whole encoding', () => {
  const e = new ToyEngine();
  const lm = new EngineLM(e, V04);
  const pair = lm.encodePair('Question: why?\nAnswer: ', 'A');
  assert.deepEqual(pair.context, e.tokenizer.encode('Question: why?\nAnswer:', { add_bos: false }));
  const whole = e.tokenizer.encode('Question: why?\nAnswer: A', { add_bos: false });
  assert.deepEqual(pair.continuation, whole.slice(pair.context.length));
  assert.equal(e.tokenizer.decode(pair.continuation), 'A'); // decode drops the leading space of the first piece
  assert.equal(e.tokenizer.vocab.tokens[pair.continuation[0]!], '\u2581A');
});

test('BOS: off for v0.4.x ≤ 0.4.9.1, the tokenizer default for ≥ 0.4.9.2, no double BOS', () => {
  const e = new ToyEngine();
  assert.equal(new EngineLM(e, V04).encode('hi')[0] === 1, false);
  const tokDefault = new EngineLM(e, { ...V04, addBos: 'tokenizer' });
  assert.equal(tokDefault.encode('hi')[0], 1);
  assert.equal(tokDefault.encode('<s>hi').filter((t) => t === 1).length, 0); // text already starts with the BOS text
});

test('loglikelihood equals the summed log-softmax of a plain forward pass over the same tokens', () => {
  const e = new ToyEngine();
  for (const settings of [V04, { ...V04, addBos: true }]) {
    const lm = new EngineLM(e, settings);
    const ctx = 'Question: Which is the best?\nAnswer:';
    const pair = lm.encodePair(ctx, ' the yes');
    const r = lm.loglikelihood(ctx, ' the yes');
    const inp = [...pair.context, ...pair.continuation].slice(0, -1);
    const ref = plainScore(e, inp, pair.continuation);
    assert.ok(Math.abs(r.logprob - ref.logprob) < 1e-9, `${r.logprob} vs ${ref.logprob}`);
    assert.equal(r.is_greedy, ref.greedy);
  }
});

test('KV reuse across choices and docs gives identical scores with fewer tokens run', () => {
  const e = new ToyEngine();
  const shared = new EngineLM(e, V04);
  const prompts = ['Q: one\nA:', 'Q: one\nA:', 'Q: two\nA:', 'Q: one\nA:'];
  const conts = [' yes', ' no', ' yes', ' the'];
  const before = e.tokensRun;
  const got = prompts.map((p, i) => shared.loglikelihood(p, conts[i]!));
  const reused = e.tokensRun - before;
  const fresh = prompts.map((p, i) => new EngineLM(e, V04).loglikelihood(p, conts[i]!));
  const freshTokens = e.tokensRun - before - reused;
  assert.deepEqual(got, fresh);
  assert.ok(reused < freshTokens, `reused ${reused} vs fresh ${freshTokens}`);
});

test('inputs longer than max_length are cut on the left; the last token is never fed', () => {
  const e = new ToyEngine();
  const lm = new EngineLM(e, { ...V04, maxLength: 12 });
  const ctx = 'Question: a long context that is much longer than twelve tokens\nAnswer:';
  const pair = lm.encodePair(ctx, ' the');
  const all = [...pair.context, ...pair.continuation];
  const inp = all.slice(all.length - 13, all.length - 1);
  const r = lm.loglikelihood(ctx, ' the');
  assert.ok(Math.abs(r.logprob - plainScore(e, inp, pair.continuation).logprob) < 1e-9);
  assert.throws(() => lm.loglikelihoodTokens([5], Array(13).fill(7)), /longer than max_length/);
  assert.throws(() => lm.checkRequest({ type: 'loglikelihood', context: 'x', continuation: ' a long continuation of more than twelve tokens' }), /a continuation of \d+ tokens is longer than max_length 12/);
  lm.checkRequest({ type: 'loglikelihood', context: 'x', continuation: ' short' });
});

test('empty context scores the continuation after the prefix token (BOS; EOS in the old harness)', () => {
  const e = new ToyEngine();
  const cont = e.tokenizer.encode('the yes', { add_bos: false });
  const bos = new EngineLM(e, V04).loglikelihood('', 'the yes');
  assert.ok(Math.abs(bos.logprob - plainScore(e, [1, ...cont.slice(0, -1)], cont).logprob) < 1e-9);
  const eos = new EngineLM(e, { ...V04, prefixToken: 'eos' }).loglikelihood('', 'the yes');
  assert.ok(Math.abs(eos.logprob - plainScore(e, [2, ...cont.slice(0, -1)], cont).logprob) < 1e-9);
});

/** The harness's get_rolling_token_windows + make_disjoint_window, written out independently. */
function harnessWindows(tokens: number[], prefix: number, max: number): [number[], number[]][] {
  const out: [number[], number[]][] = [];
  if (tokens.length === 0) return out;
  const first = Math.min(max, tokens.length);
  out.push([[prefix, ...tokens.slice(0, first - 1)], tokens.slice(0, first)]);
  let predicted = first;
  while (predicted < tokens.length) {
    const pred = Math.min(tokens.length - predicted, max);
    const end = predicted + pred;
    out.push([tokens.slice(end - max - 1, end - 1), tokens.slice(end - pred, end)]);
    predicted += pred;
  }
  return out.map(([a, b]) => [a.slice(0, a.length - (b.length - 1)), b]);
}

test('rolling loglikelihood = sum over disjoint windows, each token predicted once', () => {
  const e = new ToyEngine();
  const lm = new EngineLM(e, { ...V04, maxLength: 16 });
  const text = 'The quick brown fox jumps over the lazy dog. Question: is the dog asleep? Answer: yes, it is.';
  const tokens = lm.encode(text);
  assert.ok(tokens.length > 40);
  const windows = harnessWindows(tokens, 1, 16);
  assert.equal(windows.reduce((a, [, b]) => a + b.length, 0), tokens.length);
  const ref = windows.reduce((a, [c, b]) => a + new EngineLM(e, { ...V04, maxLength: 16 }).loglikelihoodTokens(c, b).logprob, 0);
  assert.ok(Math.abs(lm.loglikelihoodRolling(text) - ref) < 1e-9);
  assert.equal(lm.loglikelihoodRolling(''), 0);
});

test('generate_until: greedy, cut at the first stop string, stops at EOS and max_gen_toks', () => {
  const e = new ToyEngine({ bigram: [['\u2581is', '\u2581the'], ['\u2581the', '\u2581A'], ['\u2581A', 'Question'], ['Question', ':'], [':', '\u2581B'], ['\u2581B', '</s>']] });
  const lm = new EngineLM(e, { ...V04, maxLength: 512 });
  assert.equal(lm.generateUntil('It is', ['Question:'], 256), 'the A');
  assert.equal(lm.generateUntil('It is', [], 256), 'the AQuestion: B');
  assert.equal(lm.generateUntil('It is', [], 2), 'the A');
  assert.equal(lm.generateUntil('It is', [':', 'Question'], 256), 'the A');
});

test('generate_until left-truncates the context to max_length - max_gen_toks', () => {
  const e = new ToyEngine({ bigram: [['\u2581is', '\u2581the'], ['\u2581the', '</s>']] });
  const lm = new EngineLM(e, { ...V04, maxLength: 20 });
  assert.equal(lm.generateUntil('a very long context of many many tokens that is', [], 8), 'the');
  assert.throws(() => lm.generateUntil('x', [], 20), /no room/);
});
