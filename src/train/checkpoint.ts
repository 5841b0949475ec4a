import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../errors.js';
import { writeFileAtomic } from '../formats/safetensors/index.js';
import type { ModelConfig } from '../model/config.js';
import type { MixState } from './data.js';

/**
 * Training checkpoint file (`ckpt-NNNNNNNN.bin` in OUT_DIR/checkpoints), written atomically:
 *   magic "RLFYCKPT" (8 bytes) | u32 version | u32 header bytes | header JSON (UTF-8), zero-padded
 *   to a multiple of 4 | params f32[n] | adam m f32[n] | adam v f32[n] | sha256 of everything before (32 bytes)
 * The header holds the step, data position and RNG state, so a resumed run continues exactly.
 */
export const CKPT_MAGIC = 'RLFYCKPT';
export const CKPT_VERSION = 1;

export interface CheckpointHeader {
  /** Optimizer steps done. */
  step: number;
  tokens: number;
  /** Training seconds so far (for the model card). */
  elapsed: number;
  recipeHash: string;
  config: ModelConfig;
  paramCount: number;
  data: MixState;
}

export interface Checkpoint {
  header: CheckpointHeader;
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export function checkpointName(step: number): string {
  return `ckpt-${String(step).padStart(8, '0')}.bin`;
}

function bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Writes a checkpoint atomically (temp file + fsync + rename). */
export function writeCheckpoint(path: string, ck: Checkpoint): void {
  const json = Buffer.from(JSON.stringify(ck.header), 'utf8');
  const pad = (4 - (json.length % 4)) % 4;
  const head = Buffer.alloc(16);
  head.write(CKPT_MAGIC, 0, 'latin1');
  head.writeUInt32LE(CKPT_VERSION, 8);
  head.writeUInt32LE(json.length + pad, 12);
  const chunks = [head, json, Buffer.alloc(pad, 0x20), bytes(ck.params), bytes(ck.m), bytes(ck.v)];
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  writeFileAtomic(path, [...chunks, h.digest()]);
}

/**
 * Reads and verifies a checkpoint.
 * @throws FormatError(path, ...) for a missing, truncated, corrupt (checksum) or foreign file.
 */
export function readCheckpoint(path: string): Checkpoint {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new FormatError(path, `cannot read checkpoint (${(e as Error).message})`);
  }
  if (buf.length < 16 + 32) throw new FormatError(path, `checkpoint is truncated (${buf.length} bytes)`);
  if (buf.toString('latin1', 0, 8) !== CKPT_MAGIC) throw new FormatError(path, 'not a relufy training checkpoint (bad magic)');
  const version = buf.readUInt32LE(8);
  if (version !== CKPT_VERSION) throw new FormatError(path, `checkpoint version ${version} is not supported (expected ${CKPT_VERSION})`);
  const hlen = buf.readUInt32LE(12);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(buf.toString('utf8', 16, 16 + hlen)) as CheckpointHeader;
  } catch {
    throw new FormatError(path, buf.length < 16 + hlen ? 'checkpoint is truncated (header cut off)' : 'checkpoint is corrupt (unreadable header)');
  }
  const n = header.paramCount;
  const expected = 16 + hlen + 3 * 4 * n + 32;
  if (!Number.isInteger(n) || buf.length !== expected) {
    throw new FormatError(path, buf.length < expected ? `checkpoint is truncated (${buf.length} of ${expected} bytes)` : `checkpoint has ${buf.length} bytes, expected ${expected}`);
  }
  const digest = createHash('sha256').update(buf.subarray(0, expected - 32)).digest();
  if (!digest.equals(buf.subarray(expected - 32))) throw new FormatError(path, 'checkpoint is corrupt (sha256 mismatch)');
  const arr = (i: number): Float32Array => {
    const o = 16 + hlen + i * 4 * n;
    return new Float32Array(buf.buffer.slice(buf.byteOffset + o, buf.byteOffset + o + 4 * n));
  };
  return { header, params: arr(0), m: arr(1), v: arr(2) };
}

/** Checkpoint files in a folder, oldest first. */
export function listCheckpoints(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^ckpt-\d{8}\.bin$/.test(f)).sort().map((f) => join(dir, f));
}

/** Deletes all but the newest `keep` checkpoints. */
export function pruneCheckpoints(dir: string, keep: number): void {
  const all = listCheckpoints(dir);
  for (const f of all.slice(0, Math.max(0, all.length - keep))) unlinkSync(f);
}

/**
 * The newest checkpoint of `dir`, verified. When it is damaged, the error names it and the previous
 * checkpoint (which is left in place) so the user can resume from that one.
 * @throws FormatError when there is none, or the newest is damaged.
 */
export function latestCheckpoint(dir: string): { path: string; ck: Checkpoint } {
  const all = listCheckpoints(dir);
  if (all.length === 0) throw new FormatError(dir, 'no checkpoint to resume from');
  const path = all[all.length - 1]!;
  try {
    return { path, ck: readCheckpoint(path) };
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    const prev = all.length > 1 ? all[all.length - 2]! : null;
    let hint = '; no earlier checkpoint exists';
    if (prev) {
      let intact = true;
      try {
        readCheckpoint(prev);
      } catch {
        intact = false;
      }
      hint = intact ? `; the previous checkpoint is intact: resume from it with --resume ${prev}` : `; the previous checkpoint ${prev} is damaged too`;
    }
    throw new FormatError(path, `${e.problem}${hint}`);
  }
}
