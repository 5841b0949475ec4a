import { freemem } from 'node:os';
import { RelufyError } from '../../errors.js';

/** What one shard plan has to place. All sizes in bytes. */
export interface ShardInput {
  /** Packed token embedding. */
  embd: number;
  /** Packed output head + output norm (0 when tied to the embedding). */
  output: number;
  /** Per layer: packed weights + norms. */
  layers: number[];
  /** Per layer: KV cache reserved for the largest context (2 x capacity x kv_dim x 4). */
  kvPerLayer: number;
  /** Activation buffers, descriptors and staging every memory holds. */
  perMemory: number;
  /** Extra for the memory holding the output head (logits). */
  outputBuffers: number;
}

/** Which wasm memory holds what. */
export interface ShardPlan {
  /** Number of WebAssembly memories. */
  memories: number;
  embdMem: number;
  outputMem: number;
  layerMem: number[];
  /** Planned bytes per memory (weights + KV reserve + buffers). */
  bytes: number[];
  /** Sum of `bytes`. */
  total: number;
}

/**
 * Spreads a model over WebAssembly memories of at most `limit` bytes each (4 GiB in Node 20;
 * memory64 and multi-memory are not usable there, shared/docs/kernel-notes.md section 5):
 * the embedding first, then whole layers in order, starting a new memory when the next layer does
 * not fit, then the output head. Only the activation vector crosses between memories.
 * @throws RelufyError when a single piece is larger than one memory.
 */
export function planShards(s: ShardInput, limit: number): ShardPlan {
  const bytes: number[] = [s.perMemory];
  const place = (size: number, what: string): number => {
    if (s.perMemory + size > limit) throw new RelufyError(`${what} needs ${fmtBytes(size)}, more than one WebAssembly memory holds (${fmtBytes(limit - s.perMemory)})`);
    let m = bytes.length - 1;
    if (bytes[m]! + size > limit) {
      bytes.push(s.perMemory);
      m++;
    }
    bytes[m]! += size;
    return m;
  };
  const embdMem = place(s.embd, 'the token embedding');
  const layerMem = s.layers.map((b, i) => place(b + s.kvPerLayer, `layer ${i}`));
  const outputMem = place(s.output + s.outputBuffers, 'the output head');
  return { memories: bytes.length, embdMem, outputMem, layerMem, bytes, total: bytes.reduce((a, b) => a + b, 0) };
}

/**
 * Checks that the planned bytes fit in the memory this machine has free (os.freemem, which is
 * Linux MemAvailable), before anything is loaded.
 * @throws RelufyError naming the bytes needed and available.
 */
export function checkFits(plan: ShardPlan, what: string, available = freemem()): void {
  if (plan.total > available) {
    throw new RelufyError(
      `${what} does not fit in memory: needs ${fmtBytes(plan.total)} (${plan.total} bytes: weights, KV cache and buffers ` +
      `in ${plan.memories} WebAssembly memor${plan.memories === 1 ? 'y' : 'ies'}), ${fmtBytes(available)} (${available} bytes) available`,
    );
  }
}

/** 1.23 GiB style. */
export function fmtBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}
