/** Worker-thread entry of the training pool: one GradComputer over shared params and its own grads. */
import { parentPort, workerData } from 'node:worker_threads';
import type { ModelConfig } from '../model/config.js';
import { GradComputer, type GradJob } from './grad.js';

interface Init {
  config: ModelConfig;
  params: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  B: number;
  T: number;
  teacher?: { config: ModelConfig; params: SharedArrayBuffer };
}

const init = workerData as Init;
const gc = new GradComputer(init.config, new Float32Array(init.params), new Float32Array(init.grads), init.B, init.T,
  init.teacher && { config: init.teacher.config, params: new Float32Array(init.teacher.params) });
parentPort!.on('message', (job: GradJob) => {
  try {
    parentPort!.postMessage({ ok: true, result: gc.run(job) });
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});
