/**
 * Bad input, crafted Hugging Face folders (engine-spine issue): config.json and model.safetensors
 * problems — unknown architecture, invalid JSON, config/tensor shape mismatch, missing, duplicate
 * and unexpected tensors, truncated or overflowing safetensors headers, a tokenizer of another
 * vocab size — must give a clean one-line error through `loadModel(folder)` naming the file at
 * fault (a path inside the folder).
 */
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { writeHfFolder } from '../../src/formats/hf/index.js';
import { GGMLType, type Tensor } from '../../src/formats/quant/types.js';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors/index.js';
import { loadModel } from '../../src/model/index.js';
import { tinyModel } from '../fixtures/tiny-model.js';
import { assertCleanError, everyCheck, unsoundLoadReason } from './harness.js';
import { MISTRAL_TOKENIZER_JSON } from './sources.js';

const dir = mkdtempSync(join(tmpdir(), 'relufy-bad-hf-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const baseFolder = join(dir, 'base');
writeHfFolder(baseFolder, tinyModel({ activation: 'reglu', seed: 3 })); // untied, vocab 298, C 32, F 64, 2 layers
const baseConfig = JSON.parse(readFileSync(join(baseFolder, 'config.json'), 'utf8')) as Record<string, unknown>;
const baseTensors = [...readSafetensors(join(baseFolder, 'model.safetensors')).tensors.values()];

let n = 0;
/** A copy of the base folder; returns its path. */
function folder(): string {
  const f = join(dir, `case-${n++}`);
  cpSync(baseFolder, f, { recursive: true });
  return f;
}
/** A folder whose config.json is `text`. */
function withConfigText(text: string): string {
  const f = folder();
  writeFileSync(join(f, 'config.json'), text);
  return f;
}
/** A folder whose config.json is the base config changed by `edit`. */
function withConfig(edit: (c: Record<string, unknown>) => void): string {
  const c = structuredClone(baseConfig);
  edit(c);
  return withConfigText(JSON.stringify(c, null, 2));
}
/** A folder whose model.safetensors holds `edit(tensors)`. */
function withTensors(edit: (ts: Tensor[]) => Tensor[]): string {
  const f = folder();
  writeSafetensors(join(f, 'model.safetensors'), edit([...baseTensors]));
  return f;
}
/** A folder whose model.safetensors has header JSON `header` (raw text) and `data` bytes. */
function withRawSafetensors(header: string, data: Uint8Array): string {
  const f = folder();
  const h = new TextEncoder().encode(header);
  const b = new Uint8Array(8 + h.length + data.length);
  new DataView(b.buffer).setBigUint64(0, BigInt(h.length), true);
  b.set(h, 8);
  b.set(data, 8 + h.length);
  writeFileSync(join(f, 'model.safetensors'), b);
  return f;
}
const tensor = (name: string, shape: number[]): Tensor => ({ name, type: GGMLType.F32, shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 1) * 4) });
const without = (name: string) => (ts: Tensor[]) => ts.filter((t) => t.name !== name);

/** loadModel(folder) must fail cleanly naming a file in the folder, with `problem` in the message. */
const refuses = (f: string, file: string, problem: RegExp): Promise<string> => assertCleanError(() => loadModel(f), join(f, file), problem);

