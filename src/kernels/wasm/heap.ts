import { RelufyError } from '../../errors.js';
import { WA, type WasmMemory } from './wasm-api.js';

/** WebAssembly page size in bytes. */
export const PAGE = 65536;
/** Largest 32-bit wasm memory: 65536 pages = 4 GiB (Node 20 / V8 11.3; memory64 is capped the same). */
export const MAX_MEMORY_BYTES = 65536 * PAGE;
/** Lowest address handed out (the module's static data lives below; checked against heap_base). */
export const HEAP_START = 64 * 1024;

/**
 * One shared WasmMemory with a first-fit allocator. Blocks are 64-byte aligned (cache lines).
 * Memory grows on demand up to `limit` bytes (at most 4 GiB).
 */
export class WasmHeap {
  readonly memory: WasmMemory;
  readonly limit: number;
  private top = HEAP_START;
  /** Free blocks [ptr, size], sorted by ptr. */
  private free: [number, number][] = [];
  private sizes = new Map<number, number>();

  /**
   * @param limit maximum bytes of this memory (multiple of 64 KiB, <= 4 GiB)
   * @param initialBytes bytes to commit at once
   */
  constructor(limit = MAX_MEMORY_BYTES, initialBytes = 1 << 20) {
    if (limit > MAX_MEMORY_BYTES) throw new RelufyError(`wasm memory limit ${limit} exceeds 4 GiB`);
    this.limit = limit;
    const pages = Math.max(2, Math.ceil(initialBytes / PAGE));
    this.memory = new WA.Memory({ initial: pages, maximum: limit / PAGE, shared: true });
  }

  /** Bytes handed out so far (high-water mark). */
  get used(): number {
    return this.top;
  }

  /**
   * Allocates `bytes` (rounded up to 64).
   * @throws RelufyError when the memory would exceed its limit.
   */
  alloc(bytes: number): number {
    const size = Math.max(64, Math.ceil(bytes / 64) * 64);
    for (let i = 0; i < this.free.length; i++) {
      const [p, s] = this.free[i]!;
      if (s >= size) {
        if (s === size) this.free.splice(i, 1);
        else this.free[i] = [p + size, s - size];
        this.sizes.set(p, size);
        return p;
      }
    }
    const p = this.top;
    if (p + size > this.limit) {
      throw new RelufyError(`out of WebAssembly memory: need ${size} more bytes, ${this.limit - p} of ${this.limit} left in this memory`);
    }
    this.top = p + size;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) this.memory.grow(Math.ceil((this.top - have) / PAGE));
    this.sizes.set(p, size);
    return p;
  }

  /** Returns a block from `alloc` (coalescing with free neighbours). */
  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) return;
    this.sizes.delete(ptr);
    let i = 0;
    while (i < this.free.length && this.free[i]![0] < ptr) i++;
    this.free.splice(i, 0, [ptr, size]);
    // merge with next, then previous
    if (i + 1 < this.free.length && ptr + size === this.free[i + 1]![0]) {
      this.free[i]![1] += this.free[i + 1]![1];
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1]![0] + this.free[i - 1]![1] === ptr) {
      this.free[i - 1]![1] += this.free[i]![1];
      this.free.splice(i, 1);
    }
  }

  /** Bytes still obtainable from this memory. */
  get available(): number {
    return this.limit - this.top + this.free.reduce((a, [, s]) => a + s, 0);
  }

  u8(ptr: number, n: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, n);
  }

  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, n);
  }
}
