/**
 * Bad input: every malformed file must end in either a successful parse or a FormatError whose
 * message is one line starting with the file's name; never another exception, a hang, or a huge
 * allocation. Seeded, so failures reproduce.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FormatError } from '../../errors.js';
import { hasSharedData, sharedData } from '../../../test/paths.js';
import { GGMLType, dequantize, quantTraits } from '../quant/index.js';
import { GGUFValueType as V, openGguf, parseGguf, readTensor, serializeGguf, type GGUFKV } from './index.js';
import { mulberry32 as prng } from '../../rng.js';

const tmp = mkdtempSync(join(tmpdir(), 'relufy-gguf-fuzz-'));
after(() => rmSync(tmp, { recursive: true, force: true }));


type Outcome = { ok: true } | { ok: false; problem: string };

/** Parse (and on success read and decode every tensor); anything but a proper FormatError fails the test. */
function outcome(bytes: Uint8Array, name: string): Outcome {
  try {
    const f = parseGguf(bytes, name);
    for (const ti of f.tensors) {
      const t = readTensor(f, ti);
      if (quantTraits(t.type)) dequantize(t);
    }
    return { ok: true };
  } catch (e) {
    if (!(e instanceof FormatError)) throw new Error(`${name}: not a FormatError: ${String(e)}`, { cause: e });
    assert.ok(e.message.startsWith(`${name}: `), e.message);
    assert.ok(!/[\n\r]/.test(e.message), `one line: ${JSON.stringify(e.message)}`);
    return { ok: false, problem: e.problem };
  }
}

/** A small written file with every value type, nested arrays and a few tensor types. */
function smallFile(): Uint8Array {
  const metadata = new Map<string, GGUFKV>([
    ['general.architecture', { type: V.STRING, value: 'llama' }],
    ['general.alignment', { type: V.UINT32, value: 16 }],
    ['u8', { type: V.UINT8, value: 1 }],
    ['i8', { type: V.INT8, value: -1 }],
    ['u16', { type: V.UINT16, value: 2 }],
    ['i16', { type: V.INT16, value: -2 }],
    ['u32', { type: V.UINT32, value: 3 }],
    ['i32', { type: V.INT32, value: -3 }],
    ['f32', { type: V.FLOAT32, value: 0.5 }],
    ['b', { type: V.BOOL, value: true }],
    ['s', { type: V.STRING, value: 'str' }],
    ['u64', { type: V.UINT64, value: 4n }],
    ['i64', { type: V.INT64, value: -4n }],
    ['f64', { type: V.FLOAT64, value: 0.25 }],
    ['a.s', { type: V.ARRAY, value: { itemType: V.STRING, items: ['x', 'yy'] } }],
    ['a.b', { type: V.ARRAY, value: { itemType: V.BOOL, items: [false, true] } }],
    [
      'a.n',
      { type: V.ARRAY, value: { itemType: V.ARRAY, items: [{ itemType: V.INT16, items: [1, 2] }] } },
    ],
  ]);
  const t = (name: string, type: GGMLType, shape: number[], n: number) => ({
    name,
    type,
    shape,
    data: new Uint8Array(n).map((_, i) => (i * 37) & 0x7b), // keeps f16 scales finite-ish
  });
  return serializeGguf({
    metadata,
    alignment: 16,
    tensors: [
      t('f32', GGMLType.F32, [3], 12),
      t('q8', GGMLType.Q8_0, [2, 32], 68),
      t('q4', GGMLType.Q4_0, [32], 18),
      t('i32', GGMLType.I32, [2, 2], 16),
      t('f16', GGMLType.F16, [5], 10),
    ],
  });
}

function stories(): Uint8Array | undefined {
  const rel = ['models', 'stories260K', 'stories260K.gguf'];
  return hasSharedData(...rel) ? new Uint8Array(readFileSync(sharedData(...rel))) : undefined;
}