describe('bad input: crafted Hugging Face folders', () => {
  test('the unmodified fixture loads and runs (baseline)', () => {
    assert.equal(unsoundLoadReason(loadModel(folder())), null);
  });

  test('unknown architecture in config.json', async () => {
    await refuses(withConfig((c) => ((c.architectures = ['GPT2LMHeadModel']), (c.model_type = 'gpt2'))), 'config.json', /unknown architecture GPT2LMHeadModel/);
    await refuses(withConfig((c) => (delete c.architectures, (c.model_type = 'falcon'))), 'config.json', /unknown architecture model_type falcon/);
    await refuses(withConfig((c) => (delete c.architectures, delete c.model_type)), 'config.json', /unknown architecture/);
  });

  test('config.json missing, not JSON, not an object, or with bad fields', async () => {
    const f = folder();
    rmSync(join(f, 'config.json'));
    await refuses(f, 'config.json', /cannot read/);
    await refuses(withConfigText('{"hidden_size": 32,'), 'config.json', /not valid JSON/);
    await refuses(withConfigText('[1, 2]'), 'config.json', /not a JSON object/);
    await refuses(withConfigText(''), 'config.json', /not valid JSON/);
    await refuses(withConfig((c) => (c.hidden_size = '32')), 'config.json', /hidden_size must be a positive integer/);
    await refuses(withConfig((c) => (c.num_attention_heads = 0)), 'config.json', /num_attention_heads must be a positive integer/);
    await refuses(withConfig((c) => (c.vocab_size = 2 ** 53)), 'config.json', /vocab_size/);
    await refuses(withConfig((c) => delete c.intermediate_size), 'config.json', /missing intermediate_size/);
    await refuses(withConfig((c) => (c.hidden_act = 'gelu')), 'config.json', /hidden_act gelu is not supported/);
    await refuses(withConfig((c) => (c.rope_scaling = { type: 'linear', factor: 2 })), 'config.json', /rope_scaling/);
  });

  test('invalid JSON gives a one-line message (V8 quotes the text around the error, line breaks included)', async () => {
    // JSON.parse: "Unexpected token 'g', ..."ord": falsg,\n  "b"... is not valid JSON"
    await refuses(withConfigText('{\n  "tie_word_embeddings": falsg,\n  "vocab_size": 298\n}\n'), 'config.json', /not valid JSON/);
  });

  test('config/tensor shape mismatch', async () => {
    await refuses(withConfig((c) => (c.intermediate_size = 48)), 'model.safetensors', /has shape \[(64,32|32,64)\], config expects \[(48,32|32,48)\]/);
    await refuses(withConfig((c) => (c.vocab_size = 300)), 'model.safetensors', /has shape \[298,32\], config expects \[300,32\]/);
    await refuses(withConfig((c) => (c.num_key_value_heads = 4)), 'model.safetensors', /k_proj\.weight has shape \[16,32\], config expects \[32,32\]/);
    const up = 'model.layers.1.mlp.up_proj.weight';
    await refuses(withTensors((ts) => [...without(up)(ts), tensor(up, [64, 16])]), 'model.safetensors', /up_proj\.weight has shape \[64,16\], config expects \[64,32\]/);
    await refuses(withTensors((ts) => [...without(up)(ts), tensor(up, [64, 32, 1])]), 'model.safetensors', /up_proj\.weight has shape/);
  });

  test('a layer count far beyond the tensors in the file fails fast without allocating for it', async () => {
    // num_hidden_layers 100000 with a 2-layer model.safetensors: the expected-tensor map of all
    // 900000 tensors is built first (4 s, 124 MiB here)
    const f = withConfig((c) => (c.num_hidden_layers = 100_000));
    const h0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    await refuses(f, 'config.json', /model\.layers\.2\.|num_hidden_layers|layers/);
    const grew = process.memoryUsage().heapUsed - h0;
    assert.ok(grew < 32 << 20, `the heap grew by ${(grew / 2 ** 20).toFixed(0)} MiB (${(performance.now() - t0).toFixed(0)} ms) to refuse a 2-layer folder`);
  });

  test('missing tensors', async () => {
    for (const name of ['model.layers.1.mlp.up_proj.weight', 'model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight'])
      await refuses(withTensors(without(name)), 'model.safetensors', new RegExp(`${name.replace(/\./g, '\\.')} is missing`));
    await refuses(withConfig((c) => (c.num_hidden_layers = 3)), 'model.safetensors', /model\.layers\.2\..* is missing/);
  });

  test('duplicate tensor in the safetensors header', async () => {
    // the same name twice; JSON.parse keeps only the last entry
    const a = 'model.layers.0.input_layernorm.weight';
    const h = JSON.parse(new TextDecoder().decode(headerBytes(join(baseFolder, 'model.safetensors')))) as Record<string, { data_offsets: number[] }>;
    const end = Math.max(...Object.entries(h).filter(([k]) => k !== '__metadata__').map(([, v]) => v.data_offsets[1]!));
    const text = JSON.stringify(h).replace(/\}$/, `,"${a}":{"dtype":"F32","shape":[32],"data_offsets":[${end},${end + 128}]}}`);
    const data = readFileSync(join(baseFolder, 'model.safetensors')).subarray(8 + headerBytes(join(baseFolder, 'model.safetensors')).length);
    const both = new Uint8Array(data.length + 128);
    both.set(data);
    await refuses(withRawSafetensors(text, both), 'model.safetensors', /duplicate|twice/);
  });

  test('unexpected tensors (biases, layers beyond num_hidden_layers, unknown names)', async () => {
    await refuses(withTensors((ts) => [...ts, tensor('model.layers.0.self_attn.q_proj.bias', [32])]), 'model.safetensors', /unexpected tensor model\.layers\.0\.self_attn\.q_proj\.bias/);
    await refuses(withTensors((ts) => [...ts, tensor('model.layers.2.mlp.up_proj.weight', [64, 32])]), 'model.safetensors', /unexpected tensor model\.layers\.2\.mlp\.up_proj\.weight/);
    await refuses(withTensors((ts) => [...ts, tensor('transformer.wte.weight', [298, 32])]), 'model.safetensors', /unexpected tensor transformer\.wte\.weight/);
  });

  test('names from the file with line breaks do not break the one-line message', async () => {
    await everyCheck({
      'tensor name': () => refuses(withTensors((ts) => [...ts, tensor('model.layers.0.x\nFATAL: injected', [4])]), 'model.safetensors', /unexpected tensor/),
      'architectures[0]': () => refuses(withConfig((c) => (c.architectures = ['Foo\nForCausalLM'])), 'config.json', /unknown architecture/),
      'model_type': () => refuses(withConfig((c) => (delete c.architectures, (c.model_type = 'gpt\u2028neo'))), 'config.json', /unknown architecture/),
      hidden_act: () => refuses(withConfig((c) => (c.hidden_act = 'gelu\r\nx')), 'config.json', /hidden_act/),
      'dtype': () => refuses(withRawSafetensors('{"model.norm.weight":{"dtype":"F\\n32","shape":[32],"data_offsets":[0,128]}}', new Uint8Array(128)), 'model.safetensors', /dtype/),
    });
  });

  test('safetensors header length, truncation and offsets', async () => {
    const st = join(baseFolder, 'model.safetensors');
    const good = readFileSync(st);
    const hdr = headerBytes(st);
    const withBytes = (b: Uint8Array): string => {
      const f = folder();
      writeFileSync(join(f, 'model.safetensors'), b);
      return f;
    };
    const lenPatched = (v: bigint): Uint8Array => {
      const b = new Uint8Array(good);
      new DataView(b.buffer).setBigUint64(0, v, true);
      return b;
    };
    await refuses(withBytes(lenPatched((1n << 64n) - 1n)), 'model.safetensors', /header length .* exceeds/);
    await refuses(withBytes(lenPatched(BigInt(good.length))), 'model.safetensors', /header length .* exceeds/);
    await refuses(withBytes(lenPatched(0n)), 'model.safetensors', /too small/);
    await refuses(withBytes(good.subarray(0, 5)), 'model.safetensors', /too short/);
    await refuses(withBytes(good.subarray(0, 8 + hdr.length - 3)), 'model.safetensors', /header length .* exceeds/);
    await refuses(withBytes(good.subarray(0, good.length - 1)), 'model.safetensors', /run past the end of the data section/);
    const t = (entry: string): string => withRawSafetensors(`{"model.norm.weight":${entry}}`, new Uint8Array(128));
    await refuses(t('{"dtype":"F32","shape":[32],"data_offsets":[0,256]}'), 'model.safetensors', /run past the end/);
    await refuses(t('{"dtype":"F32","shape":[32],"data_offsets":[64,0]}'), 'model.safetensors', /begin > end/);
    await refuses(t('{"dtype":"F32","shape":[32],"data_offsets":[0,1e300]}'), 'model.safetensors', /data_offsets/);
    await refuses(t('{"dtype":"F32","shape":[67108864,67108864,67108864],"data_offsets":[0,128]}'), 'model.safetensors', /needs .* bytes/);
    await refuses(t('{"dtype":"F32","shape":[9007199254740991,9007199254740991],"data_offsets":[0,128]}'), 'model.safetensors', /needs .* bytes/);
    await refuses(t('{"dtype":"F32","shape":[-32],"data_offsets":[0,128]}'), 'model.safetensors', /shape/);
    await refuses(t('{"dtype":"Q9","shape":[32],"data_offsets":[0,128]}'), 'model.safetensors', /unknown dtype "Q9"/);
    await refuses(t('{"dtype":"I64","shape":[16],"data_offsets":[0,128]}'), 'model.safetensors', /dtype I64 is not supported/);
    await refuses(
      withRawSafetensors('{"a.weight":{"dtype":"F32","shape":[32],"data_offsets":[0,128]},"b.weight":{"dtype":"F32","shape":[16],"data_offsets":[64,128]}}', new Uint8Array(128)),
      'model.safetensors',
      /overlap/,
    );
  });

  test('folder without weights, or with a broken shard index', async () => {
    const f = folder();
    rmSync(join(f, 'model.safetensors'));
    await assertCleanError(() => loadModel(f), f, /no model\.safetensors/);
    writeFileSync(join(f, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': 'model-00001-of-00002.safetensors' } }));
    await refuses(f, 'model.safetensors.index.json', /does not exist/);
    writeFileSync(join(f, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': '../../etc/passwd' } }));
    await refuses(f, 'model.safetensors.index.json', /not a shard file name/);
    writeFileSync(join(f, 'model.safetensors.index.json'), '{"weight_map": 7}');
    await refuses(f, 'model.safetensors.index.json', /weight_map/);
  });

  test('tokenizer in the folder with another vocab size than the model', { skip: !existsSync(MISTRAL_TOKENIZER_JSON) }, async () => {
    const f = folder();
    copyFileSync(MISTRAL_TOKENIZER_JSON, join(f, 'tokenizer.json'));
    await assertCleanError(() => loadModel(f), f, /tokenizer has 32000 tokens but the model's vocab_size is 298/);
  });

  test('loading a folder by the path of one of its files', async () => {
    const f = withConfig((c) => (c.architectures = ['BertModel']));
    await assertCleanError(() => loadModel(join(f, 'config.json')), join(f, 'config.json'), /unknown architecture BertModel/);
    mkdirSync(join(f, 'empty'));
    await assertCleanError(() => loadModel(join(f, 'empty')), join(f, 'empty'), /config\.json/);
  });
});

/** The JSON header bytes of a safetensors file. */
function headerBytes(path: string): Uint8Array {
  const b = readFileSync(path);
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  return new Uint8Array(b.subarray(8, 8 + n));
}
