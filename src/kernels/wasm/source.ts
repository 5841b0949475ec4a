import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { FormatError } from '../../errors.js';
import { openGguf, POWERINFER, readTensor } from '../../formats/gguf/index.js';
import type { GGUFKV } from '../../formats/gguf/types.js';
import type { GGMLType, Tensor } from '../../formats/quant/types.js';
import { loadModel } from '../../model/load.js';
import type { ModelConfig } from '../../model/config.js';
import type { LoadedModel } from '../../model/types.js';
import type { Tokenizer } from '../../tokenizer/types.js';

/** Name, type and shape of a tensor, known before its bytes are read. */
export interface TensorInfo {
  name: string;
  type: GGMLType;
  shape: number[];
}

/**
 * Where the WASM engine reads weights from, one tensor at a time, so that a model file is never
 * held in JS memory whole while it is copied into wasm memory (peak = packed weights + one tensor).
 */
export interface TensorSource {
  path: string;
  modelId: string;
  config: ModelConfig;
  tokenizer: Tokenizer | null;
  /** PowerInfer's predictor threshold `powerinfer.sparse_threshold`, when the file has one. */
  sparseThreshold?: number;
  info(name: string): TensorInfo | undefined;
  /** The whole tensor (used for small 1-D weights). */
  read(name: string): Tensor;
  /** Raw bytes of rows [r0, r0+n) of a 2-D tensor into dst (n x row bytes). */
  readRows(name: string, r0: number, n: number, dst: Uint8Array): void;
  /** Releases file handles (idempotent). */
  close(): void;
}

/** A source over an already loaded model (its tensors stay wherever the caller keeps them). */
export function sourceFromModel(model: LoadedModel): TensorSource {
  return {
    path: model.path,
    modelId: modelIdOf(model.path),
    config: model.config,
    tokenizer: model.tokenizer,
    sparseThreshold: thresholdOf(model.gguf?.metadata),
    info: (name) => model.tensors.get(name),
    read: (name) => model.tensors.get(name)!,
    readRows: (name, r0, n, dst) => {
      const t = model.tensors.get(name)!;
      const rb = t.data.byteLength / t.shape[0]!;
      dst.set(t.data.subarray(r0 * rb, (r0 + n) * rb));
    },
    close: () => {},
  };
}

/**
 * A source reading tensors from a GGUF file on demand (config and tokenizer from the header).
 * @throws FormatError for malformed files (from the GGUF reader / loader).
 */
export function sourceFromGguf(path: string, options: { tokenizer?: string } = {}): TensorSource {
  const header = loadModel(path, { headerOnly: true, tokenizer: options.tokenizer });
  const f = header.gguf ?? openGguf(path);
  const infos = new Map(f.tensors.map((t) => [t.name, t]));
  let fd: number | null = null;
  return {
    path,
    modelId: modelIdOf(path),
    config: header.config,
    tokenizer: header.tokenizer,
    sparseThreshold: thresholdOf(f.metadata),
    info: (name) => infos.get(name),
    read: (name) => readTensor(f, infos.get(name)!),
    readRows: (name, r0, n, dst) => {
      const t = infos.get(name)!;
      const rb = t.byteLength / t.shape[0]!;
      fd ??= openSync(path, 'r');
      let done = 0;
      const want = n * rb;
      const at = f.dataOffset + t.offset + r0 * rb;
      while (done < want) {
        const got = readSync(fd, dst, done, want - done, at + done);
        if (got <= 0) throw new FormatError(path, `tensor ${name} data runs past the end of the file`);
        done += got;
      }
    },
    close: () => {
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  };
}

/** `path|bytes|mtime` (same form as model/engine.ts `modelIdOf`). */
function modelIdOf(path: string): string {
  try {
    const st = statSync(path);
    return `${path}|${st.size}|${Math.floor(st.mtimeMs)}`;
  } catch {
    return path;
  }
}

/** `powerinfer.sparse_threshold` (f32) from GGUF metadata, if present and numeric. */
function thresholdOf(meta: Map<string, GGUFKV> | undefined): number | undefined {
  const v = meta?.get(POWERINFER.SPARSE_THRESHOLD)?.value;
  return typeof v === 'number' ? v : undefined;
}
