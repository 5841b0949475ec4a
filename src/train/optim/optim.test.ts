import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adamwInit, adamwUpdate, clipGradNorm, cosineLr } from './index.js';

test('AdamW: first step moves each weight by lr * sign(g) (bias-corrected), plus decoupled decay on masked entries', () => {
  const p = Float32Array.from([1, -2, 3]);
  const g = Float32Array.from([0.5, -0.1, 0]);
  const s = adamwInit(3);
  adamwUpdate(p, g, s, Uint8Array.from([1, 0, 1]), 1, { lr: 0.1, weightDecay: 0.5 });
  assert.ok(Math.abs(p[0]! - (1 - 0.1 * (1 + 0.5 * 1))) < 1e-6, `${p[0]}`);
  assert.ok(Math.abs(p[1]! - (-2 + 0.1)) < 1e-6, `${p[1]}`);
  assert.ok(Math.abs(p[2]! - (3 - 0.1 * 0.5 * 3)) < 1e-6, `${p[2]}`);
});

test('AdamW minimises a quadratic', () => {
  const p = Float32Array.from([5, -3]);
  const s = adamwInit(2);
  for (let t = 1; t <= 500; t++) adamwUpdate(p, Float32Array.from([2 * p[0]!, 2 * p[1]!]), s, new Uint8Array(2), t, { lr: 0.05, weightDecay: 0 });
  assert.ok(Math.abs(p[0]!) < 0.05 && Math.abs(p[1]!) < 0.05, `${p}`);
});

test('gradient clipping to a global norm', () => {
  const g = Float32Array.from([3, 4]);
  assert.equal(clipGradNorm(g, 1), 5);
  assert.ok(Math.abs(Math.hypot(g[0]!, g[1]!) - 1) < 1e-5);
  const h = Float32Array.from([0.3, 0.4]);
  clipGradNorm(h, 1);
  assert.deepEqual([...h], [...Float32Array.from([0.3, 0.4])]);
});

test('schedule: linear warm-up to peak, cosine to min at the last step', () => {
  assert.ok(Math.abs(cosineLr(0, 100, 10, 1, 0.1) - 0.1) < 1e-12);
  assert.equal(cosineLr(9, 100, 10, 1, 0.1), 1);
  assert.ok(Math.abs(cosineLr(10, 100, 10, 1, 0.1) - 1) < 1e-12);
  assert.ok(Math.abs(cosineLr(99, 100, 10, 1, 0.1) - 0.1) < 1e-12);
  const mid = cosineLr(10 + 44.5, 100, 10, 1, 0.1);
  assert.ok(Math.abs(mid - 0.55) < 1e-9, `${mid}`);
});
