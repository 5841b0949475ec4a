import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError, UsageError } from '../../errors.js';
import type { ModelConfig } from '../../model/config.js';
import { dequantize, quantize } from '../quant/index.js';
import { GGMLType, type Tensor } from '../quant/types.js';
import { readLlama2cCheckpoint } from '../llama2c/index.js';
import { readSafetensors, writeSafetensors, SAFETENSORS_INDEX } from '../safetensors/index.js';
import { hasSharedData, sharedData, withTempDir } from '../../../test/paths.js';
import { loadHfFolder, readHfConfig, writeHfFolder } from './index.js';

const STORIES = sharedData('models', 'stories260K', 'stories260K.bin');
const skipStories = hasSharedData('models', 'stories260K', 'stories260K.bin') ? false : 'shared data stories260K.bin absent';

const withTemp = (fn: (dir: string) => void): void => withTempDir('relufy-hf-', fn);

function assertFormatError(fn: () => unknown, path: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${path}: `), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

function assertSameTensors(got: Map<string, Tensor>, want: Map<string, Tensor>): void {
  assert.deepEqual([...got.keys()], [...want.keys()]);
  for (const [name, t] of want) {
    const g = got.get(name)!;
    assert.equal(g.name, name);
    assert.equal(g.type, t.type, name);
    assert.deepEqual(g.shape, t.shape, name);
    assert.ok(Buffer.from(g.data).equals(Buffer.from(t.data)), `${name} bytes`);
  }
}

function f32Row(t: Tensor, row: number): number[] {
  const n = t.shape[1]!;
  return Array.from(new Float32Array(t.data.buffer, t.data.byteOffset + 4 * n * row, n));
}

test('stories260K -> HF folder (F32) -> loadHfFolder gives back the same config and tensors', { skip: skipStories }, () => {
  const model = readLlama2cCheckpoint(STORIES);
  withTemp((dir) => {
    writeHfFolder(dir, model);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(cfg.architectures, ['LlamaForCausalLM']);
    assert.equal(cfg.model_type, 'llama');
    assert.equal(cfg.hidden_act, 'silu');
    assert.equal(cfg.torch_dtype, 'float32');
    assert.equal(cfg.num_key_value_heads, 4);
    assert.equal(cfg.tie_word_embeddings, true);

    // The file holds HF names and HF (rotate-half) q/k rows: head_dim 8, so HF row 1 of each head
    // is GGUF row 2, HF row 4 is GGUF row 1 (hand-derived from llama.cpp's permute).
    const file = readSafetensors(join(dir, 'model.safetensors')).tensors;
    assert.equal(file.has('lm_head.weight'), false, 'tied: no lm_head');
    assert.equal(file.size, 2 + 5 * 9);
    const qG = model.tensors.get('blk.2.attn_q.weight')!;
    const qH = file.get('model.layers.2.self_attn.q_proj.weight')!;
    assert.deepEqual(f32Row(qH, 0), f32Row(qG, 0));
    assert.deepEqual(f32Row(qH, 1), f32Row(qG, 2));
    assert.deepEqual(f32Row(qH, 4), f32Row(qG, 1));
    assert.deepEqual(f32Row(qH, 8 + 3), f32Row(qG, 8 + 6), 'second head');
    const kG = model.tensors.get('blk.0.attn_k.weight')!;
    const kH = file.get('model.layers.0.self_attn.k_proj.weight')!;
    assert.deepEqual(f32Row(kH, 3 * 8 + 7), f32Row(kG, 3 * 8 + 7), 'last row of the last kv head stays');
    assert.deepEqual(f32Row(kH, 3 * 8 + 5), f32Row(kG, 3 * 8 + 3));
    assert.deepEqual(f32Row(file.get('model.layers.0.self_attn.v_proj.weight')!, 1), f32Row(model.tensors.get('blk.0.attn_v.weight')!, 1), 'v not permuted');

    assert.deepEqual(readHfConfig(dir), model.config);
    const back = loadHfFolder(dir);
    assert.deepEqual(back.config, model.config);
    assertSameTensors(back.tensors, model.tensors);
  });
});

for (const [dtype, type, torch] of [['F16', GGMLType.F16, 'float16'], ['BF16', GGMLType.BF16, 'bfloat16']] as const) {
  test(`stories260K -> HF folder as ${dtype} -> load: rounded tensors, q/k un-permuted`, { skip: skipStories }, () => {
    const model = readLlama2cCheckpoint(STORIES);
    withTemp((dir) => {
      writeHfFolder(dir, model, { dtype });
      assert.equal((JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { torch_dtype: string }).torch_dtype, torch);
      const back = loadHfFolder(dir);
      const want = new Map([...model.tensors].map(([n, t]) => [n, { ...quantize(dequantize(t), t.shape, type), name: n }]));
      assertSameTensors(back.tensors, want);
      // Writing the loaded half-precision model again is lossless.
      const dir2 = join(dir, 'again');
      writeHfFolder(dir2, back);
      assertSameTensors(loadHfFolder(dir2).tensors, want);
    });
  });
}

test('sharded HF folder (2 shards + index) loads the same as the single file', { skip: skipStories }, () => {
  const model = readLlama2cCheckpoint(STORIES);
  withTemp((dir) => {
    writeHfFolder(dir, model);
    const single = join(dir, 'model.safetensors');
    const all = [...readSafetensors(single).tensors.values()];
    rmSync(single);
    const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const half = Math.ceil(all.length / 2);
    writeSafetensors(join(dir, names[0]!), all.slice(0, half));
    writeSafetensors(join(dir, names[1]!), all.slice(half));
    const weight_map = Object.fromEntries(all.map((t, i) => [t.name, names[i < half ? 0 : 1]]));
    writeFileSync(join(dir, SAFETENSORS_INDEX), JSON.stringify({ metadata: { total_size: 0 }, weight_map }));
    const back = loadHfFolder(dir);
    assertSameTensors(back.tensors, model.tensors);

    rmSync(join(dir, names[1]!));
    assertFormatError(() => loadHfFolder(dir), join(dir, SAFETENSORS_INDEX), /shard file model-00002-of-00002.safetensors .* does not exist/);
  });
});

/** A tiny random Llama with separate lm_head, GQA 4/2, head_dim 4, plus a predictor. */
function tinyModel(overrides: Partial<ModelConfig> = {}): { config: ModelConfig; tensors: Map<string, Tensor> } {
  const config: ModelConfig = {
    architecture: 'llama', hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, head_dim: 4, vocab_size: 11, max_position_embeddings: 32, rms_norm_eps: 1e-5,
    rope_theta: 10000, sliding_window: null, hidden_act: 'silu', ffn_activation: 'swiglu',
    tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, ...overrides,
  };
  let k = 0;
  const t = (name: string, shape: number[]): [string, Tensor] => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = Float32Array.from({ length: n }, () => Math.sin(++k) / 2);
    return [name, { name, type: GGMLType.F32, shape, data: new Uint8Array(v.buffer) }];
  };
  const C = config.hidden_size, F = config.intermediate_size, Q = config.num_attention_heads * config.head_dim, KV = config.num_key_value_heads * config.head_dim;
  const entries: [string, Tensor][] = [t('token_embd.weight', [config.vocab_size, C])];
  for (let l = 0; l < config.num_hidden_layers; l++) {
    entries.push(
      t(`blk.${l}.attn_norm.weight`, [C]), t(`blk.${l}.attn_q.weight`, [Q, C]), t(`blk.${l}.attn_k.weight`, [KV, C]),
      t(`blk.${l}.attn_v.weight`, [KV, C]), t(`blk.${l}.attn_output.weight`, [C, Q]), t(`blk.${l}.ffn_norm.weight`, [C]),
      t(`blk.${l}.ffn_gate.weight`, [F, C]), t(`blk.${l}.ffn_up.weight`, [F, C]), t(`blk.${l}.ffn_down.weight`, [C, F]),
    );
  }
  entries.push(t('output_norm.weight', [C]), t('output.weight', [config.vocab_size, C]));
  entries.push(t('blk.0.fc1.weight', [3, C]), t('blk.0.fc2.weight', [F, 3]));
  return { config, tensors: new Map(entries) };
}

test('separate lm_head, GQA, Mistral sliding window, Bamboo dReLU and predictors round-trip', () => {
  withTemp((dir) => {
    for (const [i, over] of ([
      {},
      { architecture: 'mistral', sliding_window: 8 },
      { architecture: 'bamboo', hidden_act: 'relu', ffn_activation: 'drelu' },
      { hidden_act: 'relu', ffn_activation: 'reglu' },
      { ffn_activation: 'drelu' }, // llama block with dReLU: written as hidden_act drelu
    ] as Partial<ModelConfig>[]).entries()) {
      const m = tinyModel(over);
      const d = join(dir, String(i));
      writeHfFolder(d, m);
      const back = loadHfFolder(d);
      const wantConfig = { ...m.config, hidden_act: over.ffn_activation === 'drelu' && over.architecture !== 'bamboo' ? 'drelu' : m.config.hidden_act };
      assert.deepEqual(back.config, wantConfig);
      assertSameTensors(back.tensors, m.tensors);
      assert.equal(readSafetensors(join(d, 'model.safetensors')).tensors.has('model.layers.0.fc1.weight'), true);
    }
  });
});

test('tied model: a stored lm_head is dropped; rotary inv_freq ignored; ffn_down_t not written', () => {
  withTemp((dir) => {
    const m = tinyModel({ tie_word_embeddings: true });
    const down = m.tensors.get('blk.0.ffn_down.weight')!;
    m.tensors.set('blk.0.ffn_down_t.weight', { ...down, name: 'blk.0.ffn_down_t.weight', shape: [24, 16] });
    writeHfFolder(dir, m);
    const file = join(dir, 'model.safetensors');
    const raw = readSafetensors(file).tensors;
    assert.equal(raw.has('lm_head.weight'), false);
    const inv: Tensor = { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', type: GGMLType.F32, shape: [2], data: new Uint8Array(8) };
    const lm: Tensor = { ...m.tensors.get('output.weight')!, name: 'lm_head.weight' };
    writeSafetensors(file, [...raw.values(), inv, lm]);
    const back = loadHfFolder(dir);
    assert.equal(back.tensors.has('output.weight'), false);
    assert.equal(back.tensors.has('blk.0.ffn_down_t.weight'), false);
    assert.equal(back.tensors.size, 2 + 2 * 9 + 2);
  });
});

function writeConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const p = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  edit(c);
  writeFileSync(p, JSON.stringify(c));
}

test('config.json parsing: defaults, architectures, bamboo, errors', () => {
  withTemp((dir) => {
    const p = join(dir, 'config.json');
    const base = {
      architectures: ['MistralForCausalLM'], model_type: 'mistral', hidden_size: 32, intermediate_size: 64,
      num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 100, max_position_embeddings: 64,
    };
    writeFileSync(p, JSON.stringify(base));
    assert.deepEqual(readHfConfig(dir), {
      architecture: 'mistral', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4,
      num_key_value_heads: 4, head_dim: 8, vocab_size: 100, max_position_embeddings: 64, rms_norm_eps: 1e-6,
      rope_theta: 10000, sliding_window: null, hidden_act: 'silu', ffn_activation: 'swiglu', tie_word_embeddings: false,
      bos_token_id: null, eos_token_id: null,
    });
    // Bamboo-7B spellings: MistralForCausalLM or BambooForCausalLM with model_type bamboo.
    for (const architectures of [['MistralForCausalLM'], ['BambooForCausalLM'], ['SomethingCustom']]) {
      writeFileSync(p, JSON.stringify({ ...base, architectures, model_type: 'bamboo', hidden_act: 'relu', eos_token_id: [2, 7], sliding_window: null }));
      const c = readHfConfig(dir);
      assert.equal(c.architecture, 'bamboo');
      assert.equal(c.ffn_activation, 'drelu');
      assert.equal(c.eos_token_id, 2);
    }
    writeFileSync(p, JSON.stringify({ ...base, architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'relu', head_dim: 16, num_key_value_heads: 2 }));
    const c = readHfConfig(dir);
    assert.equal(c.ffn_activation, 'reglu');
    assert.equal(c.head_dim, 16);

    const cases: [unknown, RegExp][] = [
      [{ ...base, architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }, /unknown architecture GPT2LMHeadModel \(supported: LlamaForCausalLM, MistralForCausalLM, BambooForCausalLM; or model_type bamboo\)/],
      [{ ...base, architectures: undefined, model_type: 'falcon' }, /unknown architecture model_type falcon/],
      [{ ...base, hidden_size: undefined }, /missing hidden_size/],
      [{ ...base, num_hidden_layers: 2.5 }, /num_hidden_layers must be a positive integer/],
      [{ ...base, num_key_value_heads: 3 }, /not a multiple of num_key_value_heads/],
      [{ ...base, hidden_act: 'gelu' }, /hidden_act gelu is not supported/],
      [{ ...base, rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling .* is not supported/],
      [{ ...base, attention_bias: true }, /attention_bias: true is not supported/],
      [{ ...base, hidden_size: 30 }, /hidden_size \(30\) is not a multiple of num_attention_heads/],
      [{ ...base, sliding_window: -1 }, /sliding_window must be a positive integer or null/],
      [[1, 2], /not a JSON object/],
    ];
    for (const [json, re] of cases) {
      writeFileSync(p, JSON.stringify(json));
      assertFormatError(() => readHfConfig(dir), p, re);
    }
    writeFileSync(p, '{"hidden_size": ');
    assertFormatError(() => readHfConfig(dir), p, /not valid JSON/);
    rmSync(p);
    assertFormatError(() => readHfConfig(dir), p, /cannot read Hugging Face config \(ENOENT\)/);
  });
});

test('bad HF folders are FormatErrors naming the file', () => {
  withTemp((dir) => {
    const m = tinyModel();
    writeHfFolder(dir, m);
    const cfg = join(dir, 'config.json');
    const st = join(dir, 'model.safetensors');

    writeConfig(dir, (c) => { c.architectures = ['FalconForCausalLM']; });
    assertFormatError(() => loadHfFolder(dir), cfg, /unknown architecture FalconForCausalLM/);

    writeHfFolder(dir, m);
    writeConfig(dir, (c) => { c.intermediate_size = 20; });
    assertFormatError(() => loadHfFolder(dir), st, /tensor model.layers.0.mlp.down_proj.weight has shape \[16,24\], config expects \[16,20\]/);

    writeHfFolder(dir, m);
    writeConfig(dir, (c) => { c.num_attention_heads = 8; });
    assertFormatError(() => loadHfFolder(dir), st, /tensor model.layers.0.self_attn.o_proj.weight has shape \[16,16\], config expects \[16,32\]/);

    writeHfFolder(dir, m);
    writeConfig(dir, (c) => { c.num_hidden_layers = 1; });
    assertFormatError(() => loadHfFolder(dir), st, /unexpected tensor model.layers.1.\S+: config has num_hidden_layers 1/);

    writeHfFolder(dir, m);
    writeConfig(dir, (c) => { c.num_hidden_layers = 3; });
    assertFormatError(() => loadHfFolder(dir), st, /tensor model.layers.2.input_layernorm.weight is missing \(config expects shape \[16\]\)/);

    writeHfFolder(dir, m);
    const raw = readSafetensors(st).tensors;
    raw.delete('lm_head.weight');
    writeSafetensors(st, [...raw.values()]);
    assertFormatError(() => loadHfFolder(dir), st, /tensor lm_head.weight is missing/);

    const bias: Tensor = { name: 'model.layers.0.self_attn.q_proj.bias', type: GGMLType.F32, shape: [16], data: new Uint8Array(64) };
    writeSafetensors(st, [...raw.values(), bias]);
    assertFormatError(() => loadHfFolder(dir), st, /unexpected tensor model.layers.0.self_attn.q_proj.bias/);

    raw.set('model.layers.0.self_attn.q_proj.weight', { ...bias, name: 'model.layers.0.self_attn.q_proj.weight', shape: [4, 4] });
    writeSafetensors(st, [...raw.values()]);
    assertFormatError(() => loadHfFolder(dir), st, /tensor model.layers.0.self_attn.q_proj.weight has shape \[4,4\], config expects \[16,16\]/);

    rmSync(st);
    assertFormatError(() => loadHfFolder(dir), dir, /no model.safetensors or model.safetensors.index.json/);
    writeFileSync(join(dir, 'pytorch_model.bin'), '');
    assertFormatError(() => loadHfFolder(dir), dir, /pytorch_model.bin pickles are not read/);
  });
});
