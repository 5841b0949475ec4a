import { Worker } from 'node:worker_threads';
import { RelufyError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import { GradComputer, type GradJob, type GradResult, type Teacher } from './grad.js';

/**
 * Data-parallel gradient computation: `threads` workers share the parameters (SharedArrayBuffer,
 * read-only while a step runs) and each owns a gradient buffer. A step's micro-batches are dealt
 * round-robin, and the gradients are summed in worker order, so a run is deterministic for a given
 * thread count. With threads = 1 the work runs on the calling thread.
 */
export class GradPool {
  readonly params: Float32Array;
  readonly grads: Float32Array[];
  private readonly workers: Worker[] = [];
  private readonly local: GradComputer | null = null;

  /**
   * @param teacher frozen teacher for distillation jobs (its parameters are copied into shared
   *   memory once and read by every worker)
   */
  constructor(config: ModelConfig, paramCount: number, readonly threads: number, readonly B: number, readonly T: number, teacher?: Teacher) {
    if (!Number.isInteger(threads) || threads < 1) throw new RelufyError(`threads: ${threads} is not a positive integer`);
    this.params = new Float32Array(new SharedArrayBuffer(4 * paramCount));
    this.grads = [];
    let shared: { config: ModelConfig; params: SharedArrayBuffer } | undefined;
    if (teacher) {
      const tp = new Float32Array(new SharedArrayBuffer(4 * teacher.params.length));
      tp.set(teacher.params);
      shared = { config: teacher.config, params: tp.buffer as SharedArrayBuffer };
    }
    if (threads === 1) {
      this.grads.push(new Float32Array(paramCount));
      this.local = new GradComputer(config, this.params, this.grads[0]!, B, T, shared && { config: shared.config, params: new Float32Array(shared.params) });
      return;
    }
    // Under tsx (tests, `npx tsx`) this module is worker.ts's sibling .ts file; built, it is .js.
    const isTs = import.meta.url.endsWith('.ts');
    const entry = new URL(isTs ? './worker.ts' : './worker.js', import.meta.url);
    // Node 20 workers do not inherit tsx's loader hooks: register them in the worker first.
    const source = isTs
      ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`
      : null;
    for (let i = 0; i < threads; i++) {
      const g = new SharedArrayBuffer(4 * paramCount);
      this.grads.push(new Float32Array(g));
      this.workers.push(new Worker(source ?? entry, { eval: source !== null, workerData: { config, params: this.params.buffer, grads: g, B, T, teacher: shared } }));
    }
  }

  /** Runs one job per thread (jobs.length <= threads) and returns the results in job order. */
  async run(jobs: GradJob[]): Promise<GradResult[]> {
    if (this.local) return jobs.map((j) => this.local!.run(j));
    return Promise.all(jobs.map((job, i) => new Promise<GradResult>((resolve, reject) => {
      const w = this.workers[i]!;
      const onErr = (e: Error): void => reject(new RelufyError(`training worker failed: ${e.message}`));
      w.once('error', onErr);
      w.once('message', (msg: { ok: boolean; result?: GradResult; error?: string }) => {
        w.off('error', onErr);
        if (msg.ok) resolve(msg.result!);
        else reject(new RelufyError(`training worker: ${msg.error}`));
      });
      w.postMessage(job);
    })));
  }

  /** Sums the first `n` gradient buffers into `out` (fixed order). */
  reduce(out: Float32Array, n: number): void {
    out.set(this.grads[0]!);
    for (let k = 1; k < n; k++) {
      const g = this.grads[k]!;
      for (let i = 0; i < out.length; i++) out[i] = out[i]! + g[i]!;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
