import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { RelufyError } from '../../errors.js';
import type { WasmExports, WasmModule } from './module.js';
import { waitAsync, type WasmMemory } from './wasm-api.js';

/** Kernels that split their work by (ith, nth) and may run on every thread. */
export const PARALLEL_KERNELS = ['matmul_multi', 'ffn_gate_up', 'attention', 'quantize_q8', 'stream_read', 'ffn_bundles'] as const;
export type ParallelKernel = (typeof PARALLEL_KERNELS)[number];

// Control block (Int32 slots of a SharedArrayBuffer), then float64 arguments.
const GEN = 0; // dispatch generation, bumped by the coordinator
const DONE = 1; // workers finished with the current generation
const OP = 2; // kernel index, -1 = shut down
const MEM = 3; // memory index
const NARGS = 4;
const READY = 5; // workers that finished start-up
const ERR = 6; // a worker failed
const ARGS_BYTE = 64;
const MAX_ARGS = 24;

/**
 * Spin iterations before a thread falls back to Atomics.wait: about 0.1 ms. Spinning is needed
 * because a futex wake-up costs ~47 us on the standard VM, but a long spin starves a co-scheduled
 * thread on 2 vCPUs (shared/docs/kernel-notes.md section 3: 10k good, 100k bad).
 */
export const SPIN_BUDGET = 10_000;

