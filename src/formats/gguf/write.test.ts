import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UsageError } from '../../errors.js';
import { hasSharedData, sharedData } from '../../../test/paths.js';
import { GGMLType, GGML_TYPE_LAYOUT, tensorBytes } from '../quant/index.js';
import type { Tensor } from '../quant/index.js';
import {
  GGUFValueType,
  openGguf,
  parseGguf,
  readTensor,
  serializeGguf,
  writeGguf,
  type GGUFFile,
  type GGUFKV,
  type GGUFWriteInput,
} from './index.js';

const tmp = mkdtempSync(join(tmpdir(), 'relufy-gguf-write-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Seeded bytes (xorshift32). */
function bytesOf(n: number, seed: number): Uint8Array {
  let s = seed | 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

const V = GGUFValueType;
const arr = (itemType: GGUFValueType, items: GGUFKV['value'][]): GGUFKV => ({
  type: V.ARRAY,
  value: { itemType, items: items as never },
});

/** One key per value type, with edge values, plus arrays of each type and nested arrays. */
function allValueTypesMetadata(): Map<string, GGUFKV> {
  return new Map<string, GGUFKV>([
    ['general.architecture', { type: V.STRING, value: 'llama' }],
    ['t.u8', { type: V.UINT8, value: 255 }],
    ['t.i8', { type: V.INT8, value: -128 }],
    ['t.u16', { type: V.UINT16, value: 65535 }],
    ['t.i16', { type: V.INT16, value: -32768 }],
    ['t.u32', { type: V.UINT32, value: 4294967295 }],
    ['t.i32', { type: V.INT32, value: -2147483648 }],
    ['t.f32', { type: V.FLOAT32, value: Math.fround(-1.1) }],
    ['t.f32.inf', { type: V.FLOAT32, value: Infinity }],
    ['t.bool.true', { type: V.BOOL, value: true }],
    ['t.bool.false', { type: V.BOOL, value: false }],
    ['t.str', { type: V.STRING, value: 'héllo \u{1f600} \ufeff\n"quoted"' }],
    ['t.str.empty', { type: V.STRING, value: '' }],
    ['t.u64', { type: V.UINT64, value: 2n ** 64n - 1n }],
    ['t.i64', { type: V.INT64, value: -(2n ** 63n) }],
    ['t.i64.max', { type: V.INT64, value: 2n ** 63n - 1n }],
    ['t.f64', { type: V.FLOAT64, value: Math.PI }],
    ['t.f64.nzero', { type: V.FLOAT64, value: -0 }],
    ['a.u8', arr(V.UINT8, [0, 1, 255])],
    ['a.i8', arr(V.INT8, [-1, 127])],
    ['a.u16', arr(V.UINT16, [1, 65535])],
    ['a.i16', arr(V.INT16, [-2])],
    ['a.u32', arr(V.UINT32, [3])],
    ['a.i32', arr(V.INT32, [-4, 5])],
    ['a.f32', arr(V.FLOAT32, [0.5, -0.25])],
    ['a.bool', arr(V.BOOL, [true, false, true])],
    ['a.str', arr(V.STRING, ['a', '', 'ccc'])],
    ['a.u64', arr(V.UINT64, [0n, 2n ** 63n])],
    ['a.i64', arr(V.INT64, [-1n])],
    ['a.f64', arr(V.FLOAT64, [1e300])],
    ['a.empty', arr(V.FLOAT32, [])],
    [
      'a.nested',
      arr(V.ARRAY, [
        { itemType: V.STRING, items: ['x', 'y'] },
        { itemType: V.ARRAY, items: [{ itemType: V.INT64, items: [7n] }] },
        { itemType: V.UINT8, items: [] },
      ]),
    ],
  ]);
}

/** One tensor of every ggml type relufy knows the layout of, with seeded bytes. */
function allTypeTensors(): Tensor[] {
  const out: Tensor[] = [];
  for (const [key, layout] of Object.entries(GGML_TYPE_LAYOUT)) {
    const type = Number(key) as GGMLType;
    const shape = [3, 2 * layout.blockSize];
    out.push({ name: `t.${layout.name}`, type, shape, data: bytesOf(tensorBytes(type, shape)!, type + 1) });
  }
  out.push({ name: 'four.dims', type: GGMLType.F16, shape: [2, 3, 1, 5], data: bytesOf(60, 99) });
  out.push({ name: 'odd.size', type: GGMLType.I8, shape: [7], data: bytesOf(7, 98) }); // needs padding
  return out;
}

function checkSame(file: GGUFFile, input: GGUFWriteInput): void {
  assert.equal(file.magic, input.magic ?? 'GGUF');
  assert.equal(file.version, input.version ?? 3);
  const alignment = input.alignment ?? 32;
  assert.equal(file.alignment, alignment);
  const expected = new Map(input.metadata);
  if (alignment !== 32 && !expected.has('general.alignment')) {
    expected.set('general.alignment', { type: V.UINT32, value: alignment });
  }
  assert.deepEqual(file.metadata, expected);
  assert.equal(file.dataOffset % alignment, 0);
  assert.equal(file.tensors.length, input.tensors.length);
  let offset = 0;
  input.tensors.forEach((t, i) => {
    const info = file.tensors[i]!;
    assert.equal(info.name, t.name);
    assert.equal(info.type, t.type);
    assert.deepEqual(info.shape, t.shape);
    assert.equal(info.offset, offset, 'packed in order');
    offset += Math.ceil(t.data.length / alignment) * alignment;
    assert.deepEqual(readTensor(file, info), { name: t.name, type: t.type, shape: t.shape, data: t.data });
  });
  assert.equal(file.fileSize, file.dataOffset + offset);
}

describe('write -> read round trip', () => {
  const variants: [string, Partial<GGUFWriteInput>][] = [
    ['GGUF v3, default alignment', {}],
    ['PWRI magic', { magic: 'PWRI' }],
    ['version 2', { version: 2 }],
    ['alignment 64', { alignment: 64 }],
    ['alignment 1', { alignment: 1 }],
    ['alignment 4096 with PWRI', { alignment: 4096, magic: 'PWRI' }],
  ];
  for (const [label, extra] of variants) {
    it(`${label}: every value type and tensor type, via file and via bytes`, () => {
      const input: GGUFWriteInput = { metadata: allValueTypesMetadata(), tensors: allTypeTensors(), ...extra };
      const path = join(tmp, `${label.replace(/\W+/g, '_')}.gguf`);
      writeGguf(path, input);
      const bytes = readFileSync(path);
      assert.deepEqual(new Uint8Array(bytes), serializeGguf(input), 'writeGguf and serializeGguf agree');
      checkSame(openGguf(path), input);
      checkSame(parseGguf(serializeGguf(input), 'mem'), input);
      // padding is zeros
      const f = openGguf(path);
      for (let i = 0; i < f.tensors.length; i++) {
        const ti = f.tensors[i]!;
        const end = f.dataOffset + ti.offset + ti.byteLength;
        const next = i + 1 < f.tensors.length ? f.dataOffset + f.tensors[i + 1]!.offset : f.fileSize;
        assert.ok(bytes.subarray(end, next).every((b) => b === 0), `padding after ${ti.name}`);
      }
      // reading and writing again is a fixed point
      const again = serializeGguf({
        magic: f.magic,
        version: f.version as 2 | 3,
        alignment: f.alignment,
        metadata: f.metadata,
        tensors: f.tensors.map((ti) => readTensor(f, ti)),
      });
      assert.deepEqual(again, new Uint8Array(bytes));
      assert.deepEqual(readdirSync(tmp).filter((n) => n.includes('.tmp-')), [], 'no temporary file left');
    });
  }

  it('a file with no tensors ends right after the metadata (gguf-py vocab files)', () => {
    const metadata = new Map<string, GGUFKV>([['k', { type: V.UINT8, value: 1 }]]);
    const bytes = serializeGguf({ metadata, tensors: [] });
    assert.equal(bytes.length, 4 + 4 + 8 + 8 + (8 + 1 + 4 + 1));
    const f = parseGguf(bytes, 'mem');
    assert.equal(f.dataOffset, bytes.length);
  });

  for (const rel of [
    ['models', 'stories260K', 'stories260K.gguf'],
    ['models', 'gguf-fixtures', 'llama-2-tiny-random.gguf'],
    ['tokenizers', 'llama.cpp-vocab', 'ggml-vocab-llama-spm.gguf'],
    ['tokenizers', 'llama.cpp-vocab', 'ggml-vocab-gpt-2.gguf'],
  ]) {
    it(`re-serializing ${rel[rel.length - 1]} gives the original bytes`, (t) => {
      if (!hasSharedData(...rel)) return t.skip(`shared data ${rel.join('/')} is absent`);
      const path = sharedData(...rel);
      const f = openGguf(path);
      const input: GGUFWriteInput = {
        magic: f.magic,
        version: f.version as 3,
        alignment: f.alignment,
        metadata: f.metadata,
        tensors: f.tensors.map((ti) => readTensor(f, ti)),
      };
      const out = join(tmp, 'copy.gguf');
      writeGguf(out, input);
      assert.ok(readFileSync(out).equals(readFileSync(path)), 'byte-identical');
    });
  }
});

describe('writer input checks', () => {
  const ok = (): GGUFWriteInput => ({
    metadata: new Map<string, GGUFKV>([['general.architecture', { type: V.STRING, value: 'llama' }]]),
    tensors: [{ name: 'w', type: GGMLType.Q8_0, shape: [2, 32], data: new Uint8Array(68) }],
  });
  const cases: [string, (i: GGUFWriteInput) => void, RegExp][] = [
    ['duplicate tensor name', (i) => i.tensors.push({ ...i.tensors[0]! }), /^tensor 'w': duplicate tensor name$/],
    ['long tensor name', (i) => (i.tensors[0]!.name = 'x'.repeat(64)), /name is 64 bytes; llama.cpp reads at most 63/],
    ['data length', (i) => (i.tensors[0]!.data = new Uint8Array(67)), /data is 67 bytes; Q8_0 shape \[2, 32\] needs 68/],
    ['row not a block multiple', (i) => (i.tensors[0]!.shape = [4, 16]), /row length 16 is not a multiple of the Q8_0 block size 32/],
    ['5 dims', (i) => (i.tensors[0]!.shape = [1, 1, 1, 2, 32]), /5 dimensions/],
    ['0 dims', (i) => (i.tensors[0]!.shape = []), /0 dimensions/],
    ['zero dim', (i) => (i.tensors[0]!.shape = [0, 32]), /dimension 0 is not a positive integer/],
    ['unknown type', (i) => (i.tensors[0]!.type = 4 as GGMLType), /unknown tensor type id 4/],
    ['alignment 48', (i) => (i.alignment = 48), /^alignment: must be a power of two, got 48$/],
    ['alignment 0', (i) => (i.alignment = 0), /power of two/],
    ['general.alignment type', (i) => i.metadata.set('general.alignment', { type: V.UINT64, value: 32n }), /must be a UINT32/],
    [
      'general.alignment disagrees',
      (i) => {
        i.metadata.set('general.alignment', { type: V.UINT32, value: 64 });
        i.alignment = 32;
      },
      /disagrees/,
    ],
    ['u8 out of range', (i) => i.metadata.set('k', { type: V.UINT8, value: 256 }), /^metadata key 'k': UINT8 value must be an integer in \[0, 255\]/],
    ['i32 not integer', (i) => i.metadata.set('k', { type: V.INT32, value: 1.5 }), /INT32 value must be an integer/],
    ['u64 negative', (i) => i.metadata.set('k', { type: V.UINT64, value: -1n }), /UINT64 value must be in/],
    ['i64 too big', (i) => i.metadata.set('k', { type: V.INT64, value: 2n ** 63n }), /INT64 value must be in/],
    ['bool as number', (i) => i.metadata.set('k', { type: V.BOOL, value: 1 }), /BOOL value must be a boolean/],
    ['string as number', (i) => i.metadata.set('k', { type: V.STRING, value: 3 }), /STRING value must be a string/],
    ['array item type', (i) => i.metadata.set('k', { type: V.ARRAY, value: { itemType: 13 as GGUFValueType, items: [] } }), /unknown array item type 13/],
    ['array item value', (i) => i.metadata.set('k', arr(V.UINT16, [1, -1])), /UINT16 value must be an integer/],
    ['unknown value type', (i) => i.metadata.set('k', { type: 42 as GGUFValueType, value: 1 }), /unknown metadata value type 42/],
    ['empty key', (i) => i.metadata.set('', { type: V.UINT8, value: 1 }), /keys must not be empty/],
    ['magic', (i) => (i.magic = 'GGML' as 'GGUF'), /^magic: must be 'GGUF' or 'PWRI'/],
    ['version', (i) => (i.version = 1 as 3), /^version: must be 2 or 3/],
  ];
  for (const [label, mutate, re] of cases) {
    it(`rejects ${label} with a UsageError and leaves the target untouched`, () => {
      const input = ok();
      mutate(input);
      assert.throws(() => serializeGguf(input), (e: unknown) => e instanceof UsageError && re.test(e.message));
      const path = join(tmp, 'target.gguf');
      writeFileSync(path, 'old');
      assert.throws(() => writeGguf(path, input), UsageError);
      assert.equal(readFileSync(path, 'utf8'), 'old');
      assert.ok(!existsSync(`${path}.tmp-${process.pid}`));
    });
  }

  it('the valid base input writes, and 64-bit values may be given as safe integers', () => {
    const input = ok();
    input.metadata.set('n', { type: V.UINT64, value: 5 });
    const f = parseGguf(serializeGguf(input), 'mem');
    assert.deepEqual(f.metadata.get('n'), { type: V.UINT64, value: 5n });
  });
});
