import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { UsageError } from '../../errors.js';
import {
  GGMLType,
  GGML_TYPE_LAYOUT,
  QUANT_TRAITS,
  bf16ToF32,
  dequantize,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  quantTraits,
  quantize,
  rowBytes,
  tensorBytes,
  typeLayout,
  typeName,
} from './index.js';
import type { CodecType } from './index.js';
import { mulberry32 as prng } from '../../rng.js';


function gaussian(n: number, seed: number): Float32Array {
  const r = prng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

function relRmse(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += a[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** Relative RMS round-trip error allowed for N(0,1) data (measured values are about half of these). */
const MAX_REL_RMSE: Record<CodecType, number> = {
  [GGMLType.F32]: 0,
  [GGMLType.F16]: 3e-4,
  [GGMLType.BF16]: 3e-3,
  [GGMLType.Q8_0]: 0.012,
  [GGMLType.Q4_0]: 0.15,
  [GGMLType.Q4_K]: 0.12,
  [GGMLType.Q6_K]: 0.035,
};
/** Types whose decoded values re-encode to the same bytes. */
const FIXED_POINT = new Set<number>([GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q8_0, GGMLType.Q4_0]);

describe('QUANT_TRAITS table', () => {
  const n = 256 * 16;
  for (const [key, traits] of Object.entries(QUANT_TRAITS)) {
    const type = Number(key) as CodecType;
    it(`${traits.name}: layout, zeros, round-trip error, fixed point`, () => {
      assert.equal(typeName(type), traits.name);
      assert.deepEqual(typeLayout(type), GGML_TYPE_LAYOUT[type]);
      assert.equal(traits.isQuantized, traits.blockSize > 1);
      const bytes = rowBytes(type, n);
      assert.equal(bytes, (n / traits.blockSize) * traits.typeSize);

      const zeros = new Uint8Array(bytes);
      traits.fromFloatRef(new Float32Array(n), zeros, n);
      const z = new Float32Array(n).fill(NaN);
      traits.toFloat(zeros, z, n);
      assert.ok(z.every((v) => v === 0), 'zeros decode to zeros');

      const x = gaussian(n, 1234 + type);
      const q = new Uint8Array(bytes);
      traits.fromFloatRef(x, q, n);
      const y = new Float32Array(n);
      traits.toFloat(q, y, n);
      const err = relRmse(x, y);
      assert.ok(err <= MAX_REL_RMSE[type], `${traits.name} relative RMSE ${err} > ${MAX_REL_RMSE[type]}`);

      // scaled data: error is relative, so it scales too
      const big = x.map((v) => v * 1000);
      const qb = new Uint8Array(bytes);
      traits.fromFloatRef(big, qb, n);
      const yb = new Float32Array(n);
      traits.toFloat(qb, yb, n);
      assert.ok(relRmse(big, yb) <= MAX_REL_RMSE[type] + 1e-9);

      // decoding from an unaligned offset gives the same values
      const shifted = new Uint8Array(bytes + 1);
      shifted.set(q, 1);
      const y2 = new Float32Array(n);
      traits.toFloat(shifted.subarray(1), y2, n);
      assert.deepEqual(y2, y);

      if (FIXED_POINT.has(type)) {
        const q2 = new Uint8Array(bytes);
        traits.fromFloatRef(y, q2, n);
        assert.deepEqual(q2, q, 'decoded values re-encode to the same bytes');
      }
    });
  }

  it('every GGMLType id has a layout; unknown ids have none', () => {
    for (const v of Object.values(GGMLType)) {
      if (typeof v === 'number') assert.ok(typeLayout(v), `layout for ${GGMLType[v]}`);
    }
    for (const id of [4, 5, 31, 36, 40, 255, -1, 1.5]) {
      assert.equal(typeLayout(id), undefined);
      assert.equal(quantTraits(id), undefined);
    }
    assert.equal(quantTraits(GGMLType.I32), undefined, 'I32 is raw, no codec');
    assert.equal(typeLayout(GGMLType.I32)?.typeSize, 4);
    assert.equal(typeName(40), 'type#40');
  });
});

/**
 * sha256 of ggml's own output for the input built in `goldenInput`: the reference quantizers
 * (`quantize_row_*_ref`, and GGML_FP32_TO_FP16 for F16) and the dequantizers
 * (`dequantize_row_*`) of ggml-org/ggml d99724f2 src/ggml-quants.c, compiled with gcc -O2 on
 * x86-64 (no FMA) into a small driver fed these exact float32 bytes.
 */
const GGML_GOLDEN: Partial<Record<CodecType, { quant: string; dequant?: string }>> = {
  [GGMLType.F16]: { quant: '9f02f1526796e71453fcc40c8d6310e63787782dda6a5f3bb094908ac2d18d15' },
  [GGMLType.Q4_0]: {
    quant: 'c486c9ace837bc487dc4651a904f2eb61678e572474cd4a03298e3fb7965e028',
    dequant: 'e0105e050869046fdf18a920a6f5301c38442b5aeb8e322a8312a03dce18a91b',
  },
  [GGMLType.Q8_0]: {
    quant: 'b2333155c22556ce1aa7945366cd24b243934b5c18ef458fbb1162067c2be0d7',
    dequant: '9a82dc0df4d77a271e165ba1d9bbe11703251a98ee869adbd81f846aea3c2f5d',
  },
  [GGMLType.Q4_K]: {
    quant: '8b7c1b3b92915a0adce8c55936bb4f26ae5ebba507ff1a309c9cb1fd8972e2d3',
    dequant: 'a00fc2ed766a0b3d5bf96b80ebcccfce8afae5e5a823b20ab27be9d072756838',
  },
  [GGMLType.Q6_K]: {
    quant: '0a0b03ae785ead509d61454794fa917d5cfdbfdaab248730a74e56e9e1457a2e',
    dequant: 'ef145c1fde1d7b86aadbb32015b6fe904c91dacad59c27ac131c2a04b5a65f6b',
  },
};

/** 4096 N(0,1) values with an all-zero start, a block of tiny values and a block of positives. */
function goldenInput(): Float32Array {
  const x = gaussian(4096, 2024);
  for (let i = 0; i < 64; i++) x[i] = 0;
  for (let i = 256; i < 512; i++) x[i] = x[i]! * 1e-3;
  for (let i = 512; i < 768; i++) x[i] = Math.abs(x[i]!) + 1;
  return x;
}

const sha256 = (b: Uint8Array | Float32Array) =>
  createHash('sha256').update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)).digest('hex');

describe('bit-exact with ggml', () => {
  for (const [key, golden] of Object.entries(GGML_GOLDEN)) {
    const type = Number(key) as CodecType;
    const traits = QUANT_TRAITS[type];
    it(`${traits.name}: reference quantizer${golden.dequant ? ' and dequantizer' : ''} match ggml output`, () => {
      const x = goldenInput();
      const q = new Uint8Array(rowBytes(type, x.length));
      traits.fromFloatRef(x, q, x.length);
      assert.equal(sha256(q), golden.quant);
      if (golden.dequant) {
        const y = new Float32Array(x.length);
        traits.toFloat(q, y, x.length);
        assert.equal(sha256(y), golden.dequant);
      }
    });
  }
});

describe('F16 / BF16 conversion', () => {
  it('f32ToF16 on hand-picked values (round to nearest even, subnormals, inf, nan)', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00], // halfway to the next binade: rounds to inf
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and 2^-24: even is 0
      [3 * 2 ** -26, 0x0001], // 0.75 of the smallest subnormal
      [3 * 2 ** -25, 0x0002], // 1.5 units: tie, rounds to even 2
      [1023 * 2 ** -24, 0x03ff], // largest subnormal
      [2 ** -14 - 2 ** -25, 0x0400], // tie between largest subnormal and smallest normal: even
      [1 + 2 ** -11, 0x3c00], // tie: even mantissa 0
      [1 + 3 * 2 ** -11, 0x3c02], // tie: even mantissa 2
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // above the tie
    ];
    for (const [x, h] of cases) assert.equal(f32ToF16(x), h, `f32ToF16(${x})`);
    const nan = f32ToF16(NaN);
    assert.equal(nan & 0x7c00, 0x7c00);
    assert.ok((nan & 0x3ff) !== 0 && (nan & 0x200) !== 0, 'quiet NaN');
  });

  it('f16ToF32 of every pattern re-encodes to itself; hand values', () => {
    for (let h = 0; h < 65536; h++) {
      const v = f16ToF32(h);
      if (Number.isNaN(v)) assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0);
      else assert.equal(f32ToF16(v), h, `h=0x${h.toString(16)}`);
    }
    assert.equal(f16ToF32(0x3c00), 1);
    assert.equal(f16ToF32(0xc000), -2);
    assert.equal(f16ToF32(0x0001), 2 ** -24);
    assert.equal(f16ToF32(0x7bff), 65504);
    assert.equal(f16ToF32(0x7c00), Infinity);
    assert.ok(Object.is(f16ToF32(0x8000), -0));
  });

  it('bf16 conversions follow ggml (nearest even, NaN quieted with | 64)', () => {
    const f32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0]!;
    assert.equal(f32ToBf16(1), 0x3f80);
    assert.equal(f32ToBf16(-1), 0xbf80);
    assert.equal(f32ToBf16(f32(0x3f808000)), 0x3f80); // tie, even stays
    assert.equal(f32ToBf16(f32(0x3f818000)), 0x3f82); // tie, odd rounds up
    assert.equal(f32ToBf16(f32(0x3f808001)), 0x3f81);
    assert.equal(f32ToBf16(f32(0x7f7fffff)), 0x7f80); // max float rounds to inf
    assert.equal(f32ToBf16(f32(0x7f800001)), 0x7fc0); // signalling NaN: (u >> 16) | 64
    assert.equal(f32ToBf16(f32(0xffc00000)), 0xffc0);
    assert.equal(f32ToBf16(f32(0x00000001)), 0x0000); // smallest subnormal rounds to 0
    assert.equal(bf16ToF32(0x4049), 3.140625);
    assert.equal(bf16ToF32(0xc000), -2);
    assert.equal(bf16ToF32(0x7f80), Infinity);
    for (let h = 0; h < 65536; h += 7) {
      const v = bf16ToF32(h);
      if (!Number.isNaN(v)) assert.equal(f32ToBf16(v), h);
    }
  });
});

