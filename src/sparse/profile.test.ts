import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { tinyModel } from '../../test/fixtures/tiny-model.js';
import { withTempDir } from '../../test/paths.js';
import { dequantizeRows } from '../kernels/ref/dequant.js';
import { KernelEngine } from '../model/engine.js';
import type { LoadedModel } from '../model/types.js';
import { renderProfileReport } from './profile-report.js';
import {
  countActivations, formatProfile, frequencyCdf, profileModel, quantile, readProfile, saveProfile, summarizeInactive, TopKFfn, engineWithFfn,
} from './profile.js';
import { perplexity } from '../eval/perplexity.js';

const mat = (m: LoadedModel, name: string): Float32Array => {
  const t = m.tensors.get(name)!;
  return dequantizeRows(t, 0, t.shape.length === 1 ? 1 : t.shape[0]!);
};

/** y (O) = W (O, I) x (I), float64 sums. */
function mv(W: Float32Array, x: Float64Array, O: number, I: number): Float64Array {
  const y = new Float64Array(O);
  for (let o = 0; o < O; o++) {
    let s = 0;
    for (let i = 0; i < I; i++) s += W[o * I + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function rmsnorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * w[i]!);
}

/**
 * Layer-0 FFN activations of a single token by hand: with one position, attention returns that
 * position's value vector, so x = emb + Wo · expand(Wv · rmsnorm(emb)) (query head h reads kv head
 * h / (H / KVH)); h = relu(gate n) * relu(up n), n = rmsnorm(x) (dReLU).
 */
function layer0ByHand(m: LoadedModel, token: number): Float64Array {
  const c = m.config;
  const C = c.hidden_size, F = c.intermediate_size, H = c.num_attention_heads, KVH = c.num_key_value_heads, D = c.head_dim;
  const emb = Float64Array.from(mat(m, 'token_embd.weight').subarray(token * C, (token + 1) * C));
  const n0 = rmsnorm(emb, mat(m, 'blk.0.attn_norm.weight'), c.rms_norm_eps);
  const v = mv(mat(m, 'blk.0.attn_v.weight'), n0, KVH * D, C);
  const att = new Float64Array(H * D);
  for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) att[h * D + d] = v[Math.floor(h / (H / KVH)) * D + d]!;
  const o = mv(mat(m, 'blk.0.attn_output.weight'), att, C, H * D);
  const x = emb.map((e, i) => e + o[i]!);
  const n = rmsnorm(x, mat(m, 'blk.0.ffn_norm.weight'), c.rms_norm_eps);
  const g = mv(mat(m, 'blk.0.ffn_gate.weight'), n, F, C);
  const u = mv(mat(m, 'blk.0.ffn_up.weight'), n, F, C);
  return g.map((gi, i) => (gi > 0 && u[i]! > 0 ? gi * u[i]! : 0));
}

describe('activation profile', () => {
  test('layer-0 counts and inactive shares equal a hand computation (windows of one token, dReLU)', () => {
    const m = tinyModel({ activation: 'drelu', seed: 3 });
    const F = m.config.intermediate_size;
    const tokens = Int32Array.from([1, 270, 296, 271, 290, 296, 5, 280]);
    const r = countActivations(m, tokens, 1);
    const counts = new Float64Array(F);
    const shares: number[] = [];
    for (const t of tokens) {
      const h = layer0ByHand(m, t);
      let a = 0;
      // float32 rounding can move a product of tiny magnitude to 0; none is that small here
      h.forEach((v, i) => v !== 0 && (counts[i]! += 1, a++));
      shares.push(1 - a / F);
    }
    assert.ok(counts.some((v) => v > 0) && counts.some((v) => v < tokens.length), 'the check is not vacuous');
    assert.deepEqual([...r.counts[0]!], [...counts]);
    assert.deepEqual([...r.inactive[0]!], shares.map((s) => Math.fround(s)));
    const sum = summarizeInactive(r.inactive[0]!);
    const sorted = Float64Array.from(r.inactive[0]!).sort();
    assert.ok(Math.abs(sum.mean - shares.reduce((a, b) => a + b, 0) / shares.length) < 1e-6);
    assert.equal(sum.p50, quantile(sorted, 0.5));
    assert.ok(sum.p10 <= sum.p50 && sum.p50 <= sum.p90);
  });

  test('quantile and frequency CDF', () => {
    assert.equal(quantile([0, 1, 2, 3, 4], 0.5), 2);
    assert.equal(quantile([0, 10], 0.1), 1);
    const cdf = frequencyCdf([1, 3, 0, 0]);
    assert.deepEqual(cdf.map((p) => p.activations), [0, 0.75, 1, 1, 1]);
    assert.deepEqual(cdf.map((p) => p.neurons), [0, 0.25, 0.5, 0.75, 1]);
  });

  test('top-k FFN: k = 100% is the dense model; fewer neurons change the output', () => {
    const m = tinyModel({ activation: 'reglu', seed: 5 });
    const F = m.config.intermediate_size;
    const text = 'the cat sat on the mat. '.repeat(20);
    const dense = perplexity(engineWithFfn(m, new TopKFfn(m, F)), text, { nCtx: 16, maxChunks: 3 });
    const ref = perplexity(new KernelEngine(m), text, { nCtx: 16, maxChunks: 3 });
    assert.equal(dense.ppl, ref.ppl);
    const ffn = new TopKFfn(m, 5);
    const C = m.config.hidden_size;
    const n = new Float32Array(2 * C).map((_, i) => Math.sin(i));
    const h = new Float32Array(2 * F);
    ffn.run(0, new Float32Array(2 * C), n, 2, h);
    for (let t = 0; t < 2; t++) assert.ok(h.subarray(t * F, (t + 1) * F).filter((v) => v !== 0).length <= 5);
  });

  test('profileModel: JSON round trip, table and HTML report', async () => {
    const m = tinyModel({ activation: 'drelu', seed: 2 });
    const text = 'once upon a time there was a cat. '.repeat(30);
    const tokens = Int32Array.from(m.tokenizer!.encode(text, { add_bos: true }));
    const p = profileModel(m, 'mem', text, tokens, { ctx: 32, topk: [100, 50], topkChunks: 2 });
    assert.equal(p.tokens, tokens.length);
    assert.equal(p.layers.length, 2);
    for (const l of p.layers) assert.ok(l.counts.reduce((a, b) => a + b, 0) > 0);
    assert.equal(p.topk.length, 2);
    assert.match(formatProfile(p), /top-k table/);
    const html = await renderProfileReport(p);
    assert.equal((html.match(/<svg/g) ?? []).length, 3);
    withTempDir('relufy-profile-', (dir) => {
      const jp = join(dir, 'p.json');
      saveProfile(jp, p);
      assert.deepEqual(readProfile(jp), JSON.parse(JSON.stringify(p)));
    });
  });
});
