import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, RequestCache, requestKey } from './cache.js';

test('canonical JSON and request keys ignore key order', () => {
  assert.equal(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] }), '{"a":[1,{"c":3,"d":2}],"b":1}');
  assert.equal(requestKey({ type: 'loglikelihood', context: 'a', continuation: ' b' }), requestKey({ continuation: ' b', context: 'a', type: 'loglikelihood' } as never));
  assert.notEqual(requestKey({ type: 'loglikelihood', context: 'a', continuation: ' b' }), requestKey({ type: 'loglikelihood', context: 'a ', continuation: 'b' }));
});

test('responses persist per namespace, survive a torn last line, and keep -Infinity', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relufy-cache-'));
  const ns = { model: 'm|1|2', add_bos: false, harness_version: '0.4.12' };
  const c = RequestCache.open(dir, ns);
  c.put('k1', { logprob: -1.5, is_greedy: true });
  c.put('k2', -Infinity);
  c.put('k3', 'generated text');
  c.put('k4', { logprob: -Infinity, is_greedy: false });
  c.close();
  const file = join(dir, readdirSync(dir)[0]!);
  appendFileSync(file, '{"k":"k5","v":{"logp'); // a run killed mid-write
  const r = RequestCache.open(dir, ns);
  assert.equal(r.stats.loaded, 4);
  assert.equal(r.stats.skipped, 1);
  assert.deepEqual(r.get('k1'), { logprob: -1.5, is_greedy: true });
  assert.equal(r.get('k2'), -Infinity);
  assert.equal(r.get('k3'), 'generated text');
  assert.deepEqual(r.get('k4'), { logprob: -Infinity, is_greedy: false });
  assert.equal(r.get('k5'), undefined);
  r.put('k6', 2);
  r.close();
  assert.ok(readFileSync(file, 'utf8').endsWith('{"k":"k6","v":2}\n'));
  assert.equal(RequestCache.open(dir, ns).stats.skipped, 0);
  assert.equal(RequestCache.open(dir, { ...ns, add_bos: true }).size, 0); // another namespace, another file
});
