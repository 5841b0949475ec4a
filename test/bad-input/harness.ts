/**
 * Shared checks of the bad-input tests: what counts as a clean error, what a successful load must
 * satisfy, a seeded PRNG, and a small independent GGUF header walker for patching bytes.
 *
 * A clean error (engine-spine issue, "bad input"): a `RelufyError` whose message starts with the
 * path of the file at fault (the folder, for a Hugging Face folder), names a problem after it, and
 * is one line. Anything else thrown (RangeError, TypeError, Node's ENOENT, ...) is a loader bug.
 */
import assert from 'node:assert/strict';
import { RelufyError } from '../../src/errors.js';
import { tensorBytes } from '../../src/formats/quant/traits.js';
import { configProblem } from '../../src/model/config.js';
import { KernelEngine } from '../../src/model/engine.js';
import type { LoadedModel } from '../../src/model/types.js';
import { expectedTensorShapes, validateTensors } from '../../src/model/weights.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { tinyModel } from '../fixtures/tiny-model.js';
import { Rng } from '../../src/rng.js';

/** Longest message still accepted as "one line" for a terminal. */
export const MAX_MESSAGE_CHARS = 2000;

/** First stack frame of an error, for reports (`at fn (file:line:col)`). */
export function whereThrown(e: unknown): string {
  if (!(e instanceof Error) || !e.stack) return '';
  const frame = e.stack.split('\n').find((l) => /^\s+at /.test(l));
  return frame ? frame.trim().replace(/file:\/\/\/work\/main\//g, '') : '';
}

/** `Name: message` of anything thrown, for reports (one line, cut). */
export function describeThrown(e: unknown): string {
  const s = e instanceof Error ? `${e.constructor.name}: ${e.message}` : `non-Error thrown: ${String(e)}`;
  const one = s.replace(/\r?\n/g, '\\n');
  return one.length > 300 ? `${one.slice(0, 297)}...` : one;
}

/**
 * Why `e` is not a clean error for a file at `prefix`, or null when it is.
 * Clean: `instanceof RelufyError`, message starts with `prefix` and says something after it,
 * no line breaks, at most MAX_MESSAGE_CHARS characters.
 */
export function uncleanReason(e: unknown, prefix: string): string | null {
  if (!(e instanceof RelufyError)) return `not a RelufyError: ${describeThrown(e)} ${whereThrown(e)}`.trim();
  const m = e.message;
  if (/[\r\n\u2028\u2029]/.test(m)) return `multi-line message: ${describeThrown(e)}`;
  if (!m.startsWith(prefix)) return `message does not start with ${prefix}: ${describeThrown(e)}`;
  if (m.length <= prefix.length + 2) return `message names no problem: ${describeThrown(e)}`;
  if (m.length > MAX_MESSAGE_CHARS) return `message is ${m.length} characters long: ${describeThrown(e)}`;
  return null;
}

/** Runs `f` (sync or async) and returns what it threw, failing the test when it did not throw. */
export async function thrown(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  assert.fail('expected an error, but the call succeeded');
}

/**
 * Asserts that `f` fails with a clean error for the file `prefix` whose message matches `problem`.
 * Returns the message.
 */
export async function assertCleanError(f: () => unknown, prefix: string, problem?: RegExp): Promise<string> {
  const e = await thrown(f);
  const why = uncleanReason(e, prefix);
  assert.equal(why, null, why ?? '');
  const msg = (e as Error).message;
  if (problem) assert.match(msg.slice(prefix.length), problem, `wrong problem reported: ${msg}`);
  return msg;
}

/** Tensors a model may carry besides `expectedTensorShapes` (used by some engine or just tolerated copies). */
const ALLOWED_EXTRA = /^(output\.weight|rope_freqs\.weight|blk\.\d+\.(ffn_down_t|fc1|fc2)\.weight)$/;

/** A tokenizer that is only used to let the engine smoke-run models loaded without one. */
let smokeTokenizer: Tokenizer | undefined;

/**
 * Why a model that loaded without error should have been refused, or null when it is sound:
 * invalid config, a tensor whose bytes do not match its type and shape, a missing / misshapen
 * tensor, a stored tensor the model never uses (silently ignored, e.g. a renamed output.weight
 * read as tied embeddings), a tokenizer of another size, or an engine that cannot run one token
 * through it (anything but a clean error naming the file).
 */
export function unsoundLoadReason(m: LoadedModel): string | null {
  const problem = configProblem(m.config);
  if (problem) return `loaded an invalid config: ${problem}`;
  for (const [name, t] of m.tensors) {
    let want: number | null;
    try {
      want = tensorBytes(t.type, t.shape);
    } catch (e) {
      return `tensor ${name}: type/shape not sizable (${describeThrown(e)})`;
    }
    if (want !== t.data.byteLength) return `tensor ${name}: ${t.data.byteLength} bytes of data for ${want} expected`;
  }
  try {
    validateTensors(m.path, m.config, m.tensors);
  } catch (e) {
    return `loaded tensors fail validateTensors: ${describeThrown(e)}`;
  }
  const expected = expectedTensorShapes(m.config);
  for (const info of m.tensorInfos) {
    if (!expected.has(info.name) && !ALLOWED_EXTRA.test(info.name)) return `stored tensor ${JSON.stringify(info.name)} is silently ignored`;
  }
  if (m.tokenizer && m.tokenizer.vocab_size !== m.config.vocab_size)
    return `tokenizer has ${m.tokenizer.vocab_size} tokens, config vocab_size ${m.config.vocab_size}`;
  // The engine must run it or refuse it cleanly, naming the file.
  try {
    smokeTokenizer ??= tinyModel().tokenizer!;
    const engine = new KernelEngine(m.tokenizer ? m : { ...m, tokenizer: smokeTokenizer });
    engine.createSession({ capacity: 4 }).forward([1]);
  } catch (e) {
    const why = uncleanReason(e, m.path);
    if (why) return `the engine then fails: ${why}`;
  }
  return null;
}

/** Why a tokenizer that loaded should have been refused (it cannot encode/decode), or null. */
export function unsoundTokenizerReason(t: Tokenizer): string | null {
  if (!(t.vocab_size > 0)) return `tokenizer with ${t.vocab_size} tokens`;
  try {
    const ids = t.encode('Hello world, naïve café 🙂 <s> 123');
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= t.vocab_size) return `encode gave token id ${id}`;
    t.decode(ids);
    const s = t.createStreamDecoder();
    for (const id of ids) s.push(id);
  } catch (e) {
    return `loads, but encode/decode then throw: ${describeThrown(e)} ${whereThrown(e)}`;
  }
  return null;
}

