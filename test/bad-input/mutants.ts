/**
 * Seeded mutation plans for the bad-input mutation test: truncations and byte edits of a valid
 * file, each described precisely enough to reproduce by hand (offsets and new bytes in hex).
 */
import { hashSeed, prng } from './harness.js';

/** One mutant: the original cut to `truncate` bytes, or with `edits` ([offset, new bytes]) applied. */
export interface Mutation {
  label: string;
  truncate?: number;
  edits?: [number, number[]][];
}

export interface MutationCounts {
  /** Truncate at every length 0 .. n-1. */
  truncEvery: number;
  /** Truncation lengths evenly spaced over the header region [truncEvery, headerEnd). */
  truncHeader: number;
  /** Truncation lengths evenly spaced over the whole file. */
  truncFile: number;
  /** Random edits (60% inside the header region, 40% anywhere). */
  edits: number;
  /** Edits of known structural fields (counts, lengths, dims, types, offsets): an interesting value or a small change. */
  fieldEdits?: number;
}

/** A little-endian integer field of the format: [offset, width in bytes (4 or 8)]. */
export type Field = [number, 4 | 8];

/** Integers that trip size arithmetic: 0, 1, sign bits, all-ones, 2^31, 2^32, 2^53, 2^63, 2^64 - 1. */
const INTERESTING_U32 = [0, 1, 2, 3, 7, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const INTERESTING_U64 = [0n, 1n, 0xffffffffn, 0x100000000n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];
/** Characters that change JSON structure or numbers. */
const JSON_CHARS = '"{}[],:0-9e.\\ \nntf'.split('').map((c) => c.charCodeAt(0));

const hex = (bs: number[]): string => bs.map((b) => b.toString(16).padStart(2, '0')).join(' ');

/**
 * The mutations of a file of `size` bytes whose first `headerEnd` bytes are its header / structure.
 * The first entry is always the unmodified file. Deterministic in (`seed`, `id`).
 */
export function planMutations(
  id: string,
  original: Uint8Array,
  headerEnd: number,
  counts: MutationCounts,
  seed: number,
  text = false,
  fields: Field[] = [],
): Mutation[] {
  const size = original.length;
  const out: Mutation[] = [{ label: 'unmodified file' }];
  const lengths = new Set<number>();
  for (let n = 0; n < Math.min(counts.truncEvery, size); n++) lengths.add(n);
  const hdrFrom = Math.min(counts.truncEvery, headerEnd);
  for (let i = 0; i < counts.truncHeader && headerEnd > hdrFrom; i++) lengths.add(hdrFrom + Math.floor(((headerEnd - hdrFrom) * i) / counts.truncHeader));
  for (let i = 1; i <= counts.truncFile; i++) lengths.add(Math.floor((size * i) / (counts.truncFile + 1)));
  for (const n of [...lengths].sort((a, b) => a - b)) if (n < size) out.push({ label: `truncated to ${n} of ${size} bytes`, truncate: n });

  const r = prng(hashSeed(id, seed));
  const below = (n: number): number => r() % Math.max(1, n);
  const pos = (): number => (r() % 10 < 6 ? below(Math.min(headerEnd, size)) : below(size));
  for (let i = 0; i < counts.edits; i++) {
    const kind = r() % (text ? 7 : 6);
    const p = pos();
    const edits: [number, number[]][] = [];
    let what: string;
    if (kind === 0 || kind === 1) {
      const bit = r() % 8;
      edits.push([p, [original[p]! ^ (1 << bit)]]);
      what = `bit ${bit} flipped`;
    } else if (kind === 2) {
      let v = r() & 0xff;
      if (v === original[p]) v ^= 0x55;
      edits.push([p, [v]]);
      what = 'byte replaced';
    } else if (kind === 3) {
      const n = 2 + below(7);
      const bs: number[] = [];
      for (let k = 0; k < n && p + k < size; k++) bs.push(r() & 0xff);
      edits.push([p, bs]);
      what = `${bs.length} random bytes`;
    } else if (kind === 4) {
      const wide = r() % 2 === 0;
      const bs: number[] = [];
      if (wide) {
        let v = INTERESTING_U64[below(INTERESTING_U64.length)]!;
        for (let k = 0; k < 8; k++, v >>= 8n) bs.push(Number(v & 0xffn));
      } else {
        let v = INTERESTING_U32[below(INTERESTING_U32.length)]!;
        for (let k = 0; k < 4; k++, v >>>= 8) bs.push(v & 0xff);
      }
      edits.push([p, bs.slice(0, size - p)]);
      what = `${wide ? 'u64' : 'u32'} overwritten`;
    } else if (kind === 5) {
      const n = 2 + below(5);
      for (let k = 0; k < n; k++) {
        const q = k === 0 ? p : pos();
        edits.push([q, [original[q]! ^ (1 << (r() % 8))]]);
      }
      what = `${n} scattered bit flips`;
    } else {
      let c = JSON_CHARS[below(JSON_CHARS.length)]!;
      if (c === original[p]) c = 0x22;
      edits.push([p, [c]]);
      what = 'character replaced';
    }
    const detail = edits.map(([at, bs]) => `@${at}: ${hex([...original.subarray(at, at + bs.length)])} -> ${hex(bs)}`).join('; ');
    out.push({ label: `${what} ${detail}`, edits });
  }

  const dv = new DataView(original.buffer, original.byteOffset, original.byteLength);
  for (let i = 0; i < (fields.length > 0 ? counts.fieldEdits ?? 0 : 0); i++) {
    const [at, width] = fields[below(fields.length)]!;
    if (at + width > size) continue;
    const old = width === 4 ? BigInt(dv.getUint32(at, true)) : dv.getBigUint64(at, true);
    const mask = width === 4 ? 0xffffffffn : 0xffffffffffffffffn;
    const choice = r() % 4;
    let v: bigint;
    if (choice === 0) v = width === 4 ? BigInt(INTERESTING_U32[below(INTERESTING_U32.length)]!) : INTERESTING_U64[below(INTERESTING_U64.length)]!;
    else if (choice === 1) v = old + BigInt([1, -1, 2, -2, 32, -32][below(6)]!);
    else if (choice === 2) v = old * BigInt([2, 3, 256, 65536][below(4)]!);
    else v = old ^ (1n << BigInt(r() % (8 * width)));
    v &= mask;
    if (v === old) v ^= 1n;
    const bs: number[] = [];
    for (let k = 0, x = v; k < width; k++, x >>= 8n) bs.push(Number(x & 0xffn));
    out.push({ label: `field u${8 * width} @${at}: ${old} -> ${v}`, edits: [[at, bs]] });
  }
  return out;
}

/** The mutant bytes of `m`. */
export function applyMutation(original: Uint8Array, m: Mutation): Uint8Array {
  if (m.truncate !== undefined) return original.subarray(0, m.truncate);
  if (!m.edits) return original;
  const b = new Uint8Array(original); // a copy (Buffer#slice would be a view)
  for (const [at, bs] of m.edits) b.set(bs, at);
  return b;
}

// ---- protocol between mutation.test.ts and mutation-worker.ts ----

export interface CaseFailure {
  index: number;
  label: string;
  reason: string;
  ms: number;
}

/** Slots of the shared stats array. */
export const STAT = {
  /** Index of the case running now, -1 when none. */
  index: 0,
  /** Date.now() when it started. */
  startedAt: 1,
  ok: 2,
  clean: 3,
  maxCaseMs: 4,
  maxArrayBufferMB: 5,
  /** Growth of the worker's own memory (V8 heap committed + ArrayBuffers) since the first case. */
  memGrowthMB: 6,
  /** Growth of the process RSS (all threads) while the worker ran. */
  rssGrowthMB: 7,
  size: 8,
} as const;

/** Longest a single case may take. */
export const CASE_BUDGET_MS = 2000;