// Runs inside each worker (CommonJS, evaluated from a string so that it works from src/ via tsx
// and from dist/ alike). Instantiates the kernel module on every shared memory, then loops:
// spin-then-wait for a new generation, run its share, count itself done.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memories, ctl: ctlBuf, ith, nth, names, spin, port } = workerData;
const ctl = new Int32Array(ctlBuf);
const args = new Float64Array(ctlBuf, ${ARGS_BYTE}, ${MAX_ARGS});
const fns = memories.map((memory) => {
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
  return names.map((n) => ex[n]);
});
Atomics.add(ctl, ${READY}, 1);
Atomics.notify(ctl, ${READY});
let seen = 0;
for (;;) {
  let g;
  let spins = 0;
  while ((g = Atomics.load(ctl, ${GEN})) === seen) {
    if (++spins > spin) { Atomics.wait(ctl, ${GEN}, seen); spins = 0; }
  }
  seen = g;
  const op = ctl[${OP}];
  if (op < 0) break;
  try {
    const n = ctl[${NARGS}];
    const a = new Array(n + 2);
    for (let i = 0; i < n; i++) a[i] = args[i];
    a[n] = ith; a[n + 1] = nth;
    fns[ctl[${MEM}]][op](...a);
  } catch (e) {
    Atomics.store(ctl, ${ERR}, 1);
    port.postMessage(String(e && e.stack || e));
  }
  if (Atomics.add(ctl, ${DONE}, 1) === nth - 2) Atomics.notify(ctl, ${DONE});
}
`;

/**
 * A pool of worker_threads sharing the kernels' WebAssembly memories. The calling thread is
 * thread 0 and does its own share of every dispatch; workers are threads 1..nth-1.
 * With nth = 1 there are no workers and `run` is a direct call.
 */
export class ThreadPool {
  readonly nth: number;
  private readonly workers: Worker[] = [];
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly port: MessagePort;
  private readonly workerPort: MessagePort;
  private readonly fns: ((...a: number[]) => void)[][];
  private closed = false;

  private constructor(nth: number, main: WasmExports[]) {
    this.nth = nth;
    const sab = new SharedArrayBuffer(ARGS_BYTE + MAX_ARGS * 8);
    this.ctl = new Int32Array(sab);
    this.args = new Float64Array(sab, ARGS_BYTE, MAX_ARGS);
    const ch = new MessageChannel();
    this.port = ch.port1;
    this.port.unref();
    this.fns = main.map((ex) => PARALLEL_KERNELS.map((n) => (ex[n] as unknown as (...a: number[]) => void).bind(ex)));
    this.workerPort = ch.port2;
  }

  /**
   * Starts nth-1 workers over `memories`, each instantiating `mod` once per memory.
   * @param main the calling thread's instances, one per memory (same order)
   * @throws RelufyError when nth < 1
   */
  static async create(mod: WasmModule, memories: WasmMemory[], main: WasmExports[], nth: number): Promise<ThreadPool> {
    if (!Number.isInteger(nth) || nth < 1) throw new RelufyError(`threads: ${nth} is not a positive integer`);
    const pool = new ThreadPool(nth, main);
    const port = pool.workerPort;
    for (let i = 1; i < nth; i++) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module: mod.module, memories, ctl: pool.ctl.buffer, ith: i, nth, names: [...PARALLEL_KERNELS], spin: SPIN_BUDGET, port: i === 1 ? port : null },
        transferList: i === 1 ? [port] : [],
      });
      pool.workers.push(w);
    }
    const failed = new Promise<never>((_, reject) => {
      for (const w of pool.workers) w.once('error', (e) => reject(new RelufyError(`worker thread failed to start: ${e.message}`)));
    });
    while (Atomics.load(pool.ctl, READY) < nth - 1) {
      const v = Atomics.load(pool.ctl, READY);
      const r = waitAsync(pool.ctl, READY, v, 50);
      await Promise.race([r.async ? r.value : Promise.resolve(), failed]);
    }
    // Workers stay referenced while starting (keeps the event loop alive for the wait above);
    // afterwards they must not keep the process from exiting.
    for (const w of pool.workers) w.unref();
    return pool;
  }

  /** Default thread count: the number of cores. */
  static defaultThreads(): number {
    return Math.max(1, availableParallelism());
  }

  /**
   * Runs kernel `op` on memory `mem` on all nth threads: fn(...args, ith, nth), and returns when
   * every share is done (spin-then-wait barrier).
   * @throws RelufyError when a worker's share threw (e.g. a wasm trap).
   */
  run(mem: number, op: ParallelKernel, args: number[]): void {
    const k = PARALLEL_KERNELS.indexOf(op);
    const fn = this.fns[mem]![k]!;
    const nth = this.nth;
    if (nth === 1) {
      fn(...args, 0, 1);
      return;
    }
    if (this.closed) throw new RelufyError('thread pool is closed');
    const ctl = this.ctl;
    if (Atomics.load(ctl, ERR)) {
      // left over from a dispatch whose own share threw first: drop the stale report
      Atomics.store(ctl, ERR, 0);
      while (receiveMessageOnPort(this.port)) {}
    }
    ctl[OP] = k;
    ctl[MEM] = mem;
    ctl[NARGS] = args.length;
    for (let i = 0; i < args.length; i++) this.args[i] = args[i]!;
    Atomics.store(ctl, DONE, 0);
    Atomics.add(ctl, GEN, 1);
    Atomics.notify(ctl, GEN);
    try {
      fn(...args, 0, nth);
    } finally {
      // even when our own share threw, the workers must finish before the next dispatch
      let spins = 0;
      let d: number;
      while ((d = Atomics.load(ctl, DONE)) !== nth - 1) {
        if (++spins > SPIN_BUDGET) {
          Atomics.wait(ctl, DONE, d, 1000);
          spins = 0;
        }
      }
    }
    if (Atomics.load(ctl, ERR)) {
      Atomics.store(ctl, ERR, 0);
      const m = receiveMessageOnPort(this.port);
      throw new RelufyError(`kernel ${op} failed in a worker thread: ${m ? String(m.message) : 'unknown error'}`);
    }
  }

  /** Stops the workers (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.workers.length === 0) return;
    this.ctl[OP] = -1;
    Atomics.add(this.ctl, GEN, 1);
    Atomics.notify(this.ctl, GEN);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.port.close();
  }
}