/** Seeded uniform uint32 generator (the project's mulberry32). */
export function prng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.nextU32();
}

/** FNV-1a of a string, to derive per-source seeds. */
export function hashSeed(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

// ---- GGUF header walker (independent of src/formats/gguf, to locate fields for patching) ----

export interface GgufKvAt {
  key: string;
  /** Offset of the key's u64 length. */
  at: number;
  /** Offset of the u32 value type. */
  typeAt: number;
  /** Offset of the value. */
  valueAt: number;
  type: number;
}

export interface GgufTensorAt {
  name: string;
  /** Offset of the name's u64 length. */
  at: number;
  nameBytesAt: number;
  nDimsAt: number;
  /** Offsets of each i64 ne[j]. */
  dimsAt: number[];
  typeAt: number;
  offsetAt: number;
}

export interface GgufLayout {
  nTensorsAt: number;
  nKvAt: number;
  kvs: GgufKvAt[];
  tensors: GgufTensorAt[];
  headerEnd: number;
}

const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** Field offsets of a valid GGUF v2/v3 header. */
export function ggufLayout(b: Uint8Array): GgufLayout {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dec = new TextDecoder();
  let p = 8;
  const u64 = (): number => {
    const v = Number(dv.getBigUint64(p, true));
    p += 8;
    return v;
  };
  const u32 = (): number => {
    const v = dv.getUint32(p, true);
    p += 4;
    return v;
  };
  const str = (): string => {
    const n = u64();
    const s = dec.decode(b.subarray(p, p + n));
    p += n;
    return s;
  };
  const skipValue = (type: number): void => {
    if (type === 8) str();
    else if (type === 9) {
      const it = u32();
      const n = u64();
      for (let i = 0; i < n; i++) skipValue(it);
    } else p += SCALAR_SIZE[type]!;
  };
  const nTensorsAt = p;
  const nTensors = u64();
  const nKvAt = p;
  const nKv = u64();
  const kvs: GgufKvAt[] = [];
  for (let i = 0; i < nKv; i++) {
    const at = p;
    const key = str();
    const typeAt = p;
    const type = u32();
    const valueAt = p;
    skipValue(type);
    kvs.push({ key, at, typeAt, valueAt, type });
  }
  const tensors: GgufTensorAt[] = [];
  for (let i = 0; i < nTensors; i++) {
    const at = p;
    const name = str();
    const nDimsAt = p;
    const nd = u32();
    const dimsAt: number[] = [];
    for (let j = 0; j < nd; j++) {
      dimsAt.push(p);
      p += 8;
    }
    const typeAt = p;
    p += 4;
    const offsetAt = p;
    p += 8;
    tensors.push({ name, at, nameBytesAt: at + 8, nDimsAt, dimsAt, typeAt, offsetAt });
  }
  return { nTensorsAt, nKvAt, kvs, tensors, headerEnd: p };
}

/** The kv / tensor entry named `name`, failing the test when absent. */
export function kvAt(l: GgufLayout, key: string): GgufKvAt {
  const kv = l.kvs.find((k) => k.key === key);
  assert.ok(kv, `fixture has no metadata key ${key}`);
  return kv;
}
export function tensorAt(l: GgufLayout, name: string): GgufTensorAt {
  const t = l.tensors.find((x) => x.name === name);
  assert.ok(t, `fixture has no tensor ${name}`);
  return t;
}

/** A copy of `b` with little-endian integers written at offsets. */
export function patched(b: Uint8Array, edits: { at: number; u32?: number; u64?: bigint; i64?: bigint; bytes?: Uint8Array | string }[]): Uint8Array {
  const out = new Uint8Array(b); // a copy (Buffer#slice would be a view)
  const dv = new DataView(out.buffer);
  for (const e of edits) {
    if (e.u32 !== undefined) dv.setUint32(e.at, e.u32, true);
    if (e.u64 !== undefined) dv.setBigUint64(e.at, e.u64, true);
    if (e.i64 !== undefined) dv.setBigInt64(e.at, e.i64, true);
    if (e.bytes !== undefined) out.set(typeof e.bytes === 'string' ? new TextEncoder().encode(e.bytes) : e.bytes, e.at);
  }
  return out;
}

/** Runs every check (each an assertion), then fails listing all that failed, not just the first. */
export async function everyCheck(checks: Record<string, () => Promise<unknown>>): Promise<void> {
  const failed: string[] = [];
  for (const [what, check] of Object.entries(checks)) {
    try {
      await check();
    } catch (e) {
      failed.push(`${what}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
  }
  assert.ok(failed.length === 0, `${failed.length} of ${Object.keys(checks).length} checks failed:\n  ${failed.join('\n  ')}`);
}