describe('mutation fuzzing', () => {
  it('small written file: truncation at every byte, and 600 seeded random mutations', () => {
    const base = smallFile();
    assert.deepEqual(outcome(base, 'small.gguf'), { ok: true });
    for (let n = 0; n < base.length; n++) {
      const r = outcome(base.subarray(0, n), 'small.gguf');
      assert.ok(!r.ok || n >= base.length - 15, `truncated to ${n} bytes parsed`); // only trailing padding may go
    }
    const rnd = prng(42);
    for (let i = 0; i < 600; i++) {
      const b = base.slice();
      const flips = 1 + Math.floor(rnd() * 3);
      for (let k = 0; k < flips; k++) {
        const pos = Math.floor(rnd() * b.length);
        const mode = rnd();
        if (mode < 0.4) b[pos] = Math.floor(rnd() * 256);
        else if (mode < 0.7) b[pos]! ^= 1 << Math.floor(rnd() * 8);
        else if (mode < 0.85) b[pos] = 0xff;
        else b.fill(0xff, pos, Math.min(b.length, pos + 8)); // huge u64
      }
      outcome(b, 'small.gguf');
    }
  });

  it('stories260K.gguf: truncation at every header byte and sampled data bytes, 400 random flips', (t) => {
    const base = stories();
    if (!base) return t.skip('shared data stories260K.gguf is absent');
    const header = 14176;
    for (let n = 0; n <= header; n++) assert.equal(outcome(base.subarray(0, n), 'stories.gguf').ok, false, `cut at ${n}`);
    const rnd = prng(7);
    for (let i = 0; i < 60; i++) {
      const n: number = header + Math.floor(rnd() * (base.length - header));
      assert.equal(outcome(base.subarray(0, n), 'stories.gguf').ok, false, `cut at ${n}`);
    }
    for (let i = 0; i < 400; i++) {
      const b = base.slice();
      const pos = Math.floor(rnd() * header);
      if (rnd() < 0.5) b[pos] = Math.floor(rnd() * 256);
      else b.fill(0xff, pos, Math.min(header, pos + 1 + Math.floor(rnd() * 8)));
      outcome(b, 'stories.gguf');
    }
  });

  it('truncated files read through openGguf name the path', (t) => {
    const base = stories() ?? smallFile();
    const path = join(tmp, 'cut.gguf');
    for (const n of [0, 3, 4, 7, 20, 23, 1000, 14000]) {
      writeFileSync(path, base.subarray(0, Math.min(n, base.length - 1)));
      assert.throws(
        () => openGguf(path),
        (e: unknown) => e instanceof FormatError && e.message.startsWith(`${path}: `),
        `cut at ${n}`,
      );
    }
    t.diagnostic('ok');
  });
});

// ---- hand-built headers for each validation rule ----

