import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RelufyError } from '../errors.js';
import { argmax, logSoftmax, Sampler } from './sampler.js';

const logits = new Float32Array([1, 3, 2, 0.5, 2.9]);

test('temp 0 is argmax; ties pick the lowest id', () => {
  const s = new Sampler({ temp: 0 });
  assert.equal(s.sample(logits), 1);
  assert.equal(argmax(new Float32Array([2, 5, 5])), 1);
});

test('same seed gives the same draws; other seeds differ somewhere', () => {
  const draws = (seed: number) => {
    const s = new Sampler({ temp: 1.5, top_k: 0, top_p: 1, min_p: 0, seed });
    return Array.from({ length: 50 }, () => s.sample(logits));
  };
  assert.deepEqual(draws(7), draws(7));
  assert.notDeepEqual(draws(7), draws(8));
});

test('top-k 1 and tiny top-p both reduce to argmax', () => {
  for (let seed = 0; seed < 20; seed++) {
    assert.equal(new Sampler({ temp: 2, top_k: 1, seed }).sample(logits), 1);
    assert.equal(new Sampler({ temp: 2, top_k: 0, top_p: 0.01, min_p: 0, seed }).sample(logits), 1);
  }
});

test('top-k 2 only ever draws the two largest', () => {
  const s = new Sampler({ temp: 5, top_k: 2, top_p: 1, min_p: 0, seed: 3 });
  const seen = new Set(Array.from({ length: 400 }, () => s.sample(logits)));
  assert.deepEqual([...seen].sort(), [1, 4]);
});

test('min-p drops candidates below min_p * p_max', () => {
  // p(1) / p(3) = e^2.5 ~ 12: min_p 0.2 removes id 3 (0.5) and id 0 (1.0: ratio e^2 ~ 7.4 > 5)
  const s = new Sampler({ temp: 1, top_k: 0, top_p: 1, min_p: 0.2, seed: 1 });
  const seen = new Set(Array.from({ length: 2000 }, () => s.sample(logits)));
  assert.ok(!seen.has(3) && !seen.has(0), `saw ${[...seen]}`);
  assert.ok(seen.has(1) && seen.has(4) && seen.has(2));
});

test('empirical frequencies follow softmax(logits / temp)', () => {
  const s = new Sampler({ temp: 1, top_k: 0, top_p: 1, min_p: 0, seed: 11 });
  const N = 20000;
  const counts = new Array(5).fill(0);
  for (let i = 0; i < N; i++) counts[s.sample(logits)]++;
  const p = Array.from(logSoftmax(logits), Math.exp);
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(counts[i] / N - p[i]!) < 0.015, `id ${i}: ${counts[i] / N} vs ${p[i]}`);
});

test('repetition penalty divides positive and multiplies negative logits of recent tokens', () => {
  const l = new Float32Array([2.0, 1.9, -1]);
  assert.equal(new Sampler({ temp: 0 }).sample(l, [0]), 0);
  assert.equal(new Sampler({ temp: 0, repeat_penalty: 1.1 }).sample(l, [0]), 1); // 2.0/1.1 < 1.9
  assert.equal(new Sampler({ temp: 0, repeat_penalty: 1.1, repeat_last_n: 1 }).sample(l, [0, 2]), 0); // 0 is out of the window
});

test('bad settings are one-line usage errors naming the flag', () => {
  assert.throws(() => new Sampler({ top_p: 0 }), (e: unknown) => e instanceof RelufyError && e.message.startsWith('--top-p:'));
  assert.throws(() => new Sampler({ top_k: -1 }), (e: unknown) => e instanceof RelufyError && e.message.startsWith('--top-k:'));
  assert.throws(() => new Sampler({ seed: -5 }), (e: unknown) => e instanceof RelufyError && e.message.startsWith('--seed:'));
});
