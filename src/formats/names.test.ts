import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockName, ggufToHf, ggufToMeta, hfToGguf, metaToGguf, parseBlockName } from './names.js';

// [HF, Meta, GGUF] for every tensor of a Llama block (tensor_mapping.py llama-hf / llama-pth rows).
const TRIPLES: [string, string, string][] = [
  ['model.embed_tokens.weight', 'tok_embeddings.weight', 'token_embd.weight'],
  ['model.norm.weight', 'norm.weight', 'output_norm.weight'],
  ['lm_head.weight', 'output.weight', 'output.weight'],
  ['model.layers.0.input_layernorm.weight', 'layers.0.attention_norm.weight', 'blk.0.attn_norm.weight'],
  ['model.layers.1.self_attn.q_proj.weight', 'layers.1.attention.wq.weight', 'blk.1.attn_q.weight'],
  ['model.layers.2.self_attn.k_proj.weight', 'layers.2.attention.wk.weight', 'blk.2.attn_k.weight'],
  ['model.layers.3.self_attn.v_proj.weight', 'layers.3.attention.wv.weight', 'blk.3.attn_v.weight'],
  ['model.layers.10.self_attn.o_proj.weight', 'layers.10.attention.wo.weight', 'blk.10.attn_output.weight'],
  ['model.layers.31.post_attention_layernorm.weight', 'layers.31.ffn_norm.weight', 'blk.31.ffn_norm.weight'],
  ['model.layers.4.mlp.gate_proj.weight', 'layers.4.feed_forward.w1.weight', 'blk.4.ffn_gate.weight'],
  ['model.layers.4.mlp.down_proj.weight', 'layers.4.feed_forward.w2.weight', 'blk.4.ffn_down.weight'],
  ['model.layers.4.mlp.up_proj.weight', 'layers.4.feed_forward.w3.weight', 'blk.4.ffn_up.weight'],
];

test('HF and Meta names map to GGUF and back', () => {
  for (const [hf, meta, gguf] of TRIPLES) {
    assert.equal(hfToGguf(hf), gguf, hf);
    assert.equal(metaToGguf(meta), gguf, meta);
    assert.equal(ggufToHf(gguf), hf, gguf);
    assert.equal(ggufToMeta(gguf), meta, gguf);
  }
});

test('PowerInfer predictor and ffn_down_t names', () => {
  assert.equal(hfToGguf('model.layers.7.fc1.weight'), 'blk.7.fc1.weight');
  assert.equal(hfToGguf('model.layers.7.mlp.predictor.fc2.weight'), 'blk.7.fc2.weight');
  assert.equal(ggufToHf('blk.7.fc1.weight'), 'model.layers.7.fc1.weight');
  assert.equal(ggufToHf('blk.7.ffn_down_t.weight'), undefined);
  assert.equal(ggufToMeta('blk.7.fc1.weight'), undefined);
  assert.deepEqual(parseBlockName('blk.12.ffn_down_t.weight'), { layer: 12, role: 'ffn_down_t' });
  assert.deepEqual(parseBlockName('blk.0.attn_q.weight'), { layer: 0, role: 'attn_q' });
  assert.equal(blockName(5, 'ffn_up'), 'blk.5.ffn_up.weight');
});

test('unknown names give undefined', () => {
  for (const n of [
    'model.layers.0.self_attn.rotary_emb.inv_freq',
    'model.layers.0.self_attn.q_proj.bias',
    'model.layers.01.mlp.up_proj.weight', // non-canonical layer number
    'model.layers.x.mlp.up_proj.weight',
    'layers.0.mlp.up_proj.weight',
    'token_embd.weight',
    '',
  ]) assert.equal(hfToGguf(n), undefined, n);
  assert.equal(metaToGguf('rope.freqs'), undefined);
  assert.equal(metaToGguf('model.norm.weight'), undefined);
  assert.equal(ggufToHf('blk.0.attn_qkv.weight'), undefined);
  assert.equal(ggufToHf('model.norm.weight'), undefined);
  assert.equal(parseBlockName('output.weight'), undefined);
});