const enc = new TextEncoder();
const u32 = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
};
const u64 = (v: bigint | number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true);
  return b;
};
const cat = (...parts: (Uint8Array | number[])[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const str = (s: string) => cat(u64(enc.encode(s).length), enc.encode(s));
const kv = (key: string, type: number, value: Uint8Array | number[]) => cat(str(key), u32(type), value);
const ti = (name: string, ne: (number | bigint)[], type: number, offset: number | bigint) =>
  cat(str(name), u32(ne.length), ...ne.map(u64), u32(type), u64(offset));

interface Raw {
  magic?: string;
  version?: number;
  nTensors?: bigint | number;
  nKv?: bigint | number;
  kvs?: Uint8Array[];
  tis?: Uint8Array[];
  /** bytes of the tensor-data section (after padding the header to `align`) */
  data?: number;
  align?: number;
}
function raw(r: Raw): Uint8Array {
  const kvs = r.kvs ?? [];
  const tis = r.tis ?? [];
  const head = cat(
    enc.encode(r.magic ?? 'GGUF'),
    u32(r.version ?? 3),
    u64(r.nTensors ?? tis.length),
    u64(r.nKv ?? kvs.length),
    ...kvs,
    ...tis,
  );
  if (tis.length === 0) return head;
  const a = r.align ?? 32;
  const pad = (a - (head.length % a)) % a;
  return cat(head, new Uint8Array(pad + (r.data ?? 0)));
}

const F32_4 = ti('t', [4], GGMLType.F32, 0);

describe('crafted bad headers', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty file', new Uint8Array(0), /^truncated: magic at byte 0 needs 4 bytes but only 0 remain$/],
    ['wrong magic', raw({ magic: 'GGML' }), /^not a GGUF file: magic 'GGML'/],
    ['binary magic', raw({ magic: '\u0001\u0002\n\u0003' }), /magic '\\x01\\x02\\x0a\\x03'/],
    ['version 1', raw({ version: 1 }), /GGUF version 1 is not supported/],
    ['version 4', raw({ version: 4 }), /unsupported GGUF version 4/],
    ['version 0', raw({ version: 0 }), /unsupported GGUF version 0/],
    ['big-endian', raw({ version: 0x03000000 }), /byte-swapped/],
    ['header truncated in counts', raw({}).subarray(0, 20), /truncated: metadata key-value count at byte 16/],
    ['tensor count too large', raw({ nTensors: 2n ** 63n }), /tensor count 9223372036854775808 at byte 8 is larger than/],
    ['tensor count > bytes left', raw({ nTensors: 1 }), /tensor count 1 at byte 8 is larger than the 8 bytes left/],
    ['kv count too large', raw({ nKv: 2n ** 64n - 1n }), /metadata key-value count 18446744073709551615/],
    ['kv count > bytes left', raw({ nKv: 2, kvs: [kv('a', V.UINT8, [1])] }), /metadata key-value count 2 at byte 16 is larger than the 14 bytes left/],
    ['kv truncated', raw({ nKv: 2, kvs: [kv('a', V.STRING, str('x'.repeat(20)))] }), /truncated: metadata key 1 length at byte 65 needs 8 bytes but only 0 remain/],
    ['key length > bytes left', raw({ nKv: 1, kvs: [u64(1000), new Uint8Array(8)] }), /metadata key 0 length 1000 at byte 24 is larger than the 8 bytes left/],
    ['empty key', raw({ kvs: [kv('', V.UINT8, [1])] }), /metadata key 0 is empty/],
    ['duplicate key', raw({ kvs: [kv('a', V.UINT8, [1]), kv('a', V.UINT8, [2])] }), /^duplicate metadata key 'a'$/],
    ['unknown value type', raw({ kvs: [kv('a', 13, [1])] }), /key 'a': unknown metadata value type 13 at byte 33/],
    ['invalid BOOL', raw({ kvs: [kv('a', V.BOOL, [2])] }), /key 'a': invalid BOOL value 2 at byte 37 \(must be 0 or 1\)/],
    ['invalid BOOL in array', raw({ kvs: [kv('a', V.ARRAY, cat(u32(V.BOOL), u64(2), [1, 7]))] }), /key 'a' array item: invalid BOOL value 7/],
    ['string length > bytes left', raw({ kvs: [kv('a', V.STRING, u64(2n ** 62n))] }), /key 'a' length 4611686018427387904 .* larger than the 0 bytes left/],
    ['array count > bytes left', raw({ kvs: [kv('a', V.ARRAY, cat(u32(V.UINT32), u64(3), u32(1), u32(2)))] }), /key 'a' array count 3 .* larger than the 8 bytes left/],
    ['string array count', raw({ kvs: [kv('a', V.ARRAY, cat(u32(V.STRING), u64(2), u64(0)))] }), /array count 2 .* larger than the 8 bytes left/],
    ['unknown array item type', raw({ kvs: [kv('a', V.ARRAY, cat(u32(99), u64(0)))] }), /key 'a': unknown array item type 99/],
    [
      'arrays nested too deep',
      raw({ kvs: [kv('a', V.ARRAY, cat(...Array.from({ length: 40 }, () => cat(u32(V.ARRAY), u64(1)))))] }),
      /arrays nested deeper than 16 levels/,
    ],
    ['alignment 48', raw({ kvs: [kv('general.alignment', V.UINT32, u32(48))] }), /general\.alignment is 48, not a power of two/],
    ['alignment 0', raw({ kvs: [kv('general.alignment', V.UINT32, u32(0))] }), /general\.alignment is 0, not a power of two/],
    ['alignment string', raw({ kvs: [kv('general.alignment', V.STRING, str('32'))] }), /general\.alignment must be an unsigned integer \(UINT32\), not STRING/],
    ['alignment negative', raw({ kvs: [kv('general.alignment', V.INT32, u32(-32 >>> 0))] }), /general\.alignment is -32/],
    ['tensor name > bytes left', raw({ nTensors: 1, kvs: [], tis: [u64(1 << 20), new Uint8Array(40)] }), /tensor 0 name length 1048576/],
    ['duplicate tensor names', raw({ tis: [F32_4, ti('t', [4], GGMLType.F32, 32)], data: 64 }), /^duplicate tensor name 't'$/],
    ['name with newline quoted', raw({ tis: [ti('a\nb', [4], 0, 0), ti('a\nb', [4], 0, 32)], data: 64 }), /^duplicate tensor name 'a\\u000ab'$/],
    ['0 dims', raw({ tis: [ti('t', [], GGMLType.F32, 0)], data: 32 }), /tensor 't' has 0 dimensions \(must be 1\.\.4\)/],
    ['5 dims', raw({ tis: [ti('t', [1, 1, 1, 1, 1], GGMLType.F32, 0)], data: 32 }), /has 5 dimensions/],
    ['n_dims huge', raw({ tis: [cat(str('t'), u32(0xffffffff), new Uint8Array(40))] }), /has 4294967295 dimensions/],
    ['zero dim', raw({ tis: [ti('t', [4, 0], GGMLType.F32, 0)], data: 32 }), /tensor 't' dimension ne\[1\] = 0/],
    ['negative dim', raw({ tis: [ti('t', [-4], GGMLType.F32, 0)], data: 32 }), /dimension ne\[0\] = -4/],
    ['dim > 2^53', raw({ tis: [ti('t', [2n ** 60n], GGMLType.I8, 0)], data: 32 }), /dimension ne\[0\] = 1152921504606846976/],
    ['size overflow', raw({ tis: [ti('t', [2 ** 30, 2 ** 30], GGMLType.F32, 0)], data: 32 }), /shape \[1073741824, 1073741824\] of F32 overflows 2\^53 bytes/],
    ['row not a block multiple', raw({ tis: [ti('t', [33], GGMLType.Q4_0, 0)], data: 32 }), /row length ne\[0\] = 33 is not a multiple of the Q4_0 block size 32/],
    ['K-quant row', raw({ tis: [ti('t', [128], GGMLType.Q4_K, 0)], data: 256 }), /not a multiple of the Q4_K block size 256/],
    ['removed type id 4', raw({ tis: [ti('t', [32], 4, 0)], data: 32 }), /tensor 't': unknown tensor type id 4/],
    ['unknown type id 1000', raw({ tis: [ti('t', [32], 1000, 0)], data: 32 }), /unknown tensor type id 1000/],
    ['offset misaligned', raw({ tis: [ti('t', [4], GGMLType.F32, 16)], data: 64 }), /data offset 16 is not a multiple of the alignment 32/],
    ['offset > 2^53', raw({ tis: [ti('t', [4], GGMLType.F32, 2n ** 60n)], data: 32 }), /data offset 1152921504606846976 is beyond 2\^53/],
    ['data past end of file', raw({ tis: [F32_4], data: 15 }), /tensor 't' data \[\d+, \d+\) runs past the end of the file/],
    ['offset past end of file', raw({ tis: [ti('t', [4], GGMLType.F32, 2 ** 40)], data: 32 }), /runs past the end of the file/],
    ['no data section at all', raw({ tis: [F32_4] }).subarray(0, 60), /tensor data would start at byte 64, past the end of the file \(60 bytes\)/],
    [
      'overlapping tensors',
      raw({ tis: [ti('a', [16], GGMLType.F32, 0), ti('b', [4], GGMLType.F32, 32)], data: 64 }),
      /tensors 'a' and 'b' overlap/,
    ],
  ];
  for (const [label, bytes, re] of cases) {
    it(label, () => {
      const r = outcome(bytes, 'bad.gguf');
      assert.equal(r.ok, false, 'must be rejected');
      if (!r.ok) assert.match(r.problem, re);
    });
  }

  const accepted: [string, Uint8Array][] = [
    ['PWRI magic', raw({ magic: 'PWRI', tis: [F32_4], data: 32 })],
    ['version 2', raw({ version: 2, tis: [F32_4], data: 16 })],
    ['tensor name of 100 bytes (llama.cpp refuses; we read it)', raw({ tis: [ti('n'.repeat(100), [4], 0, 0)], data: 16 })],
    ['gap between tensors, stored out of order', raw({ tis: [ti('a', [4], 0, 64), ti('b', [4], 0, 0)], data: 96 })],
    ['alignment 1 as UINT8', raw({ kvs: [kv('general.alignment', V.UINT8, [1])], tis: [ti('t', [3], 0, 0), ti('u', [1], 0, 12)], data: 16, align: 1 })],
    ['0 tensors, no padding', raw({ kvs: [kv('a', V.UINT8, [1])] })],
    ['invalid UTF-8 string (decoded with U+FFFD)', raw({ kvs: [kv('a', V.STRING, cat(u64(2), [0xff, 0xfe]))] })],
  ];
  for (const [label, bytes] of accepted) {
    it(`accepts ${label}`, () => assert.deepEqual(outcome(bytes, 'ok.gguf'), { ok: true }));
  }

  it('reports the magic it read', () => {
    assert.equal(parseGguf(raw({ magic: 'PWRI' }), 'p').magic, 'PWRI');
    assert.equal(parseGguf(raw({ kvs: [kv('a', V.STRING, cat(u64(2), [0xff, 0xfe]))] }), 'p').metadata.get('a')?.value, '\ufffd\ufffd');
  });
});