describe('known blocks', () => {
  it('Q8_0 decodes a hand-built block and quantizes with roundf (ties away from zero)', () => {
    const block = new Uint8Array(34);
    block[0] = 0x00;
    block[1] = 0x38; // d = 0.5
    const qs = [1, -2, 127, -128, 0, 5];
    qs.forEach((q, j) => (block[2 + j] = q & 0xff));
    const y = dequantize({ name: 'b', type: GGMLType.Q8_0, shape: [32], data: block });
    assert.deepEqual([...y.slice(0, 6)], [0.5, -1, 63.5, -64, 0, 2.5]);
    assert.ok(y.slice(6).every((v) => v === 0));

    const x = new Float32Array(32);
    x.set([127, -2.5, 2.5, 0.5, -0.5, 1.49, -126.5, 0.51]); // amax 127 => d = 1
    const t = quantize(x, [32], GGMLType.Q8_0);
    assert.deepEqual([...t.data.slice(0, 2)], [0x00, 0x3c]); // f16 1.0
    const q = [...new Int8Array(t.data.buffer, t.data.byteOffset + 2, 8)];
    assert.deepEqual(q, [127, -3, 3, 1, -1, 1, -127, 1]);
  });

  it('Q4_0 decodes a hand-built block: low nibbles are elements 0..15, high nibbles 16..31', () => {
    const block = new Uint8Array(18);
    block[0] = 0x00;
    block[1] = 0x40; // d = 2
    for (let j = 0; j < 16; j++) block[2 + j] = j | ((15 - j) << 4);
    const y = dequantize({ name: 'b', type: GGMLType.Q4_0, shape: [32], data: block });
    for (let j = 0; j < 16; j++) {
      assert.equal(y[j], (j - 8) * 2);
      assert.equal(y[j + 16], (7 - j) * 2);
    }
  });

  it('Q4_0 reference quantizer: d = max / -8, q = min(15, trunc(x/d + 8.5))', () => {
    const x = new Float32Array(32);
    x.set([-8, 7, 7.9, 0.49, 0.5, -7.6, 1]); // max |x| is -8 => d = 1
    x[16] = 3; // element 16 goes to the high nibble of byte 0
    const t = quantize(x, [32], GGMLType.Q4_0);
    assert.deepEqual([...t.data.slice(0, 2)], [0x00, 0x3c]);
    const lo = [...t.data.slice(2, 9)].map((b) => b & 0xf);
    assert.deepEqual(lo, [0, 15, 15, 8, 9, 0, 9]);
    assert.equal(t.data[2]! >> 4, 11); // 3 + 8.5 => 11
    assert.equal(t.data[3]! >> 4, 8); // element 17 = 0 => 8

    const pos = new Float32Array(32);
    pos[0] = 8; // positive max => d = -1
    pos[1] = 4;
    const tp = quantize(pos, [32], GGMLType.Q4_0);
    assert.deepEqual([...tp.data.slice(0, 2)], [0x00, 0xbc]); // f16 -1.0
    const yp = dequantize(tp);
    assert.equal(yp[0], 8);
    assert.equal(yp[1], 4);
  });

  it('Q4_K decodes a hand-built super-block', () => {
    const sc = [1, 2, 3, 4, 17, 33, 50, 63];
    const m = [0, 1, 2, 3, 20, 40, 5, 63];
    const b = new Uint8Array(144);
    b.set([0x00, 0x3c, 0x00, 0x38]); // d = 1, dmin = 0.5
    for (let j = 0; j < 4; j++) {
      b[4 + j] = sc[j]! | ((sc[j + 4]! >> 4) << 6);
      b[4 + j + 4] = m[j]! | ((m[j + 4]! >> 4) << 6);
      b[4 + j + 8] = (sc[j + 4]! & 0xf) | ((m[j + 4]! & 0xf) << 4);
    }
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) b[16 + 32 * c + l] = (l % 16) | (((l + c) % 16) << 4);
    }
    const y = dequantize({ name: 'k', type: GGMLType.Q4_K, shape: [256], data: b });
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        assert.equal(y[64 * c + l], sc[2 * c]! * (l % 16) - 0.5 * m[2 * c]!);
        assert.equal(y[64 * c + 32 + l], sc[2 * c + 1]! * ((l + c) % 16) - 0.5 * m[2 * c + 1]!);
      }
    }
    assert.equal(y[0], 0);
    assert.equal(y[32 + 5], 9.5); // 2 * 5 - 0.5 * 1
    assert.equal(y[128 + 3], 41); // 17 * 3 - 0.5 * 20
    assert.equal(y[192 + 32 + 2], 283.5); // 63 * 5 - 0.5 * 63
  });

  it('Q6_K decodes a hand-built super-block', () => {
    const scales = [1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8];
    const L = Array.from({ length: 256 }, (_, i) => (i * 7) % 64);
    const b = new Uint8Array(210);
    for (let h = 0; h < 2; h++) {
      const j = 128 * h;
      for (let l = 0; l < 32; l++) {
        b[64 * h + l] = (L[j + l]! & 0xf) | ((L[j + l + 64]! & 0xf) << 4);
        b[64 * h + l + 32] = (L[j + l + 32]! & 0xf) | ((L[j + l + 96]! & 0xf) << 4);
        b[128 + 32 * h + l] =
          (L[j + l]! >> 4) | ((L[j + l + 32]! >> 4) << 2) | ((L[j + l + 64]! >> 4) << 4) | ((L[j + l + 96]! >> 4) << 6);
      }
    }
    scales.forEach((s, i) => (b[192 + i] = s & 0xff));
    b[208] = 0x00;
    b[209] = 0x34; // d = 0.25
    const y = dequantize({ name: 'k', type: GGMLType.Q6_K, shape: [256], data: b });
    for (let i = 0; i < 256; i++) assert.equal(y[i], 0.25 * scales[i >> 4]! * (L[i]! - 32), `element ${i}`);
    assert.equal(y[0], -8);
    assert.equal(y[17], -5.75);
    assert.equal(y[255], -50);
  });
});

