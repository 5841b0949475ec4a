/** Worker-thread entry for predictor training: fits one layer per message (predictor-fit.ts). */
import { parentPort } from 'node:worker_threads';
import { fitPredictor, type FitOptions, type LayerSamples } from './predictor-fit.js';

export interface FitJob {
  layer: number;
  train: LayerSamples;
  calib: LayerSamples;
  test: LayerSamples;
  options: FitOptions;
}

parentPort!.on('message', (job: FitJob) => {
  try {
    let last = 0;
    const result = fitPredictor(job.train, job.calib, job.test, job.options, (step, total, loss) => {
      if (step - last >= 20 || step === total) {
        parentPort!.postMessage({ type: 'progress', layer: job.layer, steps: step - last, loss });
        last = step;
      }
    });
    parentPort!.postMessage({ type: 'done', layer: job.layer, result }, [result.fc1.buffer as ArrayBuffer, result.fc2.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ type: 'error', layer: job.layer, error: e instanceof Error ? e.message : String(e) });
  }
});
