import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError, UsageError } from '../../errors.js';
import { GGMLType, type Tensor } from '../quant/types.js';
import { withTempDir } from '../../../test/paths.js';
import { readSafetensors, readSafetensorsHeader, readShardedSafetensors, writeSafetensors, SAFETENSORS_INDEX } from './index.js';

const withTemp = (fn: (dir: string) => void): void => withTempDir('relufy-st-', fn);

function f32Tensor(name: string, shape: number[], values: number[]): Tensor {
  const data = new Uint8Array(4 * values.length);
  const dv = new DataView(data.buffer);
  values.forEach((v, i) => dv.setFloat32(4 * i, v, true));
  return { name, type: GGMLType.F32, shape, data };
}

function u16Tensor(name: string, type: GGMLType, shape: number[], bits: number[]): Tensor {
  const data = new Uint8Array(2 * bits.length);
  const dv = new DataView(data.buffer);
  bits.forEach((v, i) => dv.setUint16(2 * i, v, true));
  return { name, type, shape, data };
}

/** A safetensors file from a header object (serialized as given) and a data section. */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Buffer {
  const json = Buffer.from(headerText ?? JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

function assertFormatError(fn: () => unknown, path: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${path}: `), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

test('writer output is byte-exact to the safetensors layout (hand-computed)', () => {
  withTemp((dir) => {
    const p = join(dir, 'x.safetensors');
    // F16 1.0 = 0x3c00, BF16 -2.0 = 0xc000
    const b = u16Tensor('b', GGMLType.F16, [1], [0x3c00]);
    const a = f32Tensor('a', [2], [1, 2]);
    const c = u16Tensor('c', GGMLType.BF16, [1, 1], [0xc000]);
    writeSafetensors(p, [b, c, a], { note: 'hi' });
    const expectedJson =
      '{"__metadata__":{"format":"pt","note":"hi"},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"F16","shape":[1],"data_offsets":[8,10]},' +
      '"c":{"dtype":"BF16","shape":[1,1],"data_offsets":[10,12]}}';
    const padded = expectedJson + ' '.repeat((8 - (expectedJson.length % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(padded.length));
    const expected = Buffer.concat([
      len, Buffer.from(padded),
      Buffer.from([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]), // 1.0f, 2.0f
      Buffer.from([0x00, 0x3c]), Buffer.from([0x00, 0xc0]),
    ]);
    assert.ok(readFileSync(p).equals(expected));
    assert.equal(padded.length % 8, 0);
    assert.deepEqual(readdirSync(dir), ['x.safetensors'], 'no temp file left');

    const header = readSafetensorsHeader(p);
    assert.equal(header.dataStart, 8 + padded.length);
    assert.deepEqual(header.metadata, { format: 'pt', note: 'hi' });
    assert.deepEqual(header.tensors.map((t) => [t.name, t.dtype, t.data_offsets]), [
      ['a', 'F32', [0, 8]], ['b', 'F16', [8, 10]], ['c', 'BF16', [10, 12]],
    ]);
    const { tensors } = readSafetensors(p);
    assert.deepEqual(tensors.get('a'), a);
    assert.deepEqual(tensors.get('b'), b);
    assert.deepEqual(tensors.get('c'), c);
  });
});

test('round trip of many tensors; F32 data stays 4-byte aligned; names filter', () => {
  withTemp((dir) => {
    const p = join(dir, 'm.safetensors');
    const ts: Tensor[] = [];
    for (let i = 0; i < 10; i++) {
      const n = 3 + i;
      ts.push(f32Tensor(`w.${i}`, [n, 2], Array.from({ length: 2 * n }, (_, j) => i + j / 8)));
      ts.push(u16Tensor(`h.${i}`, i % 2 ? GGMLType.F16 : GGMLType.BF16, [i + 1], Array.from({ length: i + 1 }, (_, j) => 0x3c00 + j)));
    }
    ts.push(f32Tensor('empty', [0, 4], []));
    writeSafetensors(p, ts);
    const { metadata, tensors } = readSafetensors(p);
    assert.deepEqual(metadata, { format: 'pt' });
    assert.equal(tensors.size, ts.length);
    for (const t of ts) {
      const r = tensors.get(t.name)!;
      assert.deepEqual(r, t, t.name);
      if (t.type === GGMLType.F32) assert.equal(r.data.byteOffset % 4, 0);
    }
    const only = readSafetensors(p, { names: new Set(['w.3', 'nope']) }).tensors;
    assert.deepEqual([...only.keys()], ['w.3']);
    const h = readSafetensorsHeader(p);
    for (const e of h.tensors) if (e.dtype === 'F32') assert.equal((h.dataStart + e.data_offsets[0]) % 4, 0, `${e.name} file offset aligned`);
  });
});

test('writer rejects unsupported types, size mismatches and duplicates', () => {
  withTemp((dir) => {
    const p = join(dir, 'w.safetensors');
    const q: Tensor = { name: 'q', type: GGMLType.Q8_0, shape: [32], data: new Uint8Array(34) };
    assert.throws(() => writeSafetensors(p, [q]), (e: unknown) => e instanceof UsageError && /q: type Q8_0/.test(e.message));
    const short: Tensor = { ...f32Tensor('s', [3], [1, 2]), shape: [3] };
    assert.throws(() => writeSafetensors(p, [short]), /s: shape \[3\] needs 12 bytes of F32, data has 8/);
    assert.throws(() => writeSafetensors(p, [f32Tensor('d', [1], [1]), f32Tensor('d', [1], [2])]), /duplicate/);
    assert.deepEqual(readdirSync(dir), [], 'nothing written');
  });
});

test('bad safetensors files are FormatErrors naming the file', () => {
  withTemp((dir) => {
    const p = join(dir, 'bad.safetensors');
    const ok = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const data8 = new Uint8Array(8);

    writeFileSync(p, Buffer.from([1, 2, 3]));
    assertFormatError(() => readSafetensors(p), p, /too short/);

    const huge = rawFile(ok, data8);
    huge.writeBigUInt64LE(10_000_000_000n);
    writeFileSync(p, huge);
    assertFormatError(() => readSafetensors(p), p, /header length 10000000000 exceeds the 100000000-byte limit/);

    const past = rawFile(ok, data8);
    past.writeBigUInt64LE(BigInt(past.length)); // longer than what follows the length field
    writeFileSync(p, past);
    assertFormatError(() => readSafetensorsHeader(p), p, /exceeds the \d+ bytes after the length field/);

    writeFileSync(p, rawFile(null, data8, '{"t": {"dtype": "F32",'));
    assertFormatError(() => readSafetensors(p), p, /not valid UTF-8 JSON/);

    writeFileSync(p, rawFile(null, data8, '[1,2,3]'));
    assertFormatError(() => readSafetensors(p), p, /not a JSON object/);

    writeFileSync(p, rawFile({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 12] } }, data8));
    assertFormatError(() => readSafetensors(p), p, /tensor t: data_offsets \[0, 12\] run past the end of the data section \(8 bytes/);

    writeFileSync(p, rawFile(ok, data8.subarray(0, 6))); // truncated data
    assertFormatError(() => readSafetensors(p), p, /run past the end/);

    writeFileSync(p, rawFile({ t: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, data8));
    assertFormatError(() => readSafetensors(p), p, /tensor t: dtype I64 is not supported \(F32, F16, BF16\)/);
    assert.equal(readSafetensorsHeader(p).tensors[0]!.dtype, 'I64', 'header-only read accepts any known dtype');

    writeFileSync(p, rawFile({ t: { dtype: 'Q9', shape: [1], data_offsets: [0, 8] } }, data8));
    assertFormatError(() => readSafetensorsHeader(p), p, /tensor t: unknown dtype "Q9"/);

    writeFileSync(p, rawFile({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data8));
    assertFormatError(() => readSafetensors(p), p, /tensor t: shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] span 8/);

    writeFileSync(p, rawFile({ t: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, u: { dtype: 'F16', shape: [2], data_offsets: [2, 6] } }, data8));
    assertFormatError(() => readSafetensors(p), p, /tensors t \[0, 4\] and u \[2, 6\] overlap/);

    writeFileSync(p, rawFile({ t: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data8));
    assertFormatError(() => readSafetensors(p), p, /shape \[-2\] is not a list of non-negative integers/);

    writeFileSync(p, rawFile({ t: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, data8));
    assertFormatError(() => readSafetensors(p), p, /begin > end/);

    writeFileSync(p, rawFile({ __metadata__: { n: 3 }, ...ok }, data8));
    assertFormatError(() => readSafetensors(p), p, /__metadata__.n is not a string/);

    assertFormatError(() => readSafetensors(join(dir, 'none.safetensors')), join(dir, 'none.safetensors'), /cannot open.*ENOENT/);
  });
});

test('sharded checkpoint: index + 2 shards read back; missing shard and missing tensor are errors', () => {
  withTemp((dir) => {
    const a = f32Tensor('model.a', [2], [1, 2]);
    const b = f32Tensor('model.b', [3], [3, 4, 5]);
    const c = u16Tensor('model.c', GGMLType.BF16, [2], [0x3f80, 0x4000]);
    writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), [a, c]);
    writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), [b, f32Tensor('model.extra', [1], [9])]);
    const index = {
      metadata: { total_size: 24 },
      weight_map: { 'model.b': 'model-00002-of-00002.safetensors', 'model.a': 'model-00001-of-00002.safetensors', 'model.c': 'model-00001-of-00002.safetensors' },
    };
    const indexPath = join(dir, SAFETENSORS_INDEX);
    writeFileSync(indexPath, JSON.stringify(index));
    const r = readShardedSafetensors(dir);
    assert.deepEqual([...r.tensors.keys()], ['model.b', 'model.a', 'model.c'], 'index order; unlisted model.extra ignored');
    assert.deepEqual(r.tensors.get('model.a'), a);
    assert.deepEqual(r.tensors.get('model.b'), b);
    assert.deepEqual(r.tensors.get('model.c'), c);
    assert.equal(r.files.get('model.b'), join(dir, 'model-00002-of-00002.safetensors'));
    assert.deepEqual(r.metadata, { total_size: 24 });

    writeFileSync(indexPath, JSON.stringify({ weight_map: { ...index.weight_map, 'model.d': 'model-00003-of-00003.safetensors' } }));
    assertFormatError(() => readShardedSafetensors(dir), indexPath, /shard file model-00003-of-00003.safetensors \(listed for 1 tensors, e.g. model.d\) does not exist/);

    writeFileSync(indexPath, JSON.stringify({ weight_map: { ...index.weight_map, 'model.d': 'model-00002-of-00002.safetensors' } }));
    const shard2 = join(dir, 'model-00002-of-00002.safetensors');
    assertFormatError(() => readShardedSafetensors(dir), shard2, /tensor model.d listed in model.safetensors.index.json is absent from this shard/);

    writeFileSync(indexPath, JSON.stringify({ weight_map: { 'model.a': '../elsewhere.safetensors' } }));
    assertFormatError(() => readShardedSafetensors(dir), indexPath, /not a shard file name inside the folder/);

    writeFileSync(indexPath, '{"weight_map": ');
    assertFormatError(() => readShardedSafetensors(dir), indexPath, /not valid JSON/);

    rmSync(indexPath);
    assertFormatError(() => readShardedSafetensors(dir), indexPath, /cannot read shard index \(ENOENT\)/);
  });
});