describe('sizes and whole-tensor helpers', () => {
  it('rowBytes / tensorBytes', () => {
    assert.equal(rowBytes(GGMLType.Q4_0, 64), 36);
    assert.equal(rowBytes(GGMLType.Q6_K, 512), 420);
    assert.equal(rowBytes(GGMLType.I32, 3), 12);
    assert.throws(() => rowBytes(GGMLType.Q4_0, 33), UsageError);
    assert.throws(() => rowBytes(GGMLType.F32, -1), UsageError);
    assert.throws(() => rowBytes(99 as GGMLType, 4), UsageError);
    assert.equal(tensorBytes(GGMLType.Q4_K, [2, 512]), 576);
    assert.equal(tensorBytes(GGMLType.F16, [3, 4, 5, 6]), 720);
    assert.equal(tensorBytes(GGMLType.F32, []), 4);
    assert.equal(tensorBytes(GGMLType.I8, [2 ** 53 - 1]), 2 ** 53 - 1);
    assert.equal(tensorBytes(GGMLType.F32, [2 ** 53 - 1]), null);
    assert.equal(tensorBytes(GGMLType.F32, [2 ** 25, 2 ** 26 - 1]), 2 ** 53 - 2 ** 27);
    assert.equal(tensorBytes(GGMLType.F32, [2 ** 26, 2 ** 25]), null); // exactly 2^53
    assert.equal(tensorBytes(GGMLType.F32, [2 ** 26, 2 ** 25 + 1]), null);
    assert.equal(tensorBytes(GGMLType.F32, [2 ** 30, 2 ** 30, 2 ** 30, 2 ** 30]), null);
    assert.equal(tensorBytes(GGMLType.F32, [3, 3002399751580331]), null); // 3 * x > 2^53 - 1 by a hair
    assert.equal(tensorBytes(GGMLType.I8, [3, 3002399751580330]), 9007199254740990);
    assert.throws(() => tensorBytes(GGMLType.Q8_0, [4, 31]), UsageError);
    assert.throws(() => tensorBytes(GGMLType.F32, [2, 1.5]), UsageError);
  });

  it('quantize / dequantize keep shape and check their inputs', () => {
    const x = gaussian(2 * 64, 7);
    const t = quantize(x, [2, 64], GGMLType.Q8_0);
    assert.deepEqual(t.shape, [2, 64]);
    assert.equal(t.data.length, 2 * 2 * 34);
    assert.equal(dequantize(t).length, 128);
    assert.throws(() => quantize(x, [3, 64], GGMLType.Q8_0), UsageError);
    assert.throws(() => quantize(x, [4, 32], GGMLType.Q5_K), UsageError);
    assert.throws(() => dequantize({ name: 'i', type: GGMLType.I32, shape: [2], data: new Uint8Array(8) }), UsageError);
    assert.throws(() => dequantize({ name: 's', type: GGMLType.F32, shape: [4], data: new Uint8Array(8) }), UsageError);
  });
});
