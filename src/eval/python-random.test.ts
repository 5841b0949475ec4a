import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PythonRandom } from './python-random.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// Vectors from eval-spec §2.4 (CPython 3.11.7).
test('getrandbits(32) matches CPython for seeds 1234 and 42', () => {
  const a = new PythonRandom(1234);
  assert.deepEqual([a.getrandbits(32), a.getrandbits(32), a.getrandbits(32)], [4150886329, 3342196574, 1892932127]);
  const b = new PythonRandom(42);
  assert.deepEqual([b.getrandbits(32), b.getrandbits(32), b.getrandbits(32)], [2746317213, 478163327, 107420369]);
});

test('ARC-Challenge: sample(range(1119), 25) for the first two docs', () => {
  const r = new PythonRandom(1234);
  assert.deepEqual(r.sample(range(1119), 25), [902, 239, 15, 185, 71, 171, 201, 726, 484, 35, 63, 32, 708, 991, 949, 304, 186, 374, 234, 29, 1030, 996, 511, 132, 1108]);
  assert.deepEqual(r.sample(range(1119), 25), [954, 140, 182, 1054, 94, 552, 129, 619, 985, 727, 545, 510, 409, 928, 1085, 39, 1040, 144, 11, 683, 294, 968, 772, 342, 110]);
});

test('HellaSwag: 11 draws from 39905 per doc (k+1 quirk)', () => {
  const r = new PythonRandom(1234);
  assert.deepEqual(r.sample(range(39905), 11), [28883, 7657, 490, 5940, 38156, 2288, 5500, 6450, 23241, 15519, 1142]);
  assert.deepEqual(r.sample(range(39905), 11), [2019, 1038, 22681, 31735, 30379, 9735, 5982, 11999, 7498, 958, 32970]);
});

test('Winogrande: 6 draws from 40398; the unused 6th still advances the stream', () => {
  const r = new PythonRandom(1234);
  assert.deepEqual(r.sample(range(40398), 6), [28883, 7657, 490, 5940, 38156, 2288]);
  assert.deepEqual(r.sample(range(40398), 6), [5500, 6450, 23241, 15519, 1142, 2019]);
});

test('GSM8K: 5 draws from 7473', () => {
  const r = new PythonRandom(1234);
  assert.deepEqual(r.sample(range(7473), 5), [6374, 3610, 957, 61, 742]);
  assert.deepEqual(r.sample(range(7473), 5), [7462, 6610, 4769, 286, 5501]);
});

test('small populations take the pool branch (CPython values)', () => {
  const r = new PythonRandom(1234);
  assert.deepEqual(r.sample(range(20), 5), [14, 3, 0, 2, 1]);
  assert.deepEqual(r.sample(range(30), 7), [21, 22, 2, 3, 24, 11, 7]);
});

test('shuffle and random() follow CPython (old-harness eval-doc shuffle)', () => {
  const r = new PythonRandom(42);
  const a = range(12);
  r.shuffle(a);
  assert.deepEqual(a, [7, 5, 2, 8, 9, 6, 11, 3, 4, 0, 1, 10]);
  assert.equal(r.random(), 0.03178267948178359);
});

test('seed 0 and seeds above 32 bits use the multi-word key', () => {
  const z = new PythonRandom(0);
  assert.deepEqual([z.getrandbits(32), z.getrandbits(32)], [3626764237, 1654615998]);
  const big = new PythonRandom(2 ** 40 + 5);
  assert.deepEqual([big.getrandbits(32), big.getrandbits(32)], [2166296868, 2220160828]);
});

test('sample rejects k > n and keeps elements (not indices)', () => {
  const r = new PythonRandom(1);
  assert.throws(() => r.sample([1, 2], 3), RangeError);
  const picked = new PythonRandom(1234).sample(range(1119).map((i) => `doc${i}`), 3);
  assert.deepEqual(picked, ['doc902', 'doc239', 'doc15']);
});
